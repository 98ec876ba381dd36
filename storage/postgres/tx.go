package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
