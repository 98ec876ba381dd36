package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dopaid/dopaid/storage"
)

// readModifyWrite runs a transaction in which Go decides, between reading
// and writing, what to write: read queues statements that read and lock rows
// (their callbacks keep what they read), then write queues the writes. BEGIN
// travels with the reads and COMMIT with the writes, so the whole costs two
// round trips however long Go takes in between, while the row locks make
// concurrent callers on any replica wait for each other.
//
// An error from write aborts the transaction and is returned as is, so that
// write can pass on the error of a caller's function untouched. Callbacks of
// read should report a missing row to write rather than as an error: pgx
// forgets the prepared statements of a batch that fails.
func (s *Store) readModifyWrite(ctx context.Context, read func(*pgx.Batch), write func(*pgx.Batch) error) error {
	return s.readMoreWrite(ctx, read, nil, write)
}

// readMoreWrite is readModifyWrite with a round trip in between when Go
// needs to read or lock more once it has seen what read read: more (if not
// nil) queues those statements, and costs a round trip only if it queues
// any. An error from more aborts the transaction and is returned as is.
func (s *Store) readMoreWrite(ctx context.Context, read func(*pgx.Batch), more, write func(*pgx.Batch) error) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// Release destroys a connection still inside a transaction (rollback
	// failed or never tried), so an abandoned transaction ends with it.
	defer c.Release()
	done := false
	defer func() {
		if done || c.Conn().IsClosed() || c.Conn().PgConn().TxStatus() == 'I' {
			return
		}
		// The caller's context may be what ended the transaction.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = c.Exec(ctx, "ROLLBACK")
	}()

	b := &pgx.Batch{}
	b.Queue("BEGIN")
	read(b)
	if err := c.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	if more != nil {
		b = &pgx.Batch{}
		if err := more(b); err != nil {
			return err
		}
		if b.Len() > 0 {
			if err := c.SendBatch(ctx, b).Close(); err != nil {
				return err
			}
		}
	}
	b = &pgx.Batch{}
	if err := write(b); err != nil {
		return err
	}
	b.Queue("COMMIT").Exec(func(ct pgconn.CommandTag) error {
		// PostgreSQL answers COMMIT of a failed transaction with ROLLBACK.
		if ct.String() != "COMMIT" {
			return errors.New("transaction rolled back")
		}
		return nil
	})
	if err := c.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	done = true
	return nil
}

// updateRow locks the row that lock selects (with args), hands it to fn and
// writes fn's result with the statement write returns, in one transaction
// of two round trips (see readModifyWrite), so that concurrent updates of
// one record, on any replica, apply one after the other. fn is called once,
// and not at all for a missing row (ErrNotFound); its error aborts the
// update and is returned as is, any other error wrapped with op. write's
// statement must return the row written, which scan reads back. The
// prepared entries es (a storage.Record) are written in the same
// transaction.
func updateRow[T any](ctx context.Context, s *Store, op string, es []storage.LogEntry, lock string, args []any,
	scan func(pgx.Row) (T, error), fn func(T) (T, error), write func(T) (string, []any, error),
) (T, error) {
	var cur, out T
	var found bool
	var fnErr error
	err := s.readModifyWrite(ctx,
		func(b *pgx.Batch) {
			b.Queue(lock, args...).QueryRow(func(row pgx.Row) error {
				v, err := scan(row)
				if errors.Is(err, pgx.ErrNoRows) {
					return nil
				}
				cur, found = v, err == nil
				return err
			})
		},
		func(b *pgx.Batch) error {
			if !found {
				return pgx.ErrNoRows
			}
			v, err := fn(cur)
			if err != nil {
				fnErr = err
				return err
			}
			q, wargs, err := write(v)
			if err != nil {
				return err
			}
			b.Queue(q, wargs...).QueryRow(func(row pgx.Row) error {
				out, err = scan(row)
				return err
			})
			return record(b, es)
		})
	var zero T
	if fnErr != nil {
		return zero, fnErr
	}
	if err != nil {
		return zero, wrapRecorded(op, err)
	}
	return out, nil
}
