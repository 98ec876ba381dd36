package postgres

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/dopaid/dopaid/storage/postgres/pgtest"
)

// TestMigrateConcurrently migrates one empty schema from several stores at
// once, as replicas starting together would, and then once more: every
// version must be applied exactly once and nothing may fail.
func TestMigrateConcurrently(t *testing.T) {
	dbURL := pgtest.Schema(t, 4)
	ctx := context.Background()
	const n = 4
	stores := make([]*Store, n)
	for i := range stores {
		s, err := Open(ctx, dbURL)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}

	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() { errs[i] = s.Migrate(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate #%d: %v", i, err)
		}
	}
	if err := stores[0].Migrate(ctx); err != nil {
		t.Errorf("Migrate of a migrated schema: %v", err)
	}

	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	var applied, distinct, newest int
	err = stores[0].pool.QueryRow(ctx,
		`SELECT count(*), count(DISTINCT version), max(version) FROM schema_migrations`).Scan(&applied, &distinct, &newest)
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	if applied != len(ms) || distinct != len(ms) || newest != ms[len(ms)-1].version {
		t.Errorf("schema_migrations has %d rows, %d versions, newest %d; want %d, %d, %d",
			applied, distinct, newest, len(ms), len(ms), ms[len(ms)-1].version)
	}
}

func TestOpenRefusesBadURL(t *testing.T) {
	_, err := Open(context.Background(), "postgres://user:secret@[::1")
	if err == nil {
		t.Fatal("Open of a malformed URL: no error")
	}
	if got := err.Error(); strings.Contains(got, "secret") {
		t.Errorf("Open error %q reveals the password", got)
	}
}
