package postgres

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/postgres/pgtest"
)

// The shape of the race: every replica runs auditWorkers goroutines that
// append auditPerWorker entries each.
const (
	auditWorkers   = 8
	auditPerWorker = 25
)

// envAuditReplica makes the test binary, started by
// TestAuditAcrossReplicas, act as a second replica appending to the
// database URL it names (see TestAuditReplicaProcess).
const envAuditReplica = "DOPAID_TEST_AUDIT_REPLICA_URL"

// TestAuditAcrossReplicas appends to one schema from two replicas at once:
// two Stores with pools of their own in this process, and this process and
// a second OS process. Whatever the interleaving, every entry is stored
// and, once integrated, has exactly one place in the log: Seq 1…n without
// gaps, each goroutine's entries in the order it appended them.
func TestAuditAcrossReplicas(t *testing.T) {
	pgtest.URL(t)
	tests := []struct {
		name string
		// second starts the other replica's appends when start is
		// closed and returns when they are done.
		second func(t *testing.T, dbURL string) (start func(), wait func())
	}{
		{"two pools", func(t *testing.T, dbURL string) (func(), func()) {
			s := openReplica(t, dbURL)
			var wg sync.WaitGroup
			begin := make(chan struct{})
			wg.Go(func() {
				<-begin
				for _, err := range appendAudit(s, "replica-b") {
					t.Errorf("replica b: %v", err)
				}
			})
			return func() { close(begin) }, wg.Wait
		}},
		{"two processes", startReplicaProcess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A race in which one replica finished before the other began
			// would have tested nothing; on a loaded machine (the appends
			// are grouped, a few round trips each) it can happen, so the
			// race is run again, up to three times, before that counts.
			for attempt := 1; ; attempt++ {
				switches := raceReplicas(t, tt.second)
				if switches >= 2 {
					return
				}
				if attempt == 3 {
					t.Fatalf("the chain changes replica %d times in each of %d races: the replicas never appended at the same time", switches, attempt)
				}
				t.Logf("race %d: the chain changes replica %d times; racing again", attempt, switches)
			}
		})
	}
}

// raceReplicas appends from two replicas at once (this Store, and the one
// second starts), integrates, checks the log and returns how many times
// the chain changes from one replica to the other.
func raceReplicas(t *testing.T, second func(t *testing.T, dbURL string) (start func(), wait func())) int {
	t.Helper()
	a := newTestStore(t)
	dbURL := a.pool.Config().ConnString()
	start, wait := second(t, dbURL)

	start()
	got, errs := appendAuditEntries(a, "replica-a")
	wait()
	for _, err := range errs {
		t.Errorf("replica a: %v", err)
	}

	ctx := context.Background()
	for {
		n, err := a.IntegrateLog(ctx, 100, sizeOnly)
		if err != nil {
			t.Fatalf("IntegrateLog: %v", err)
		}
		if n == 0 {
			break
		}
	}
	chain, err := a.AuditEntries(ctx, storage.AuditFilter{})
	if err != nil {
		t.Fatalf("AuditEntries: %v", err)
	}
	const want = 2 * auditWorkers * auditPerWorker
	if len(chain) != want {
		t.Fatalf("chain has %d entries, want %d", len(chain), want)
	}
	for i, e := range chain {
		if e.Seq != int64(i+1) {
			t.Fatalf("entry %d has Seq %d, want %d", i, e.Seq, i+1)
		}
	}
	// Every append returned the entry it stored, and each
	// goroutine's entries follow in the order it appended them.
	byID := map[string]storage.AuditEntry{}
	for _, e := range chain {
		byID[e.ID] = e
	}
	for _, e := range got {
		if stored, ok := byID[e.ID]; !ok || stored.Detail != e.Detail || stored.Actor != e.Actor {
			t.Errorf("AppendAudit returned %s %q, the log holds %+v under its ID", e.ID, e.Detail, stored)
		}
	}
	last := map[string]int{} // "actor worker" → last index seen
	perActor := map[string]int{}
	switches := 0
	for i, e := range chain {
		perActor[e.Actor]++
		if i > 0 && chain[i-1].Actor != e.Actor {
			switches++
		}
		var w, n int
		if _, err := fmt.Sscanf(e.Detail, "worker %d entry %d", &w, &n); err != nil {
			t.Fatalf("entry %d: detail %q: %v", e.Seq, e.Detail, err)
		}
		key := e.Actor + " " + strconv.Itoa(w)
		if prev, ok := last[key]; ok && n != prev+1 {
			t.Errorf("entry %d: %s appended entry %d after entry %d", e.Seq, key, n, prev)
		}
		last[key] = n
	}
	for _, actor := range []string{"replica-a", "replica-b"} {
		if perActor[actor] != auditWorkers*auditPerWorker {
			t.Errorf("%s has %d entries, want %d", actor, perActor[actor], auditWorkers*auditPerWorker)
		}
	}
	return switches
}

// sizeOnly integrates without a tree: the test looks at the places only.
func sizeOnly(h storage.LogHead, es []storage.LogEntry) (storage.LogIntegration, error) {
	size := h.Size + int64(len(es))
	root := make([]byte, 32)
	return storage.LogIntegration{Head: storage.LogHead{Size: size, Root: root, Range: [][]byte{root},
		At: time.Now(), Checkpoint: fmt.Appendf(nil, "size %d\n", size)}}, nil
}

// openReplica opens another Store on the schema of dbURL, as a replica
// would: a pool of its own.
func openReplica(t *testing.T, dbURL string) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// appendAuditEntries appends auditWorkers×auditPerWorker entries from
// auditWorkers goroutines and returns what AppendAudit returned.
func appendAuditEntries(s *Store, actor string) ([]storage.AuditEntry, []error) {
	ctx := context.Background()
	var mu sync.Mutex
	var out []storage.AuditEntry
	var errs []error
	var wg sync.WaitGroup
	for w := range auditWorkers {
		wg.Go(func() {
			for n := range auditPerWorker {
				e, err := s.AppendAudit(ctx, storage.AuditEntry{
					At:     time.Date(2024, 2, 29, 10, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Microsecond * 1500),
					Type:   storage.AuditTokenIssued,
					Actor:  actor,
					Claims: []string{"given_name", "family_name"},
					Detail: fmt.Sprintf("worker %d entry %d", w, n),
				})
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("worker %d entry %d: %w", w, n, err))
				} else {
					out = append(out, e)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out, errs
}

func appendAudit(s *Store, actor string) []error {
	_, errs := appendAuditEntries(s, actor)
	return errs
}

// startReplicaProcess runs this test binary as a second replica, which
// connects, says "ready", and appends when told "go" on its standard input.
func startReplicaProcess(t *testing.T, dbURL string) (start func(), wait func()) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestAuditReplicaProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envAuditReplica+"="+dbURL)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start replica process: %v", err)
	}
	var out []string
	ready := make(chan bool, 1)
	lines := make(chan struct{})
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out = append(out, sc.Text())
			if sc.Text() == "ready" {
				ready <- true
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			cmd.Wait()
			t.Fatalf("replica process ended before it was ready:\n%q", out)
		}
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatal("replica process not ready within a minute")
	}
	return func() {
			if _, err := stdin.Write([]byte("go\n")); err != nil {
				t.Errorf("start replica process: %v", err)
			}
		}, func() {
			<-lines
			if err := cmd.Wait(); err != nil {
				t.Errorf("replica process: %v; its output:\n%q", err, out)
			}
		}
}

// TestAuditReplicaProcess is the second replica of TestAuditAcrossReplicas
// when started by it, and skipped otherwise.
func TestAuditReplicaProcess(t *testing.T) {
	dbURL := os.Getenv(envAuditReplica)
	if dbURL == "" {
		t.Skip("run by TestAuditAcrossReplicas")
	}
	s := openReplica(t, dbURL)
	fmt.Println("ready")
	if line, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil || line != "go\n" {
		t.Fatalf("waiting for go: %q, %v", line, err)
	}
	for _, err := range appendAudit(s, "replica-b") {
		t.Error(err)
	}
}
