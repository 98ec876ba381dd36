package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// An action and the entries that record it (storage.Record) commit in one
// write transaction: prepare refuses bad entries before anything is
// written, and the action's transaction inserts them beside its own rows.

// prepare makes rec's entries ready to be written; it fails before the
// action's transaction begins, so that a refused entry changes nothing.
func prepare(rec storage.Record) ([]storage.LogEntry, error) {
	return rec.Prepare(time.Now())
}

// record inserts the prepared entries es in tx. Its failure is
// ErrUnrecorded, never one of the action's own sentinels (a taken entry
// ID is no taken session ID).
func record(ctx context.Context, tx *sql.Tx, es []storage.LogEntry) error {
	if len(es) == 0 {
		return nil
	}
	if err := insertLogEntries(ctx, tx, es); err != nil {
		return fmt.Errorf("sqlite: %w: %v", storage.ErrUnrecorded, err)
	}
	return nil
}
