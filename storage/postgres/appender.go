package postgres

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/dopaid/dopaid/storage"
)

// Group commit of audit entries. A release (userinfo, introspection) and a
// refusal write one audit entry and nothing else, and must not answer
// before that entry is committed. One statement and one commit per entry
// costs the database a WAL flush and a statement's work each; under load
// the appender lets concurrent appends share one multi-row INSERT in one
// transaction instead: one round trip, one commit for the whole group.
//
// The leader is the caller that found no group running: it writes what is
// queued, tells each caller its result, and hands the lead to the first
// caller that queued meanwhile, so a lone append waits for nothing. If a
// group's write fails, each of its appends is retried alone, so that one
// bad entry (an ID taken) fails only its own caller.

// maxAppendGroup bounds the entries of one INSERT.
const maxAppendGroup = 256

type appendRequest struct {
	ctx  context.Context
	e    storage.LogEntry
	done chan appendResult
}

type appendResult struct {
	err  error
	lead bool // the caller is to write the next group (its own included)
}

type appender struct {
	mu     sync.Mutex
	queue  []*appendRequest
	active bool
}

// appendEntry writes e, a prepared entry, not yet integrated; it returns
// once the transaction that holds it has committed or failed.
func (s *Store) appendEntry(ctx context.Context, e storage.LogEntry) error {
	r := &appendRequest{ctx: ctx, e: e, done: make(chan appendResult, 1)}
	a := &s.appender
	a.mu.Lock()
	a.queue = append(a.queue, r)
	lead := !a.active
	a.active = true
	a.mu.Unlock()
	if lead {
		s.appendGroup()
	}
	for {
		// Once queued, an append may be in flight: the caller waits for
		// its outcome even if its context ends.
		res := <-r.done
		if !res.lead {
			return res.err
		}
		s.appendGroup()
	}
}

// appendGroup writes up to maxAppendGroup queued entries, tells their
// callers, and hands the lead on.
func (s *Store) appendGroup() {
	a := &s.appender
	a.mu.Lock()
	n := min(len(a.queue), maxAppendGroup)
	group := a.queue[:n:n]
	a.queue = a.queue[n:]
	a.mu.Unlock()

	var live []*appendRequest
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.done <- appendResult{err: err}
			continue
		}
		live = append(live, r)
	}
	if len(live) > 0 {
		es := make([]storage.LogEntry, len(live))
		for i, r := range live {
			es[i] = r.e
		}
		// The group outlives any one caller's context.
		ctx := context.WithoutCancel(live[0].ctx)
		err := s.insertEntries(ctx, es)
		if err != nil && len(live) > 1 {
			for _, r := range live {
				r.done <- appendResult{err: s.insertEntries(ctx, []storage.LogEntry{r.e})}
			}
		} else {
			for _, r := range live {
				r.done <- appendResult{err: err}
			}
		}
	}

	a.mu.Lock()
	if len(a.queue) > 0 {
		a.queue[0].done <- appendResult{lead: true}
	} else {
		a.active = false
	}
	a.mu.Unlock()
}

// insertEntries writes es in one statement, its own transaction.
func (s *Store) insertEntries(ctx context.Context, es []storage.LogEntry) error {
	b := &pgx.Batch{}
	if err := queueLogEntries(b, es); err != nil {
		return err
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return wrap("append audit", err)
	}
	return nil
}
