package sqlite_test

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/sqlite"
)

// TestAuditTamper changes the audit trail behind the store's back, as
// someone with the database file would, and checks that the trail read
// back through the store no longer verifies, and names the first entry
// touched.
func TestAuditTamper(t *testing.T) {
	tests := []struct {
		name   string
		tamper []string // SQL run on a connection of its own
		// rehash, if set, is the Seq of an entry whose hash the tamperer
		// recomputes after changing it.
		rehash int64
		want   *storage.AuditBreak // nil: the trail verifies
	}{
		{name: "untouched"},
		{
			name:   "field changed",
			tamper: []string{`UPDATE audit_entries SET detail = 'nothing happened' WHERE seq = 6`},
			want:   &storage.AuditBreak{Seq: 6, Reason: "entry 6 changed"},
		},
		{
			name:   "claims changed",
			tamper: []string{`UPDATE audit_entries SET claims = '["given_name"]' WHERE seq = 2`},
			want:   &storage.AuditBreak{Seq: 2, Reason: "entry 2 changed"},
		},
		{
			name:   "time moved by a millisecond",
			tamper: []string{`UPDATE audit_entries SET at = at + 1 WHERE seq = 8`},
			want:   &storage.AuditBreak{Seq: 8, Reason: "entry 8 changed"},
		},
		{
			name:   "field changed and hash recomputed",
			tamper: []string{`UPDATE audit_entries SET outcome = 'failure' WHERE seq = 6`},
			rehash: 6,
			want:   &storage.AuditBreak{Seq: 6, Reason: "entry 6 changed"},
		},
		{
			name:   "row deleted",
			tamper: []string{`DELETE FROM audit_entries WHERE seq = 5`},
			want:   &storage.AuditBreak{Seq: 5, Reason: "entry 5 missing"},
		},
		{
			name:   "first row deleted",
			tamper: []string{`DELETE FROM audit_entries WHERE seq = 1`},
			want:   &storage.AuditBreak{Seq: 1, Reason: "entry 1 missing"},
		},
		{
			name: "two rows' seq swapped",
			tamper: []string{
				`UPDATE audit_entries SET seq = -4 WHERE seq = 4`,
				`UPDATE audit_entries SET seq = 4 WHERE seq = 7`,
				`UPDATE audit_entries SET seq = 7 WHERE seq = -4`,
			},
			want: &storage.AuditBreak{Seq: 4, Reason: "entry 4 changed"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
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
			at := time.Date(2024, time.February, 29, 10, 20, 30, 456_789_000, time.UTC)
			for i := range 10 {
				e := storage.AuditEntry{
					At:        at.Add(time.Duration(i) * time.Second),
					Type:      storage.AuditTokenIssued,
					Actor:     "client:c-1",
					CitizenID: fmt.Sprintf("citizen-%d", i%3),
					AgencyID:  "agency-1",
					PermitID:  "permit-1",
					ClientID:  "c-1",
					Purpose:   "loan",
					Claims:    []string{"given_name", "family_name"},
					IAL:       "2.3",
					Outcome:   "success",
					Detail:    fmt.Sprintf("release %d", i+1),
				}
				if _, err := s.AppendAudit(ctx, e); err != nil {
					t.Fatalf("AppendAudit #%d: %v", i+1, err)
				}
			}

			raw, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			for _, q := range tt.tamper {
				if _, err := raw.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			if tt.rehash != 0 {
				es, err := s.AuditEntries(ctx, storage.AuditFilter{FromSeq: tt.rehash, ToSeq: tt.rehash})
				if err != nil || len(es) != 1 {
					t.Fatalf("AuditEntries(%d) = %d entries, %v", tt.rehash, len(es), err)
				}
				if _, err := raw.ExecContext(ctx, `UPDATE audit_entries SET hash = ? WHERE seq = ?`,
					es[0].ComputeHash(), tt.rehash); err != nil {
					t.Fatal(err)
				}
			}

			es, err := s.AuditEntries(ctx, storage.AuditFilter{})
			if err != nil {
				t.Fatalf("AuditEntries: %v", err)
			}
			err = storage.VerifyAuditChain(es, "", 1)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("VerifyAuditChain of an untouched trail: %v", err)
				}
				return
			}
			var got *storage.AuditBreak
			if !errors.As(err, &got) {
				t.Fatalf("VerifyAuditChain = %v, want %+v", err, *tt.want)
			}
			if *got != *tt.want {
				t.Errorf("VerifyAuditChain = %+v, want %+v", *got, *tt.want)
			}
		})
	}
}
