package sqlite_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/sqlite"
)

// TestCheckpointerCopiesTheWAL: the writer does not checkpoint the WAL in
// its commits; a checkpointer of the Store's own does, in the background,
// while the Store stays open. A megabyte of committed entries reaches the
// database file without any connection closing and without a request
// waiting for it (SQLite's default would leave it in the WAL until 1,000
// pages and then copy it inside a request's commit). Past a size the
// checkpointer empties the WAL: under load readers always hold old frames
// and the writer would never start it over.
func TestCheckpointerCopiesTheWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dopaid.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	size := func(name string) int64 {
		t.Helper()
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size(path)
	es := make([]storage.LogEntry, 3000)
	now := time.Now()
	for i := range es {
		es[i] = storage.LogEntry{ID: fmt.Sprintf("entry-%05d", i), At: now, Type: storage.AuditUserinfo,
			Actor: "client:app", CitizenID: fmt.Sprintf("citizen-%05d", i), AgencyID: "agency", PermitID: "permit",
			ClientID: "app", Purpose: "names", Claims: []string{"sub", "given_name", "family_name"}, Outcome: "success"}
	}
	if err := s.AppendLogEntries(t.Context(), es); err != nil {
		t.Fatal(err)
	}
	if wal := size(path + "-wal"); wal < 500_000 {
		t.Fatalf("WAL is %d bytes after the commit, want the entries in it", wal)
	}
	deadline := time.Now().Add(30 * time.Second)
	for size(path) < before+500_000 {
		if time.Now().After(deadline) {
			t.Fatalf("database file %d bytes (%d before the entries) long after the commit: the WAL was not checkpointed while the store was open", size(path), before)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Past the size limit the checkpointer empties the WAL.
	old := sqlite.SetWALRestartFrames(100)
	t.Cleanup(func() { sqlite.SetWALRestartFrames(old) })
	for size(path+"-wal") > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("WAL still %d bytes long after it passed the limit", size(path+"-wal"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The entries are all there, read through the database as a reader sees it.
	got, err := s.AuditEntries(t.Context(), storage.AuditFilter{AgencyID: "agency", Limit: 5000})
	if err != nil || len(got) != len(es) {
		t.Fatalf("AuditEntries: %d entries, %v; want %d", len(got), err, len(es))
	}
}
