package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// LogStore is what the verifiable audit log (package audit, which owns the
// interface as audit.Store) needs from a backend. Every backend must
// implement it: the suite fails a store that does not.
//
// The suite pins down:
//   - AppendLogEntries stores all entries or none (ErrAlreadyExists for a
//     taken ID), ignores Index, and keeps At to the millisecond in UTC.
//     LogEntry returns an entry with Index NotIntegrated until it is
//     integrated; LogEntries lists integrated entries only.
//   - IntegrateLog takes pending entries in the order they were written
//     (the order of AppendLogEntries calls that returned one after the
//     other, and within a call the slice's order), at most max, and gives
//     fn them with Index set to the newest head's Size plus their position.
//     fn is not called when none wait. fn's error is returned as is and
//     nothing changes; so does a head whose Size is not the old one plus the
//     number of entries (an error). Nodes, heads and indices are written
//     together or not at all.
//   - Rounds interleaved with writes give each entry one Index, in writing
//     order, without gaps; AuditEntries lists the entries not yet
//     integrated after the integrated ones (before them newest first).
//   - Concurrent integrators (goroutines, pools, processes) integrate every
//     entry exactly once: either a round succeeds, or it returns ErrConflict
//     and changes nothing. Each new head extends the newest: the heads form
//     one chain.
//   - LogNodes returns hashes in the order asked; ErrNotFound if any is
//     missing. LogHeads lists by Size from the given Size up.
//   - CreateLogKey of a taken origin gives ErrAlreadyExists; LogKey of an
//     unknown one ErrNotFound.
type LogStore = storage.LogStore

func (su suite) logStore(t *testing.T) LogStore {
	t.Helper()
	s := su.store(t)
	ls, ok := s.(LogStore)
	if !ok {
		t.Fatalf("%T does not implement the audit log's storage (storagetest.LogStore)", s)
	}
	return ls
}

// newLogEntry returns the n-th entry of a test: different in every field.
func newLogEntry(tag string, n int) storage.LogEntry {
	return storage.LogEntry{
		ID:        fmt.Sprintf("%s-%d", tag, n),
		At:        at(time.Duration(n)*time.Second + 123456*time.Nanosecond).In(time.FixedZone("ICT", 7*3600)),
		Type:      storage.AuditTokenIssued,
		Actor:     "client:c-" + tag,
		CitizenID: fmt.Sprintf("citizen-%d", n%3),
		AgencyID:  "agency-1",
		PermitID:  "permit-1",
		ClientID:  "c-1",
		Purpose:   "loan",
		Claims:    []string{"birthdate", "family_name", fmt.Sprintf("claim_%d", n)},
		IAL:       "2.3",
		Outcome:   "success",
		Detail:    fmt.Sprintf("%s entry %d", tag, n),
		Index:     42, // ignored by AppendLogEntries
	}
}

func normLogEntry(e storage.LogEntry) storage.LogEntry {
	e.At = normTime(e.At)
	e.Claims = normStrings(e.Claims)
	return e
}

// chainIntegration is a stand-in for package audit's Merkle tree that lets
// the suite check order and completeness: the head's root is SHA-256 over
// the previous root and the new entries' IDs and indices, its Range the
// root alone, and every entry gets a level-0 node, the SHA-256 of its ID.
func chainIntegration(head storage.LogHead, es []storage.LogEntry) (storage.LogIntegration, error) {
	h := sha256.New()
	h.Write(head.Root)
	var nodes []storage.LogNode
	for _, e := range es {
		fmt.Fprintf(h, "%d %s\n", e.Index, e.ID)
		sum := sha256.Sum256([]byte(e.ID))
		nodes = append(nodes, storage.LogNode{LogNodeID: storage.LogNodeID{Level: 0, Index: e.Index}, Hash: sum[:]})
	}
	root := h.Sum(nil)
	size := head.Size + int64(len(es))
	return storage.LogIntegration{
		Nodes: nodes,
		Head: storage.LogHead{
			Size:       size,
			Root:       root,
			Range:      [][]byte{root},
			At:         base,
			Checkpoint: fmt.Appendf(nil, "checkpoint %d %x\n", size, root),
		},
	}, nil
}

// replayChain recomputes the roots chainIntegration made for heads from
// the integrated entries and fails t unless every head matches.
func replayChain(t *testing.T, s LogStore, wantSize int64) {
	t.Helper()
	ctx := context.Background()
	es, err := s.LogEntries(ctx, 0, wantSize+1000)
	wantErr(t, "LogEntries", err, nil)
	if int64(len(es)) != wantSize {
		t.Fatalf("LogEntries = %d entries, want %d", len(es), wantSize)
	}
	seen := map[string]bool{}
	for i, e := range es {
		if e.Index != int64(i) {
			t.Fatalf("entry #%d has Index %d", i, e.Index)
		}
		if seen[e.ID] {
			t.Fatalf("entry %q integrated twice", e.ID)
		}
		seen[e.ID] = true
	}
	heads, err := s.LogHeads(ctx, 0, 100000)
	wantErr(t, "LogHeads", err, nil)
	var prev storage.LogHead
	for _, h := range heads {
		want, _ := chainIntegration(prev, es[prev.Size:h.Size])
		if !bytes.Equal(h.Root, want.Head.Root) {
			t.Fatalf("head %d does not extend head %d with entries %d to %d", h.Size, prev.Size, prev.Size, h.Size-1)
		}
		prev = h
	}
	if prev.Size != wantSize {
		t.Fatalf("newest head has size %d, want %d", prev.Size, wantSize)
	}
}

func testLogEntries(t *testing.T, su suite) {
	ctx := context.Background()
	s := su.logStore(t)

	_, err := s.LogHead(ctx)
	wantErr(t, "LogHead of an empty log", err, storage.ErrNotFound)
	_, err = s.LogEntry(ctx, "nope")
	wantErr(t, "LogEntry(nope)", err, storage.ErrNotFound)
	wantErr(t, "AppendLogEntries(nil)", s.AppendLogEntries(ctx, nil), nil)

	a := []storage.LogEntry{newLogEntry("a", 1), newLogEntry("a", 2), newLogEntry("a", 3)}
	a[2].Claims = nil
	wantErr(t, "AppendLogEntries", s.AppendLogEntries(ctx, a), nil)
	for _, e := range a {
		got, err := s.LogEntry(ctx, e.ID)
		wantErr(t, "LogEntry", err, nil)
		want := e
		want.Index = storage.NotIntegrated
		check(t, "LogEntry("+e.ID+")", got, want, normLogEntry)
		if got.At.Location() != time.UTC {
			t.Errorf("LogEntry(%s).At in %v, want UTC", e.ID, got.At.Location())
		}
	}
	if es, err := s.LogEntries(ctx, 0, 100); err != nil || len(es) != 0 {
		t.Errorf("LogEntries before integration = %d entries, %v; want none", len(es), err)
	}

	// A taken ID anywhere in a batch stores none of it.
	b := []storage.LogEntry{newLogEntry("b", 1), newLogEntry("a", 2)}
	wantErr(t, "AppendLogEntries with a taken ID", s.AppendLogEntries(ctx, b), storage.ErrAlreadyExists)
	_, err = s.LogEntry(ctx, "b-1")
	wantErr(t, "LogEntry(b-1) after the failed batch", err, storage.ErrNotFound)
	dup := []storage.LogEntry{newLogEntry("c", 1), newLogEntry("c", 1)}
	wantErr(t, "AppendLogEntries with an ID twice", s.AppendLogEntries(ctx, dup), storage.ErrAlreadyExists)
}

func testIntegrateLog(t *testing.T, su suite) {
	ctx := context.Background()
	s := su.logStore(t)

	n, err := s.IntegrateLog(ctx, 10, func(storage.LogHead, []storage.LogEntry) (storage.LogIntegration, error) {
		t.Error("IntegrateLog called fn with no entry pending")
		return storage.LogIntegration{}, nil
	})
	if n != 0 || err != nil {
		t.Errorf("IntegrateLog of nothing = %d, %v; want 0, nil", n, err)
	}
	_, err = s.IntegrateLog(ctx, 0, chainIntegration)
	if err == nil {
		t.Error("IntegrateLog with max 0: no error")
	}

	var written []storage.LogEntry
	for i := range 7 {
		e := newLogEntry("w", i)
		written = append(written, e)
		wantErr(t, "AppendLogEntries", s.AppendLogEntries(ctx, []storage.LogEntry{e}), nil)
	}

	// fn's error and a head of the wrong size change nothing.
	_, err = s.IntegrateLog(ctx, 5, func(storage.LogHead, []storage.LogEntry) (storage.LogIntegration, error) {
		return storage.LogIntegration{}, errTest
	})
	if !errors.Is(err, errTest) {
		t.Fatalf("IntegrateLog with failing fn: %v, want %v", err, errTest)
	}
	_, err = s.IntegrateLog(ctx, 5, func(h storage.LogHead, es []storage.LogEntry) (storage.LogIntegration, error) {
		out, _ := chainIntegration(h, es)
		out.Head.Size++
		return out, nil
	})
	if err == nil {
		t.Fatal("IntegrateLog with a head of the wrong size: no error")
	}
	_, err = s.LogHead(ctx)
	wantErr(t, "LogHead after failed rounds", err, storage.ErrNotFound)
	if e, _ := s.LogEntry(ctx, "w-0"); e.Index != storage.NotIntegrated {
		t.Fatalf("entry w-0 has Index %d after failed rounds", e.Index)
	}

	var gotHead storage.LogHead
	var gotEntries []storage.LogEntry
	n, err = s.IntegrateLog(ctx, 5, func(h storage.LogHead, es []storage.LogEntry) (storage.LogIntegration, error) {
		gotHead, gotEntries = h, es
		return chainIntegration(h, es)
	})
	if n != 5 || err != nil {
		t.Fatalf("IntegrateLog(5) = %d, %v; want 5, nil", n, err)
	}
	check(t, "head given to the first round", gotHead, storage.LogHead{}, identity)
	for i, e := range gotEntries {
		want := written[i]
		want.Index = int64(i)
		check(t, fmt.Sprintf("entry #%d given to fn", i), e, want, normLogEntry)
	}
	head, err := s.LogHead(ctx)
	wantErr(t, "LogHead", err, nil)
	want, _ := chainIntegration(storage.LogHead{}, gotEntries)
	check(t, "LogHead", head, want.Head, func(h storage.LogHead) storage.LogHead { h.At = normTime(h.At); return h })

	n, err = s.IntegrateLog(ctx, 5, func(h storage.LogHead, es []storage.LogEntry) (storage.LogIntegration, error) {
		if h.Size != 5 || !bytes.Equal(h.Root, head.Root) {
			t.Errorf("second round got head %d, want the first round's", h.Size)
		}
		if len(es) != 2 || es[0].Index != 5 || es[0].ID != "w-5" {
			t.Errorf("second round got %d entries from %+v", len(es), es)
		}
		return chainIntegration(h, es)
	})
	if n != 2 || err != nil {
		t.Fatalf("second IntegrateLog = %d, %v; want 2, nil", n, err)
	}
	replayChain(t, s, 7)
	if e, _ := s.LogEntry(ctx, "w-6"); e.Index != 6 {
		t.Errorf("LogEntry(w-6).Index = %d, want 6", e.Index)
	}
	if es, _ := s.LogEntries(ctx, 2, 4); len(es) != 2 || es[0].Index != 2 || es[1].Index != 3 {
		t.Errorf("LogEntries(2, 4) = %+v, want entries 2 and 3", es)
	}

	heads, err := s.LogHeads(ctx, 6, 10)
	wantErr(t, "LogHeads(6)", err, nil)
	if len(heads) != 1 || heads[0].Size != 7 {
		t.Errorf("LogHeads(6) = %d heads, want the one of size 7", len(heads))
	}

	ids := []storage.LogNodeID{{Level: 0, Index: 6}, {Level: 0, Index: 0}, {Level: 0, Index: 3}}
	hs, err := s.LogNodes(ctx, ids)
	wantErr(t, "LogNodes", err, nil)
	for i, id := range ids {
		sum := sha256.Sum256([]byte(written[id.Index].ID))
		if !bytes.Equal(hs[i], sum[:]) {
			t.Errorf("LogNodes #%d (%v) = %x, want %x", i, id, hs[i], sum)
		}
	}
	_, err = s.LogNodes(ctx, []storage.LogNodeID{{Level: 0, Index: 1}, {Level: 1, Index: 0}})
	wantErr(t, "LogNodes with a missing node", err, storage.ErrNotFound)
}

func testIntegrateLogConcurrent(t *testing.T, su suite) {
	ctx := context.Background()
	s := su.logStore(t)
	const writers, perWriter, integrators = 4, 40, 3
	var wg sync.WaitGroup
	errc := make(chan error, writers+integrators)
	writing := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				if err := s.AppendLogEntries(ctx, []storage.LogEntry{newLogEntry(fmt.Sprint("w", w), i)}); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	go func() { wg.Wait(); close(writing) }()
	var iwg sync.WaitGroup
	var mu sync.Mutex
	integrated, rounds, conflicts := 0, 0, 0
	for range integrators {
		iwg.Go(func() {
			done := false
			for {
				n, err := s.IntegrateLog(ctx, 7, chainIntegration)
				mu.Lock()
				switch {
				case errors.Is(err, storage.ErrConflict):
					conflicts++
				case err != nil:
					mu.Unlock()
					errc <- err
					return
				default:
					integrated += n
					rounds++
				}
				mu.Unlock()
				if done && n == 0 && err == nil {
					return
				}
				select {
				case <-writing:
					done = true
				default:
				}
			}
		})
	}
	iwg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if integrated != writers*perWriter {
		t.Fatalf("rounds integrated %d entries in all, want %d", integrated, writers*perWriter)
	}
	replayChain(t, s, writers*perWriter)
	// Each writer's entries keep the order it wrote them in.
	es, _ := s.LogEntries(ctx, 0, writers*perWriter)
	last := map[string]int{}
	for _, e := range es {
		var tag string
		var i int
		fmt.Sscanf(e.Detail, "%s entry %d", &tag, &i)
		if p, ok := last[tag]; ok && i != p+1 {
			t.Errorf("%s entry %d integrated after its entry %d", tag, i, p)
		}
		last[tag] = i
	}
	t.Logf("%d rounds, %d conflicts", rounds, conflicts)
}

func testLogKeys(t *testing.T, su suite) {
	ctx := context.Background()
	s := su.logStore(t)
	_, err := s.LogKey(ctx, "example.org/audit")
	wantErr(t, "LogKey of a new origin", err, storage.ErrNotFound)
	k := storage.LogKey{Origin: "example.org/audit", PublicKey: "example.org/audit+01234567+AAAA", PrivateKey: []byte{1, 2, 3}, CreatedAt: base}
	wantErr(t, "CreateLogKey", s.CreateLogKey(ctx, k), nil)
	got, err := s.LogKey(ctx, k.Origin)
	wantErr(t, "LogKey", err, nil)
	check(t, "LogKey", got, k, func(k storage.LogKey) storage.LogKey { k.CreatedAt = normTime(k.CreatedAt); return k })
	k2 := k
	k2.PrivateKey = []byte{9}
	wantErr(t, "CreateLogKey of a taken origin", s.CreateLogKey(ctx, k2), storage.ErrAlreadyExists)
	if got, _ := s.LogKey(ctx, k.Origin); !slices.Equal(got.PrivateKey, k.PrivateKey) {
		t.Errorf("the second CreateLogKey replaced the key")
	}
}

// testRedactLogEntries: retention drops the contents of integrated entries
// older than its cut-off, oldest first, at most max at a time, and keeps
// each one's ID, time, type and place, with its leaf hash (its level-0
// node) as the redaction marker; the tree (nodes, heads) is untouched, and
// entries not yet integrated wait for their leaf hash.
func testRedactLogEntries(t *testing.T, su suite) {
	ctx := context.Background()
	s := su.logStore(t)
	var es []storage.LogEntry
	for i := range 6 {
		es = append(es, newLogEntry("r", i))
	}
	wantErr(t, "AppendLogEntries", s.AppendLogEntries(ctx, es), nil)
	n, err := s.IntegrateLog(ctx, 4, chainIntegration)
	wantErr(t, "IntegrateLog", err, nil)
	if n != 4 {
		t.Fatalf("IntegrateLog = %d, want 4", n)
	}
	headBefore, err := s.LogHead(ctx)
	wantErr(t, "LogHead", err, nil)
	ids := []storage.LogNodeID{{Level: 0, Index: 0}, {Level: 0, Index: 1}, {Level: 0, Index: 2}, {Level: 0, Index: 3}}
	leaves, err := s.LogNodes(ctx, ids)
	wantErr(t, "LogNodes", err, nil)

	_, err = s.RedactLogEntries(ctx, at(time.Hour), 0)
	if err == nil {
		t.Errorf("RedactLogEntries with max 0: no error")
	}
	// Entries 0, 1 and 2 were written before the cut-off, 3 at it.
	cut := normTime(es[3].At)
	for _, step := range []struct{ max, want int }{{2, 2}, {100, 1}, {100, 0}} {
		n, err := s.RedactLogEntries(ctx, cut, step.max)
		wantErr(t, "RedactLogEntries", err, nil)
		if n != step.want {
			t.Fatalf("RedactLogEntries(max %d) = %d, want %d", step.max, n, step.want)
		}
	}
	got, err := s.LogEntries(ctx, 0, 10)
	wantErr(t, "LogEntries", err, nil)
	if len(got) != 4 {
		t.Fatalf("LogEntries = %d entries, want 4", len(got))
	}
	for i, e := range got {
		want := es[i]
		want.Index = int64(i)
		if i < 3 {
			want = storage.LogEntry{ID: want.ID, At: want.At, Type: want.Type, Index: want.Index, Redacted: leaves[i]}
		}
		check(t, fmt.Sprintf("LogEntries[%d]", i), e, want, normLogEntry)
		one, err := s.LogEntry(ctx, e.ID)
		wantErr(t, "LogEntry", err, nil)
		check(t, "LogEntry("+e.ID+")", one, want, normLogEntry)
	}

	// Entries not yet integrated have no leaf hash yet: they wait, and are
	// redacted once integrated.
	n, err = s.RedactLogEntries(ctx, at(time.Hour), 100)
	wantErr(t, "RedactLogEntries", err, nil)
	if n != 1 {
		t.Fatalf("RedactLogEntries of everything = %d, want 1 (entry 3; 4 and 5 are not integrated)", n)
	}
	if e, err := s.LogEntry(ctx, "r-4"); err != nil || e.Redacted != nil || e.Detail == "" {
		t.Errorf("LogEntry(r-4), not integrated = %+v, %v; want it whole", e, err)
	}
	audits, err := s.(storage.Store).AuditEntries(ctx, storage.AuditFilter{})
	wantErr(t, "AuditEntries", err, nil)
	var redacted []bool
	for _, e := range audits {
		redacted = append(redacted, e.Redacted)
	}
	if want := []bool{true, true, true, true, false, false}; !slices.Equal(redacted, want) {
		t.Errorf("AuditEntries' Redacted = %v, want %v", redacted, want)
	}
	// The readers' filters forget what the redacted entries lost (their
	// citizen, agency, permit and client) and keep what they kept (type
	// and time).
	for _, tt := range []struct {
		name string
		f    storage.AuditFilter
		want []string
	}{
		{"citizen", storage.AuditFilter{CitizenID: "citizen-1"}, []string{"r-4"}},
		{"agency", storage.AuditFilter{AgencyID: "agency-1"}, []string{"r-4", "r-5"}},
		{"permit", storage.AuditFilter{PermitID: "permit-1", Newest: true}, []string{"r-5", "r-4"}},
		{"client", storage.AuditFilter{ClientID: "c-1"}, []string{"r-4", "r-5"}},
		{"type", storage.AuditFilter{Types: []string{storage.AuditTokenIssued}}, []string{"r-0", "r-1", "r-2", "r-3", "r-4", "r-5"}},
		{"time", storage.AuditFilter{Since: at(3 * time.Second), Until: at(5 * time.Second)}, []string{"r-3", "r-4"}},
	} {
		es, err := s.(storage.Store).AuditEntries(ctx, tt.f)
		wantErr(t, "AuditEntries", err, nil)
		var got []string
		for _, e := range es {
			got = append(got, e.ID)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("after redaction, AuditEntries by %s = %v, want %v", tt.name, got, tt.want)
		}
	}

	headAfter, err := s.LogHead(ctx)
	wantErr(t, "LogHead", err, nil)
	check(t, "LogHead after redaction", headAfter, headBefore, func(h storage.LogHead) storage.LogHead { h.At = normTime(h.At); return h })
	leavesAfter, err := s.LogNodes(ctx, ids)
	wantErr(t, "LogNodes", err, nil)
	check(t, "leaves after redaction", leavesAfter, leaves, func(b [][]byte) [][]byte { return b })
}

// testLogLeaves: rounds of integration interleaved with writes give every
// entry exactly one leaf, in writing order, with no gap and none twice; a
// round with nothing pending calls no fn; readers list the pending entries
// (no leaf yet) after the integrated ones, and newest first before them.
func testLogLeaves(t *testing.T, su suite) {
	ctx := context.Background()
	s := su.store(t)
	ls, ok := s.(LogStore)
	if !ok {
		t.Fatalf("%T does not implement the audit log's storage (storagetest.LogStore)", s)
	}
	var ids []string
	write := func(n int) {
		t.Helper()
		for range n {
			e, err := s.AppendAudit(ctx, newAuditEntry(len(ids)+1))
			wantErr(t, "AppendAudit", err, nil)
			ids = append(ids, e.ID)
		}
	}
	write(3)
	if n := integrate(t, s, 2); n != 2 {
		t.Fatalf("first round integrated %d, want 2", n)
	}
	write(3)
	if n := integrate(t, s, 10); n != 4 {
		t.Fatalf("second round integrated %d, want 4", n)
	}
	n, err := ls.IntegrateLog(ctx, 10, func(storage.LogHead, []storage.LogEntry) (storage.LogIntegration, error) {
		t.Error("IntegrateLog called fn with every entry integrated")
		return storage.LogIntegration{}, nil
	})
	if n != 0 || err != nil {
		t.Errorf("third round = %d, %v; want 0, nil", n, err)
	}
	write(2)

	es, err := ls.LogEntries(ctx, 0, 100)
	wantErr(t, "LogEntries", err, nil)
	var got []string
	for i, e := range es {
		if e.Index != int64(i) {
			t.Errorf("LogEntries #%d has Index %d", i, e.Index)
		}
		got = append(got, e.ID)
	}
	if !slices.Equal(got, ids[:6]) {
		t.Errorf("integrated entries = %v, want %v, each once, in writing order", got, ids[:6])
	}
	for i, id := range ids {
		want := int64(i)
		if i >= 6 {
			want = storage.NotIntegrated
		}
		if e, err := ls.LogEntry(ctx, id); err != nil || e.Index != want {
			t.Errorf("LogEntry(%s) = Index %d, %v; want %d", id, e.Index, err, want)
		}
	}
	if got := seqs(auditEntries(t, s, storage.AuditFilter{})); !slices.Equal(got, []int64{1, 2, 3, 4, 5, 6, 0, 0}) {
		t.Errorf("AuditEntries seqs = %v, want the integrated by leaf, then the pending", got)
	}
	if got := numbers(auditEntries(t, s, storage.AuditFilter{Newest: true, Limit: 4})); !slices.Equal(got, []int{8, 7, 6, 5}) {
		t.Errorf("AuditEntries newest four = %v, want [8 7 6 5]", got)
	}
	if n := integrate(t, s, 10); n != 2 {
		t.Errorf("last round integrated %d, want 2", n)
	}
	if got := seqs(auditEntries(t, s, storage.AuditFilter{})); !slices.Equal(got, []int64{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Errorf("AuditEntries seqs after the last round = %v", got)
	}
}
