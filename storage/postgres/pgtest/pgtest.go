// Package pgtest gives tests a PostgreSQL database of their own: a fresh
// schema in the database named by DOPAID_TEST_DATABASE_URL, dropped when the
// test ends. Without that variable a test is skipped locally and fails when
// CI=true, so CI can never pass without running the PostgreSQL tests.
//
// It lives under storage/postgres because only that tree imports pgx.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL is the environment variable naming the test database.
const EnvURL = "DOPAID_TEST_DATABASE_URL"

// URL returns the test database's URL, skipping t (or failing it in CI)
// when none is configured.
func URL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(EnvURL + " is not set; CI must run the PostgreSQL tests")
		}
		t.Skip(EnvURL + " is not set")
	}
	return base
}

// Schema creates an empty schema that is dropped when t ends and returns
// the test database's URL with that schema as the search path and a pool
// of at most maxConns connections (the server allows 100 in all).
func Schema(t testing.TB, maxConns int) string {
	t.Helper()
	base := URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	schema := "test_" + hex.EncodeToString(b)
	Exec(t, ctx, base, "CREATE SCHEMA "+schema)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		Exec(t, ctx, base, "DROP SCHEMA "+schema+" CASCADE")
	})
	return WithParams(t, base, map[string]string{"search_path": schema, "pool_max_conns": strconv.Itoa(max(maxConns, 1))})
}

// Exec runs one statement on a connection of its own.
func Exec(t testing.TB, ctx context.Context, dbURL, sql string, args ...any) {
	t.Helper()
	if err := TryExec(ctx, dbURL, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// TryExec is Exec for a caller that decides what an error means (a
// deadlock to retry, say).
func TryExec(ctx context.Context, dbURL, sql string, args ...any) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// WithParams adds connection parameters to a URL or keyword/value string.
func WithParams(t testing.TB, dbURL string, params map[string]string) string {
	t.Helper()
	if strings.HasPrefix(dbURL, "postgres://") || strings.HasPrefix(dbURL, "postgresql://") {
		u, err := url.Parse(dbURL)
		if err != nil {
			t.Fatalf("%s: %v", EnvURL, err)
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
