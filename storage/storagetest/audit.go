package storagetest

import (
	"cmp"
	"context"
	"errors"
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
// no Seq or ID, and a time n seconds after base. Detail names it.
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

// stored returns what the store must make of e: At in milliseconds UTC,
// the ID it chose, Seq seq; claims as given.
func stored(e storage.AuditEntry, id string, seq int64) storage.AuditEntry {
	e.ID, e.Seq = id, seq
	e.At = e.At.Truncate(time.Millisecond).UTC()
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

// integrate integrates up to max waiting entries as package audit's
// integrator would (with the suite's stand-in tree) and returns how many.
func integrate(t *testing.T, s storage.Store, max int) int {
	t.Helper()
	ls, ok := s.(LogStore)
	if !ok {
		t.Fatalf("%T does not implement the audit log's storage (storagetest.LogStore)", s)
	}
	n, err := ls.IntegrateLog(context.Background(), max, chainIntegration)
	wantErr(t, "IntegrateLog", err, nil)
	return n
}

// auditEntries returns the entries matching f, failing t unless each is in
// UTC and has an ID.
func auditEntries(t *testing.T, s storage.Store, f storage.AuditFilter) []storage.AuditEntry {
	t.Helper()
	es, err := s.AuditEntries(context.Background(), f)
	wantErr(t, fmt.Sprintf("AuditEntries(%+v)", f), err, nil)
	for _, e := range es {
		if e.ID == "" {
			t.Errorf("entry %q has no ID", e.Detail)
		}
		if e.At.Location() != time.UTC {
			t.Errorf("entry %q: At %v in %v, want UTC", e.Detail, e.At, e.At.Location())
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

// numbers returns which newAuditEntry each entry is (from its Detail).
func numbers(es []storage.AuditEntry) []int {
	var out []int
	for _, e := range es {
		var n int
		fmt.Sscanf(e.Detail, "event %d", &n)
		out = append(out, n)
	}
	return out
}

func numRange(from, to int) []int {
	var out []int
	for n := from; n <= to; n++ {
		out = append(out, n)
	}
	return out
}

func testAppendAudit(t *testing.T, su suite) {
	ctx := context.Background()

	t.Run("empty trail", func(t *testing.T) {
		s := su.store(t)
		if es := auditEntries(t, s, storage.AuditFilter{}); len(es) != 0 {
			t.Errorf("AuditEntries of an empty trail = %d entries, want 0", len(es))
		}
	})

	t.Run("visible at once, placed by the integrator", func(t *testing.T) {
		s := su.store(t)
		var want []storage.AuditEntry
		ids := map[string]bool{}
		for i := 1; i <= 12; i++ {
			in := newAuditEntry(i)
			in.Seq = 99 // ignored
			got, err := s.AppendAudit(ctx, in)
			wantErr(t, fmt.Sprintf("AppendAudit #%d", i), err, nil)
			if got.ID == "" || ids[got.ID] {
				t.Errorf("AppendAudit #%d chose ID %q: want a new one", i, got.ID)
			}
			ids[got.ID] = true
			w := stored(newAuditEntry(i), got.ID, 0)
			check(t, fmt.Sprintf("AppendAudit #%d", i), got, w, normAudit)
			want = append(want, w)
			// Readable before it is integrated, with Seq 0.
			check(t, "AuditEntries", auditEntries(t, s, storage.AuditFilter{}), want, normAudits)
		}
		if n := integrate(t, s, 5); n != 5 {
			t.Fatalf("integrated %d, want 5", n)
		}
		for i := range 5 {
			want[i].Seq = int64(i + 1)
		}
		check(t, "AuditEntries after integrating 5", auditEntries(t, s, storage.AuditFilter{}), want, normAudits)
		integrate(t, s, 100)
		for i := range want {
			want[i].Seq = int64(i + 1)
		}
		check(t, "AuditEntries after integrating all", auditEntries(t, s, storage.AuditFilter{}), want, normAudits)
		// Each is the log entry of its ID, at leaf Seq-1.
		ls := s.(LogStore)
		for _, w := range want {
			le, err := ls.LogEntry(ctx, w.ID)
			wantErr(t, "LogEntry", err, nil)
			if le.Index != w.Seq-1 || le.Detail != w.Detail {
				t.Errorf("LogEntry(%q) = index %d, %q; want %d, %q", w.ID, le.Index, le.Detail, w.Seq-1, w.Detail)
			}
		}
	})

	t.Run("given ID", func(t *testing.T) {
		s := su.store(t)
		in := newAuditEntry(1)
		in.ID = "entry-1"
		got, err := s.AppendAudit(ctx, in)
		wantErr(t, "AppendAudit", err, nil)
		if got.ID != "entry-1" {
			t.Errorf("AppendAudit kept ID %q, want entry-1", got.ID)
		}
		_, err = s.AppendAudit(ctx, in)
		wantErr(t, "AppendAudit of a taken ID", err, storage.ErrAlreadyExists)
		if es := auditEntries(t, s, storage.AuditFilter{}); len(es) != 1 {
			t.Errorf("AuditEntries = %d entries, want 1", len(es))
		}
	})

	t.Run("refused", func(t *testing.T) {
		s := su.store(t)
		pid := newAuditEntry(1)
		pid.Detail = "citizen 1101700230708" // a valid national ID number
		if _, err := s.AppendAudit(ctx, pid); !errors.Is(err, storage.ErrPersonalData) {
			t.Errorf("AppendAudit with a national ID number: %v, want ErrPersonalData", err)
		}
		if _, err := s.AppendAudit(ctx, storage.AuditEntry{Actor: "system"}); err == nil {
			t.Error("AppendAudit without a type: no error")
		}
		if es := auditEntries(t, s, storage.AuditFilter{}); len(es) != 0 {
			t.Errorf("AuditEntries = %d entries, want none stored", len(es))
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
				es := auditEntries(t, s, storage.AuditFilter{})
				check(t, "AuditEntries", es, []storage.AuditEntry{got}, normAudits)
				if len(es) == 1 && !es[0].At.Equal(wantAt) {
					t.Errorf("At read back = %v, want %v exactly", es[0].At, wantAt)
				}
			})
		}
		t.Run("zero", func(t *testing.T) {
			s := su.store(t)
			in := newAuditEntry(1)
			in.At = time.Time{}
			got, err := s.AppendAudit(ctx, in)
			wantErr(t, "AppendAudit", err, nil)
			if got.At.IsZero() {
				t.Error("AppendAudit of a zero At kept it zero, want the time of writing")
			}
		})
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
		if len(es) != 3 || len(es[0].Claims) != 0 || len(es[1].Claims) != 0 || !slices.Equal(es[2].Claims, []string{"pid"}) {
			t.Errorf("AuditEntries = %+v", es)
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
		var err error
		got[i], err = s.AppendAudit(ctx, e)
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("AppendAudit #%d: %v", i, err)
		}
	}
	es := auditEntries(t, s, storage.AuditFilter{})
	if len(es) != n {
		t.Fatalf("AuditEntries = %d entries, want %d", len(es), n)
	}
	if got := numbers(es); !slices.Equal(slices.Sorted(slices.Values(got)), numRange(1, n)) {
		t.Errorf("entries %v, want 1 to %d once each", got, n)
	}
	for integrate(t, s, 7) > 0 {
	}
	es = auditEntries(t, s, storage.AuditFilter{})
	if got := seqs(es); !slices.Equal(got, seqRange(1, n)) {
		t.Errorf("Seq after integration = %v, want 1 to %d", got, n)
	}
	slices.SortFunc(got, func(a, b storage.AuditEntry) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(es, func(a, b storage.AuditEntry) int { return cmp.Compare(a.ID, b.ID) })
	for i := range es {
		es[i].Seq = 0
	}
	check(t, "entries returned by AppendAudit", got, es, normAudits)
}

// testAppendAuditTakenIDs races appends of which every second one takes
// the ID of the one before: of each pair exactly one is stored, the other
// gets ErrAlreadyExists, and no other append is harmed by sharing a
// commit with a loser (backends may group concurrent appends).
func testAppendAuditTakenIDs(t *testing.T, su suite) {
	ctx := context.Background()
	s := su.store(t)
	const n = 48
	errs := race(n, func(i int) error {
		e := newAuditEntry(i/2 + 1)
		e.ID = fmt.Sprintf("pair-%02d", i/2)
		_, err := s.AppendAudit(ctx, e)
		return err
	})
	for p := 0; p < n/2; p++ {
		if got := winners(t, fmt.Sprintf("AppendAudit of pair-%02d", p), errs[2*p:2*p+2], storage.ErrAlreadyExists); got != 1 {
			t.Errorf("pair-%02d: %d appends succeeded, want 1", p, got)
		}
	}
	es := auditEntries(t, s, storage.AuditFilter{})
	if got := numbers(es); !slices.Equal(slices.Sorted(slices.Values(got)), numRange(1, n/2)) {
		t.Errorf("entries %v, want 1 to %d once each", got, n/2)
	}
}

func seqRange(from, to int64) []int64 {
	var out []int64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// testAuditEntries reads ten entries of which the first six are
// integrated: the filters, and the log order (integrated entries by Seq,
// then the others as written).
func testAuditEntries(t *testing.T, su suite) {
	s := su.store(t)
	all := appendAudit(t, s, 10)
	integrate(t, s, 6)
	for i := range 6 {
		all[i].Seq = int64(i + 1)
	}
	tests := []struct {
		name string
		f    storage.AuditFilter
		want []int
	}{
		{"all", storage.AuditFilter{}, numRange(1, 10)},
		{"citizen", storage.AuditFilter{CitizenID: "citizen-1"}, []int{1, 2, 6, 7, 8}},
		{"agency", storage.AuditFilter{AgencyID: "agency-1"}, []int{2, 3, 5, 7, 8, 10}},
		{"client", storage.AuditFilter{ClientID: "c-1"}, []int{2, 3, 7, 8}},
		{"one type", storage.AuditFilter{Types: []string{storage.AuditTokenIssued}}, []int{2, 4, 6, 10}},
		{"two types", storage.AuditFilter{Types: []string{storage.AuditTokenIssued, storage.AuditUserinfo}}, []int{2, 3, 4, 6, 8, 10}},
		{"empty types", storage.AuditFilter{Types: []string{}}, numRange(1, 10)},
		{"citizen and agency", storage.AuditFilter{CitizenID: "citizen-1", AgencyID: "agency-1"}, []int{2, 7, 8}},
		{"from keeps those not integrated", storage.AuditFilter{FromSeq: 4}, numRange(4, 10)},
		{"to leaves out those not integrated", storage.AuditFilter{ToSeq: 3}, numRange(1, 3)},
		{"from and to", storage.AuditFilter{FromSeq: 4, ToSeq: 6}, numRange(4, 6)},
		{"to past the integrated", storage.AuditFilter{FromSeq: 5, ToSeq: 9}, []int{5, 6}},
		{"one seq", storage.AuditFilter{FromSeq: 6, ToSeq: 6}, []int{6}},
		{"past the end", storage.AuditFilter{FromSeq: 11, ToSeq: 20}, nil},
		{"limit", storage.AuditFilter{Limit: 3}, numRange(1, 3)},
		{"newest first", storage.AuditFilter{Newest: true}, []int{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
		{"newest three", storage.AuditFilter{Newest: true, Limit: 3}, []int{10, 9, 8}},
		{"a citizen's newest two", storage.AuditFilter{CitizenID: "citizen-1", Newest: true, Limit: 2}, []int{8, 7}},
		{"everything at once", storage.AuditFilter{AgencyID: "agency-1", ClientID: "c-1", Types: []string{storage.AuditUserinfo, storage.AuditConsentGiven}, FromSeq: 3, ToSeq: 7, Newest: true, Limit: 5}, []int{3}},
		{"window newest first", storage.AuditFilter{AgencyID: "agency-1", FromSeq: 3, Newest: true}, []int{10, 8, 7, 5, 3}},
		{"unknown citizen", storage.AuditFilter{CitizenID: "citizen-9"}, nil},
		{"unknown type", storage.AuditFilter{Types: []string{"no_such_type"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es := auditEntries(t, s, tt.f)
			if got := numbers(es); !slices.Equal(got, tt.want) {
				t.Fatalf("AuditEntries(%+v) = entries %v, want %v", tt.f, got, tt.want)
			}
			for _, e := range es {
				n := numbers([]storage.AuditEntry{e})[0]
				check(t, fmt.Sprintf("entry %d", n), e, stored(newAuditEntry(n), all[n-1].ID, all[n-1].Seq), normAudit)
			}
		})
	}
}

// readerEntry returns the n-th entry of the readers' tests: newAuditEntry
// with every third one refused and every fifth one recorded without an
// outcome (as releases once were).
func readerEntry(n int) storage.AuditEntry {
	e := newAuditEntry(n)
	switch {
	case n%3 == 0:
		e.Outcome, e.Detail = "failure", fmt.Sprintf("event %d", n)
	case n%5 == 0:
		e.Outcome = ""
	}
	return e
}

// testAuditReaderFilters: the filters the auditors' and supervisors'
// readers add — permit, outcome, time range — alone and with the others,
// on integrated entries and on entries not yet integrated alike.
func testAuditReaderFilters(t *testing.T, su suite) {
	s := su.store(t)
	ctx := context.Background()
	var all []storage.AuditEntry
	for n := 1; n <= 10; n++ {
		e, err := s.AppendAudit(ctx, readerEntry(n))
		wantErr(t, "AppendAudit", err, nil)
		all = append(all, e)
	}
	integrate(t, s, 6)
	for i := range 6 {
		all[i].Seq = int64(i + 1)
	}
	tests := []struct {
		name string
		f    storage.AuditFilter
		want []int
	}{
		{"permit", storage.AuditFilter{PermitID: "permit-1"}, []int{2, 3, 7, 8, 10}},
		{"permit and client", storage.AuditFilter{PermitID: "permit-1", ClientID: "c-3"}, []int{10}},
		{"unknown permit", storage.AuditFilter{PermitID: "permit-9"}, nil},
		{"failure", storage.AuditFilter{Outcome: "failure"}, []int{3, 6, 9}},
		{"success includes no outcome", storage.AuditFilter{Outcome: "success"}, []int{1, 2, 4, 5, 7, 8, 10}},
		{"unknown outcome", storage.AuditFilter{Outcome: "refused"}, nil},
		{"agency's refusals", storage.AuditFilter{AgencyID: "agency-1", Outcome: "failure"}, []int{3}},
		{"since", storage.AuditFilter{Since: at(8 * time.Second)}, []int{8, 9, 10}},
		{"until is exclusive", storage.AuditFilter{Until: at(3 * time.Second)}, []int{1, 2}},
		{"time range", storage.AuditFilter{Since: at(4 * time.Second), Until: at(7*time.Second + time.Millisecond)}, []int{4, 5, 6, 7}},
		{"time range within a millisecond", storage.AuditFilter{Since: at(5 * time.Second), Until: at(5*time.Second + time.Millisecond)}, []int{5}},
		{"empty time range", storage.AuditFilter{Since: at(5 * time.Second), Until: at(5 * time.Second)}, nil},
		{"time range newest first", storage.AuditFilter{Since: at(5 * time.Second), Newest: true, Limit: 3}, []int{10, 9, 8}},
		{"everything", storage.AuditFilter{CitizenID: "citizen-1", AgencyID: "agency-1", PermitID: "permit-1", ClientID: "c-1",
			Types: []string{storage.AuditUserinfo, storage.AuditConsentGiven}, Outcome: "success",
			Since: at(2 * time.Second), Until: at(9 * time.Second), FromSeq: 2}, []int{7, 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es := auditEntries(t, s, tt.f)
			if got := numbers(es); !slices.Equal(got, tt.want) {
				t.Fatalf("AuditEntries(%+v) = entries %v, want %v", tt.f, got, tt.want)
			}
			for _, e := range es {
				n := numbers([]storage.AuditEntry{e})[0]
				check(t, fmt.Sprintf("entry %d", n), e, stored(readerEntry(n), all[n-1].ID, all[n-1].Seq), normAudit)
			}
		})
	}
}

// testAuditPaging walks a filtered trail page by page with the keyset
// cursor of AuditFilter, both ways, while the integrator integrates entries
// between pages and new ones arrive: every matching entry is seen, none is
// skipped, and one is seen twice only when it was still waiting on the
// page that first showed it.
func testAuditPaging(t *testing.T, su suite) {
	s := su.store(t)
	appendAudit(t, s, 20)
	integrate(t, s, 7)
	agency1 := func(n int) bool { return auditPattern[(n-1)%len(auditPattern)].agency == "agency-1" }

	t.Run("log order", func(t *testing.T) {
		f := storage.AuditFilter{AgencyID: "agency-1", Limit: 3}
		seen := map[int]int{}
		wasPending := map[int]bool{}
		var order []int
		var cursor int64 // the last integrated Seq seen
		for page := 0; ; page++ {
			if page > 20 {
				t.Fatalf("paging does not end: %v", order)
			}
			f.FromSeq = cursor + 1
			es := auditEntries(t, s, f)
			pending := false
			for _, e := range es {
				n := numbers([]storage.AuditEntry{e})[0]
				if seen[n] > 0 && !wasPending[n] {
					t.Errorf("entry %d seen again after it was seen integrated; pages: %v", n, order)
				}
				if e.Seq == 0 {
					pending, wasPending[n] = true, true
				} else {
					cursor = e.Seq
				}
				seen[n]++
				order = append(order, n)
			}
			if len(es) < f.Limit && !pending {
				break
			}
			switch page {
			case 1:
				integrate(t, s, 5) // entries move from waiting to integrated between pages
			case 3:
				integrate(t, s, 100)
			}
		}
		for n := 1; n <= 20; n++ {
			if agency1(n) != (seen[n] > 0) || seen[n] > 2 {
				t.Errorf("entry %d seen %d times (agency-1: %v); pages: %v", n, seen[n], agency1(n), order)
			}
		}
	})

	t.Run("newest first", func(t *testing.T) {
		for n := 21; n <= 23; n++ { // they wait
			if _, err := s.AppendAudit(context.Background(), newAuditEntry(n)); err != nil {
				t.Fatalf("AppendAudit #%d: %v", n, err)
			}
		}
		f := storage.AuditFilter{AgencyID: "agency-1", Newest: true, Limit: 4}
		first := auditEntries(t, s, f)
		var order []int
		seen := map[string]bool{}
		es := first
		for page := 0; len(es) > 0; page++ {
			if page > 20 {
				t.Fatal("paging does not end")
			}
			var oldest int64
			for _, e := range es {
				if seen[e.ID] {
					t.Fatalf("entry %q seen twice newest first", e.Detail)
				}
				seen[e.ID] = true
				order = append(order, numbers([]storage.AuditEntry{e})[0])
				if e.Seq != 0 {
					oldest = e.Seq
				}
			}
			if oldest <= 1 {
				break
			}
			integrate(t, s, 100) // does not disturb pages of integrated entries
			f.ToSeq = oldest - 1
			es = auditEntries(t, s, f)
		}
		want := []int{23, 22}
		for n := 20; n >= 1; n-- {
			if agency1(n) {
				want = append(want, n)
			}
		}
		if !slices.Equal(order, want) {
			t.Fatalf("pages newest first = %v, want %v", order, want)
		}

		// Back to newer entries from the last page: FromSeq in log order,
		// then reversed, as a "previous page" link does.
		back := auditEntries(t, s, storage.AuditFilter{AgencyID: "agency-1", FromSeq: 3, Limit: 2})
		if got := numbers(back); !slices.Equal(got, []int{3, 5}) {
			t.Fatalf("previous page = %v, want [3 5]", got)
		}
	})
}
