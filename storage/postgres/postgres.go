// Package postgres is dopaid's production storage backend: a storage.Store on
// PostgreSQL through pgx (pgxpool), for any number of stateless replicas that
// share one database. It may import the standard library, storage and pgx;
// nothing else in dopaid imports pgx.
//
// The schema is created by versioned SQL migrations embedded in the binary and
// applied by Migrate, never implicitly by Open, so that an operator decides
// when a schema changes. Every operation that must be atomic across replicas
// (consuming a code, rotating a refresh token, one-time values, recovery
// codes, login flow steps, failure counters) is a single conditional
// statement or a transaction holding row locks, so two replicas racing on the
// same record are decided by the database.
//
// Queries name their columns (never SELECT *), so that replicas still running
// with cached prepared statements survive an additive migration.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dopaid/dopaid/storage"
)

// Store is a storage.Store on a PostgreSQL connection pool. It is safe for
// concurrent use.
type Store struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	// listenCheck is how long a listening connection may stay silent before
	// Listen checks that it is still alive.
	listenCheck time.Duration
	// listener is the one connection every Listen shares (notify.go).
	listener listener
	// appender groups concurrent audit appends (appender.go).
	appender appender
	// onLogAppend is called after a commit that wrote log entries.
	onLogAppend atomic.Pointer[func()]
}

var _ storage.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithLogger sets the logger for problems the Store recovers from on its own
// (a lost LISTEN connection). The default discards them.
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) { s.log = l }
}

// defaultMaxConns is the pool size when the URL sets no pool_max_conns
// (measured with cmd/dopaid-bench: 4 connections halve userinfo throughput
// at 32 concurrent clients).
const defaultMaxConns = 16

// Open connects to the database at url (a postgres:// URL or a keyword/value
// connection string; pgxpool's pool_* parameters are honoured) and checks that
// it answers. It does not migrate: call Migrate for that.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx quotes the connection string in its message and can redact
		// the password only on a best-effort basis.
		return nil, errors.New("postgres: open: invalid database url (want postgres://user:password@host:port/database?param=value)")
	}
	// pgxpool's default (max(4, cores)) starves the hot endpoints: each
	// request holds a connection for a round trip or two while the
	// database works. Unless the URL says otherwise, allow 16.
	if !strings.Contains(url, "pool_max_conns") && cfg.MaxConns < defaultMaxConns {
		cfg.MaxConns = defaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	s := &Store{
		pool:        pool,
		log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		listenCheck: 30 * time.Second,
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close closes every connection of the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// DeleteExpired removes, in one statement, the auth requests, sessions, replay
// entries, retired signing keys, flows and throttle counters whose lifetime
// ended before now, and the grants none of whose tokens is still alive (their
// tokens go with them and are not counted).
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	const q = `
WITH a AS (
	DELETE FROM auth_requests WHERE expires_at < $1 RETURNING 1
), g AS (
	DELETE FROM grants g
	WHERE NOT EXISTS (SELECT 1 FROM access_tokens t WHERE t.grant_id = g.id AND t.expires_at >= $1)
	  AND NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.grant_id = g.id AND t.expires_at >= $1)
	RETURNING 1
), s AS (
	DELETE FROM sessions WHERE expires_at < $1 OR idle_expires_at < $1 RETURNING 1
), r AS (
	DELETE FROM replay WHERE expires_at < $1 RETURNING 1
), k AS (
	DELETE FROM signing_keys WHERE expires_at < $1 RETURNING 1
), f AS (
	DELETE FROM flows WHERE expires_at < $1 RETURNING 1
), t AS (
	DELETE FROM throttles WHERE expires_at < $1 RETURNING 1
), rv AS (
	DELETE FROM token_revocations WHERE expires_at < $1 RETURNING 1
), lo AS (
	-- A finished logout delivery is in the audit trail; its row is done.
	DELETE FROM logout_outbox WHERE done_at < $1 RETURNING 1
)
SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM g) + (SELECT count(*) FROM s)
     + (SELECT count(*) FROM r) + (SELECT count(*) FROM k) + (SELECT count(*) FROM f)
     + (SELECT count(*) FROM t) + (SELECT count(*) FROM lo)`
	// Revocations that ran out (rv) are not counted: they are the feed's
	// bookkeeping, not records. (A statement in WITH runs whether or not
	// the query reads it.)
	var n int64
	if err := s.pool.QueryRow(ctx, q, now).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: delete expired: %w", err)
	}
	return n, nil
}

// wrap adds the operation to err and translates what the database reports
// into the storage sentinels: no row is ErrNotFound, a unique violation is
// ErrAlreadyExists. The driver's error stays in the chain for errors.As.
func wrap(op string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return fmt.Errorf("postgres: %s: %w: %w", op, storage.ErrAlreadyExists, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// tsDest scans a timestamptz into a time.Time: NULL becomes the zero time,
// anything else UTC, so that values read back compare equal to what was
// written (to the microsecond PostgreSQL keeps).
type tsDest struct{ t *time.Time }

func ts(t *time.Time) tsDest { return tsDest{t} }

func (d tsDest) ScanTimestamptz(v pgtype.Timestamptz) error {
	switch {
	case !v.Valid:
		*d.t = time.Time{}
	case v.InfinityModifier != pgtype.Finite:
		return errors.New("infinite timestamp")
	default:
		*d.t = v.Time.UTC()
	}
	return nil
}

// optTime is the argument for a nullable time column: the zero time is NULL.
func optTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// list is the argument for a text[] NOT NULL column: pgx sends a nil slice as
// NULL.
func list(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// blob is the argument for a bytea NOT NULL column.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Values read back are normalised so that an empty list or blob is nil,
// whatever the caller stored.
func normList(s *[]string) {
	if len(*s) == 0 {
		*s = nil
	}
}

func normBlob(b *[]byte) {
	if len(*b) == 0 {
		*b = nil
	}
}
