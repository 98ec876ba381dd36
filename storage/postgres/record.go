package postgres

import (
	"errors"
	"fmt"
	"strings"
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
	n := len(es)
	cols := make([][]string, 12)
	for i := range cols {
		cols[i] = make([]string, n)
	}
	ats := make([]time.Time, n)
	for i, e := range es {
		ats[i] = e.At.Truncate(time.Millisecond).UTC()
		for j, v := range []string{e.ID, e.Type, e.Actor, e.CitizenID, e.AgencyID, e.PermitID, e.ClientID,
			e.Purpose, listJSON(e.Claims), e.IAL, e.Outcome, e.Detail} {
			cols[j][i] = v
		}
	}
	p := make([]string, 13)
	for i := range p {
		p[i] = fmt.Sprintf("$%d", first+i)
	}
	q := `, e AS (
	INSERT INTO audit_log_entries (id, at, type, actor, citizen_id, agency_id, permit_id, client_id,
		purpose, claims, ial, outcome, detail)
	SELECT id, at, type, actor, citizen_id, agency_id, permit_id, client_id, purpose,
		ARRAY(SELECT jsonb_array_elements_text(claims)), ial, outcome, detail
	FROM unnest(` + strings.Join([]string{
		p[0] + "::text[]", p[1] + "::timestamptz[]", p[2] + "::text[]", p[3] + "::text[]", p[4] + "::text[]",
		p[5] + "::text[]", p[6] + "::text[]", p[7] + "::text[]", p[8] + "::text[]", p[9] + "::jsonb[]",
		p[10] + "::text[]", p[11] + "::text[]", p[12] + "::text[]"}, ", ") + `)
		WITH ORDINALITY AS v(id, at, type, actor, citizen_id, agency_id, permit_id, client_id, purpose,
			claims, ial, outcome, detail, n)
	WHERE ` + cond + `
	ORDER BY n
)`
	args := []any{cols[0], ats}
	for _, c := range cols[1:] {
		args = append(args, c)
	}
	return q, args
}
