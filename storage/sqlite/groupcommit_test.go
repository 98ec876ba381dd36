package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestGroupCommit queues write functions behind one that holds the writer,
// so that they run as one group, and checks that each function's writes
// are kept exactly when it succeeded: a failing function is undone alone,
// after writing, and the others' writes commit.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "dopaid.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	insert := func(tx *sql.Tx, v string) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO replay (scope, value, expires_at) VALUES ('group', ?, ?)`,
			v, time.Now().Add(time.Hour).UnixMilli())
		return err
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
	// Alone, background work does not wait for a request to come.
	if err := s.txBackground(ctx, run("alone")); err != nil {
		t.Fatal(err)
	}
}
