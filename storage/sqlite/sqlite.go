// Package sqlite is dopaid's embedded default storage backend: the whole
// storage.Store in one SQLite file, through the pure-Go driver
// modernc.org/sqlite, with no server to run. It suits a single dopaid
// process; many replicas share storage/postgres instead.
//
// It may import only storage and the driver.
//
// Writes go through one connection and begin with BEGIN IMMEDIATE, so
// writers queue instead of failing with SQLITE_BUSY, and every
// read-modify-write (consuming a code, rotating a refresh token, updating a
// client) runs alone. Reads use a pool of read-only connections that WAL mode
// lets run beside the writer.
//
// Times are stored as Unix milliseconds (UTC), slices as JSON text.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/dopaid/dopaid/storage"
)

var _ storage.Store = (*Store)(nil)

// Store is a storage.Store in one SQLite file.
type Store struct {
	w *sql.DB // the single writer connection
	r *sql.DB // read-only connections
	// group queues write transactions for group commit (groupcommit.go).
	group committer
	// onLogAppend is called after a commit that wrote log entries.
	onLogAppend atomic.Pointer[func()]
	// ckpt is the checkpointer's connection (checkpointLoop).
	ckpt      *sql.DB
	stopCkpt  chan struct{}
	ckptDone  chan struct{}
	closeOnce sync.Once
}

// Open opens the database file at path, creating the file if it is missing.
// It does not create or upgrade the schema: call Migrate for that.
func Open(ctx context.Context, path string) (*Store, error) {
	// The driver reads parameters after '?', and treats a "file:" prefix as a
	// URI; a plain file name is all Open takes.
	if path == "" || strings.Contains(path, "?") || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: open %q: want a plain file name", path)
	}
	// busy_timeout covers other processes and WAL checkpoints; within this
	// process writers queue for the one write connection.
	const common = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)"
	// The writer does not checkpoint the WAL itself (wal_autocheckpoint
	// 0): the checkpointer does (checkpointLoop). Its temporary storage is
	// memory (temp_store 2), above all the sub-journal: group commit runs
	// each request's writes in a savepoint of its own (groupcommit.go),
	// and SQLite copies every page a savepoint changes first into the
	// sub-journal, which it keeps in memory only up to 64 KiB and then
	// spills to a temporary file — opened, written a page and a page
	// number at a time, and deleted, for every group of a few code flows:
	// an eighth of the server's CPU on the code flow (cmd/dopaid-bench,
	// 8 workers, server on one core). A group's sub-journal is the pages
	// its requests change, at most a few MiB, and lives only until COMMIT.
	w, err := openDB(path + "?" + common + "&_pragma=journal_mode(WAL)&_pragma=wal_autocheckpoint(0)" +
		"&_pragma=journal_size_limit(" + strconv.Itoa(walSizeLimit) + ")&_pragma=temp_store(2)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)
	// The writer connects first so that the file exists and is in WAL mode
	// before any reader opens it.
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	r, err := openDB(path + "?" + common + "&_query_only=1")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	// The checkpointer waits a tenth of a second at most: a RESTART or TRUNCATE
	// checkpoint holds new writers back while it waits (for a long read,
	// say an audit export), and one that cannot finish soon is better
	// tried again a second later.
	c, err := openDB(path + "?_pragma=busy_timeout(100)")
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	c.SetMaxOpenConns(1)
	s := &Store{w: w, r: r, ckpt: c, stopCkpt: make(chan struct{}), ckptDone: make(chan struct{})}
	go s.checkpointLoop()
	if err := r.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	return s, nil
}

// checkpointInterval is how often the checkpointer copies the WAL's
// committed pages into the database file.
const checkpointInterval = time.Second

// checkpointLoop checkpoints the WAL every checkpointInterval until Close,
// on a connection of its own. SQLite's default is for the connection that
// commits to checkpoint once the WAL passes 1,000 pages, inside its COMMIT:
// on the one writer that held every write of the process — each waiting
// request — for as long as copying the pages into the database file and
// its fsync took, which under load and with a large file was seconds
// (cmd/dopaid-bench on SQLite: no answer at all for up to 8.6 s). A PASSIVE
// checkpoint from another connection copies what no reader still needs
// while the writer goes on committing to the WAL; what it cannot copy yet
// it copies on a later round. A failed round is retried on the next: the
// data is safe in the WAL meanwhile.
//
// The writer would start the WAL over once all of it was copied and no
// reader used it, which under load never happens: past walRestartFrames a
// RESTART checkpoint waits for the readers of old frames (each a moment:
// the PASSIVE round copied nearly everything), and the writer's next
// transaction writes the WAL from its start again. The WAL keeps its size
// (journal_size_limit bounds it) and the writer overwrites blocks the file
// already has, so the fdatasync of each commit has only the data to write,
// no new size or blocks for the filesystem's journal (on ext4, 40 KiB
// commits: append + fdatasync 340–407 µs and 112–141 µs of CPU, overwrite
// + fdatasync 157–197 µs and 54–66 µs). cmd/dopaid-bench, SQLite, 8
// workers, server on one core, userinfo in alternating 20 s runs against
// emptying the WAL (TRUNCATE) at 64 MiB, as before: 3,403 → 3,579/s and
// 3,197 → 3,328/s. TRUNCATE stays for a WAL that grew past
// walTruncateFrames anyway (a RESTART kept from finishing by a long read).
func (s *Store) checkpointLoop() {
	defer close(s.ckptDone)
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stopCkpt:
			return
		case <-t.C:
		}
		var busy, frames, copied int64
		if err := s.ckpt.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil {
			continue
		}
		switch {
		case frames > walTruncateFrames.Load():
			_, _ = s.ckpt.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
		case frames > walRestartFrames.Load():
			_, _ = s.ckpt.Exec(`PRAGMA wal_checkpoint(RESTART)`)
		}
	}
}

// walRestartFrames is the size of the WAL, in pages, beyond which the
// checkpointer has the writer start it over (4 MiB of 4 KiB pages); a
// variable for tests.
var walRestartFrames atomic.Int64

func init() { walRestartFrames.Store(1024) }

// walTruncateFrames is the size of the WAL, in pages, beyond which the
// checkpointer empties it (64 MiB of 4 KiB pages); a variable for tests.
var walTruncateFrames atomic.Int64

func init() { walTruncateFrames.Store(walSizeLimit / 4096) }

// walSizeLimit is the size in bytes to which the writer cuts a longer WAL
// when it starts it over.
const walSizeLimit = 64 << 20

// Ping reports whether the database file can be reached.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() { err = s.close() })
	return err
}

func (s *Store) close() error {
	if s.stopCkpt != nil {
		close(s.stopCkpt)
		<-s.ckptDone
	}
	var cerr error
	if s.ckpt != nil {
		cerr = s.ckpt.Close()
	}
	return errors.Join(s.r.Close(), cerr, s.w.Close())
}

//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order. A file is
// named NNNN_what.sql with a positive version that no other file has.
// Versions may leave gaps: work done in parallel reserves its numbers.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, name := range names { // fs.Glob sorts
		base := strings.TrimPrefix(name, "migrations/")
		prefix, _, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(prefix)
		if err != nil || v <= 0 || (len(ms) > 0 && v <= ms[len(ms)-1].version) {
			return nil, fmt.Errorf("migration %s: want a positive version above the previous file's", base)
		}
		b, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	return ms, nil
}

// Migrate brings the schema up to date, applying in one transaction, in
// version order, every embedded migration that the schema_migrations table
// does not list. It refuses a database migrated by a newer dopaid (one that
// lists a version this program does not know).
func (s *Store) Migrate(ctx context.Context) error { return s.migrate(ctx, 0) }

// migrate applies the migrations up to version upTo, or all if upTo is 0
// (tests build older databases with it).
func (s *Store) migrate(ctx context.Context, upTo int) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	if upTo > 0 {
		ms = slices.DeleteFunc(ms, func(m migration) bool { return m.version > upTo })
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			applied_at INTEGER NOT NULL
		) STRICT`); err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
		done := map[int]bool{}
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: migrate: %w", err)
			}
			done[v] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
		known := map[int]bool{}
		for _, m := range ms {
			known[m.version] = true
		}
		for v := range done {
			if !known[v] {
				return fmt.Errorf("sqlite: migrate: database schema version %d is unknown to this program: it was migrated by a newer one", v)
			}
		}
		for _, m := range ms {
			if done[m.version] {
				continue
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("sqlite: migrate %s: %w", m.name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
				m.version, time.Now().UnixMilli()); err != nil {
				return fmt.Errorf("sqlite: migrate %s: %w", m.name, err)
			}
		}
		return nil
	})
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// querier is a *sql.DB or *sql.Tx.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queryList runs a query on the read connections and scans every row.
// Its error is not wrapped: the caller knows what it was doing.
func queryList[T any](ctx context.Context, db *sql.DB, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// wrap adds what the store was doing to err, and turns a violated unique
// constraint into storage.ErrAlreadyExists.
func wrap(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return fmt.Errorf("sqlite: %s: %w (%v)", what, storage.ErrAlreadyExists, err)
		}
	}
	return fmt.Errorf("sqlite: %s: %w", what, err)
}

// DeleteExpired removes every record whose lifetime ended at or before now.
// A grant goes once its own ExpiresAt has passed and none of its tokens is
// left; its expired tokens go first.
//
// It deletes in batches of expireBatch rows, each batch a write
// transaction of its own through group commit, so that the one writer is
// never held for long (requests queue behind it) and a transaction's dirty
// pages stay few, however much expired since the last run.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	// Each statement deletes at most expireBatch rows (?2) chosen by the
	// table's key; the conditions use the expiry indexes (migration 0024).
	batch := func(table, key, cond string) string {
		cols := strings.Trim(key, "()")
		return fmt.Sprintf(`DELETE FROM %s WHERE %s IN (SELECT %s FROM %s WHERE %s LIMIT ?2)`, table, key, cols, table, cond)
	}
	type step struct {
		q     string
		count bool // records, as opposed to the revocation feed's bookkeeping
	}
	steps := []step{
		{batch("auth_requests", "rowid", `(expires_at IS NULL OR expires_at <= ?1)
			AND (code_expires_at IS NULL OR code_expires_at <= ?1)`), true},
		{batch("access_tokens", "rowid", `expires_at IS NULL OR expires_at <= ?1`), true},
		{batch("refresh_tokens", "rowid", `expires_at IS NULL OR expires_at <= ?1`), true},
		{batch("grants", "rowid", `(expires_at IS NULL OR expires_at <= ?1)
			AND NOT EXISTS (SELECT 1 FROM access_tokens WHERE grant_id = grants.id)
			AND NOT EXISTS (SELECT 1 FROM refresh_tokens WHERE grant_id = grants.id)`), true},
		{batch("sessions", "rowid", `idle_expires_at IS NULL OR idle_expires_at <= ?1
			OR expires_at IS NULL OR expires_at <= ?1`), true},
		{batch("replay", "(scope, value)", `expires_at IS NULL OR expires_at <= ?1`), true},
		{batch("signing_keys", "rowid", `expires_at <= ?1`), true},
		{batch("flows", "rowid", `expires_at IS NULL OR expires_at <= ?1`), true},
		// A finished logout delivery is in the audit trail; its row is done.
		{batch("logout_outbox", "rowid", `done_at <= ?1`), true},
		// A counter goes once its window and its lock are both over.
		{batch("throttles", "key", fmt.Sprintf(`(window_start IS NULL OR window_start <= ?1 - %d)
			AND (locked_until IS NULL OR locked_until <= ?1)`, storage.ThrottleWindow.Milliseconds())), true},
		// The revocation feed's bookkeeping, not counted as records.
		{batch("token_revocations", "seq", `expires_at <= ?1`), false},
	}
	var n int64
	for _, st := range steps {
		for {
			var m int64
			err := s.tx(ctx, func(tx *sql.Tx) error {
				res, err := tx.ExecContext(ctx, st.q, now.UnixMilli(), expireBatch)
				if err != nil {
					return err
				}
				m, err = res.RowsAffected()
				return err
			})
			if err != nil {
				return n, wrap(err, "delete expired")
			}
			if st.count {
				n += m
			}
			if m < expireBatch {
				break
			}
		}
	}
	return n, nil
}

// expireBatch is how many rows one transaction of DeleteExpired deletes.
const expireBatch = 500

// UseOnce records (scope, value) until expiresAt, replacing an entry that
// has expired.
func (s *Store) UseOnce(ctx context.Context, scope, value string, expiresAt, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return useOnce(ctx, tx, scope, value, expiresAt, now) })
}

func useOnce(ctx context.Context, tx *sql.Tx, scope, value string, expiresAt, now time.Time) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO replay (scope, value, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (scope, value) DO UPDATE SET expires_at = excluded.expires_at
		WHERE replay.expires_at IS NULL OR replay.expires_at <= ?`,
		scope, value, msArg(expiresAt), now.UnixMilli())
	if err != nil {
		return wrap(err, "use once %q", scope)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(err, "use once %q", scope)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: use once %q: %w", scope, storage.ErrAlreadyExists)
	}
	return nil
}
