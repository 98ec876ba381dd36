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
