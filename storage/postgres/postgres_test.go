package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/storagetest"
)

func TestStore(t *testing.T) {
	testDatabaseURL(t) // skip (or fail in CI) once, not in every subtest
	storagetest.Run(t, func(t *testing.T) storage.Store { return newTestStore(t) })
}

// newTestStore returns a migrated store in a schema of its own, dropped when
// t ends, so that tests and packages can share one database concurrently.
func newTestStore(t *testing.T) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, newTestSchema(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

// testDatabaseURL returns DOPAID_TEST_DATABASE_URL. Without it t is skipped,
// except in CI, where it fails: CI must never pass without these tests.
func testDatabaseURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("DOPAID_TEST_DATABASE_URL")
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("DOPAID_TEST_DATABASE_URL is not set; CI must run the PostgreSQL tests")
		}
		t.Skip("DOPAID_TEST_DATABASE_URL is not set")
	}
	return u
}

// newTestSchema creates an empty schema that is dropped when t ends and
// returns the test database's URL with that schema as the search path.
func newTestSchema(t *testing.T) string {
	t.Helper()
	base := testDatabaseURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := make([]byte, 8)
	rand.Read(b)
	schema := "test_" + hex.EncodeToString(b)
	admin(t, ctx, base, "CREATE SCHEMA "+schema)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		admin(t, ctx, base, "DROP SCHEMA "+schema+" CASCADE")
	})
	// A few connections per store: many stores run at once and the server
	// allows 100 connections in all.
	return withParams(t, base, map[string]string{"search_path": schema, "pool_max_conns": "4"})
}

// admin runs one statement on a connection of its own.
func admin(t *testing.T, ctx context.Context, dbURL, sql string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// withParams adds connection parameters to a URL or keyword/value string.
func withParams(t *testing.T, dbURL string, params map[string]string) string {
	t.Helper()
	if strings.HasPrefix(dbURL, "postgres://") || strings.HasPrefix(dbURL, "postgresql://") {
		u, err := url.Parse(dbURL)
		if err != nil {
			t.Fatalf("DOPAID_TEST_DATABASE_URL: %v", err)
		}
		q := u.Query()
		for k, v := range params {
			q.Set(k, v)
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	for k, v := range params {
		dbURL += " " + k + "=" + v
	}
	return dbURL
}
