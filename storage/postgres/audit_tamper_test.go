package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/postgres/pgtest"
)

// appendTen appends ten entries with varied fields and returns them as
// AppendAudit did.
func appendTen(t *testing.T, s *Store) []storage.AuditEntry {
	t.Helper()
	ctx := context.Background()
	at := time.Date(2024, 2, 29, 10, 20, 30, 456_789_123, time.UTC)
	var out []storage.AuditEntry
	for i := range 10 {
		e, err := s.AppendAudit(ctx, storage.AuditEntry{
			At:        at.Add(time.Duration(i) * time.Second),
			Type:      []string{storage.AuditSignIn, storage.AuditTokenIssued, storage.AuditUserinfo}[i%3],
			Actor:     "citizen:c-" + string(rune('a'+i%4)),
			CitizenID: "c-" + string(rune('a'+i%4)),
			AgencyID:  "agency-1",
			PermitID:  "permit-1",
			ClientID:  "client-1",
			Purpose:   "loan",
			Claims:    []string{"family_name", "given_name"}[:i%3],
			IAL:       "2.3",
			Outcome:   "success",
			Detail:    "step " + string(rune('0'+i)),
		})
		if err != nil {
			t.Fatalf("AppendAudit #%d: %v", i, err)
		}
		out = append(out, e)
	}
	return out
}

// TestAuditTamper changes the stored trail behind the store's back, with
// the append-only triggers disabled as the tables' owner could, and checks
// that verifying the trail as AuditEntries reads it names the entry
// tampered with.
func TestAuditTamper(t *testing.T) {
	pgtest.URL(t)
	tests := []struct {
		name string
		sql  []string // run in order; "" for an untouched trail
		// rehash recomputes the Hash of these entries, as a forger who
		// knows the scheme would.
		rehash  []int64
		wantSeq int64  // 0: the trail verifies
		reason  string // in the break's Reason
	}{
		{name: "untouched"},
		{name: "field changed", sql: []string{`UPDATE audit_entries SET outcome = 'failure' WHERE seq = 4`}, wantSeq: 4, reason: "changed"},
		{name: "claim added", sql: []string{`UPDATE audit_entries SET claims = claims || '{pid}' WHERE seq = 5`}, wantSeq: 5, reason: "changed"},
		{name: "time moved by a millisecond", sql: []string{`UPDATE audit_entries SET at = at + interval '1 ms' WHERE seq = 2`}, wantSeq: 2, reason: "changed"},
		{
			name:    "field changed and hash recomputed",
			sql:     []string{`UPDATE audit_entries SET citizen_id = 'c-z' WHERE seq = 6`},
			rehash:  []int64{6},
			wantSeq: 6, reason: "changed",
		},
		{name: "row deleted", sql: []string{`DELETE FROM audit_entries WHERE seq = 7`}, wantSeq: 7, reason: "missing"},
		{name: "first row deleted", sql: []string{`DELETE FROM audit_entries WHERE seq = 1`}, wantSeq: 1, reason: "missing"},
		{
			name: "seq of two rows swapped",
			sql: []string{
				`UPDATE audit_entries SET seq = -1 WHERE seq = 3`,
				`UPDATE audit_entries SET seq = 3 WHERE seq = 8`,
				`UPDATE audit_entries SET seq = 8 WHERE seq = -1`,
			},
			wantSeq: 3, reason: "changed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestStore(t)
			written := appendTen(t, s)
			tamper(t, s, tt.sql...)
			for _, seq := range tt.rehash {
				e := readAudit(t, s)[seq-1]
				tamper(t, s, `UPDATE audit_entries SET hash = '`+e.ComputeHash()+`' WHERE seq = `+strconv.FormatInt(seq, 10))
			}

			got := readAudit(t, s)
			if tt.sql == nil {
				// Read back exactly as appended: Hash covers At as stored.
				for i, e := range got {
					if e.Hash != e.ComputeHash() || !e.At.Equal(written[i].At) || e.Hash != written[i].Hash {
						t.Errorf("entry %d read back as %+v, appended as %+v", e.Seq, e, written[i])
					}
				}
			}
			err := storage.VerifyAuditChain(got, "", 1)
			if tt.wantSeq == 0 {
				if err != nil {
					t.Fatalf("VerifyAuditChain of an untouched trail: %v", err)
				}
				return
			}
			var brk *storage.AuditBreak
			if !errors.As(err, &brk) {
				t.Fatalf("VerifyAuditChain = %v, want an *AuditBreak at %d", err, tt.wantSeq)
			}
			if brk.Seq != tt.wantSeq || !strings.Contains(brk.Reason, tt.reason) {
				t.Errorf("VerifyAuditChain = break at %d (%s), want at %d (%s)", brk.Seq, brk.Reason, tt.wantSeq, tt.reason)
			}
		})
	}
}

// TestAuditAppendOnly checks that the database itself refuses to change or
// remove entries, except removing those before a checkpoint.
func TestAuditAppendOnly(t *testing.T) {
	pgtest.URL(t)
	ctx := context.Background()
	s := newTestStore(t)
	written := appendTen(t, s)
	for _, q := range []string{
		`UPDATE audit_entries SET detail = 'x' WHERE seq = 2`,
		`DELETE FROM audit_entries WHERE seq = 2`,
		`TRUNCATE audit_entries`,
	} {
		if _, err := s.pool.Exec(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: error %v, want the trail to be append-only", q, err)
		}
	}

	// A checkpoint at 4 allows deleting entries 1…3, and nothing else.
	c := storage.AuditCheckpoint{Seq: 4, Hash: written[3].Hash, At: written[3].At, JWS: "x.y.z"}
	if err := s.CreateAuditCheckpoint(ctx, c); err != nil {
		t.Fatalf("CreateAuditCheckpoint: %v", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM audit_entries WHERE seq = 4`); err == nil {
		t.Error("deleting the checkpoint's own entry: no error")
	}
	n, err := s.PruneAudit(ctx, 4)
	if err != nil || n != 3 {
		t.Fatalf("PruneAudit(4) = %d, %v; want 3, nil", n, err)
	}
	got := readAudit(t, s)
	if err := storage.VerifyAuditChain(got, written[2].Hash, 4); err != nil {
		t.Errorf("VerifyAuditChain after pruning: %v", err)
	}
	if _, err := s.PruneAudit(ctx, 5); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("PruneAudit(5) without a checkpoint: error %v, want ErrNotFound", err)
	}

	// The head survives pruning: the chain goes on.
	e, err := s.AppendAudit(ctx, storage.AuditEntry{At: written[9].At, Type: storage.AuditAdmin, Actor: "system"})
	if err != nil {
		t.Fatalf("AppendAudit after pruning: %v", err)
	}
	if e.Seq != 11 || e.PrevHash != written[9].Hash {
		t.Errorf("AppendAudit after pruning = Seq %d PrevHash %s, want 11 %s", e.Seq, e.PrevHash, written[9].Hash)
	}
}

// tamper runs statements with the append-only triggers disabled.
func tamper(t *testing.T, s *Store, sql ...string) {
	t.Helper()
	if len(sql) == 0 {
		return
	}
	ctx := context.Background()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for _, q := range append(append([]string{`ALTER TABLE audit_entries DISABLE TRIGGER USER`}, sql...),
		`ALTER TABLE audit_entries ENABLE TRIGGER USER`) {
		if _, err := tx.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

func readAudit(t *testing.T, s *Store) []storage.AuditEntry {
	t.Helper()
	es, err := s.AuditEntries(context.Background(), storage.AuditFilter{})
	if err != nil {
		t.Fatalf("AuditEntries: %v", err)
	}
	return es
}
