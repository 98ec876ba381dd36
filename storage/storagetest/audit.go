package storagetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// auditPattern is what the n-th entry of appendAudit (1-based, modulo 10)
// is about.
var auditPattern = []struct {
	typ, citizen, agency, client string
}{
	{storage.AuditSignIn, "citizen-1", "", ""},
	{storage.AuditTokenIssued, "citizen-1", "agency-1", "c-1"},
	{storage.AuditUserinfo, "citizen-2", "agency-1", "c-1"},
	{storage.AuditTokenIssued, "citizen-2", "agency-2", "c-2"},
	{storage.AuditAdmin, "", "agency-1", ""},
	{storage.AuditTokenIssued, "citizen-1", "agency-2", "c-2"},
	{storage.AuditConsentGiven, "citizen-1", "agency-1", "c-1"},
	{storage.AuditUserinfo, "citizen-1", "agency-1", "c-1"},
	{storage.AuditPermitDecision, "", "agency-2", ""},
	{storage.AuditTokenIssued, "citizen-2", "agency-1", "c-3"},
}

// newAuditEntry returns the n-th entry as a caller hands it to AppendAudit:
// no Seq, PrevHash or Hash, and a time n seconds after base.
func newAuditEntry(n int) storage.AuditEntry {
	p := auditPattern[(n-1)%len(auditPattern)]
	e := storage.AuditEntry{
		At:        at(time.Duration(n) * time.Second),
		Type:      p.typ,
		Actor:     "system",
		CitizenID: p.citizen,
		AgencyID:  p.agency,
		ClientID:  p.client,
		Outcome:   "success",
		Detail:    fmt.Sprintf("event %d", n),
	}
	switch {
	case p.client != "":
		e.Actor = "client:" + p.client
		e.PermitID = "permit-" + p.agency[len("agency-"):]
		e.Purpose = "loan"
		e.Claims = []string{"given_name", "family_name", "birthdate"}
		e.IAL = "2.3"
	case p.typ == storage.AuditAdmin:
		e.Actor = "admin:a-1"
	case p.citizen != "":
		e.Actor = "citizen:" + p.citizen
	}
	return e
}

// stored returns what the store must make of e as entry seq after an
// entry whose hash is prevHash.
func stored(e storage.AuditEntry, seq int64, prevHash string) storage.AuditEntry {
	e.Seq = seq
	e.PrevHash = prevHash
	e.At = e.At.Truncate(time.Millisecond).UTC()
	e.Hash = e.ComputeHash()
	return e
}

// appendAudit appends newAuditEntry(1) … newAuditEntry(n) and returns
// what AppendAudit returned.
func appendAudit(t *testing.T, s storage.Store, n int) []storage.AuditEntry {
	t.Helper()
	var out []storage.AuditEntry
	for i := 1; i <= n; i++ {
		e, err := s.AppendAudit(context.Background(), newAuditEntry(i))
		if err != nil {
			t.Fatalf("AppendAudit #%d: %v", i, err)
		}
		out = append(out, e)
	}
	return out
}

// auditEntries returns the entries matching f, failing t unless each of
// them still hashes to its Hash: the store returns every field exactly
// as it hashed it.
func auditEntries(t *testing.T, s storage.Store, f storage.AuditFilter) []storage.AuditEntry {
	t.Helper()
	es, err := s.AuditEntries(context.Background(), f)
	wantErr(t, fmt.Sprintf("AuditEntries(%+v)", f), err, nil)
	for _, e := range es {
		if got := e.ComputeHash(); got != e.Hash {
			t.Errorf("entry %d as read back hashes to %s, but its Hash is %s:\n%+v", e.Seq, got, e.Hash, e)
		}
		if e.At.Location() != time.UTC {
			t.Errorf("entry %d: At %v in %v, want UTC", e.Seq, e.At, e.At.Location())
		}
	}
	return es
}

func normAudits(es []storage.AuditEntry) []storage.AuditEntry { return normList(es, normAudit) }

func seqs(es []storage.AuditEntry) []int64 {
	var out []int64
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

func seqRange(from, to int64) []int64 {
	var out []int64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

func wantHead(t *testing.T, s storage.Store, want storage.AuditEntry) {
	t.Helper()
	got, err := s.AuditHead(context.Background())
	wantErr(t, "AuditHead", err, nil)
	check(t, "AuditHead", got, want, normAudit)
}

func testAppendAudit(t *testing.T, su suite) {
	ctx := context.Background()

	t.Run("empty trail", func(t *testing.T) {
		s := su.store(t)
		_, err := s.AuditHead(ctx)
		wantErr(t, "AuditHead", err, storage.ErrNotFound)
		if es := auditEntries(t, s, storage.AuditFilter{}); len(es) != 0 {
			t.Errorf("AuditEntries of an empty trail = %d entries, want 0", len(es))
		}
	})

	t.Run("chain", func(t *testing.T) {
		s := su.store(t)
		var want []storage.AuditEntry
		prev := ""
		for i := 1; i <= 12; i++ {
			in := newAuditEntry(i)
			// What the caller puts in Seq, PrevHash and Hash is ignored.
			in.Seq, in.PrevHash, in.Hash = 99, "forged", "forged"
			got, err := s.AppendAudit(ctx, in)
			wantErr(t, fmt.Sprintf("AppendAudit #%d", i), err, nil)
			w := stored(newAuditEntry(i), int64(i), prev)
			check(t, fmt.Sprintf("AppendAudit #%d", i), got, w, normAudit)
			if got.Hash != got.ComputeHash() {
				t.Errorf("AppendAudit #%d returned Hash %s, but the entry hashes to %s", i, got.Hash, got.ComputeHash())
			}
			want = append(want, w)
			prev = w.Hash
			wantHead(t, s, w)
		}
		es := auditEntries(t, s, storage.AuditFilter{})
		check(t, "AuditEntries", es, want, normAudits)
		if err := storage.VerifyAuditChain(es, "", 1); err != nil {
			t.Errorf("VerifyAuditChain of the stored trail: %v", err)
		}
	})

	t.Run("times", func(t *testing.T) {
		ict := time.FixedZone("ICT", 7*60*60)
		tests := []struct {
			name string
			at   time.Time
		}{
			{"sub-millisecond", time.Date(2024, time.February, 29, 10, 20, 30, 456_789_123, time.UTC)},
			{"other zone", time.Date(2024, time.February, 29, 17, 20, 30, 456_999_999, ict)},
			{"monotonic reading", time.Now()},
			{"before 1970", time.Date(1969, time.July, 20, 20, 17, 40, 999_999, time.UTC)},
			{"far future", time.Date(2543, time.December, 31, 23, 59, 59, 999_999_999, time.UTC)},
			{"zero", time.Time{}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				in := newAuditEntry(1)
				in.At = tt.at
				got, err := s.AppendAudit(ctx, in)
				wantErr(t, "AppendAudit", err, nil)
				wantAt := tt.at.Truncate(time.Millisecond).UTC()
				if !got.At.Equal(wantAt) || got.At.Location() != time.UTC {
					t.Errorf("AppendAudit of At %v returned At %v, want %v (milliseconds, UTC)", tt.at, got.At, wantAt)
				}
				if got.Hash != got.ComputeHash() {
					t.Errorf("AppendAudit returned Hash %s, but the entry hashes to %s", got.Hash, got.ComputeHash())
				}
				check(t, "AppendAudit", got, stored(in, 1, ""), normAudit)
				es := auditEntries(t, s, storage.AuditFilter{})
				check(t, "AuditEntries", es, []storage.AuditEntry{got}, normAudits)
				if len(es) == 1 && !es[0].At.Equal(wantAt) {
					t.Errorf("At read back = %v, want %v exactly", es[0].At, wantAt)
				}
			})
		}
	})

	t.Run("nil and empty claims", func(t *testing.T) {
		s := su.store(t)
		for i, claims := range [][]string{nil, {}, {"pid"}} {
			in := newAuditEntry(i + 1)
			in.Claims = claims
			_, err := s.AppendAudit(ctx, in)
			wantErr(t, "AppendAudit", err, nil)
		}
		es := auditEntries(t, s, storage.AuditFilter{})
		if err := storage.VerifyAuditChain(es, "", 1); err != nil {
			t.Errorf("VerifyAuditChain: %v", err)
		}
	})
}

func testAppendAuditConcurrent(t *testing.T, su suite) {
	ctx := context.Background()
	s := su.store(t)
	const n = 32
	got := make([]storage.AuditEntry, n)
	errs := race(n, func(i int) error {
		e := newAuditEntry(i + 1)
		e.Detail = fmt.Sprintf("goroutine %d", i)
		var err error
		got[i], err = s.AppendAudit(ctx, e)
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("AppendAudit #%d: %v", i, err)
		}
	}
	returned := slices.Clone(got)
	slices.SortFunc(returned, func(a, b storage.AuditEntry) int { return int(a.Seq - b.Seq) })
	if got := seqs(returned); !slices.Equal(got, seqRange(1, n)) {
		t.Fatalf("Seq returned to %d concurrent appends = %v, want 1 to %d once each", n, got, n)
	}
	es := auditEntries(t, s, storage.AuditFilter{})
	if len(es) != n {
		t.Fatalf("AuditEntries = %d entries, want %d", len(es), n)
	}
	prev := ""
	for i, e := range es {
		if e.Seq != int64(i+1) {
			t.Errorf("entry #%d has Seq %d, want %d", i, e.Seq, i+1)
		}
		if e.PrevHash != prev {
			t.Errorf("entry %d: PrevHash %q, want the Hash of entry %d, %q", e.Seq, e.PrevHash, e.Seq-1, prev)
		}
		if h := e.ComputeHash(); e.Hash != h {
			t.Errorf("entry %d: Hash %q, want ComputeHash() %q", e.Seq, e.Hash, h)
		}
		prev = e.Hash
	}
	if err := storage.VerifyAuditChain(es, "", 1); err != nil {
		t.Errorf("VerifyAuditChain: %v", err)
	}
	check(t, "entries returned by AppendAudit", returned, es, normAudits)
	wantHead(t, s, es[n-1])
}

func testAuditEntries(t *testing.T, su suite) {
	s := su.store(t)
	all := appendAudit(t, s, 10)
	tests := []struct {
		name string
		f    storage.AuditFilter
		want []int64
	}{
		{"all", storage.AuditFilter{}, seqRange(1, 10)},
		{"citizen", storage.AuditFilter{CitizenID: "citizen-1"}, []int64{1, 2, 6, 7, 8}},
		{"agency", storage.AuditFilter{AgencyID: "agency-1"}, []int64{2, 3, 5, 7, 8, 10}},
		{"client", storage.AuditFilter{ClientID: "c-1"}, []int64{2, 3, 7, 8}},
		{"one type", storage.AuditFilter{Types: []string{storage.AuditTokenIssued}}, []int64{2, 4, 6, 10}},
		{"two types", storage.AuditFilter{Types: []string{storage.AuditTokenIssued, storage.AuditUserinfo}}, []int64{2, 3, 4, 6, 8, 10}},
		{"empty types", storage.AuditFilter{Types: []string{}}, seqRange(1, 10)},
		{"citizen and agency", storage.AuditFilter{CitizenID: "citizen-1", AgencyID: "agency-1"}, []int64{2, 7, 8}},
		{"from", storage.AuditFilter{FromSeq: 4}, seqRange(4, 10)},
		{"to", storage.AuditFilter{ToSeq: 3}, seqRange(1, 3)},
		{"from and to", storage.AuditFilter{FromSeq: 4, ToSeq: 6}, seqRange(4, 6)},
		{"one seq", storage.AuditFilter{FromSeq: 6, ToSeq: 6}, []int64{6}},
		{"past the end", storage.AuditFilter{FromSeq: 11}, nil},
		{"limit", storage.AuditFilter{Limit: 3}, seqRange(1, 3)},
		{"newest first", storage.AuditFilter{Newest: true}, []int64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
		{"newest three", storage.AuditFilter{Newest: true, Limit: 3}, []int64{10, 9, 8}},
		{"a citizen's newest two", storage.AuditFilter{CitizenID: "citizen-1", Newest: true, Limit: 2}, []int64{8, 7}},
		{"everything at once", storage.AuditFilter{AgencyID: "agency-1", ClientID: "c-1", Types: []string{storage.AuditUserinfo, storage.AuditConsentGiven}, FromSeq: 3, ToSeq: 7, Newest: true, Limit: 5}, []int64{7, 3}},
		{"window newest first", storage.AuditFilter{AgencyID: "agency-1", FromSeq: 3, ToSeq: 8, Newest: true}, []int64{8, 7, 5, 3}},
		{"unknown citizen", storage.AuditFilter{CitizenID: "citizen-9"}, nil},
		{"unknown type", storage.AuditFilter{Types: []string{"no_such_type"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es := auditEntries(t, s, tt.f)
			if got := seqs(es); !slices.Equal(got, tt.want) {
				t.Fatalf("AuditEntries(%+v) Seq = %v, want %v", tt.f, got, tt.want)
			}
			for _, e := range es {
				check(t, fmt.Sprintf("entry %d", e.Seq), e, all[e.Seq-1], normAudit)
			}
		})
	}
}

// newCheckpoint returns a checkpoint of entry e.
func newCheckpoint(e storage.AuditEntry) storage.AuditCheckpoint {
	return storage.AuditCheckpoint{
		Seq:  e.Seq,
		Hash: e.Hash,
		At:   e.At.Add(time.Minute),
		JWS:  fmt.Sprintf("eyJhbGciOiJFUzI1NiJ9.eyJzZXEiOiVkfQ.sig-%d", e.Seq),
	}
}

func testAuditCheckpoints(t *testing.T, su suite) {
	ctx := context.Background()
	s := su.store(t)
	es := appendAudit(t, s, 10)
	cps := map[int64]storage.AuditCheckpoint{}
	for _, seq := range []int64{6, 3, 9} {
		cp := newCheckpoint(es[seq-1])
		wantErr(t, fmt.Sprintf("CreateAuditCheckpoint(%d)", seq), s.CreateAuditCheckpoint(ctx, cp), nil)
		cps[seq] = cp
	}
	again := newCheckpoint(es[5])
	again.JWS = "must not be stored"
	wantErr(t, "CreateAuditCheckpoint again", s.CreateAuditCheckpoint(ctx, again), storage.ErrAlreadyExists)

	tests := []struct {
		from, to int64
		want     []int64
	}{
		{0, 0, []int64{3, 6, 9}},
		{4, 0, []int64{6, 9}},
		{0, 6, []int64{3, 6}},
		{3, 9, []int64{3, 6, 9}},
		{6, 6, []int64{6}},
		{4, 5, nil},
		{10, 0, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("from %d to %d", tt.from, tt.to), func(t *testing.T) {
			got, err := s.AuditCheckpoints(ctx, tt.from, tt.to)
			wantErr(t, "AuditCheckpoints", err, nil)
			var want []storage.AuditCheckpoint
			for _, seq := range tt.want {
				want = append(want, cps[seq])
			}
			check(t, "AuditCheckpoints", got, want, func(cs []storage.AuditCheckpoint) []storage.AuditCheckpoint {
				return normList(cs, normCheckpoint)
			})
		})
	}
}

func testPruneAudit(t *testing.T, su suite) {
	ctx := context.Background()
	s := su.store(t)
	all := appendAudit(t, s, 10)
	cp4, cp7 := newCheckpoint(all[3]), newCheckpoint(all[6])
	// Two checkpoints the trail does not bear out: one whose hash is not
	// entry 5's, one past the head.
	cpWrong := newCheckpoint(all[4])
	cpWrong.Hash = all[3].Hash
	cpAhead := newCheckpoint(all[9])
	cpAhead.Seq = 20
	cps := []storage.AuditCheckpoint{cp4, cpWrong, cp7, cpAhead}
	for _, cp := range cps {
		wantErr(t, "CreateAuditCheckpoint", s.CreateAuditCheckpoint(ctx, cp), nil)
	}

	// wantTrail fails t unless the trail is all[from-1:] and verifies from
	// the checkpoint at from.
	wantTrail := func(t *testing.T, cp storage.AuditCheckpoint) {
		t.Helper()
		es := auditEntries(t, s, storage.AuditFilter{})
		check(t, "AuditEntries", es, all[cp.Seq-1:], normAudits)
		if len(es) == 0 {
			return
		}
		if es[0].Seq != cp.Seq || es[0].Hash != cp.Hash {
			t.Errorf("first entry left is %d with Hash %s, want the checkpoint's entry %d with Hash %s", es[0].Seq, es[0].Hash, cp.Seq, cp.Hash)
		}
		if err := storage.VerifyAuditChain(es[1:], cp.Hash, cp.Seq+1); err != nil {
			t.Errorf("VerifyAuditChain from the checkpoint at %d: %v", cp.Seq, err)
		}
	}
	prune := func(t *testing.T, seq int64, want int64, wantErrIs error) {
		t.Helper()
		n, err := s.PruneAudit(ctx, seq)
		wantErr(t, fmt.Sprintf("PruneAudit(%d)", seq), err, wantErrIs)
		if n != want {
			t.Errorf("PruneAudit(%d) = %d, want %d", seq, n, want)
		}
	}

	t.Run("without a checkpoint", func(t *testing.T) {
		prune(t, 6, 0, storage.ErrNotFound)
		prune(t, 11, 0, storage.ErrNotFound)
		check(t, "AuditEntries", auditEntries(t, s, storage.AuditFilter{}), all, normAudits)
	})
	t.Run("to a checkpoint the trail does not bear out", func(t *testing.T) {
		prune(t, cpWrong.Seq, 0, storage.ErrConflict)
		prune(t, cpAhead.Seq, 0, storage.ErrConflict)
		check(t, "AuditEntries", auditEntries(t, s, storage.AuditFilter{}), all, normAudits)
	})
	t.Run("to a checkpoint", func(t *testing.T) {
		prune(t, 4, 3, nil)
		wantTrail(t, cp4)
	})
	t.Run("to the same checkpoint again", func(t *testing.T) {
		prune(t, 4, 0, nil)
		wantTrail(t, cp4)
	})
	t.Run("to a later checkpoint", func(t *testing.T) {
		prune(t, 7, 3, nil)
		wantTrail(t, cp7)
		if es := auditEntries(t, s, storage.AuditFilter{FromSeq: 1, ToSeq: 6}); len(es) != 0 {
			t.Errorf("AuditEntries(1 to 6) after pruning = %v, want none", seqs(es))
		}
	})
	t.Run("checkpoints and head kept", func(t *testing.T) {
		got, err := s.AuditCheckpoints(ctx, 0, 0)
		wantErr(t, "AuditCheckpoints", err, nil)
		check(t, "AuditCheckpoints", got, cps, func(cs []storage.AuditCheckpoint) []storage.AuditCheckpoint {
			return normList(cs, normCheckpoint)
		})
		wantHead(t, s, all[9])
	})
	t.Run("appending continues the chain", func(t *testing.T) {
		got, err := s.AppendAudit(ctx, newAuditEntry(11))
		wantErr(t, "AppendAudit", err, nil)
		check(t, "AppendAudit", got, stored(newAuditEntry(11), 11, all[9].Hash), normAudit)
		all = append(all, got)
		wantTrail(t, cp7)
	})
}
