package storage

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// testChain returns a valid trail of n entries, Seq 1 to n.
func testChain(n int) []AuditEntry {
	at := time.Date(2024, time.February, 29, 10, 20, 30, 456_000_000, time.UTC)
	es := make([]AuditEntry, n)
	prev := ""
	for i := range es {
		e := AuditEntry{
			Seq:       int64(i + 1),
			At:        at.Add(time.Duration(i) * time.Second),
			Type:      AuditTokenIssued,
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
			PrevHash:  prev,
		}
		e.Hash = e.ComputeHash()
		prev = e.Hash
		es[i] = e
	}
	return es
}

// rehash recomputes e's Hash, as someone who rewrites an entry would.
func rehash(e AuditEntry) AuditEntry {
	e.Hash = e.ComputeHash()
	return e
}

func TestVerifyAuditChain(t *testing.T) {
	// forged is an entry made to fit after entry 4 of testChain.
	forged := func(es []AuditEntry) AuditEntry {
		return rehash(AuditEntry{Seq: 5, At: es[3].At, Type: AuditAdmin, Actor: "admin:mallory", PrevHash: es[3].Hash})
	}
	tests := []struct {
		name     string
		tamper   func(es []AuditEntry) []AuditEntry
		prevHash string // "" unless from > 1
		from     int    // index of the segment's first entry; its Seq is firstSeq
		firstSeq int64  // 0: the first entry's untampered Seq
		want     *AuditBreak
	}{
		{name: "untouched"},
		{name: "empty", tamper: func(es []AuditEntry) []AuditEntry { return nil }},
		{name: "segment after a checkpoint", from: 3},
		{
			name:   "field changed",
			tamper: func(es []AuditEntry) []AuditEntry { es[4].Detail = "nothing to see"; return es },
			want:   &AuditBreak{5, "entry 5 changed"},
		},
		{
			name:   "claims changed",
			tamper: func(es []AuditEntry) []AuditEntry { es[4].Claims = es[4].Claims[:1]; return es },
			want:   &AuditBreak{5, "entry 5 changed"},
		},
		{
			name:   "time changed by a nanosecond",
			tamper: func(es []AuditEntry) []AuditEntry { es[4].At = es[4].At.Add(time.Nanosecond); return es },
			want:   &AuditBreak{5, "entry 5 changed"},
		},
		{
			name:   "hash changed",
			tamper: func(es []AuditEntry) []AuditEntry { es[4].Hash = es[3].Hash; return es },
			want:   &AuditBreak{5, "entry 5 changed"},
		},
		{
			name:   "previous hash changed",
			tamper: func(es []AuditEntry) []AuditEntry { es[4].PrevHash = es[2].Hash; return es },
			want:   &AuditBreak{5, "entry 5 changed"},
		},
		{
			name: "field changed and hash recomputed",
			tamper: func(es []AuditEntry) []AuditEntry {
				es[4].Outcome = "failure"
				es[4] = rehash(es[4])
				return es
			},
			want: &AuditBreak{5, "entry 5 changed"},
		},
		{
			name: "first entry changed and hash recomputed",
			tamper: func(es []AuditEntry) []AuditEntry {
				es[0].Actor = "system"
				es[0] = rehash(es[0])
				return es
			},
			want: &AuditBreak{1, "entry 1 changed"},
		},
		{
			name:   "one deleted",
			tamper: func(es []AuditEntry) []AuditEntry { return slices.Delete(es, 4, 5) },
			want:   &AuditBreak{5, "entry 5 missing"},
		},
		{
			name:   "first deleted",
			tamper: func(es []AuditEntry) []AuditEntry { return es[1:] },
			want:   &AuditBreak{1, "entry 1 missing"},
		},
		{
			name: "deleted and the rest renumbered",
			tamper: func(es []AuditEntry) []AuditEntry {
				es = slices.Delete(es, 4, 5)
				for i := 4; i < len(es); i++ {
					es[i].Seq--
				}
				return es
			},
			want: &AuditBreak{5, "entry 5 changed"},
		},
		{
			name: "two swapped",
			tamper: func(es []AuditEntry) []AuditEntry {
				es[3], es[6] = es[6], es[3]
				return es
			},
			want: &AuditBreak{4, "entry 4 out of order"},
		},
		{
			name: "neighbours swapped",
			tamper: func(es []AuditEntry) []AuditEntry {
				es[3], es[4] = es[4], es[3]
				return es
			},
			want: &AuditBreak{4, "entry 4 out of order"},
		},
		{
			name: "two swapped with their Seq",
			tamper: func(es []AuditEntry) []AuditEntry {
				es[3], es[6] = es[6], es[3]
				es[3].Seq, es[6].Seq = 4, 7
				return es
			},
			want: &AuditBreak{4, "entry 4 changed"},
		},
		{
			name: "one inserted and the rest renumbered",
			tamper: func(es []AuditEntry) []AuditEntry {
				es = slices.Insert(es, 4, forged(es))
				for i := 5; i < len(es); i++ {
					es[i].Seq++
				}
				return es
			},
			want: &AuditBreak{5, "entry 5 inserted"},
		},
		{
			name: "one inserted and the rest renumbered and rehashed",
			tamper: func(es []AuditEntry) []AuditEntry {
				es = slices.Insert(es, 4, forged(es))
				for i := 5; i < len(es); i++ {
					es[i].Seq++
					es[i] = rehash(es[i])
				}
				return es
			},
			want: &AuditBreak{5, "entry 5 inserted"},
		},
		{
			name:   "one inserted beside the one it imitates",
			tamper: func(es []AuditEntry) []AuditEntry { return slices.Insert(es, 4, forged(es)) },
			want:   &AuditBreak{5, "entry 5 repeated"},
		},
		{
			name:     "wrong previous hash",
			from:     3,
			prevHash: "0000",
			want:     &AuditBreak{4, "entry 4 does not follow entry 3"},
		},
		{
			name:     "wrong first Seq",
			from:     3,
			firstSeq: 3,
			want:     &AuditBreak{3, "entry 3 missing"},
		},
		// What a segment alone cannot show; checkpoints are for these.
		{
			name:   "last deleted",
			tamper: func(es []AuditEntry) []AuditEntry { return es[:len(es)-1] },
		},
		{
			name: "rewritten from one entry to the end",
			tamper: func(es []AuditEntry) []AuditEntry {
				for i := 4; i < len(es); i++ {
					es[i].Detail = "rewritten"
					if i > 4 {
						es[i].PrevHash = es[i-1].Hash
					}
					es[i] = rehash(es[i])
				}
				return es
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es := testChain(10)
			prevHash := ""
			if tt.from > 0 {
				prevHash = es[tt.from-1].Hash
			}
			if tt.prevHash != "" {
				prevHash = tt.prevHash
			}
			firstSeq := es[tt.from].Seq
			if tt.firstSeq != 0 {
				firstSeq = tt.firstSeq
			}
			es = es[tt.from:]
			if tt.tamper != nil {
				es = tt.tamper(es)
			}
			err := VerifyAuditChain(es, prevHash, firstSeq)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("VerifyAuditChain = %v, want nil", err)
				}
				return
			}
			var got *AuditBreak
			if !errors.As(err, &got) {
				t.Fatalf("VerifyAuditChain = %v, want *AuditBreak %+v", err, tt.want)
			}
			if *got != *tt.want {
				t.Errorf("VerifyAuditChain = %+v, want %+v", *got, *tt.want)
			}
		})
	}
}

func TestAuditBreakError(t *testing.T) {
	err := error(&AuditBreak{Seq: 7, Reason: "entry 7 missing"})
	if got, want := err.Error(), "audit chain broken: entry 7 missing"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
