package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// The verifiable audit log's records (see storage.LogEntry and package
// audit). The one write connection is the integration right: IntegrateLog
// runs in a BEGIN IMMEDIATE transaction, which excludes every other writer,
// in this process or another on the same file.
//
// Entries are written once and never changed (but for retention's
// redaction); an entry's place in the log is its row in audit_log_leaves
// (migration 0023), and an entry without one is pending. Writers commit one
// after another on the one write connection and seq grows with each, and
// the integrator takes the pending entries lowest seq first: so every
// integrated entry has a lower seq than every pending one, and the pending
// entries are those after the highest seq in audit_log_leaves.

// logEntryColumns are an entry's columns, read from logEntryTables.
const logEntryColumns = `e.id, e.at, e.type, e.actor, e.citizen_id, e.agency_id, e.permit_id, e.client_id, e.purpose,
	e.claims, e.ial, e.outcome, e.detail, l.leaf_index, e.redacted_leaf`

// logEntryTables are the entries with their leaves, if they have one.
const logEntryTables = `audit_log_entries e LEFT JOIN audit_log_leaves l ON l.seq = e.seq`

func scanLogEntry(row scanner) (storage.LogEntry, error) {
	var e storage.LogEntry
	var idx sql.NullInt64
	err := row.Scan(&e.ID, timeCol{&e.At}, &e.Type, &e.Actor, &e.CitizenID, &e.AgencyID, &e.PermitID,
		&e.ClientID, &e.Purpose, listCol{&e.Claims}, &e.IAL, &e.Outcome, &e.Detail, &idx, &e.Redacted)
	e.Index = storage.NotIntegrated
	if idx.Valid {
		e.Index = idx.Int64
	}
	return e, err
}

// insertLogEntries inserts es, not yet integrated, in tx. An action's
// transaction calls it so that the action and its entry commit together.
// The statement is prepared once per connection (stmtcache.go).
func insertLogEntries(ctx context.Context, tx *sql.Tx, es []storage.LogEntry) error {
	for _, e := range es {
		if e.At.IsZero() {
			return fmt.Errorf("sqlite: append log entry %q: no time", e.ID)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log_entries (id, at, type, actor, citizen_id, agency_id,
			permit_id, client_id, purpose, claims, ial, outcome, detail)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.ID, e.At.UnixMilli(), e.Type, e.Actor, e.CitizenID, e.AgencyID,
			e.PermitID, e.ClientID, e.Purpose, listArg(e.Claims), e.IAL, e.Outcome, e.Detail); err != nil {
			return wrap(err, "append log entry %q", e.ID)
		}
	}
	return nil
}

// AppendLogEntries stores es as entries not yet integrated, all or none;
// ErrAlreadyExists if an ID is taken.
func (s *Store) AppendLogEntries(ctx context.Context, es []storage.LogEntry) error {
	if len(es) == 0 {
		return nil
	}
	if err := s.tx(ctx, func(tx *sql.Tx) error { return insertLogEntries(ctx, tx, es) }); err != nil {
		return err
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

// IntegrateLog gives up to max pending entries, in the order they were
// written, the leaf indices after the newest head's size, and stores what fn
// makes of them (new nodes and head), all in one write transaction: one
// INSERT … SELECT of the round's leaves, the nodes, the head. Then it
// indexes for the readers (indexLog) every integrated entry not yet
// indexed: if that fails, it returns the round's count with the error (the
// round stands; readers find the entries not indexed by seq until a later
// call indexes them).
func (s *Store) IntegrateLog(ctx context.Context, max int,
	fn func(storage.LogHead, []storage.LogEntry) (storage.LogIntegration, error),
) (int, error) {
	n, err := s.integrateLog(ctx, max, fn)
	if err != nil {
		return 0, err
	}
	if err := s.indexLog(ctx); err != nil {
		return n, err
	}
	return n, nil
}

func (s *Store) integrateLog(ctx context.Context, max int,
	fn func(storage.LogHead, []storage.LogEntry) (storage.LogIntegration, error),
) (int, error) {
	if max <= 0 {
		return 0, fmt.Errorf("sqlite: integrate log: batch size %d", max)
	}
	var n int
	var fnErr error
	// The round yields to requests: it rides at the end of the next group
	// commit (groupcommit.go), one short write in their transaction, and
	// commits alone only when no request comes (backgroundWait).
	err := s.txBackground(ctx, func(tx *sql.Tx) error {
		head, err := scanLogHead(tx.QueryRowContext(ctx, `SELECT `+logHeadColumns+` FROM audit_log_heads ORDER BY size DESC LIMIT 1`))
		if errors.Is(err, sql.ErrNoRows) {
			head, err = storage.LogHead{}, nil
		}
		if err != nil {
			return wrap(err, "integrate log: head")
		}
		rows, err := tx.QueryContext(ctx, `SELECT e.seq, `+logEntryColumns+` FROM `+logEntryTables+`
			WHERE e.seq > coalesce((SELECT max(seq) FROM audit_log_leaves), 0) ORDER BY e.seq LIMIT ?`, max)
		if err != nil {
			return wrap(err, "integrate log: pending")
		}
		var seqs []int64
		var pending []storage.LogEntry
		for rows.Next() {
			var seq int64
			e, err := scanLogEntry(seqScanner{rows, &seq})
			if err != nil {
				rows.Close()
				return wrap(err, "integrate log: pending")
			}
			e.Index = head.Size + int64(len(pending))
			seqs = append(seqs, seq)
			pending = append(pending, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return wrap(err, "integrate log: pending")
		}
		if len(pending) == 0 {
			return nil
		}
		out, err := fn(head, pending)
		if err != nil {
			fnErr = err
			return err
		}
		if want := head.Size + int64(len(pending)); out.Head.Size != want {
			return fmt.Errorf("sqlite: integrate log: new head has size %d, want %d", out.Head.Size, want)
		}
		// One statement for the round's leaves: the pending entries taken
		// are the seqs from the first to the last, numbered in order.
		res, err := tx.ExecContext(ctx, `INSERT INTO audit_log_leaves (seq, leaf_index)
			SELECT seq, ? + row_number() OVER (ORDER BY seq) - 1 FROM audit_log_entries
			WHERE seq >= ? AND seq <= ? ORDER BY seq`, head.Size, seqs[0], seqs[len(seqs)-1])
		if err != nil {
			err = wrap(err, "integrate log: leaves")
			if errors.Is(err, storage.ErrAlreadyExists) {
				err = fmt.Errorf("%w: %w", storage.ErrConflict, err)
			}
			return err
		}
		if k, err := res.RowsAffected(); err != nil || k != int64(len(seqs)) {
			return fmt.Errorf("sqlite: integrate log: %d leaves for %d entries: %w", k, len(seqs), storage.ErrConflict)
		}
		if err := insertLogNodes(ctx, tx, out.Nodes); err != nil {
			return err
		}
		h := out.Head
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_log_heads (size, prev_size, root, compact, at, checkpoint)
			VALUES (?, ?, ?, ?, ?, ?)`, h.Size, head.Size, h.Root, bytes.Join(h.Range, nil), h.At.UnixMilli(), h.Checkpoint); err != nil {
			err = wrap(err, "integrate log: head %d", h.Size)
			if errors.Is(err, storage.ErrAlreadyExists) {
				err = fmt.Errorf("%w: %w", storage.ErrConflict, err)
			}
			return err
		}
		n = len(pending)
		return nil
	})
	if fnErr != nil {
		return 0, fnErr
	}
	if err != nil {
		return 0, err
	}
	return n, nil
}

// nodesPerInsert is the most nodes one INSERT of insertLogNodes writes.
const nodesPerInsert = 128

// nodeInserts holds the INSERT statements of insertLogNodes: the one for
// n rows at nodeInserts[bits.Len(n)-1], n a power of two up to
// nodesPerInsert.
var nodeInserts = func() []string {
	var qs []string
	for n := 1; n <= nodesPerInsert; n *= 2 {
		qs = append(qs, `INSERT INTO audit_log_nodes (level, idx, hash) VALUES `+
			strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", n), ", "))
	}
	return qs
}()

// insertLogNodes stores an integration round's nodes, many rows a
// statement: a round writes about two nodes an entry, and one statement
// per node was half of what a round cost the writer (the binding and
// stepping of each, not SQLite's insert). The rows go in chunks of powers
// of two, the largest first, so that the statements are eight texts the
// connection keeps prepared (stmtcache.go).
func insertLogNodes(ctx context.Context, tx *sql.Tx, nodes []storage.LogNode) error {
	args := make([]any, 0, 3*min(len(nodes), nodesPerInsert))
	for len(nodes) > 0 {
		n := min(len(nodes), nodesPerInsert)
		n = 1 << (bits.Len(uint(n)) - 1) // the largest power of two not above
		args = args[:0]
		for _, nd := range nodes[:n] {
			args = append(args, nd.Level, nd.Index, nd.Hash)
		}
		if _, err := tx.ExecContext(ctx, nodeInserts[bits.Len(uint(n))-1], args...); err != nil {
			return wrap(err, "integrate log: nodes from (%d, %d)", nodes[0].Level, nodes[0].Index)
		}
		nodes = nodes[n:]
	}
	return nil
}

// indexBatch is how many entries one round of indexLog indexes.
const indexBatch = 64

// indexLog gives the integrated entries not yet in audit_log_index
// (migration 0026) their rows there, in seq order, indexBatch at a time:
// each batch rides at the end of a group commit of its own, so that the
// requests of no one group wait for the indexing of a whole integration
// round. Readers find the entries not yet indexed by seq (AuditEntries).
func (s *Store) indexLog(ctx context.Context) error {
	for {
		var n int64
		err := s.txBackground(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `INSERT INTO audit_log_index (seq, at, type, citizen_id, agency_id, permit_id, client_id)
				SELECT e.seq, e.at, e.type, e.citizen_id, e.agency_id, e.permit_id, e.client_id
				FROM audit_log_leaves l JOIN audit_log_entries e ON e.seq = l.seq
				WHERE l.seq > coalesce((SELECT max(seq) FROM audit_log_index), 0) ORDER BY l.seq LIMIT ?`, indexBatch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return wrap(err, "index log")
		}
		if n < indexBatch {
			return nil
		}
	}
}

// seqScanner scans a leading seq column, then hands the rest to Scan.
type seqScanner struct {
	rows scanner
	seq  *int64
}

func (s seqScanner) Scan(dest ...any) error {
	return s.rows.Scan(append([]any{s.seq}, dest...)...)
}

const logHeadColumns = `size, root, compact, at, checkpoint`

func scanLogHead(row scanner) (storage.LogHead, error) {
	var h storage.LogHead
	var compact []byte
	if err := row.Scan(&h.Size, &h.Root, &compact, timeCol{&h.At}, &h.Checkpoint); err != nil {
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
	h, err := scanLogHead(s.r.QueryRowContext(ctx, `SELECT `+logHeadColumns+` FROM audit_log_heads ORDER BY size DESC LIMIT 1`))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.LogHead{}, fmt.Errorf("sqlite: log head: the log is empty: %w", storage.ErrNotFound)
	}
	if err != nil {
		return storage.LogHead{}, wrap(err, "log head")
	}
	return h, nil
}

// LogHeads lists up to limit heads of size at least from, smallest first.
func (s *Store) LogHeads(ctx context.Context, from int64, limit int) ([]storage.LogHead, error) {
	hs, err := queryList(ctx, s.r, scanLogHead, `SELECT `+logHeadColumns+` FROM audit_log_heads
		WHERE size >= ? ORDER BY size LIMIT ?`, from, limit)
	if err != nil {
		return nil, wrap(err, "log heads")
	}
	return hs, nil
}

// LogNodes returns the hashes of the nodes ids, in their order;
// ErrNotFound if one is missing.
func (s *Store) LogNodes(ctx context.Context, ids []storage.LogNodeID) ([][]byte, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := make([]any, 0, 2*len(ids))
	for _, id := range ids {
		args = append(args, id.Level, id.Index)
	}
	q := `SELECT level, idx, hash FROM audit_log_nodes WHERE (level, idx) IN (VALUES (?, ?)` +
		strings.Repeat(", (?, ?)", len(ids)-1) + `)`
	type node struct {
		id   storage.LogNodeID
		hash []byte
	}
	ns, err := queryList(ctx, s.r, func(row scanner) (node, error) {
		var n node
		err := row.Scan(&n.id.Level, &n.id.Index, &n.hash)
		return n, err
	}, q, args...)
	if err != nil {
		return nil, wrap(err, "log nodes")
	}
	got := make(map[storage.LogNodeID][]byte, len(ns))
	for _, n := range ns {
		got[n.id] = n.hash
	}
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h, ok := got[id]
		if !ok {
			return nil, fmt.Errorf("sqlite: log node (%d, %d): %w", id.Level, id.Index, storage.ErrNotFound)
		}
		out[i] = h
	}
	return out, nil
}

// LogEntries lists the integrated entries with from ≤ Index < to, by Index.
func (s *Store) LogEntries(ctx context.Context, from, to int64) ([]storage.LogEntry, error) {
	es, err := queryList(ctx, s.r, scanLogEntry, `SELECT `+logEntryColumns+`
		FROM audit_log_leaves l JOIN audit_log_entries e ON e.seq = l.seq
		WHERE l.leaf_index >= ? AND l.leaf_index < ? ORDER BY l.leaf_index`, from, to)
	if err != nil {
		return nil, wrap(err, "log entries")
	}
	return es, nil
}

// LogEntry returns the entry with that ID, integrated or not.
func (s *Store) LogEntry(ctx context.Context, id string) (storage.LogEntry, error) {
	e, err := scanLogEntry(s.r.QueryRowContext(ctx, `SELECT `+logEntryColumns+` FROM `+logEntryTables+` WHERE e.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.LogEntry{}, fmt.Errorf("sqlite: log entry %q: %w", id, storage.ErrNotFound)
	}
	if err != nil {
		return storage.LogEntry{}, wrap(err, "log entry %q", id)
	}
	return e, nil
}

// RedactLogEntries drops the contents of up to max integrated entries
// written before before and not yet redacted, oldest leaf first, in one
// transaction: each keeps its ID, time, type and leaf index, and gets its leaf
// hash (the level-0 node the tree holds for it) as its redaction marker, as
// migration 0023's trigger demands; its row in audit_log_index loses the
// same IDs. Nodes, leaves and heads are not touched.
func (s *Store) RedactLogEntries(ctx context.Context, before time.Time, max int) (int, error) {
	if max <= 0 {
		return 0, fmt.Errorf("sqlite: redact log entries: batch size %d", max)
	}
	var n int64
	err := s.txBackground(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT e.seq FROM audit_log_leaves l JOIN audit_log_entries e ON e.seq = l.seq
			JOIN audit_log_nodes n ON n.level = 0 AND n.idx = l.leaf_index
			WHERE e.redacted_leaf IS NULL AND e.at < ?
			ORDER BY l.leaf_index LIMIT ?`, before.UnixMilli(), max)
		if err != nil {
			return err
		}
		var seqs []int64
		for rows.Next() {
			var seq int64
			if err := rows.Scan(&seq); err != nil {
				rows.Close()
				return err
			}
			seqs = append(seqs, seq)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(seqs) == 0 {
			return err
		}
		list, err := json.Marshal(seqs)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE audit_log_entries SET actor = '', citizen_id = '', agency_id = '',
				permit_id = '', client_id = '', purpose = '', claims = '[]', ial = '', outcome = '', detail = '',
				redacted_leaf = (SELECT n.hash FROM audit_log_leaves l
					JOIN audit_log_nodes n ON n.level = 0 AND n.idx = l.leaf_index WHERE l.seq = audit_log_entries.seq)
			WHERE seq IN (SELECT value FROM json_each(?))`, string(list))
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		// Their index rows (migration 0026) lose the same columns.
		_, err = tx.ExecContext(ctx, `UPDATE audit_log_index SET citizen_id = '', agency_id = '', permit_id = '', client_id = ''
			WHERE seq IN (SELECT value FROM json_each(?))`, string(list))
		return err
	})
	if err != nil {
		return 0, wrap(err, "redact log entries")
	}
	return int(n), nil
}

// CreateLogKey stores the log key of an origin; ErrAlreadyExists if the
// origin has one.
func (s *Store) CreateLogKey(ctx context.Context, k storage.LogKey) error {
	if _, err := s.execWrite(ctx, `INSERT INTO audit_log_keys (origin, public_key, private_key, created_at)
		VALUES (?, ?, ?, ?)`, k.Origin, k.PublicKey, k.PrivateKey, k.CreatedAt.UnixMilli()); err != nil {
		return wrap(err, "create log key %q", k.Origin)
	}
	return nil
}

// LogKey returns the log key of an origin; ErrNotFound if there is none.
func (s *Store) LogKey(ctx context.Context, origin string) (storage.LogKey, error) {
	var k storage.LogKey
	err := s.r.QueryRowContext(ctx, `SELECT origin, public_key, private_key, created_at FROM audit_log_keys
		WHERE origin = ?`, origin).Scan(&k.Origin, &k.PublicKey, &k.PrivateKey, timeCol{&k.CreatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return storage.LogKey{}, fmt.Errorf("sqlite: log key %q: %w", origin, storage.ErrNotFound)
	}
	if err != nil {
		return storage.LogKey{}, wrap(err, "log key %q", origin)
	}
	return k, nil
}
