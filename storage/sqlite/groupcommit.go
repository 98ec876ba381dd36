package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// Group commit. Every write transaction of a Store goes through its one
// write connection, and each COMMIT waits for an fsync of the WAL. Under
// load, requests queue for that connection one fsync each; group commit
// runs the queued write functions together in one transaction instead,
// each inside a savepoint of its own, and commits once: one fsync for the
// whole group.
//
// Every function's effects and error are its own: a function that fails
// is rolled back to its savepoint and the others go on, as if each had run
// alone in the order queued. A response still leaves only after the commit
// that holds its writes: tx returns when the group's COMMIT has returned,
// and if that COMMIT fails, every function of the group gets the error
// (none of their writes were kept). When the writer is idle, a lone
// function runs in a transaction of its own, with no savepoint and no wait.

// Background functions (txBackground: the audit log's integration and
// redaction) yield to requests: they ride at the end of the next group,
// after its requests and in its commit, so that they cost the requests no
// transaction and no fsync of their own. They never lead a group while
// requests wait, and with the writer idle they do not lead at once
// either: under load the writer is idle only between groups, while the
// requests just answered come back, and a background function that led
// then would commit alone and make those requests wait for a whole commit
// (an fsync) of its own, several times a second. So it waits for the next
// request to lead a group it rides in, and leads alone only if none has
// come after backgroundWait: an idle server still integrates its entries.

// maxGroup bounds how many functions share one commit, so that the first
// of a long queue does not wait for all the others.
const maxGroup = 128

// backgroundWait is how long a background function waits, with the writer
// idle, for a request's group to ride in before it runs in a transaction
// of its own. Under load a request comes within milliseconds; it delays
// the audit log's integration on an idle server by as much, far within
// the second the log allows.
const backgroundWait = 100 * time.Millisecond

// yieldBeforeGroup lets every goroutine that is ready to run do so before
// a group is taken from the queue. Under load the writer goes idle when a
// group commits and its requests are answered; the next request to write
// then led a group of one while the others — already runnable, their
// answers or their next requests half done — came to the queue a moment
// later and waited for that whole commit, an fsync, before their own.
// Commits are the writer's dearest work (an fsync and the pages written
// to the WAL cost the kernel CPU too: a third of the server's CPU at 2,000
// userinfo answers a second), so fewer, fuller groups are worth a
// scheduler round: cmd/dopaid-bench, SQLite, 8 workers, server on one
// core, userinfo 2,004 → 3,811 answers a second, refresh 1,332 → 1,734.
func yieldBeforeGroup() { runtime.Gosched() }

// txRequest is one queued write function and the channel on which its
// caller waits: for its result, or for the word that it leads the next
// group.
type txRequest struct {
	ctx  context.Context
	fn   func(*sql.Tx) error
	done chan txResult
}

type txResult struct {
	err  error
	lead bool // the caller is to run the next group (its own included)
}

// committer queues write functions; one caller at a time, the leader,
// runs a group and then hands the lead to the first caller still queued.
type committer struct {
	mu         sync.Mutex
	queue      []*txRequest
	background []*txRequest // run after the next group's queued functions
	active     bool         // a leader is running or has been named
	// waiting: a backgroundWait is pending for background functions queued
	// while the writer is idle; waits counts them, so that a wait that a
	// group made moot ends doing nothing.
	waiting bool
	waits   uint64
	// after calls f once d has passed; time.AfterFunc if nil (a test
	// replaces it to say itself when the wait is over). It is called with
	// mu held and must not call f before it returns.
	after func(d time.Duration, f func())
}

// tx runs fn in a write transaction (BEGIN IMMEDIATE on the one write
// connection), possibly shared with other callers' functions, and returns
// once that transaction has committed or failed. fn's own error is
// returned as is, and its writes are undone. fn must do its work through
// the transaction it is given and must not call tx again.
func (s *Store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.enqueue(ctx, fn, false)
}

// txBackground is tx for work that no request waits for: fn runs after
// the requests queued with it, in their transaction (see above).
func (s *Store) txBackground(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.enqueue(ctx, fn, true)
}

func (s *Store) enqueue(ctx context.Context, fn func(tx *sql.Tx) error, background bool) error {
	r := &txRequest{ctx: ctx, fn: fn, done: make(chan txResult, 1)}
	g := &s.group
	g.mu.Lock()
	lead := false
	if background {
		g.background = append(g.background, r)
		if !g.active {
			s.waitForGroup()
		}
	} else {
		g.queue = append(g.queue, r)
		lead = !g.active
		g.active = true
	}
	g.mu.Unlock()
	if lead {
		// Let the requests that are ready to run reach the queue first:
		// they share this group's commit instead of waiting for it and
		// then each paying for one more (see yieldBeforeGroup).
		yieldBeforeGroup()
		s.runGroup()
	}
	for {
		// The caller waits even if its context ends: once queued, its
		// function may be running, and the caller must learn whether it
		// committed. A function whose context ended before its turn does
		// not run.
		res := <-r.done
		if !res.lead {
			return res.err
		}
		yieldBeforeGroup()
		s.runGroup()
	}
}

// runGroup takes up to maxGroup queued functions, runs them in one
// transaction, tells each caller its result, and hands the lead on.
func (s *Store) runGroup() {
	g := &s.group
	g.mu.Lock()
	n := min(len(g.queue), maxGroup)
	group := append(g.queue[:n:n], g.background...)
	g.queue = g.queue[n:]
	g.background = nil
	g.waiting = false // the background functions waiting ride in this group
	g.mu.Unlock()

	errs := s.commitGroup(group)
	for i, r := range group {
		r.done <- txResult{err: errs[i]}
	}

	g.mu.Lock()
	if len(g.queue) > 0 {
		g.queue[0].done <- txResult{lead: true}
	} else {
		g.active = false
		if len(g.background) > 0 {
			s.waitForGroup()
		}
	}
	g.mu.Unlock()
}

// waitForGroup, with the writer idle and background functions queued,
// makes sure that they run: in the group of the next request to come, or
// after backgroundWait in one of their own. s.group.mu is held.
func (s *Store) waitForGroup() {
	g := &s.group
	if g.waiting {
		return
	}
	g.waiting = true
	g.waits++
	w := g.waits
	after := g.after
	if after == nil {
		after = func(d time.Duration, f func()) { time.AfterFunc(d, f) }
	}
	after(backgroundWait, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if !g.waiting || g.waits != w { // a group took them
			return
		}
		g.waiting = false
		if g.active || len(g.background) == 0 {
			return
		}
		g.active = true
		g.background[0].done <- txResult{lead: true}
	})
}

// commitGroup runs the functions of group in one transaction and returns
// each one's result.
func (s *Store) commitGroup(group []*txRequest) []error {
	errs := make([]error, len(group))
	failAll := func(err error) []error {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		return errs
	}
	// The group's transaction outlives any one caller's context: a caller
	// that gives up must not roll back the others' work.
	ctx := context.WithoutCancel(group[0].ctx)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return failAll(fmt.Errorf("sqlite: begin: %w", err))
	}
	if len(group) == 1 {
		r := group[0]
		if err := r.ctx.Err(); err != nil {
			_ = tx.Rollback()
			return []error{err}
		}
		if err := r.fn(tx); err != nil {
			_ = tx.Rollback()
			return []error{err}
		}
	} else {
		for i, r := range group {
			if err := r.ctx.Err(); err != nil {
				errs[i] = err
				continue
			}
			if err := exec(ctx, tx, "SAVEPOINT grouped"); err != nil {
				_ = tx.Rollback()
				return failAll(fmt.Errorf("sqlite: savepoint: %w", err))
			}
			if err := r.fn(tx); err != nil {
				errs[i] = err
				// Undo this function's writes alone. If even that fails,
				// the transaction is lost: nobody's writes are kept.
				if rerr := exec(ctx, tx, "ROLLBACK TO grouped"); rerr != nil {
					_ = tx.Rollback()
					return failAll(fmt.Errorf("sqlite: rollback to savepoint: %w", rerr))
				}
			}
			if err := exec(ctx, tx, "RELEASE grouped"); err != nil {
				_ = tx.Rollback()
				return failAll(fmt.Errorf("sqlite: release savepoint: %w", err))
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return failAll(fmt.Errorf("sqlite: commit: %w", err))
	}
	return errs
}

// exec runs query in tx.
func exec(ctx context.Context, tx *sql.Tx, query string) error {
	_, err := tx.ExecContext(ctx, query)
	return err
}

// execWrite runs one write statement as a transaction of its own through
// tx: in the next group, and answered after the group's commit.
func (s *Store) execWrite(ctx context.Context, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = tx.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}
