package audit_test

import (
	"context"
	"database/sql"
	"fmt"
	neturl "net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/dopaid/dopaid/audit"
	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/postgres"
	"github.com/dopaid/dopaid/storage/postgres/pgtest"
	"github.com/dopaid/dopaid/storage/sqlite"
)

// The backends implement the log's storage.
var (
	_ audit.Store = (*sqlite.Store)(nil)
	_ audit.Store = (*postgres.Store)(nil)
)

// backend is a migrated store of one kind, and a way to reach its tables
// behind its back, as someone tampering with the database would.
type backend struct {
	name string
	// url opens the same database again (a file path or a postgres URL).
	url   string
	store audit.Store
	// exec runs one SQL statement on the database directly.
	exec func(t *testing.T, q string, args ...any)
	// open opens another Store on the same database, as a replica would.
	open func(t testing.TB) audit.Store
}

// The database refuses changes to the log (migration 0014's triggers); a
// tamperer with the rights of the tables' owner drops the triggers first,
// and it is that tamperer whom Verify must catch.
const (
	dropGuardsSQLite = `DROP TRIGGER IF EXISTS audit_log_entries_no_delete; DROP TRIGGER IF EXISTS audit_log_entries_guard;
		DROP TRIGGER IF EXISTS audit_log_nodes_no_update; DROP TRIGGER IF EXISTS audit_log_nodes_no_delete;
		DROP TRIGGER IF EXISTS audit_log_heads_no_update; DROP TRIGGER IF EXISTS audit_log_heads_no_delete;
		DROP TRIGGER IF EXISTS audit_log_leaves_no_update; DROP TRIGGER IF EXISTS audit_log_leaves_no_delete`
	dropGuardsPostgres = `DROP TRIGGER IF EXISTS audit_log_entries_guard ON audit_log_entries;
		DROP TRIGGER IF EXISTS audit_log_nodes_append_only ON audit_log_nodes;
		DROP TRIGGER IF EXISTS audit_log_heads_append_only ON audit_log_heads;
		DROP TRIGGER IF EXISTS audit_log_leaves_append_only ON audit_log_leaves`
)

// fresh returns an empty store of the same kind.
func (b backend) fresh(t *testing.T) backend {
	t.Helper()
	if b.name == "sqlite" {
		return newSQLite(t)
	}
	return newPostgres(t)
}

// eachBackend runs f on a fresh store of every backend.
func eachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { f(t, newSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { f(t, newPostgres(t)) })
}

func newSQLite(t testing.TB) backend {
	path := filepath.Join(t.TempDir(), "dopaid.db")
	b := backend{name: "sqlite", url: path}
	b.open = func(t testing.TB) audit.Store { return openSQLite(t, path) }
	b.store = b.open(t)
	b.exec = func(t *testing.T, q string, args ...any) {
		t.Helper()
		// storage/sqlite registers the driver.
		db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(dropGuardsSQLite); err != nil {
			t.Fatalf("drop the log's triggers: %v", err)
		}
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return b
}

func openSQLite(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func newPostgres(t testing.TB) backend {
	url := pgtest.Schema(t, 8)
	b := backend{name: "postgres", url: url}
	b.open = func(t testing.TB) audit.Store { return openPostgres(t, url) }
	b.store = b.open(t)
	// A single connection takes no pool parameters.
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	qs := u.Query()
	qs.Del("pool_max_conns")
	u.RawQuery = qs.Encode()
	b.exec = func(t *testing.T, q string, args ...any) {
		t.Helper()
		pgtest.Exec(t, context.Background(), u.String(), dropGuardsPostgres)
		pgtest.Exec(t, context.Background(), u.String(), q, args...)
	}
	return b
}

func openPostgres(t testing.TB, url string) *postgres.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// testKey is a log key made for a test.
func testKey(t testing.TB, origin string) *audit.Key {
	t.Helper()
	skey, vkey, err := audit.GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	k, err := audit.NewKey(skey, vkey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var t0 = time.Date(2024, 2, 29, 10, 20, 30, 0, time.UTC)

// entry returns the n-th entry of a test, prepared for writing.
func entry(t testing.TB, tag string, n int) storage.LogEntry {
	t.Helper()
	e, err := audit.Prepare(storage.LogEntry{
		ID:        fmt.Sprintf("%s-%d", tag, n),
		At:        t0.Add(time.Duration(n) * time.Millisecond),
		Type:      []string{storage.AuditTokenIssued, storage.AuditUserinfo, storage.AuditSignIn}[n%3],
		Actor:     "client:c-1",
		CitizenID: fmt.Sprintf("pseudonym-%d", n%5),
		AgencyID:  "agency-1",
		PermitID:  "permit-1",
		ClientID:  "c-1",
		Purpose:   "loan",
		Claims:    []string{"given_name", "family_name"}[:n%3],
		IAL:       "2.3",
		Outcome:   "success",
		Detail:    fmt.Sprintf("%s %d", tag, n),
	}, t0)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// write appends entries tag-from … tag-(to-1), one call each.
func write(t testing.TB, s audit.Writer, tag string, from, to int) []storage.LogEntry {
	t.Helper()
	var out []storage.LogEntry
	for i := from; i < to; i++ {
		e := entry(t, tag, i)
		if err := s.AppendLogEntries(context.Background(), []storage.LogEntry{e}); err != nil {
			t.Fatalf("AppendLogEntries: %v", err)
		}
		out = append(out, e)
	}
	return out
}

// integrate integrates every pending entry and fails t otherwise.
func integrate(t testing.TB, in *audit.Integrator) int {
	t.Helper()
	n, err := in.Integrate(context.Background())
	if err != nil {
		t.Fatalf("Integrate: %v", err)
	}
	return n
}
