package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dopaid/dopaid/storage"
)

const sessionCols = `id, subject, auth_time, amr, acr, ial, idle_expires_at, expires_at,
	created_at, last_seen_at, user_agent`

func scanSession(row pgx.Row) (storage.Session, error) {
	var s storage.Session
	err := row.Scan(&s.ID, &s.Subject, ts(&s.AuthTime), &s.AMR, &s.ACR, &s.IAL, ts(&s.IdleExpiresAt), ts(&s.ExpiresAt),
		ts(&s.CreatedAt), ts(&s.LastSeenAt), &s.UserAgent)
	if err != nil {
		return storage.Session{}, err
	}
	normList(&s.AMR)
	return s, nil
}

// CreateSession stores a new session; ErrAlreadyExists if the ID is taken.
// rec's entries travel in the same batch (one implicit transaction).
func (s *Store) CreateSession(ctx context.Context, ss storage.Session, rec storage.Record) error {
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO sessions (`+sessionCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		ss.ID, ss.Subject, ss.AuthTime, list(ss.AMR), ss.ACR, ss.IAL, ss.IdleExpiresAt, ss.ExpiresAt,
		ss.CreatedAt, ss.LastSeenAt, ss.UserAgent)
	if err := record(b, es); err != nil {
		return fmt.Errorf("postgres: create session: %w", err)
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return wrapRecorded("create session", err)
	}
	return nil
}

// Session returns a live session (neither idle- nor absolutely expired).
func (s *Store) Session(ctx context.Context, id string, now time.Time) (storage.Session, error) {
	q := `SELECT ` + sessionCols + ` FROM sessions WHERE id = $1 AND idle_expires_at > $2 AND expires_at > $2`
	ss, err := scanSession(s.pool.QueryRow(ctx, q, id, now))
	if err != nil {
		return storage.Session{}, wrap("session", err)
	}
	return ss, nil
}

// TouchSession moves a live session's idle expiry (capped at its absolute
// expiry) and LastSeenAt; ErrNotFound if it is missing or no longer live.
func (s *Store) TouchSession(ctx context.Context, id string, idleExpiresAt, now time.Time) error {
	const q = `UPDATE sessions SET idle_expires_at = LEAST($2, expires_at), last_seen_at = $3
		WHERE id = $1 AND idle_expires_at > $3 AND expires_at > $3`
	tag, err := s.pool.Exec(ctx, q, id, idleExpiresAt, now)
	if err != nil {
		return wrap("touch session", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: touch session: %w", storage.ErrNotFound)
	}
	return nil
}

// SessionsBySubject lists a subject's live sessions, newest first.
func (s *Store) SessionsBySubject(ctx context.Context, subject string, now time.Time) ([]storage.Session, error) {
	q := `SELECT ` + sessionCols + ` FROM sessions
		WHERE subject = $1 AND idle_expires_at > $2 AND expires_at > $2
		ORDER BY created_at DESC, id DESC`
	rows, err := s.pool.Query(ctx, q, subject, now)
	if err != nil {
		return nil, wrap("sessions by subject", err)
	}
	ss, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Session, error) { return scanSession(r) })
	if err != nil {
		return nil, wrap("sessions by subject", err)
	}
	return ss, nil
}

// DeleteSession ends a session; a missing one is not an error.
// rec's entries travel in the same batch (one implicit transaction).
func (s *Store) DeleteSession(ctx context.Context, id string, rec storage.Record) error {
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM sessions WHERE id = $1`, id)
	if err := record(b, es); err != nil {
		return fmt.Errorf("postgres: delete session: %w", err)
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return wrapRecorded("delete session", err)
	}
	return nil
}
