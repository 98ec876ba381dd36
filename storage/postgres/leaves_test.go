package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/postgres/pgtest"
)

// TestIntegrateLateCommit: an entry whose transaction began, and took its
// seq, before other entries were written and integrated, and committed only
// after several rounds (full batches and empty ones), is still found and
// integrated, exactly once. The rounds find pending entries from the
// oldest transaction that may still be running (migration 0023), never
// from the highest seq integrated.
func TestIntegrateLateCommit(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, pgtest.Schema(t, 4))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	entry := func(id string) storage.LogEntry {
		e, err := storage.PrepareLogEntry(storage.LogEntry{ID: id, Type: storage.AuditUserinfo, Actor: "client:c-1"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	// The late transaction writes its entry first, and holds it.
	late, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer late.Rollback(context.WithoutCancel(ctx))
	b := &pgx.Batch{}
	if err := queueLogEntries(b, []storage.LogEntry{entry("late")}); err != nil {
		t.Fatal(err)
	}
	if err := late.SendBatch(ctx, b).Close(); err != nil {
		t.Fatal(err)
	}
	var written []string
	for i := range 7 {
		id := fmt.Sprintf("early-%d", i)
		if err := s.AppendLogEntries(ctx, []storage.LogEntry{entry(id)}); err != nil {
			t.Fatal(err)
		}
		written = append(written, id)
	}
	for _, max := range []int{3, 3, 3, 3} { // full, full, not full, empty
		if _, err := s.IntegrateLog(ctx, max, testIntegration); err != nil {
			t.Fatal(err)
		}
	}
	if err := late.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendLogEntries(ctx, []storage.LogEntry{entry("after")}); err != nil {
		t.Fatal(err)
	}
	written = append(written, "late", "after")
	for range 3 {
		if _, err := s.IntegrateLog(ctx, 10, testIntegration); err != nil {
			t.Fatal(err)
		}
	}
	es, err := s.LogEntries(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.ID)
	}
	if fmt.Sprint(got) != fmt.Sprint(written) {
		t.Errorf("log = %v, want %v", got, written)
	}
	// And the rounds do not scan the whole log for ever: the newest head
	// names the transaction from which the next round looks. (How far it
	// got depends on every transaction of the cluster, other tests' too.)
	var from int64
	if err := s.pool.QueryRow(ctx, `SELECT pending_txid FROM audit_log_heads ORDER BY size DESC LIMIT 1`).Scan(&from); err != nil {
		t.Fatal(err)
	}
	if from <= 0 {
		t.Errorf("newest head's pending_txid = %d, want a transaction ID", from)
	}
}

// TestMigrateMovesLeaves: migration 0023 moves the leaf indices that
// integration wrote into the entries over to audit_log_leaves, so that
// the log reads as before and integration goes on from the same head.
func TestMigrateMovesLeaves(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, pgtest.Schema(t, 4))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.migrate(ctx, 17); err != nil {
		t.Fatal(err)
	}
	// A log as 0010–0017 left it: two entries integrated, one pending.
	for _, q := range []string{
		`INSERT INTO audit_log_entries (id, at, type, actor, citizen_id, agency_id, permit_id, client_id, purpose,
			claims, ial, outcome, detail) VALUES
			('a', now(), 'userinfo', 'client:c', 'citizen-1', '', '', 'c', '', '{}', '', 'success', ''),
			('b', now(), 'userinfo', 'client:c', 'citizen-1', '', '', 'c', '', '{}', '', 'success', ''),
			('c', now(), 'userinfo', 'client:c', 'citizen-1', '', '', 'c', '', '{}', '', 'success', '')`,
		`UPDATE audit_log_entries SET leaf_index = 0 WHERE id = 'a'`,
		`UPDATE audit_log_entries SET leaf_index = 1 WHERE id = 'b'`,
	} {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	out, _ := testIntegration(storage.LogHead{}, []storage.LogEntry{{ID: "a", Index: 0}, {ID: "b", Index: 1}})
	if _, err := s.pool.Exec(ctx, `INSERT INTO audit_log_heads (size, prev_size, root, compact, at, checkpoint)
		VALUES (2, 0, $1, $1, now(), $2)`, out.Head.Root, out.Head.Checkpoint); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	checkMovedLeaves(t, s)
}

// checkMovedLeaves checks the log of TestMigrateMovesLeaves after the
// migration.
func checkMovedLeaves(t *testing.T, s storage.Store) {
	t.Helper()
	ctx := t.Context()
	ls := s.(storage.LogStore)
	for id, want := range map[string]int64{"a": 0, "b": 1, "c": storage.NotIntegrated} {
		if e, err := ls.LogEntry(ctx, id); err != nil || e.Index != want {
			t.Errorf("LogEntry(%s) = Index %d, %v; want %d", id, e.Index, err, want)
		}
	}
	es, err := s.AuditEntries(ctx, storage.AuditFilter{CitizenID: "citizen-1"})
	if err != nil || len(es) != 3 || es[0].Seq != 1 || es[1].Seq != 2 || es[2].Seq != 0 || es[2].ID != "c" {
		t.Errorf("AuditEntries after migrating = %+v, %v", es, err)
	}
	var got []storage.LogEntry
	n, err := ls.IntegrateLog(ctx, 10, func(h storage.LogHead, es []storage.LogEntry) (storage.LogIntegration, error) {
		got = es
		return testIntegration(h, es)
	})
	if n != 1 || err != nil || got[0].ID != "c" || got[0].Index != 2 {
		t.Errorf("IntegrateLog after migrating = %d, %v, %+v; want entry c at 2", n, err, got)
	}
}
