package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/postgres"
)

// waitIntegrated waits until the entry id has its place in the log, doing
// each time round what again does (nothing if nil), and fails t if that
// takes more than a minute (a failure, not a measurement: the servers'
// fallback tick is an hour).
func waitIntegrated(t *testing.T, s storage.LogStore, id string, again func()) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		e, err := s.LogEntry(context.Background(), id)
		if err != nil {
			t.Fatalf("LogEntry(%s): %v", id, err)
		}
		if e.Index != storage.NotIntegrated {
			return
		}
		if again != nil {
			again()
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("entry %s was not integrated: nothing woke an integrator", id)
}

// TestAuditWake: a write wakes the integrator at once, without its tick
// (an hour here): in the writing process on both backends, and on
// PostgreSQL every replica, through NOTIFY, whichever holds the
// integration right.
func TestAuditWake(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		hour := func(m *Main) { m.auditTick = time.Hour }
		ts := boot(t, database, hour)
		for range 3 {
			e := appendAudit(t, ts, 1)[0]
			waitIntegrated(t, ts.Store, e.ID, nil)
		}
		if database == "" {
			return
		}

		// Another replica's integrator hears a writer's NOTIFY: the
		// entry is written by a store that wakes nobody in its process
		// (a second OS process, say), which then notifies as a replica
		// does.
		other, err := postgres.Open(t.Context(), database)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		e, err := other.AppendAudit(t.Context(), storage.AuditEntry{Type: storage.AuditUserinfo, Actor: "client:c"})
		if err != nil {
			t.Fatal(err)
		}
		// LISTEN starts with the server: notify until it has heard.
		waitIntegrated(t, ts.Store, e.ID, func() {
			if err := other.Notify(t.Context(), auditChannel, "another replica"); err != nil {
				t.Fatal(err)
			}
		})

		// A replica's writes notify the others.
		second := boot(t, database, hour, func(m *Main) {
			m.Config.MasterKey = ts.Config.MasterKey
			m.Config.AuditPublishDir = filepath.Join(ts.Config.DataDir, "audit-checkpoints-2")
		})
		heard := make(chan string, 100)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go other.Listen(ctx, auditChannel, func(p string) {
			if p == second.audit.waker.tag {
				select {
				case heard <- p:
				default:
				}
			}
		})
		for i := 0; ; i++ {
			if i == 300 {
				t.Fatal("no replica heard the second server's NOTIFY after 300 writes")
			}
			e := appendAudit(t, second, 1)[0]
			waitIntegrated(t, second.Store, e.ID, nil)
			select {
			case <-heard:
				return
			case <-time.After(100 * time.Millisecond): // LISTEN may not have started: write again
			}
		}
	})
}
