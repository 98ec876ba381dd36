package postgres

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/postgres/pgtest"
)

// TestAuditLogAppendOnly: the database itself refuses to delete, truncate
// or change the audit log's entries, leaves, nodes and heads (migration
// 0014's and 0023's triggers), but for retention's redaction: integration
// only inserts leaves, and no UPDATE of an entry is let through but that.
func TestAuditLogAppendOnly(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, pgtest.Schema(t, 4))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var es []storage.LogEntry
	for i := range 3 {
		e, err := storage.PrepareLogEntry(storage.LogEntry{ID: fmt.Sprintf("e-%d", i), Type: storage.AuditUserinfo,
			Actor: "client:c-1", Purpose: "loan", Claims: []string{"given_name"}, Detail: "d"}, time.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	if err := s.AppendLogEntries(ctx, es); err != nil {
		t.Fatal(err)
	}
	if n, err := s.IntegrateLog(ctx, 2, testIntegration); err != nil || n != 2 {
		t.Fatalf("IntegrateLog = %d, %v", n, err)
	}
	leaf := sha256.Sum256([]byte("e-0"))
	for _, q := range []struct {
		stmt string
		args []any
	}{
		{`DELETE FROM audit_log_entries WHERE id = 'e-0'`, nil},
		{`DELETE FROM audit_log_entries WHERE id = 'e-2'`, nil},
		{`TRUNCATE audit_log_entries`, nil},
		{`UPDATE audit_log_entries SET purpose = 'marketing' WHERE id = 'e-0'`, nil},
		{`UPDATE audit_log_entries SET purpose = 'marketing' WHERE id = 'e-2'`, nil},
		// Not even an UPDATE that changes nothing, integrated or pending.
		{`UPDATE audit_log_entries SET detail = detail WHERE id = 'e-0'`, nil},
		{`UPDATE audit_log_entries SET seq = seq WHERE id = 'e-2'`, nil},
		{`DELETE FROM audit_log_leaves WHERE leaf_index = 1`, nil},
		{`TRUNCATE audit_log_leaves`, nil},
		{`UPDATE audit_log_leaves SET leaf_index = 7 WHERE leaf_index = 1`, nil},
		// A redaction with the wrong leaf hash, one that keeps contents, or
		// one of an entry not yet integrated.
		{`UPDATE audit_log_entries SET actor = '', citizen_id = '', agency_id = '', permit_id = '', client_id = '',
			purpose = '', claims = '{}', ial = '', outcome = '', detail = '', redacted_leaf = '\x00' WHERE id = 'e-0'`, nil},
		{`UPDATE audit_log_entries SET actor = '', redacted_leaf = $1 WHERE id = 'e-0'`, []any{leaf[:]}},
		{`UPDATE audit_log_entries SET actor = '', citizen_id = '', agency_id = '', permit_id = '', client_id = '',
			purpose = '', claims = '{}', ial = '', outcome = '', detail = '', redacted_leaf = $1 WHERE id = 'e-2'`, []any{leaf[:]}},
		{`DELETE FROM audit_log_nodes`, nil},
		{`TRUNCATE audit_log_nodes`, nil},
		{`UPDATE audit_log_nodes SET hash = '\x00' WHERE level = 0 AND idx = 0`, nil},
		{`DELETE FROM audit_log_heads`, nil},
		{`TRUNCATE audit_log_heads`, nil},
		{`UPDATE audit_log_heads SET checkpoint = '\x00'`, nil},
	} {
		if _, err := s.pool.Exec(ctx, q.stmt, q.args...); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: error %v, want the append-only refusal", q.stmt, err)
		}
	}
	// What the log does itself still works: integrating the pending entry
	// and redacting.
	if n, err := s.IntegrateLog(ctx, 10, testIntegration); err != nil || n != 1 {
		t.Errorf("IntegrateLog = %d, %v; want 1", n, err)
	}
	if n, err := s.RedactLogEntries(ctx, time.Now(), 10); err != nil || n != 3 {
		t.Errorf("RedactLogEntries = %d, %v; want 3", n, err)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE audit_log_entries SET detail = 'back' WHERE id = 'e-0'`); err == nil {
		t.Errorf("UPDATE of a redacted entry: no error")
	}
}

// testIntegration stands in for package audit's tree: level-0 nodes only.
func testIntegration(head storage.LogHead, es []storage.LogEntry) (storage.LogIntegration, error) {
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
