package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

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
