package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/sqlite"
)

// TestMigrateVersions: migrations apply once each, versions may leave
// gaps (work done in parallel reserves its numbers), and a database that
// lists a version this program does not know is refused.
func TestMigrateVersions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dopaid.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 2 {
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate: %v", err)
		}
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// 0010 follows 0006 in this tree: a gap.
	if _, err := db.Exec(`SELECT count(*) FROM audit_log_entries`); err != nil {
		t.Errorf("migration 0010 not applied: %v", err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(t.Context()); err == nil || !strings.Contains(err.Error(), "9999") {
		t.Errorf("Migrate of a database from a newer program: %v, want an error naming 9999", err)
	}
}

// TestMigrateCopiesHashChain: migration 0011 copies the entries of the old
// hash-chained trail into the verifiable log, in their order, as entries
// waiting to be integrated, so that readers keep seeing them.
func TestMigrateCopiesHashChain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dopaid.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.MigrateTo(t.Context(), 10); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// A database of before 0011, holding two entries of the chain.
	for _, q := range []string{
		`INSERT INTO audit_entries VALUES (1, 1709200800000, 'token_issued', 'client:c-1', 'citizen-1', 'agency-1',
			'permit-1', 'c-1', 'loan', '["pid","given_name"]', '2.3', 'success', '', '', 'h1')`,
		`INSERT INTO audit_entries VALUES (2, 1709200801000, 'userinfo', 'client:c-1', 'citizen-1', 'agency-1',
			'permit-1', 'c-1', 'loan', '["given_name"]', '2.3', 'success', 'x', 'h1', 'h2')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	es, err := s.AuditEntries(t.Context(), storage.AuditFilter{CitizenID: "citizen-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 || es[0].ID != "chain-1" || es[1].ID != "chain-2" || es[0].Type != storage.AuditTokenIssued ||
		!slices.Equal(es[0].Claims, []string{"pid", "given_name"}) || es[1].Detail != "x" || es[0].Seq != 0 ||
		!es[0].At.Equal(time.UnixMilli(1709200800000)) {
		t.Errorf("entries after migrating = %+v, want the chain's two, in order, not yet integrated", es)
	}
}

// TestMigrateMovesLeaves: migration 0023 moves the leaf indices that
// integration wrote into the entries over to audit_log_leaves (rebuilding
// the entries table without the column), so that the log reads as before
// and integration goes on from the same head.
func TestMigrateMovesLeaves(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dopaid.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.MigrateTo(t.Context(), 17); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out, _ := integration(storage.LogHead{}, []storage.LogEntry{{ID: "a", Index: 0}, {ID: "b", Index: 1}})
	// A log as 0010–0017 left it: two entries integrated, one pending.
	for _, q := range []struct {
		stmt string
		args []any
	}{
		{`INSERT INTO audit_log_entries (id, at, type, actor, citizen_id, agency_id, permit_id, client_id, purpose,
			claims, ial, outcome, detail) VALUES
			('a', 1709200800000, 'userinfo', 'client:c', 'citizen-1', '', '', 'c', '', '[]', '', 'success', ''),
			('b', 1709200800000, 'userinfo', 'client:c', 'citizen-1', '', '', 'c', '', '[]', '', 'success', ''),
			('c', 1709200800000, 'userinfo', 'client:c', 'citizen-1', '', '', 'c', '', '[]', '', 'success', '')`, nil},
		{`UPDATE audit_log_entries SET leaf_index = 0 WHERE id = 'a'`, nil},
		{`UPDATE audit_log_entries SET leaf_index = 1 WHERE id = 'b'`, nil},
		{`INSERT INTO audit_log_heads (size, prev_size, root, compact, at, checkpoint) VALUES (2, 0, ?, ?, 0, ?)`,
			[]any{out.Head.Root, out.Head.Root, out.Head.Checkpoint}},
	} {
		if _, err := db.Exec(q.stmt, q.args...); err != nil {
			t.Fatalf("%s: %v", q.stmt, err)
		}
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	ctx := t.Context()
	for id, want := range map[string]int64{"a": 0, "b": 1, "c": storage.NotIntegrated} {
		if e, err := s.LogEntry(ctx, id); err != nil || e.Index != want {
			t.Errorf("LogEntry(%s) = Index %d, %v; want %d", id, e.Index, err, want)
		}
	}
	es, err := s.AuditEntries(ctx, storage.AuditFilter{CitizenID: "citizen-1"})
	if err != nil || len(es) != 3 || es[0].Seq != 1 || es[1].Seq != 2 || es[2].Seq != 0 || es[2].ID != "c" {
		t.Errorf("AuditEntries after migrating = %+v, %v", es, err)
	}
	var got []storage.LogEntry
	n, err := s.IntegrateLog(ctx, 10, func(h storage.LogHead, es []storage.LogEntry) (storage.LogIntegration, error) {
		got = es
		return integration(h, es)
	})
	if n != 1 || err != nil || got[0].ID != "c" || got[0].Index != 2 {
		t.Errorf("IntegrateLog after migrating = %d, %v, %+v; want entry c at 2", n, err, got)
	}
	// The seq counter survived the rebuild: a new entry follows c.
	if err := s.AppendLogEntries(ctx, []storage.LogEntry{{ID: "d", At: time.Now(), Type: storage.AuditUserinfo}}); err != nil {
		t.Fatal(err)
	}
	var seq int64
	if err := db.QueryRow(`SELECT seq FROM audit_log_entries WHERE id = 'd'`).Scan(&seq); err != nil || seq != 4 {
		t.Errorf("seq of a new entry = %d, %v; want 4", seq, err)
	}
}
