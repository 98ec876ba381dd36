package audit_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dopaid/dopaid/audit"
	"github.com/dopaid/dopaid/storage"
)

// A second OS process is this test binary run again with these variables
// set: it opens the same database as a replica would and does what
// envReplicaRole says (see TestReplicaProcess).
const (
	envReplicaRole = "DOPAID_TEST_AUDIT_LOG_ROLE" // "replica" or "crash"
	envReplicaDB   = "DOPAID_TEST_AUDIT_LOG_DB"   // "sqlite <path>" or "postgres <url>"
	envReplicaKey  = "DOPAID_TEST_AUDIT_LOG_KEY"  // "<skey> <vkey>"
)

const (
	replicaWriters   = 4
	replicaPerWriter = 40
)

// replicaKey is the log key every replica of a test shares.
type replicaKey struct{ skey, vkey string }

func newReplicaKey(t testing.TB) replicaKey {
	skey, vkey, err := audit.GenerateKey("id.example.go.th/audit")
	if err != nil {
		t.Fatal(err)
	}
	return replicaKey{skey, vkey}
}

func (k replicaKey) key(t testing.TB) *audit.Key {
	key, err := audit.NewKey(k.skey, k.vkey)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// runReplica writes replicaWriters×replicaPerWriter entries tagged tag from
// as many goroutines while an integrator integrates, and then integrates
// until it has seen no entry pending. It returns how many entries its own
// integrator integrated.
func runReplica(t testing.TB, s audit.Store, key *audit.Key, tag string) (int, error) {
	ctx := context.Background()
	in := audit.NewIntegrator(s, key, audit.IntegratorConfig{Batch: 16})
	var wg sync.WaitGroup
	errc := make(chan error, replicaWriters)
	for w := range replicaWriters {
		wg.Go(func() {
			for i := range replicaPerWriter {
				e := entry(t, fmt.Sprintf("%s-w%d", tag, w), i)
				if err := s.AppendLogEntries(ctx, []storage.LogEntry{e}); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	writing := make(chan struct{})
	go func() { wg.Wait(); close(writing) }()
	own := 0
	for done := false; ; {
		n, err := in.IntegrateOnce(ctx)
		own += n
		switch {
		case errors.Is(err, storage.ErrConflict):
		case err != nil:
			return own, err
		case done && n == 0:
			close(errc)
			for err := range errc {
				return own, err
			}
			return own, nil
		}
		select {
		case <-writing:
			done = true
		default:
		}
	}
}

// startProcess runs this test binary as a second process with role on
// b's database; it says "ready" and starts when told "go".
func startProcess(t *testing.T, b backend, k replicaKey, role string) (cmd *exec.Cmd, stdin io.WriteCloser, lines <-chan string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(exe, "-test.run=^TestReplicaProcess$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), envReplicaRole+"="+role, envReplicaDB+"="+b.name+" "+b.url, envReplicaKey+"="+k.skey+" "+k.vkey)
	stdin, err = cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	out := make(chan string, 100)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out <- sc.Text()
		}
	}()
	waitLine(t, out, "ready")
	return cmd, stdin, out
}

// waitLine reads lines until one starts with prefix and returns it.
func waitLine(t *testing.T, lines <-chan string, prefix string) string {
	t.Helper()
	var seen []string
	for l := range lines {
		if strings.HasPrefix(l, prefix) {
			return l
		}
		seen = append(seen, l)
	}
	t.Fatalf("the other process ended without saying %q; it said:\n%s", prefix, strings.Join(seen, "\n"))
	return ""
}

// TestIntegrateAcrossReplicas writes and integrates from three replicas at
// once: this process, another Store on the same database (a pool of its
// own, or another SQLite handle), and another OS process. Every entry must
// end up integrated exactly once into one tree that Verify accepts.
func TestIntegrateAcrossReplicas(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		k := newReplicaKey(t)
		key := k.key(t)
		_, stdin, lines := startProcess(t, b, k, "replica")
		second := b.open(t)

		var wg sync.WaitGroup
		var ownA, ownB int
		var errA, errB error
		fmt.Fprintln(stdin, "go")
		wg.Go(func() { ownA, errA = runReplica(t, b.store, key, "a") })
		wg.Go(func() { ownB, errB = runReplica(t, second, key, "b") })
		wg.Wait()
		if errA != nil || errB != nil {
			t.Fatalf("replicas: %v, %v", errA, errB)
		}
		var ownC int
		fmt.Sscanf(waitLine(t, lines, "integrated "), "integrated %d", &ownC)

		// Whatever was still pending when the last integrator stopped.
		in := audit.NewIntegrator(b.store, key, audit.IntegratorConfig{})
		rest := integrate(t, in)
		const total = 3 * replicaWriters * replicaPerWriter
		if got := ownA + ownB + ownC + rest; got != total {
			t.Errorf("integrators integrated %d + %d + %d + %d = %d entries, want %d", ownA, ownB, ownC, rest, got, total)
		}
		res, err := audit.Verify(ctx, b.store, key.Verifier(), nil)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if res.Entries != total {
			t.Fatalf("the log has %d entries, want %d", res.Entries, total)
		}
		es, _ := b.store.LogEntries(ctx, 0, total)
		seen := map[string]bool{}
		for _, e := range es {
			if seen[e.ID] {
				t.Fatalf("entry %s integrated twice", e.ID)
			}
			seen[e.ID] = true
		}
		for _, tag := range []string{"a", "b", "c"} {
			for w := range replicaWriters {
				for i := range replicaPerWriter {
					if id := fmt.Sprintf("%s-w%d-%d", tag, w, i); !seen[id] {
						t.Fatalf("entry %s is not in the log", id)
					}
				}
			}
		}
		t.Logf("integrated by replica a %d, b %d, the other process %d, afterwards %d; %d heads", ownA, ownB, ownC, rest, res.Heads)
	})
}

// TestIntegratorCrash kills (SIGKILL) another process in the middle of an
// integration round, inside its transaction, after its entries were
// committed. After the "restart" every entry is integrated exactly once.
func TestIntegratorCrash(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		k := newReplicaKey(t)
		key := k.key(t)
		in := audit.NewIntegrator(b.store, key, audit.IntegratorConfig{Batch: 8})
		write(t, b.store, "before", 0, 5)
		integrate(t, in)

		cmd, stdin, lines := startProcess(t, b, k, "crash")
		fmt.Fprintln(stdin, "go")
		waitLine(t, lines, "in the round")
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()

		// The killed round left nothing: the log is still 5 entries long
		// and the crashed process's entries wait.
		if h, _ := b.store.LogHead(ctx); h.Size != 5 {
			t.Fatalf("after the crash the head has size %d, want 5", h.Size)
		}
		if e, err := b.store.LogEntry(ctx, "crash-0"); err != nil || e.Index != storage.NotIntegrated {
			t.Fatalf("crashed process's entry: %+v, %v; want written, not integrated", e, err)
		}
		// PostgreSQL ends the dead connection's transaction, and its lock,
		// when it sees the connection close; until then a round conflicts.
		var n int
		for {
			var err error
			n, err = in.Integrate(ctx)
			if !errors.Is(err, storage.ErrConflict) {
				if err != nil {
					t.Fatal(err)
				}
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if n != 20 {
			t.Errorf("after the crash %d entries were integrated, want the 20 the other process wrote", n)
		}
		res, err := audit.Verify(ctx, b.store, key.Verifier(), nil)
		if err != nil || res.Entries != 25 {
			t.Fatalf("Verify = %+v, %v; want 25 entries", res, err)
		}
		if n, _ := in.Integrate(ctx); n != 0 {
			t.Errorf("a further round integrated %d entries", n)
		}
	})
}

// stallingStore blocks inside the integration transaction, after the round
// computed its head, so that the process can be killed there.
type stallingStore struct {
	audit.Store
}

func (s stallingStore) IntegrateLog(ctx context.Context, max int,
	fn func(storage.LogHead, []storage.LogEntry) (storage.LogIntegration, error),
) (int, error) {
	return s.Store.IntegrateLog(ctx, max, func(h storage.LogHead, es []storage.LogEntry) (storage.LogIntegration, error) {
		if _, err := fn(h, es); err != nil {
			return storage.LogIntegration{}, err
		}
		fmt.Println("in the round")
		select {}
	})
}

// TestReplicaProcess is the second process of TestIntegrateAcrossReplicas
// and TestIntegratorCrash when they start it, and skipped otherwise.
func TestReplicaProcess(t *testing.T) {
	role := os.Getenv(envReplicaRole)
	if role == "" {
		t.Skip("run by TestIntegrateAcrossReplicas and TestIntegratorCrash")
	}
	kind, url, _ := strings.Cut(os.Getenv(envReplicaDB), " ")
	skey, vkey, _ := strings.Cut(os.Getenv(envReplicaKey), " ")
	key := replicaKey{skey, vkey}.key(t)
	var s audit.Store
	if kind == "sqlite" {
		s = openSQLite(t, url)
	} else {
		s = openPostgres(t, url)
	}
	fmt.Println("ready")
	if line, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil || line != "go\n" {
		t.Fatalf("waiting for go: %q, %v", line, err)
	}
	switch role {
	case "replica":
		n, err := runReplica(t, s, key, "c")
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("integrated %d\n", n)
	case "crash":
		write(t, s, "crash", 0, 20)
		audit.NewIntegrator(stallingStore{s}, key, audit.IntegratorConfig{Batch: 8}).Integrate(context.Background())
		t.Fatal("the round returned")
	}
}
