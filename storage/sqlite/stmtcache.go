package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"

	"modernc.org/sqlite"
)

// The driver prepares a statement's text afresh at every Exec or Query that
// is not run through a prepared *sql.Stmt, and parsing and planning cost
// more than running most of the store's statements (cmd/dopaid-bench, code
// flow on SQLite: a quarter of the server's CPU went to sqlite3_prepare).
// Every connection the store opens therefore keeps its statements prepared,
// by text, and runs each Exec and Query through the one it has: the store's
// code passes text as before, in a transaction or not.

// maxCachedStmts bounds the statements one connection keeps. The store's
// texts are constants or are built from a few options (audit filters), so
// the bound is not reached in practice; past it a text is prepared for
// its one use, as the driver does.
const maxCachedStmts = 512

// openDB is sql.Open("sqlite", dsn) with every connection's statements
// cached.
func openDB(dsn string) (*sql.DB, error) {
	c, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(cachingConnector{c}), nil
}

// cachingConnector opens connections that cache their statements.
type cachingConnector struct{ driver.Connector }

func (c cachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	full, ok := conn.(driverConn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("sqlite: the driver's connection %T lacks an interface the store needs", conn)
	}
	return &cachingConn{driverConn: full, stmts: make(map[string]*cachedStmt)}, nil
}

// driverConn is what the driver's connections implement, and what
// database/sql uses of them: the wrapper forwards it all.
type driverConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// driverStmt is what the driver's statements implement.
type driverStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// cachingConn is a connection that keeps its statements. database/sql uses
// a connection from one goroutine at a time, so the map needs no lock.
type cachingConn struct {
	driverConn
	stmts map[string]*cachedStmt
}

// cachedStmt is a prepared statement and whether rows read through it are
// still open: the driver's statement then cannot run again until they are
// closed, and a second use of the same text meanwhile (a query inside a
// loop over the rows of the same text) prepares a statement of its own.
type cachedStmt struct {
	st   driverStmt
	busy bool
}

// Unwrap returns the driver's connection (see sqlite.NewConnector).
func (c *cachingConn) Unwrap() driver.Conn { return c.driverConn }

// stmt returns the statement kept for query, preparing and keeping it if it
// is new, or nil if query is to be run by the driver directly.
func (c *cachingConn) stmt(ctx context.Context, query string) (*cachedStmt, error) {
	if cs, ok := c.stmts[query]; ok {
		if cs.busy {
			return nil, nil
		}
		return cs, nil
	}
	if len(c.stmts) >= maxCachedStmts {
		return nil, nil
	}
	ds, err := c.driverConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	st, ok := ds.(driverStmt)
	if !ok {
		ds.Close()
		return nil, nil
	}
	cs := &cachedStmt{st: st}
	c.stmts[query] = cs
	return cs, nil
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	cs, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.driverConn.ExecContext(ctx, query, args)
	}
	cs.busy = true
	defer func() { cs.busy = false }()
	return cs.st.ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.driverConn.QueryContext(ctx, query, args)
	}
	rows, err := cs.st.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	cs.busy = true
	return &cachedRows{Rows: rows, cs: cs}, nil
}

// Close finalizes the kept statements, then closes the connection.
func (c *cachingConn) Close() error {
	for q, cs := range c.stmts {
		cs.st.Close()
		delete(c.stmts, q)
	}
	return c.driverConn.Close()
}

// cachedRows frees its statement for the next use when closed.
type cachedRows struct {
	driver.Rows
	cs *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.cs.busy = false
	return err
}
