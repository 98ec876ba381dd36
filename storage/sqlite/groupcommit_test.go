package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestGroupCommit queues write functions behind one that holds the writer,
// so that they run as one group, and checks that each function's writes
// are kept exactly when it succeeded: a failing function is undone alone,
// after writing, and the others' writes commit.
func TestGroupCommit(t *testing.T) { testGroupCommit(t, 1, 0) }

// TestGroupCommitLargeSavepoints is TestGroupCommit with functions that
// each change far more than the 64 KiB of pages SQLite keeps of a
// savepoint's sub-journal in memory by default (40 rows of 4 KiB, each
// overflowing into pages of its own): the writer's temporary storage is
// memory, the sub-journal never spills to a file, and undoing a failed
// function from it still restores exactly its pages.
func TestGroupCommitLargeSavepoints(t *testing.T) { testGroupCommit(t, 40, 4096) }

func testGroupCommit(t *testing.T, rowsPerFunction, padding int) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "dopaid.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var tempStore int
	if err := s.w.QueryRowContext(ctx, `PRAGMA temp_store`).Scan(&tempStore); err != nil || tempStore != 2 {
		t.Fatalf("writer's temp_store = %d (%v), want 2 (memory)", tempStore, err)
	}
	pad := strings.Repeat("x", padding)
	insert := func(tx *sql.Tx, v string) error {
		for j := range rowsPerFunction {
			w := v
			if j > 0 {
				w = fmt.Sprintf("%s/%d/%s", v, j, pad)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO replay (scope, value, expires_at) VALUES ('group', ?, ?)`,
				w, time.Now().Add(time.Hour).UnixMilli()); err != nil {
				return err
			}
		}
		return nil
	}

	// The first function holds the lead until every other is queued.
	const n = 20
	release := make(chan struct{})
	holding := make(chan struct{})
	holder := make(chan error, 1)
	go func() {
		holder <- s.tx(ctx, func(tx *sql.Tx) error {
			close(holding)
			<-release
			return insert(tx, "holder")
		})
	}()
	// Only once the holder runs are the others started: they queue
	// behind it, none joins its group.
	<-holding
	errFailed := errors.New("this function fails after writing")
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.tx(ctx, func(tx *sql.Tx) error {
				if err := insert(tx, fmt.Sprint(i)); err != nil {
					return err
				}
				if i%3 == 0 {
					return errFailed
				}
				return nil
			})
		})
	}
	// Wait (without timing) until all n are queued behind the holder.
	for {
		s.group.mu.Lock()
		queued := len(s.group.queue)
		s.group.mu.Unlock()
		if queued == n {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if err := <-holder; err != nil {
		t.Fatalf("holder: %v", err)
	}

	rows, err := s.r.QueryContext(ctx, `SELECT value FROM replay WHERE scope = 'group'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]bool{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		got[v] = true
	}
	if want := (1 + n - (n+2)/3) * rowsPerFunction; len(got) != want {
		t.Errorf("%d rows kept, want %d", len(got), want)
	}
	if !got["holder"] {
		t.Error("the holder's write is missing")
	}
	for i, err := range errs {
		want := error(nil)
		if i%3 == 0 {
			want = errFailed
		}
		if err != want {
			t.Errorf("function %d: %v, want %v", i, err, want)
		}
		if got[fmt.Sprint(i)] != (want == nil) {
			t.Errorf("function %d: write kept = %v, want %v", i, got[fmt.Sprint(i)], want == nil)
		}
	}
}

// TestGroupCommitBackground: background work (the audit log's integration
// rounds) yields to requests: queued before a request, it still runs after
// every request queued with it, in their transaction, adding no commit of
// its own; and with the writer idle it runs at once.
func TestGroupCommitBackground(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "dopaid.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	holding := make(chan struct{})
	holder := make(chan error, 1)
	go func() {
		holder <- s.tx(ctx, func(tx *sql.Tx) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	var mu sync.Mutex
	var order []string
	txs := map[*sql.Tx]bool{}
	run := func(name string) func(*sql.Tx) error {
		return func(tx *sql.Tx) error {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, name)
			txs[tx] = true
			return nil
		}
	}
	queued := func(requests, background int) {
		for {
			s.group.mu.Lock()
			q, b := len(s.group.queue), len(s.group.background)
			s.group.mu.Unlock()
			if q == requests && b == background {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.tx(ctx, run("request 1")); err != nil {
			t.Error(err)
		}
	})
	queued(1, 0)
	wg.Go(func() {
		if err := s.txBackground(ctx, run("background")); err != nil {
			t.Error(err)
		}
	})
	queued(1, 1)
	wg.Go(func() {
		if err := s.tx(ctx, run("request 2")); err != nil {
			t.Error(err)
		}
	})
	queued(2, 1)
	close(release)
	wg.Wait()
	if err := <-holder; err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(order) != "[request 1 request 2 background]" || len(txs) != 1 {
		t.Errorf("ran %v in %d transactions, want both requests, then the background work, in one", order, len(txs))
	}
	// Alone, background work still runs, once its wait for a request
	// (backgroundWait) is over.
	if err := s.txBackground(ctx, run("alone")); err != nil {
		t.Fatal(err)
	}
}

// TestGroupCommitBackgroundWaitsForRequests: with the writer idle,
// background work (an integration round) does not lead a transaction of
// its own at once, which under load would make the requests coming back
// wait for a whole commit of its own several times a second: it rides in
// the group of the next request to come, and only once its wait is over
// (here: when the test says so) runs alone, so that an idle server still
// integrates. The same holds for background work left over after a group
// with no request queued behind it.
func TestGroupCommitBackgroundWaitsForRequests(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "dopaid.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// The test ends the waits itself.
	waits := make(chan func(), 8)
	s.group.mu.Lock()
	s.group.after = func(_ time.Duration, f func()) { waits <- f }
	s.group.mu.Unlock()

	var mu sync.Mutex
	var order []string
	txs := map[*sql.Tx]int{}
	ran := make(chan string, 8)
	run := func(name string) func(*sql.Tx) error {
		return func(tx *sql.Tx) error {
			mu.Lock()
			order = append(order, name)
			txs[tx]++
			mu.Unlock()
			ran <- name
			return nil
		}
	}
	background := func(name string) chan error {
		done := make(chan error, 1)
		go func() { done <- s.txBackground(ctx, run(name)) }()
		return done
	}
	waitStarted := func(what string) func() {
		t.Helper()
		select {
		case name := <-ran:
			t.Fatalf("%s: %q ran at once in a transaction of its own; want it to wait for a request's group", what, name)
		case f := <-waits:
			return f
		}
		return nil
	}

	// 1. Queued with the writer idle, the round waits; the next request
	// leads a group and the round rides in it, after the request.
	bg := background("round 1")
	stale := waitStarted("round 1")
	if err := s.tx(ctx, run("request 1")); err != nil {
		t.Fatal(err)
	}
	if err := <-bg; err != nil {
		t.Fatal(err)
	}
	<-ran
	<-ran
	mu.Lock()
	if fmt.Sprint(order) != "[request 1 round 1]" || len(txs) != 1 {
		t.Errorf("ran %v in %d transactions, want the request, then the round, in one", order, len(txs))
	}
	mu.Unlock()
	// Its wait, ending after the group took the round, leads nothing.
	stale()
	s.group.mu.Lock()
	if s.group.active || len(s.group.background) != 0 {
		t.Errorf("after a moot wait: active %v, %d background functions queued; want an idle writer", s.group.active, len(s.group.background))
	}
	s.group.mu.Unlock()

	// 2. No request comes: once its wait is over, the round runs alone.
	bg = background("round 2")
	end := waitStarted("round 2")
	end()
	if err := <-bg; err != nil {
		t.Fatal(err)
	}
	if name := <-ran; name != "round 2" {
		t.Errorf("ran %q, want round 2", name)
	}

	// 3. Queued behind a group that has no request after it: the same.
	release := make(chan struct{})
	holding := make(chan struct{})
	holder := make(chan error, 1)
	go func() {
		holder <- s.tx(ctx, func(tx *sql.Tx) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	bg = background("round 3")
	for {
		s.group.mu.Lock()
		b := len(s.group.background)
		s.group.mu.Unlock()
		if b == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-holder; err != nil {
		t.Fatal(err)
	}
	end = waitStarted("round 3")
	end()
	if err := <-bg; err != nil {
		t.Fatal(err)
	}
	if name := <-ran; name != "round 3" {
		t.Errorf("ran %q, want round 3", name)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(txs) != 3 {
		t.Errorf("%d transactions, want 3 (request 1 with round 1, round 2, round 3)", len(txs))
	}
}
