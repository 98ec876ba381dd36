package postgres

import (
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dopaid/dopaid/storage"
)

// An action and the entries that record it (storage.Record) commit in one
// transaction: prepare refuses bad entries before anything is sent, and the
// action's batch (an implicit transaction), readModifyWrite's write batch
// or its single statement (recordCTE) inserts them beside its own rows.

// wrapRecorded is wrap for a statement or batch that also inserts a
// Record's entries: an entry that cannot be written is ErrUnrecorded,
// never one of the action's own sentinels (a taken entry ID is no taken
// session ID).
func wrapRecorded(op string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.TableName == "audit_log_entries" {
		return fmt.Errorf("postgres: %s: %w: %v", op, storage.ErrUnrecorded, err)
	}
	return wrap(op, err)
}

// prepare makes rec's entries ready to be written; it fails before the
// action's transaction begins, so that a refused entry changes nothing.
func prepare(rec storage.Record) ([]storage.LogEntry, error) {
	return rec.Prepare(time.Now())
}

// record queues the insertion of the prepared entries es in b.
func record(b *pgx.Batch, es []storage.LogEntry) error {
	if len(es) == 0 {
		return nil
	}
	return queueLogEntries(b, es)
}

// recordCTE is a data-modifying CTE, named e, that inserts the prepared
// entries es only if cond holds (an EXISTS on the action's own CTE), for a
// statement whose action is one statement: the entries are written exactly
// when the action is. Its parameters are numbered from first; it returns
// them to append to the statement's. Empty es give an empty CTE.
func recordCTE(es []storage.LogEntry, first int, cond string) (string, []any) {
	if len(es) == 0 {
		return "", nil
	}
	// Rows of VALUES, as queueLogEntries writes them, inserted in their order
	// (a scan of VALUES reads them so).
	q := `, e AS (
	` + insertLogEntryColumns + `
	SELECT * FROM (` + logEntryValues(len(es), first) + `) AS v
	WHERE ` + cond + `
)`
	return q, logEntryArgs(es)
}
