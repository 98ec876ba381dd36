package sqlite_test

import (
	"crypto/sha256"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/sqlite"
)

// TestAuditLogAppendOnly: the database itself refuses to delete or change
// the audit log's entries, leaves, nodes and heads, and the readers' index
// of them (migrations 0014's, 0023's and 0026's triggers), but for
// retention's redaction: integration only inserts leaves and index rows,
// and no UPDATE of an entry or its index row is let through but that.
func TestAuditLogAppendOnly(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "dopaid.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	writeAndIntegrate(t, s)
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	leaf := sha256.Sum256([]byte("e-0"))
	for _, q := range []struct {
		stmt string
		args []any
	}{
		{`DELETE FROM audit_log_entries WHERE id = 'e-0'`, nil},
		{`DELETE FROM audit_log_entries WHERE id = 'e-2'`, nil},
		{`UPDATE audit_log_entries SET purpose = 'marketing' WHERE id = 'e-0'`, nil},
		{`UPDATE audit_log_entries SET purpose = 'marketing' WHERE id = 'e-2'`, nil},
		// Not even an UPDATE that changes nothing, integrated or pending.
		{`UPDATE audit_log_entries SET detail = detail WHERE id = 'e-0'`, nil},
		{`UPDATE audit_log_entries SET seq = seq WHERE id = 'e-2'`, nil},
		{`DELETE FROM audit_log_leaves WHERE leaf_index = 1`, nil},
		{`UPDATE audit_log_leaves SET leaf_index = 7 WHERE leaf_index = 1`, nil},
		// A redaction with the wrong leaf hash, one that keeps contents, or
		// one of an entry not yet integrated.
		{`UPDATE audit_log_entries SET actor = '', citizen_id = '', agency_id = '', permit_id = '', client_id = '',
			purpose = '', claims = '[]', ial = '', outcome = '', detail = '', redacted_leaf = x'00' WHERE id = 'e-0'`, nil},
		{`UPDATE audit_log_entries SET actor = '', redacted_leaf = ? WHERE id = 'e-0'`, []any{leaf[:]}},
		{`UPDATE audit_log_entries SET actor = '', citizen_id = '', agency_id = '', permit_id = '', client_id = '',
			purpose = '', claims = '[]', ial = '', outcome = '', detail = '', redacted_leaf = ? WHERE id = 'e-2'`, []any{leaf[:]}},
		{`DELETE FROM audit_log_nodes`, nil},
		{`UPDATE audit_log_nodes SET hash = x'00' WHERE level = 0 AND idx = 0`, nil},
		{`DELETE FROM audit_log_heads`, nil},
		{`UPDATE audit_log_heads SET checkpoint = x'00'`, nil},
		// Hiding an entry from the readers' filters, or blanking its IDs
		// before the entry itself is redacted.
		{`DELETE FROM audit_log_index`, nil},
		{`UPDATE audit_log_index SET citizen_id = 'someone-else'`, nil},
		{`UPDATE audit_log_index SET type = 'other'`, nil},
		{`UPDATE audit_log_index SET citizen_id = '', agency_id = '', permit_id = '', client_id = ''`, nil},
	} {
		if _, err := db.ExecContext(ctx, q.stmt, q.args...); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: error %v, want the append-only refusal", q.stmt, err)
		}
	}
	// What the log does itself still works: integrating the pending entry
	// and redacting.
	if n, err := s.IntegrateLog(ctx, 10, integration); err != nil || n != 1 {
		t.Errorf("IntegrateLog = %d, %v; want 1", n, err)
	}
	if n, err := s.RedactLogEntries(ctx, time.Now(), 10); err != nil || n != 3 {
		t.Errorf("RedactLogEntries = %d, %v; want 3", n, err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE audit_log_entries SET detail = 'back' WHERE id = 'e-0'`); err == nil {
		t.Errorf("UPDATE of a redacted entry: no error")
	}
	// The redacted entries' index rows kept only their time and type.
	var rows, kept int
	if err := db.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE citizen_id <> '' OR agency_id <> ''
		OR permit_id <> '' OR client_id <> '' OR type = '' OR at = 0) FROM audit_log_index`).Scan(&rows, &kept); err != nil {
		t.Fatal(err)
	}
	if rows != 3 || kept != 0 {
		t.Errorf("audit_log_index after redaction: %d rows, %d with IDs (or without time or type); want 3 and 0", rows, kept)
	}
	if _, err := db.ExecContext(ctx, `UPDATE audit_log_index SET at = 1`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("UPDATE of a redacted entry's index row: error %v, want the append-only refusal", err)
	}
}

// writeAndIntegrate writes entries e-0, e-1 and e-2 and integrates the
// first two.
func writeAndIntegrate(t *testing.T, s *sqlite.Store) {
	t.Helper()
	var es []storage.LogEntry
	for i := range 3 {
		e, err := storage.PrepareLogEntry(storage.LogEntry{ID: fmt.Sprintf("e-%d", i), Type: storage.AuditUserinfo,
			Actor: "client:c-1", CitizenID: "citizen-1", AgencyID: "agency-1", PermitID: "permit-1", ClientID: "c-1", Purpose: "loan", Claims: []string{"given_name"}, Detail: "d"}, time.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	if err := s.AppendLogEntries(t.Context(), es); err != nil {
		t.Fatal(err)
	}
	if n, err := s.IntegrateLog(t.Context(), 2, integration); err != nil || n != 2 {
		t.Fatalf("IntegrateLog = %d, %v", n, err)
	}
}

// integration stands in for package audit's tree: level-0 nodes only.
func integration(head storage.LogHead, es []storage.LogEntry) (storage.LogIntegration, error) {
	var out storage.LogIntegration
	for _, e := range es {
		h := sha256.Sum256([]byte(e.ID))
		out.Nodes = append(out.Nodes, storage.LogNode{LogNodeID: storage.LogNodeID{Level: 0, Index: e.Index}, Hash: h[:]})
	}
	size := head.Size + int64(len(es))
	root := sha256.Sum256(fmt.Appendf(head.Root, "%d", size))
	out.Head = storage.LogHead{Size: size, Root: root[:], Range: [][]byte{root[:]}, At: time.Now(),
		Checkpoint: fmt.Appendf(nil, "checkpoint %d", size)}
	return out, nil
}

// TestAuditEntriesNotYetIndexed: between an integration round and the
// indexing of its entries (IntegrateLog's two steps), readers find those
// entries by seq with their places in the log, filtered, in log order,
// both ways and page by page; once indexed, the same.
func TestAuditEntriesNotYetIndexed(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "dopaid.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var es []storage.LogEntry
	for i := range 6 {
		e, err := storage.PrepareLogEntry(storage.LogEntry{ID: fmt.Sprintf("e-%d", i), Type: storage.AuditUserinfo,
			Actor: "client:c-1", CitizenID: fmt.Sprintf("citizen-%d", i%2), ClientID: "c-1"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	if err := s.AppendLogEntries(ctx, es); err != nil {
		t.Fatal(err)
	}
	// e-0 and e-1 indexed, e-2 and e-3 integrated only, e-4 and e-5 pending.
	if n, err := s.IntegrateLog(ctx, 2, integration); err != nil || n != 2 {
		t.Fatalf("IntegrateLog = %d, %v", n, err)
	}
	if n, err := s.IntegrateLogUnindexed(ctx, 2, integration); err != nil || n != 2 {
		t.Fatalf("IntegrateLogUnindexed = %d, %v", n, err)
	}
	check := func(when string, pending ...string) {
		t.Helper()
		for _, tt := range []struct {
			f    storage.AuditFilter
			want string
		}{
			{storage.AuditFilter{}, "e-0:1 e-1:2 e-2:3 e-3:4 e-4:0 e-5:0"},
			{storage.AuditFilter{CitizenID: "citizen-0"}, "e-0:1 e-2:3 e-4:0"},
			{storage.AuditFilter{CitizenID: "citizen-1", Newest: true}, "e-5:0 e-3:4 e-1:2"},
			{storage.AuditFilter{ClientID: "c-1", FromSeq: 2, Limit: 3}, "e-1:2 e-2:3 e-3:4"},
			{storage.AuditFilter{FromSeq: 4}, "e-3:4 e-4:0 e-5:0"},
			{storage.AuditFilter{ToSeq: 3, Newest: true}, "e-2:3 e-1:2 e-0:1"},
			{storage.AuditFilter{CitizenID: "citizen-1", FromSeq: 2, ToSeq: 4}, "e-1:2 e-3:4"},
		} {
			got, err := s.AuditEntries(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for i, e := range got {
				if i > 0 {
					b.WriteByte(' ')
				}
				fmt.Fprintf(&b, "%s:%d", e.ID, e.Seq)
			}
			want := strings.NewReplacer(pending...).Replace(tt.want)
			if b.String() != want {
				t.Errorf("%s: AuditEntries(%+v) = %s, want %s", when, tt.f, b.String(), want)
			}
		}
	}
	check("e-2 and e-3 not yet indexed")
	if n, err := s.IntegrateLog(ctx, 10, integration); err != nil || n != 2 {
		t.Fatalf("IntegrateLog = %d, %v", n, err)
	}
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM audit_log_index`).Scan(&rows); err != nil || rows != 6 {
		t.Errorf("audit_log_index after IntegrateLog: %d rows, %v; want 6", rows, err)
	}
	check("all indexed", "e-4:0", "e-4:5", "e-5:0", "e-5:6")
}
