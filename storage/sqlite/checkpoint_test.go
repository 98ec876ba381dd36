package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
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
// checkpointer has the writer start the WAL over, and past a larger one
// empties it: under load readers always hold old frames and the writer
// would never start it over on its own.
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
	es := make([]storage.LogEntry, 4000) // ~640 KB of WAL frames: past 500 KB even if the WAL restarted after the migration
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
	old := sqlite.SetWALRestartFrames(100)
	t.Cleanup(func() { sqlite.SetWALRestartFrames(old) })
	oldT := sqlite.SetWALTruncateFrames(1 << 40) // not emptied meanwhile
	t.Cleanup(func() { sqlite.SetWALTruncateFrames(oldT) })
	// Past walRestartFrames the writer starts the WAL over, under a steady
	// load of reads and writes, and the file keeps its size: the writer
	// overwrites blocks it has, rather than growing the file. A read
	// transaction is open at every moment, each begun before the last
	// commit, which keeps the writer from starting over on its own (PASSIVE
	// rounds alone leave the WAL growing for good); the checkpointer's
	// RESTART waits them out.
	readers, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { readers.Close() })
	ctx := context.Background() // the load runs until the cleanup
	stop := make(chan struct{})
	var load sync.WaitGroup
	t.Cleanup(func() { close(stop); load.Wait() })
	for r := range 2 {
		load.Go(func() {
			time.Sleep(time.Duration(r) * 10 * time.Millisecond)
			for {
				select {
				case <-stop:
					return
				default:
				}
				tx, err := readers.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
				if err != nil {
					t.Error(err)
					return
				}
				var n int
				if err := tx.QueryRow(`SELECT count(*) FROM audit_log_entries`).Scan(&n); err != nil {
					t.Error(err)
				}
				time.Sleep(20 * time.Millisecond)
				_ = tx.Rollback()
			}
		})
	}
	load.Go(func() {
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			e := es[0]
			e.ID, e.AgencyID = fmt.Sprintf("more-%06d", n), "another-agency"
			if err := s.AppendLogEntries(ctx, []storage.LogEntry{e}); err != nil {
				t.Error(err)
				return
			}
		}
	})
	// seq is the WAL header's checkpoint sequence number: one more each
	// time the writer starts the WAL over.
	seq := func() uint32 {
		t.Helper()
		f, err := os.Open(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var h [32]byte
		if _, err := f.ReadAt(h[:], 0); err != nil {
			t.Fatalf("WAL header: %v", err)
		}
		return binary.BigEndian.Uint32(h[12:16])
	}
	seq0, size0 := seq(), size(path+"-wal")
	// The first write of the load may start the WAL over (it was all
	// copied and nobody read it); from then on the readers hold old frames,
	// and only the checkpointer's RESTART lets the writer start over.
	for seq() < seq0+2 {
		if time.Now().After(deadline) {
			t.Fatalf("the writer started the WAL over %d times, long after it passed the limit; want it to again and again", seq()-seq0)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if sz := size(path + "-wal"); sz < size0 {
		t.Fatalf("WAL %d bytes after it started over, %d before: want it kept", sz, size0)
	}
	// Past walTruncateFrames the checkpointer empties it.
	sqlite.SetWALTruncateFrames(100)
	for size(path+"-wal") > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("WAL still %d bytes long after it passed the limit", size(path+"-wal"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The entries are all there, read through the database as a reader sees it.
	got, err := s.AuditEntries(t.Context(), storage.AuditFilter{AgencyID: "agency", Limit: 5000})
	if err != nil || len(got) != len(es) {
		t.Fatalf("AuditEntries: %d entries, %v; want %d", len(got), err, len(es))
	}
}
