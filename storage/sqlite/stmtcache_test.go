package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
)

// TestStatementCache runs statements through a connection that keeps them
// prepared: each text is prepared once and reused, with fresh arguments
// every time; a statement that failed runs again; the same text inside a
// loop over its own open rows gets a statement of its own; a script of
// several statements runs whole; and past the bound texts still run.
func TestStatementCache(t *testing.T) {
	ctx := context.Background()
	db, err := openDB(filepath.Join(t.TempDir(), "cache.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	kept := func() (n int) {
		t.Helper()
		if err := conn.Raw(func(dc any) error {
			n = len(dc.(*cachingConn).stmts)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// A script runs whole.
	if _, err := conn.ExecContext(ctx, `CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL);
		CREATE TABLE u (k INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO u (k) VALUES (1)`); err != nil {
		t.Fatalf("the script's second statement did not run: %v", err)
	}

	const insert = `INSERT INTO t (k, v) VALUES (?, ?)`
	base := kept()
	for i := range 5 {
		if _, err := conn.ExecContext(ctx, insert, i, fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := kept(); got != base+1 {
		t.Fatalf("five runs of one text keep %d statements, want 1", got-base)
	}
	// A failure (a taken key) leaves the statement fit to run again.
	if _, err := conn.ExecContext(ctx, insert, 0, "again"); err == nil {
		t.Fatal("a taken key was inserted")
	}
	if _, err := conn.ExecContext(ctx, insert, 5, "v5"); err != nil {
		t.Fatalf("after a failure: %v", err)
	}

	// Reads: fresh arguments every time, and the same text inside a loop
	// over its own rows.
	const read = `SELECT k, v FROM t WHERE k >= ? ORDER BY k`
	rows, err := conn.QueryContext(ctx, read, 3)
	if err != nil {
		t.Fatal(err)
	}
	var outer []string
	for rows.Next() {
		var k int
		var v string
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		outer = append(outer, v)
		if len(outer) > 3 {
			t.Fatalf("the outer rows started over: %v", outer)
		}
		var inner int
		if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM (`+read+`)`, k).Scan(&inner); err != nil {
			t.Fatal(err)
		}
		var same string
		if err := conn.QueryRowContext(ctx, read, k).Scan(&k, &same); err != nil {
			t.Fatalf("the same text inside its own rows: %v", err)
		}
		if same != v {
			t.Fatalf("inner read of %d = %q, want %q", k, same, v)
		}
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(outer) != "[v3 v4 v5]" {
		t.Fatalf("outer rows = %v, want [v3 v4 v5]", outer)
	}
	var v string
	if err := conn.QueryRowContext(ctx, read, 1).Scan(new(int), &v); err != nil || v != "v1" {
		t.Fatalf("read after the loop = %q, %v; want v1", v, err)
	}

	// In a transaction too, and a rolled-back write is gone.
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, insert, 6, "v6"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRowContext(ctx, read, 6).Scan(new(int), &v); err != sql.ErrNoRows {
		t.Fatalf("rolled-back row read: %v, want sql.ErrNoRows", err)
	}

	// Past the bound, texts still run; nothing more is kept.
	for i := range maxCachedStmts + 10 {
		var n int
		if err := conn.QueryRowContext(ctx, fmt.Sprintf(`SELECT %d + ?`, i), 1).Scan(&n); err != nil || n != i+1 {
			t.Fatalf("text %d: %d, %v", i, n, err)
		}
	}
	if got := kept(); got != maxCachedStmts {
		t.Fatalf("kept %d statements, want the bound %d", got, maxCachedStmts)
	}
}
