package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/dopaid/dopaid/storage"
)

const sessionColumns = `id, subject, auth_time, amr, acr, ial, idle_expires_at, expires_at,
	created_at, last_seen_at, user_agent`

// liveSession is the SQL condition for a session neither idle- nor
// absolutely expired at ?1.
const liveSession = `idle_expires_at > ?1 AND expires_at > ?1`

func scanSession(row scanner) (storage.Session, error) {
	var s storage.Session
	err := row.Scan(&s.ID, &s.Subject, timeCol{&s.AuthTime}, listCol{&s.AMR}, &s.ACR, &s.IAL, timeCol{&s.IdleExpiresAt}, timeCol{&s.ExpiresAt},
		timeCol{&s.CreatedAt}, timeCol{&s.LastSeenAt}, &s.UserAgent)
	return s, err
}

// CreateSession stores a new session with rec.
func (s *Store) CreateSession(ctx context.Context, ss storage.Session, rec storage.Record) error {
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := createSession(ctx, tx, ss); err != nil {
			return err
		}
		return record(ctx, tx, es)
	})
}

func createSession(ctx context.Context, tx *sql.Tx, ss storage.Session) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ss.ID, ss.Subject, msArg(ss.AuthTime), listArg(ss.AMR), ss.ACR, ss.IAL, msArg(ss.IdleExpiresAt), msArg(ss.ExpiresAt),
		msArg(ss.CreatedAt), msArg(ss.LastSeenAt), ss.UserAgent)
	if err != nil {
		return wrap(err, "create session")
	}
	return nil
}

// Session returns a live session.
func (s *Store) Session(ctx context.Context, id string, now time.Time) (storage.Session, error) {
	ss, err := scanSession(s.r.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE id = ?2 AND `+liveSession, now.UnixMilli(), id))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Session{}, fmt.Errorf("sqlite: session: %w", storage.ErrNotFound)
	}
	if err != nil {
		return storage.Session{}, wrap(err, "session")
	}
	return ss, nil
}

// TouchSession moves the idle expiry of a live session, never past its
// ExpiresAt, and its LastSeenAt; storage.ErrNotFound if it is not live.
func (s *Store) TouchSession(ctx context.Context, id string, idleExpiresAt, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return touchSession(ctx, tx, id, idleExpiresAt, now) })
}

func touchSession(ctx context.Context, tx *sql.Tx, id string, idleExpiresAt, now time.Time) error {
	res, err := tx.ExecContext(ctx, `UPDATE sessions SET idle_expires_at = MIN(?3, expires_at), last_seen_at = ?1
		WHERE id = ?2 AND `+liveSession, now.UnixMilli(), id, msArg(idleExpiresAt))
	if err != nil {
		return wrap(err, "touch session")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(err, "touch session")
	}
	if n == 0 {
		return fmt.Errorf("sqlite: touch session: %w", storage.ErrNotFound)
	}
	return nil
}

// SessionsBySubject lists a subject's live sessions, newest first.
func (s *Store) SessionsBySubject(ctx context.Context, subject string, now time.Time) ([]storage.Session, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE subject = ?2 AND `+liveSession+` ORDER BY created_at DESC, id DESC`, now.UnixMilli(), subject)
	if err != nil {
		return nil, wrap(err, "sessions of subject")
	}
	defer rows.Close()
	var ss []storage.Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, wrap(err, "sessions of subject")
		}
		ss = append(ss, s)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "sessions of subject")
	}
	return ss, nil
}

// DeleteSession ends a session, with rec.
func (s *Store) DeleteSession(ctx context.Context, id string, rec storage.Record) error {
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id); err != nil {
			return wrap(err, "delete session")
		}
		return record(ctx, tx, es)
	})
}
