package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dopaid/dopaid/storage"
)

// The verifiable audit log's records (see storage.LogEntry and package
// audit). Writers insert entries without a sequence number and take no lock
// beyond their own row. The integration right is a transaction-scoped
// advisory lock taken with pg_try_advisory_xact_lock inside the integrating
// transaction: one replica at a time integrates, the others skip the round,
// and a replica that dies mid-batch loses the lock with its connection, so
// another takes over at its next round.

// Entries are written once and never changed (but for retention's
// redaction); an entry's place in the log is its row in audit_log_leaves
// (migration 0023), and an entry without one is pending.

// logEntryCols are an entry's columns, read from logEntryTables.
const logEntryCols = `e.id, e.at, e.type, e.actor, e.citizen_id, e.agency_id, e.permit_id, e.client_id, e.purpose,
	e.claims, e.ial, e.outcome, e.detail, l.leaf_index, e.redacted_leaf`

// logEntryTables are the entries with their leaves, if they have one.
const logEntryTables = `audit_log_entries e LEFT JOIN audit_log_leaves l ON l.seq = e.seq`

func scanLogEntry(row pgx.Row, extra ...any) (storage.LogEntry, error) {
	var e storage.LogEntry
	var idx *int64
	dest := append(extra, &e.ID, ts(&e.At), &e.Type, &e.Actor, &e.CitizenID, &e.AgencyID, &e.PermitID,
		&e.ClientID, &e.Purpose, &e.Claims, &e.IAL, &e.Outcome, &e.Detail, &idx, &e.Redacted)
	if err := row.Scan(dest...); err != nil {
		return storage.LogEntry{}, err
	}
	normList(&e.Claims)
	e.Index = storage.NotIntegrated
	if idx != nil {
		e.Index = *idx
	}
	return e, nil
}

// queueLogEntries queues the insertion of es, not yet integrated, in b. An
// action's transaction (readModifyWrite's write batch, or any pgx.Tx) queues
// it beside its own statements so that the action and its entry commit
// together. At is cut to the millisecond, which every backend keeps.
//
// The entries go in as rows of VALUES, up to logEntriesPerStatement a
// statement, in order (seq follows it), claims as text[] parameters: one
// statement text per row count, each prepared once per connection. (An
// INSERT … SELECT FROM unnest of one array per column, claims as JSON
// since unnest cannot take arrays of arrays, cost PostgreSQL a quarter
// more per release entry: the arrays built and taken apart, the JSON
// parsed, the rows sorted back into order.) The statements of a batch
// commit together, in its transaction or in the one implicit transaction
// of a batch sent alone.
func queueLogEntries(b *pgx.Batch, es []storage.LogEntry) error {
	for _, e := range es {
		if e.At.IsZero() {
			return fmt.Errorf("log entry %q has no time", e.ID)
		}
	}
	for len(es) > 0 {
		n := min(len(es), logEntriesPerStatement)
		b.Queue(insertLogEntries(n), logEntryArgs(es[:n])...)
		es = es[n:]
	}
	return nil
}

// logEntriesPerStatement bounds the rows of one INSERT of entries (13
// parameters each; a statement takes at most 65,535).
const logEntriesPerStatement = 256

// logEntryColumns is the number of columns an entry's row of VALUES sets.
const logEntryColumns = 13

// insertLogEntryColumns names them, in logEntryArgs' order.
const insertLogEntryColumns = `INSERT INTO audit_log_entries (id, at, type, actor, citizen_id, agency_id,
		permit_id, client_id, purpose, claims, ial, outcome, detail)`

// logEntryArgs is the parameters of es' rows of VALUES.
func logEntryArgs(es []storage.LogEntry) []any {
	args := make([]any, 0, len(es)*logEntryColumns)
	for _, e := range es {
		args = append(args, e.ID, e.At.Truncate(time.Millisecond).UTC(), e.Type, e.Actor, e.CitizenID,
			e.AgencyID, e.PermitID, e.ClientID, e.Purpose, list(e.Claims), e.IAL, e.Outcome, e.Detail)
	}
	return args
}

// logEntryValues is n rows of VALUES for logEntryArgs, its parameters
// numbered from first.
func logEntryValues(n, first int) string {
	var sb strings.Builder
	sb.WriteString("VALUES ")
	for i := range n {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteByte('(')
		for c := range logEntryColumns {
			if c > 0 {
				sb.WriteString(", ")
			}
			fmt.Fprintf(&sb, "$%d", first+i*logEntryColumns+c)
			switch c {
			case 1:
				sb.WriteString("::timestamptz")
			case 9:
				sb.WriteString("::text[]")
			}
		}
		sb.WriteByte(')')
	}
	return sb.String()
}

// insertLogEntryTexts holds insertLogEntries' texts, built once each.
var insertLogEntryTexts sync.Map // int → string

// insertLogEntries is the INSERT of n entries' rows of VALUES.
func insertLogEntries(n int) string {
	if q, ok := insertLogEntryTexts.Load(n); ok {
		return q.(string)
	}
	q, _ := insertLogEntryTexts.LoadOrStore(n, insertLogEntryColumns+" "+logEntryValues(n, 1))
	return q.(string)
}

// AppendLogEntries stores es as entries not yet integrated, all or none,
// in one statement; ErrAlreadyExists if an ID is taken.
func (s *Store) AppendLogEntries(ctx context.Context, es []storage.LogEntry) error {
	if len(es) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	if err := queueLogEntries(b, es); err != nil {
		return fmt.Errorf("postgres: append log entries: %w", err)
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return wrap("append log entries", err)
	}
	s.logAppended()
	return nil
}

// OnLogAppend sets fn to be called after each commit of this Store that
// wrote audit log entries (AppendAudit, AppendLogEntries), so that the
// process's integrator integrates them at once rather than at its next
// tick. fn must be quick: it runs on the writer's goroutine. A method that
// writes entries with its action calls logAppended after its commit.
func (s *Store) OnLogAppend(fn func()) { s.onLogAppend.Store(&fn) }

// logAppended calls the function OnLogAppend set, if any.
func (s *Store) logAppended() {
	if fn := s.onLogAppend.Load(); fn != nil {
		(*fn)()
	}
}

// integrateLock is the advisory lock of the integration right, one per
// schema so that test schemas in one database do not contend.
const integrateLock = `SELECT pg_try_advisory_xact_lock(hashtextextended('dopaid audit log ' || current_schema(), 0))`

// IntegrateLog gives up to max pending entries, in the order they were
// written, the leaf indices after the newest head's size, and stores what fn
// makes of them (new nodes and head), in one transaction of five round
// trips (begin; lock and read the head; read the pending entries; write;
// commit) whatever the batch size. If
// another transaction holds the integration right it returns ErrConflict
// at once, having changed nothing.
func (s *Store) IntegrateLog(ctx context.Context, max int,
	fn func(storage.LogHead, []storage.LogEntry) (storage.LogIntegration, error),
) (int, error) {
	if max <= 0 {
		return 0, fmt.Errorf("postgres: integrate log: batch size %d", max)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, wrap("integrate log", err)
	}
	defer func() {
		// The caller's context may be what ended the transaction.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tx.Rollback(ctx)
	}()

	var locked bool
	var head storage.LogHead
	var xmin int64
	var seqs, txids []int64
	var pending []storage.LogEntry
	b := &pgx.Batch{}
	b.Queue(integrateLock).QueryRow(func(row pgx.Row) error { return row.Scan(&locked) })
	// Every table the round reads or writes, locked (in the mode its reads
	// take anyway) in one order before anything else, so that DDL on them
	// (a migration, or a test's tampering), which locks them one by one,
	// waits for the round or the round for it, never each for the other:
	// the pending entries are read a round trip after the head.
	b.Queue(`LOCK TABLE audit_log_entries, audit_log_leaves, audit_log_nodes, audit_log_heads IN ACCESS SHARE MODE`)
	// In READ COMMITTED each statement sees what was committed before it
	// began, so these see the previous integrator's commit: PostgreSQL
	// releases its lock only after its commit is visible.
	b.Queue(`SELECT ` + logHeadCols + ` FROM audit_log_heads ORDER BY size DESC LIMIT 1`).QueryRow(func(row pgx.Row) error {
		h, err := scanLogHead(row)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		head = h
		return err
	})
	// Every transaction below this statement's xmin had ended before it
	// began, so each of its entries is visible to the next statement.
	b.Queue(`SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint`).QueryRow(func(row pgx.Row) error {
		return row.Scan(&xmin)
	})
	var from int64
	b.Queue(`SELECT coalesce((SELECT pending_txid FROM audit_log_heads ORDER BY size DESC LIMIT 1), 0)`).QueryRow(func(row pgx.Row) error {
		return row.Scan(&from)
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return 0, wrap("integrate log: read", err)
	}
	if !locked {
		return 0, fmt.Errorf("postgres: integrate log: another transaction is integrating: %w", storage.ErrConflict)
	}
	// The pending entries: from the head's pending_txid up (migration 0023),
	// without a leaf, in the order of their transactions (a writer's
	// transaction begins after an earlier one's commit returned, so it has
	// a higher txid), then of writing. pending_txid is a parameter, not a
	// subquery: the planner estimates a bound it cannot see as a third of
	// the table and scans all of it (16 ms a round at 90,000 entries,
	// against 0.05 ms by the index on (txid, seq)). For the same reason it
	// is planned with its values each round (QueryExecModeExec: an unnamed
	// statement), never from a prepared statement's generic plan: pgx
	// prepares and caches statements, and after five runs PostgreSQL may
	// keep a plan built for any bound — one that gathered two parallel
	// workers each round (6 ms, against 0.6) or scanned the table (41 ms a
	// round at 200,000 entries, measured under cmd/dopaid-bench's userinfo
	// load: 40 % of PostgreSQL's time).
	rows, err := tx.Query(ctx, `SELECT e.seq, e.txid, `+logEntryCols+` FROM `+logEntryTables+`
		WHERE e.txid >= $1 AND l.seq IS NULL
		ORDER BY e.txid, e.seq LIMIT $2`, pgx.QueryExecModeExec, from, max)
	if err != nil {
		return 0, wrap("integrate log: read pending", err)
	}
	for rows.Next() {
		var seq, txid int64
		e, err := scanLogEntry(rows, &seq, &txid)
		if err != nil {
			rows.Close()
			return 0, wrap("integrate log: read pending", err)
		}
		seqs = append(seqs, seq)
		txids = append(txids, txid)
		pending = append(pending, e)
	}
	if err := rows.Err(); err != nil {
		return 0, wrap("integrate log: read pending", err)
	}
	if len(pending) == 0 {
		return 0, nil
	}
	for i := range pending {
		pending[i].Index = head.Size + int64(i)
	}
	out, err := fn(head, pending)
	if err != nil {
		return 0, err
	}
	if want := head.Size + int64(len(pending)); out.Head.Size != want {
		return 0, fmt.Errorf("postgres: integrate log: new head has size %d, want %d", out.Head.Size, want)
	}

	idx := make([]int64, len(seqs))
	for i := range seqs {
		idx[i] = head.Size + int64(i)
	}
	levels := make([]int16, len(out.Nodes))
	nodeIdx := make([]int64, len(out.Nodes))
	hashes := make([][]byte, len(out.Nodes))
	for i, n := range out.Nodes {
		levels[i], nodeIdx[i], hashes[i] = int16(n.Level), n.Index, n.Hash
	}
	h := out.Head
	// The next round looks from the lowest transaction that may still
	// have entries pending: the xmin (every older one ended, and this round
	// took all its entries) unless the batch was full, and then the last
	// entry's transaction at most (the entries left have its txid or a
	// higher one, or belong to transactions at or above the xmin).
	next := xmin
	if len(pending) == max {
		next = min(next, txids[len(txids)-1])
	}
	b = &pgx.Batch{}
	// A seq already in the leaves (another integrator's round) fails the
	// primary key: ErrConflict below, and nothing is written.
	b.Queue(`INSERT INTO audit_log_leaves (seq, leaf_index)
		SELECT * FROM unnest($1::bigint[], $2::bigint[])`, seqs, idx)
	b.Queue(`INSERT INTO audit_log_nodes (level, idx, hash)
		SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])`, levels, nodeIdx, hashes)
	b.Queue(`INSERT INTO audit_log_heads (size, prev_size, root, compact, at, checkpoint, pending_txid)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, h.Size, head.Size, h.Root, blob(bytes.Join(h.Range, nil)), h.At, h.Checkpoint, next)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		err = wrap("integrate log: write", err)
		if errors.Is(err, storage.ErrAlreadyExists) {
			err = fmt.Errorf("%w: %w", storage.ErrConflict, err)
		}
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, wrap("integrate log: commit", err)
	}
	return len(pending), nil
}

const logHeadCols = `size, root, compact, at, checkpoint`

func scanLogHead(row pgx.Row) (storage.LogHead, error) {
	var h storage.LogHead
	var compact []byte
	if err := row.Scan(&h.Size, &h.Root, &compact, ts(&h.At), &h.Checkpoint); err != nil {
		return storage.LogHead{}, err
	}
	r, err := splitRange(compact, len(h.Root))
	if err != nil {
		return storage.LogHead{}, fmt.Errorf("head %d: %w", h.Size, err)
	}
	h.Range = r
	return h, nil
}

// splitRange cuts the stored compact range into hashes of the root's length.
func splitRange(b []byte, n int) ([][]byte, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if n == 0 || len(b)%n != 0 {
		return nil, fmt.Errorf("compact range of %d bytes does not divide into %d-byte hashes", len(b), n)
	}
	var out [][]byte
	for len(b) > 0 {
		out = append(out, b[:n:n])
		b = b[n:]
	}
	return out, nil
}

// LogHead returns the newest tree head; ErrNotFound before the first.
func (s *Store) LogHead(ctx context.Context) (storage.LogHead, error) {
	h, err := scanLogHead(s.pool.QueryRow(ctx, `SELECT `+logHeadCols+` FROM audit_log_heads ORDER BY size DESC LIMIT 1`))
	if err != nil {
		return storage.LogHead{}, wrap("log head", err)
	}
	return h, nil
}

// LogHeads lists up to limit heads of size at least from, smallest first.
func (s *Store) LogHeads(ctx context.Context, from int64, limit int) ([]storage.LogHead, error) {
	return collect(ctx, s, "log heads", scanLogHead, `SELECT `+logHeadCols+` FROM audit_log_heads
		WHERE size >= $1 ORDER BY size LIMIT $2`, from, limit)
}

// LogNodes returns the hashes of the nodes ids, in their order, in one
// query; ErrNotFound if one is missing.
func (s *Store) LogNodes(ctx context.Context, ids []storage.LogNodeID) ([][]byte, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	levels := make([]int16, len(ids))
	idx := make([]int64, len(ids))
	for i, id := range ids {
		levels[i], idx[i] = int16(id.Level), id.Index
	}
	type node struct {
		id   storage.LogNodeID
		hash []byte
	}
	ns, err := collect(ctx, s, "log nodes", func(row pgx.Row) (node, error) {
		var n node
		var level int16
		err := row.Scan(&level, &n.id.Index, &n.hash)
		n.id.Level = int(level)
		return n, err
	}, `SELECT n.level, n.idx, n.hash FROM audit_log_nodes n
		JOIN unnest($1::smallint[], $2::bigint[]) AS v(level, idx) ON n.level = v.level AND n.idx = v.idx`, levels, idx)
	if err != nil {
		return nil, err
	}
	got := make(map[storage.LogNodeID][]byte, len(ns))
	for _, n := range ns {
		got[n.id] = n.hash
	}
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h, ok := got[id]
		if !ok {
			return nil, fmt.Errorf("postgres: log node (%d, %d): %w", id.Level, id.Index, storage.ErrNotFound)
		}
		out[i] = h
	}
	return out, nil
}

// LogEntries lists the integrated entries with from ≤ Index < to, by Index.
func (s *Store) LogEntries(ctx context.Context, from, to int64) ([]storage.LogEntry, error) {
	return collect(ctx, s, "log entries", func(row pgx.Row) (storage.LogEntry, error) { return scanLogEntry(row) },
		`SELECT `+logEntryCols+` FROM audit_log_leaves l JOIN audit_log_entries e ON e.seq = l.seq
		WHERE l.leaf_index >= $1 AND l.leaf_index < $2 ORDER BY l.leaf_index`, from, to)
}

// LogEntry returns the entry with that ID, integrated or not.
func (s *Store) LogEntry(ctx context.Context, id string) (storage.LogEntry, error) {
	e, err := scanLogEntry(s.pool.QueryRow(ctx, `SELECT `+logEntryCols+` FROM `+logEntryTables+` WHERE e.id = $1`, id))
	if err != nil {
		return storage.LogEntry{}, wrap(fmt.Sprintf("log entry %q", id), err)
	}
	return e, nil
}

// RedactLogEntries drops the contents of up to max integrated entries
// written before before and not yet redacted, oldest leaf first, in one
// statement: each keeps its ID, time, type and leaf index, and gets its leaf
// hash (the level-0 node the tree holds for it) as its redaction marker, as
// migration 0023's trigger demands. Nodes, leaves and heads are not touched.
func (s *Store) RedactLogEntries(ctx context.Context, before time.Time, max int) (int, error) {
	if max <= 0 {
		return 0, fmt.Errorf("postgres: redact log entries: batch size %d", max)
	}
	ct, err := s.pool.Exec(ctx, `UPDATE audit_log_entries e SET actor = '', citizen_id = '', agency_id = '',
			permit_id = '', client_id = '', purpose = '', claims = '{}', ial = '', outcome = '', detail = '',
			redacted_leaf = n.hash
		FROM audit_log_leaves l JOIN audit_log_nodes n ON n.level = 0 AND n.idx = l.leaf_index
		WHERE l.seq = e.seq AND e.seq IN (
			SELECT e2.seq FROM audit_log_leaves l2 JOIN audit_log_entries e2 ON e2.seq = l2.seq
			WHERE e2.redacted_leaf IS NULL AND e2.at < $1
			ORDER BY l2.leaf_index LIMIT $2)`, before, max)
	if err != nil {
		return 0, wrap("redact log entries", err)
	}
	return int(ct.RowsAffected()), nil
}

// CreateLogKey stores the log key of an origin; ErrAlreadyExists if the
// origin has one.
func (s *Store) CreateLogKey(ctx context.Context, k storage.LogKey) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO audit_log_keys (origin, public_key, private_key, created_at)
		VALUES ($1, $2, $3, $4)`, k.Origin, k.PublicKey, k.PrivateKey, k.CreatedAt)
	if err != nil {
		return wrap(fmt.Sprintf("create log key %q", k.Origin), err)
	}
	return nil
}

// LogKey returns the log key of an origin; ErrNotFound if there is none.
func (s *Store) LogKey(ctx context.Context, origin string) (storage.LogKey, error) {
	var k storage.LogKey
	err := s.pool.QueryRow(ctx, `SELECT origin, public_key, private_key, created_at FROM audit_log_keys
		WHERE origin = $1`, origin).Scan(&k.Origin, &k.PublicKey, &k.PrivateKey, ts(&k.CreatedAt))
	if err != nil {
		return storage.LogKey{}, wrap(fmt.Sprintf("log key %q", origin), err)
	}
	return k, nil
}
