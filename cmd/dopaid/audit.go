package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
)

// Audit checkpoints.
//
// Every --audit-checkpoint-interval, and when the server shuts down, the
// head of the audit trail is signed: a compact JWS (ES256, kid, typ
// dopaid-audit-checkpoint+jwt) over {"seq":N,"hash":"…","at":"RFC3339"}.
// Before signing, the entries since the previous checkpoint are checked
// to link to it, so that a checkpoint never vouches for a broken chain.
// Replicas race harmlessly: the store keeps one checkpoint per Seq.
//
// Signing keys rotate and a retired key leaves the JWKS a day later, but
// checkpoints must verify for as long as the trail is kept. So each
// checkpoint also endorses, in its protected header ("endorse", a list of
// public JWKs), the other ES256 keys published when it was signed. A
// verifier trusts the provider's current keys, walks the checkpoints from
// the newest down, and trusts a key a verified checkpoint endorses: the
// trust in the current key carries back to every key that signed a
// checkpoint. To keep that walk unbroken, a checkpoint signed by a key
// other than the current one is followed by one signed with the current
// key even when the trail is idle (a "checkpoint key changed" entry is
// appended to have something new to sign).
const (
	checkpointType = "dopaid-audit-checkpoint+jwt"
	endorseHeader  = "endorse"
	segmentFormat  = "dopaid-audit-segment/1"

	// auditPageSize bounds how many entries verification holds at once.
	auditPageSize = 10_000

	defaultAuditCheckpointInterval = 5 * time.Minute
)

// errAuditBroken reports that verification failed; the break itself has
// been printed.
var errAuditBroken = errors.New("the audit trail does not verify")

// checkpointStatement is the signed payload of a checkpoint.
type checkpointStatement struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
	At   string `json:"at"` // RFC 3339, whole seconds, UTC
}

// checkpointBreak is a checkpoint that does not verify.
type checkpointBreak struct {
	Seq    int64
	Reason string
}

func (b *checkpointBreak) Error() string { return fmt.Sprintf("checkpoint %d: %s", b.Seq, b.Reason) }

func (m *Main) auditNow() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// auditStore returns the store's audit trail, once the store is open.
// Every store has one: storage.Store embeds storage.AuditStore.
func (m *Main) auditStore() (storage.AuditStore, error) {
	if m.Store == nil {
		return nil, errors.New("the store is not open")
	}
	return m.Store, nil
}

// auditLoop checkpoints the trail and applies retention every
// --audit-checkpoint-interval until ctx is done. Close checkpoints once
// more after the server has stopped.
func (m *Main) auditLoop(ctx context.Context) {
	iv := m.Config.AuditCheckpointInterval
	if iv <= 0 {
		iv = defaultAuditCheckpointInterval
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := m.checkpointAudit(ctx); err != nil && ctx.Err() == nil {
			m.Logger.ErrorContext(ctx, "audit checkpoint", "err", err)
		}
		if _, err := m.pruneAudit(ctx); err != nil && ctx.Err() == nil {
			m.Logger.ErrorContext(ctx, "audit retention", "err", err)
		}
	}
}

// finalCheckpoint signs the head once the server no longer appends.
func (m *Main) finalCheckpoint() {
	if m.Keys == nil {
		return
	}
	if _, err := m.auditStore(); err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
	defer cancel()
	if err := m.checkpointAudit(ctx); err != nil {
		m.Logger.ErrorContext(ctx, "audit checkpoint at shutdown", "err", err)
	}
}

// checkpointAudit signs the head of the trail if it is beyond the last
// checkpoint, after checking that the entries since that checkpoint link
// to it. A checkpoint another replica stored first is fine.
func (m *Main) checkpointAudit(ctx context.Context) error {
	as, err := m.auditStore()
	if err != nil {
		return err
	}
	head, err := as.AuditHead(ctx)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	last, found, err := lastCheckpoint(ctx, as, head.Seq)
	if err != nil {
		return err
	}
	key, err := m.Keys.Signer(ctx, "ES256")
	if err != nil {
		return fmt.Errorf("audit checkpoint key: %w", err)
	}
	if found && last.Seq >= head.Seq {
		if checkpointKeyID(last.JWS) == key.ID() {
			return nil
		}
		// Idle since the key changed: have the current key vouch for the
		// old one while the old one is still published.
		if _, err := as.AppendAudit(ctx, storage.AuditEntry{
			At: m.auditNow(), Type: storage.AuditAdmin, Actor: "system",
			Detail: "audit checkpoint key changed",
		}); err != nil {
			return fmt.Errorf("append audit entry: %w", err)
		}
		if head, err = as.AuditHead(ctx); err != nil {
			return err
		}
	}

	// Check what is about to be vouched for.
	v := &auditVerifier{anchors: map[int64]string{}}
	from := int64(0)
	if found {
		pub, err := m.Keys.PublicKeys(ctx)
		if err != nil {
			return err
		}
		ring := newKeyRing(pub)
		if _, known := ring[checkpointKeyID(last.JWS)]; known {
			if err := ring.check(last); err != nil {
				return fmt.Errorf("not extending the audit chain: %w", err)
			}
		} else {
			m.Logger.WarnContext(ctx, "audit checkpoint signed by a key no longer published: extending the chain from it unchecked", "seq", last.Seq)
		}
		v.prevHash, v.next = last.Hash, last.Seq+1
		from = last.Seq + 1
	} else {
		first, err := as.AuditEntries(ctx, storage.AuditFilter{Limit: 1})
		if err != nil {
			return err
		}
		if len(first) == 0 {
			return nil
		}
		v.prevHash, v.next = first[0].PrevHash, first[0].Seq
		if first[0].Seq > 1 {
			// Pruned entries need a checkpoint where the trail now starts.
			v.requireAnchor = true
		}
		from = first[0].Seq
	}
	if err := readAudit(ctx, as, from, head.Seq, auditPageSize, v.add); err != nil {
		return fmt.Errorf("not checkpointing the audit trail: %w", err)
	}
	if v.count == 0 {
		return nil
	}
	c, err := m.signCheckpoint(ctx, key, v.lastEntry)
	if err != nil {
		return err
	}
	if err := as.CreateAuditCheckpoint(ctx, c); err != nil && !errors.Is(err, storage.ErrAlreadyExists) {
		return fmt.Errorf("store audit checkpoint: %w", err)
	}
	return nil
}

// signCheckpoint signs a statement of e's Seq and Hash with key.
func (m *Main) signCheckpoint(ctx context.Context, key keys.SigningKey, e storage.AuditEntry) (storage.AuditCheckpoint, error) {
	pub, err := m.Keys.PublicKeys(ctx)
	if err != nil {
		return storage.AuditCheckpoint{}, err
	}
	var endorse []jose.JSONWebKey
	for _, k := range pub {
		if k.KeyID != key.ID() && k.Algorithm == string(jose.ES256) && k.IsPublic() {
			endorse = append(endorse, k)
		}
	}
	opts := (&jose.SignerOptions{}).WithType(checkpointType)
	if len(endorse) > 0 {
		opts.WithHeader(endorseHeader, endorse)
	}
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: key.SignatureAlgorithm(),
		Key:       jose.JSONWebKey{Key: key.Key(), KeyID: key.ID()},
	}, opts)
	if err != nil {
		return storage.AuditCheckpoint{}, err
	}
	at := m.auditNow().UTC().Truncate(time.Second)
	payload, err := json.Marshal(checkpointStatement{Seq: e.Seq, Hash: e.Hash, At: at.Format(time.RFC3339)})
	if err != nil {
		return storage.AuditCheckpoint{}, err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return storage.AuditCheckpoint{}, fmt.Errorf("sign audit checkpoint: %w", err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		return storage.AuditCheckpoint{}, err
	}
	return storage.AuditCheckpoint{Seq: e.Seq, Hash: e.Hash, At: at, JWS: s}, nil
}

// pruneAudit applies --audit-retention: it deletes the entries before the
// newest checkpoint older than the retention period, so that what remains
// verifies from that checkpoint. It returns how many entries went.
func (m *Main) pruneAudit(ctx context.Context) (int64, error) {
	if m.Config.AuditRetention <= 0 {
		return 0, nil
	}
	as, err := m.auditStore()
	if err != nil {
		return 0, err
	}
	cutoff := m.auditNow().Add(-m.Config.AuditRetention)
	first, err := as.AuditEntries(ctx, storage.AuditFilter{Limit: 1})
	if err != nil || len(first) == 0 {
		return 0, err
	}
	head, err := as.AuditHead(ctx)
	if err != nil {
		return 0, err
	}
	var anchor *storage.AuditCheckpoint
scan:
	for lo := first[0].Seq; lo <= head.Seq; lo += auditPageSize {
		cs, err := as.AuditCheckpoints(ctx, lo, lo+auditPageSize-1)
		if err != nil {
			return 0, err
		}
		for _, c := range cs {
			if !c.At.Before(cutoff) {
				break scan
			}
			anchor = &c
		}
	}
	if anchor == nil || anchor.Seq <= first[0].Seq {
		return 0, nil
	}
	// Pruning at a checkpoint that is not the entry's would leave a trail
	// that verifies from nowhere.
	es, err := as.AuditEntries(ctx, storage.AuditFilter{FromSeq: anchor.Seq, ToSeq: anchor.Seq})
	if err != nil {
		return 0, err
	}
	if len(es) != 1 || es[0].Hash != anchor.Hash || es[0].ComputeHash() != es[0].Hash {
		return 0, fmt.Errorf("checkpoint %d does not match its entry: not pruning; run 'dopaid audit verify'", anchor.Seq)
	}
	n, err := as.PruneAudit(ctx, anchor.Seq)
	if err != nil {
		return 0, fmt.Errorf("prune audit trail at %d: %w", anchor.Seq, err)
	}
	m.Logger.InfoContext(ctx, "audit entries past retention removed", "entries", n, "kept_from_seq", anchor.Seq, "checkpoint_at", anchor.At)
	return n, nil
}

// lastCheckpoint returns the checkpoint with the highest Seq, looking
// back from head in widening windows so that a long trail is not listed
// whole.
func lastCheckpoint(ctx context.Context, as storage.AuditStore, head int64) (storage.AuditCheckpoint, bool, error) {
	for span := int64(1024); ; span *= 16 {
		from := max(head-span+1, 1)
		cs, err := as.AuditCheckpoints(ctx, from, 0)
		if err != nil {
			return storage.AuditCheckpoint{}, false, err
		}
		if len(cs) > 0 {
			return cs[len(cs)-1], true, nil
		}
		if from == 1 {
			return storage.AuditCheckpoint{}, false, nil
		}
	}
}

// readAudit hands the entries from ≤ Seq ≤ to to fn, in Seq order, page
// entries at a time.
func readAudit(ctx context.Context, as storage.AuditStore, from, to int64, page int, fn func([]storage.AuditEntry) error) error {
	for from <= to {
		es, err := as.AuditEntries(ctx, storage.AuditFilter{FromSeq: from, ToSeq: to, Limit: page})
		if err != nil {
			return err
		}
		if len(es) == 0 {
			return nil
		}
		if err := fn(es); err != nil {
			return err
		}
		if len(es) < page {
			return nil
		}
		from = es[len(es)-1].Seq + 1
	}
	return nil
}

// keyRing is the set of keys trusted to sign checkpoints, by kid.
type keyRing map[string]jose.JSONWebKey

func newKeyRing(keys []jose.JSONWebKey) keyRing {
	r := keyRing{}
	for _, k := range keys {
		if k.KeyID != "" && k.IsPublic() {
			r[k.KeyID] = k
		}
	}
	return r
}

func checkpointKeyID(compact string) string {
	jws, err := jose.ParseSigned(compact, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil || len(jws.Signatures) != 1 {
		return ""
	}
	return jws.Signatures[0].Protected.KeyID
}

// check verifies c's JWS with the trusted key its kid names and that it
// states c's Seq, Hash and At; then it trusts the keys c endorses.
func (r keyRing) check(c storage.AuditCheckpoint) error {
	bad := func(format string, a ...any) error {
		return &checkpointBreak{Seq: c.Seq, Reason: fmt.Sprintf(format, a...)}
	}
	jws, err := jose.ParseSigned(c.JWS, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil || len(jws.Signatures) != 1 {
		return bad("not a compact ES256 JWS")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != checkpointType {
		return bad("typ is %q, not %s", typ, checkpointType)
	}
	k, ok := r[h.KeyID]
	if !ok {
		return bad("signed by key %q, which neither the provider's keys nor a later checkpoint vouch for", h.KeyID)
	}
	payload, err := jws.Verify(k)
	if err != nil {
		return bad("signature does not verify")
	}
	var st checkpointStatement
	if err := json.Unmarshal(payload, &st); err != nil {
		return bad("signed statement is not JSON")
	}
	at, err := time.Parse(time.RFC3339, st.At)
	if err != nil || st.Seq != c.Seq || st.Hash != c.Hash || !at.Equal(c.At) {
		return bad("does not match its signed statement (seq %d, hash %.12s…, at %s)", st.Seq, st.Hash, st.At)
	}
	if raw, ok := h.ExtraHeaders[endorseHeader]; ok {
		b, err := json.Marshal(raw)
		if err != nil {
			return bad("endorse header: %v", err)
		}
		var keys []jose.JSONWebKey
		if err := json.Unmarshal(b, &keys); err != nil {
			return bad("endorse header is not a list of JWKs")
		}
		for _, k := range keys {
			if _, known := r[k.KeyID]; !known && k.KeyID != "" && k.IsPublic() {
				r[k.KeyID] = k
			}
		}
	}
	return nil
}

// auditVerifier checks a segment of the trail page by page: the hash
// chain (storage.VerifyAuditChain) and that every entry a verified
// checkpoint names has the hash it signed.
type auditVerifier struct {
	// anchors are the verified checkpoints: Seq → signed Hash.
	anchors map[int64]string
	// prevHash and next are what the first entry must link to and be.
	prevHash string
	next     int64
	// requireAnchor: the trail was pruned, so its first entry must be a
	// checkpoint's.
	requireAnchor bool

	prev       *storage.AuditEntry // the last entry checked
	lastEntry  storage.AuditEntry
	firstSeq   int64
	count      int64
	matched    int
	lastAnchor int64 // Seq of the last entry a checkpoint vouched for
}

func (v *auditVerifier) add(page []storage.AuditEntry) error {
	if len(page) == 0 {
		return nil
	}
	seg, prevHash, first := page, v.prevHash, v.next
	if v.prev != nil {
		// Overlap by one entry, so that a break is named the same
		// wherever pages end.
		seg = append([]storage.AuditEntry{*v.prev}, page...)
		prevHash, first = v.prev.PrevHash, v.prev.Seq
	} else {
		v.firstSeq = first
		v.lastAnchor = first - 1
		if v.requireAnchor && page[0].Seq == first {
			if _, ok := v.anchors[first]; !ok {
				return &storage.AuditBreak{Seq: first - 1, Reason: fmt.Sprintf(
					"entry %d missing (the trail starts at %d, and no checkpoint there vouches for the entries before it having been pruned)", first-1, first)}
			}
		}
	}
	if err := storage.VerifyAuditChain(seg, prevHash, first); err != nil {
		return err
	}
	for _, e := range page {
		if h, ok := v.anchors[e.Seq]; ok {
			if h != e.Hash {
				return &storage.AuditBreak{Seq: e.Seq, Reason: fmt.Sprintf(
					"entry %d changed (its hash is not the one its signed checkpoint states: an entry after %d was rewritten)", e.Seq, v.lastAnchor)}
			}
			v.matched++
			v.lastAnchor = e.Seq
		}
	}
	v.count += int64(len(page))
	v.lastEntry = page[len(page)-1]
	v.prev = &v.lastEntry
	return nil
}

// finish checks that the segment reached end and that no verified
// checkpoint up to limit (0: any) names an entry after its last.
func (v *auditVerifier) finish(end, limit int64) error {
	last := v.next - 1
	if v.count > 0 {
		last = v.lastEntry.Seq
	}
	gone := end > last
	for seq := range v.anchors {
		gone = gone || (seq > last && (limit == 0 || seq <= limit))
	}
	if gone {
		return &storage.AuditBreak{Seq: last + 1, Reason: fmt.Sprintf("entry %d missing", last+1)}
	}
	return nil
}

// auditSummary is what a successful verification found.
type auditSummary struct {
	Entries     int64
	First, Last int64
	Checkpoints int
	// Uncovered is the first entry after the last checkpoint that vouches
	// for one (0: none): a rewrite from there to the end would not show.
	Uncovered int64
}

func (v *auditVerifier) summary() auditSummary {
	s := auditSummary{Entries: v.count, Checkpoints: v.matched}
	if v.count > 0 {
		s.First, s.Last = v.firstSeq, v.lastEntry.Seq
		if v.lastAnchor < s.Last {
			s.Uncovered = v.lastAnchor + 1
		}
	}
	return s
}

func (s auditSummary) print(w io.Writer) {
	if s.Entries == 0 {
		fmt.Fprintf(w, "ok: 0 entries, %d checkpoints verified\n", s.Checkpoints)
		return
	}
	fmt.Fprintf(w, "ok: %d entries, seq %d..%d, %d checkpoints verified\n", s.Entries, s.First, s.Last, s.Checkpoints)
	if s.Uncovered > 0 {
		fmt.Fprintf(w, "note: no checkpoint verified here vouches for entries %d..%d yet\n", s.Uncovered, s.Last)
	}
}

// verifyAudit checks the stored trail from..to (0: from its first
// remaining entry, to its head): the chain, every checkpoint's signature
// against the provider's public keys (and the keys that later checkpoints
// endorse), and every checkpoint's hash against its entry. Entries are
// read page entries at a time. It returns an *storage.AuditBreak or a
// *checkpointBreak for a trail that does not verify.
func (m *Main) verifyAudit(ctx context.Context, from, to int64, page int) (auditSummary, error) {
	as, err := m.auditStore()
	if err != nil {
		return auditSummary{}, err
	}
	pub, err := m.Keys.PublicKeys(ctx)
	if err != nil {
		return auditSummary{}, err
	}
	ring := newKeyRing(pub)
	v := &auditVerifier{anchors: map[int64]string{}}

	firsts, err := as.AuditEntries(ctx, storage.AuditFilter{Limit: 1})
	if err != nil {
		return auditSummary{}, err
	}
	if len(firsts) == 0 {
		// Empty: fine, unless a checkpoint says there were entries.
		last, found, err := lastCheckpoint(ctx, as, 0)
		if err != nil || !found {
			return auditSummary{}, err
		}
		if err := ring.check(last); err != nil {
			return auditSummary{}, err
		}
		return auditSummary{}, &storage.AuditBreak{Seq: last.Seq, Reason: fmt.Sprintf("entry %d missing (the trail is empty)", last.Seq)}
	}
	first := firsts[0]
	head, err := as.AuditHead(ctx)
	if err != nil {
		return auditSummary{}, err
	}
	start, end := max(from, first.Seq), head.Seq
	if to > 0 {
		end = min(to, head.Seq)
	}
	if start > end {
		return auditSummary{}, usageError{fmt.Errorf("no entries in that range: the trail holds %d..%d", first.Seq, head.Seq)}
	}

	// Checkpoints, newest first, so that trust in the current keys
	// carries back through the keys each checkpoint endorses.
	top, found, err := lastCheckpoint(ctx, as, head.Seq)
	if err != nil {
		return auditSummary{}, err
	}
	if found {
		for hi := max(top.Seq, head.Seq); hi >= start; hi -= int64(page) {
			lo := max(hi-int64(page)+1, start)
			cs, err := as.AuditCheckpoints(ctx, lo, hi)
			if err != nil {
				return auditSummary{}, err
			}
			for _, c := range slices.Backward(cs) {
				if err := ring.check(c); err != nil {
					return auditSummary{}, err
				}
				v.anchors[c.Seq] = c.Hash
			}
		}
	}

	readFrom := start
	switch {
	case start > first.Seq:
		// Start from the entry before, so that it is checked too and the
		// first entry of the range must link to it.
		readFrom = start - 1
		v.next = readFrom
		prev, err := as.AuditEntries(ctx, storage.AuditFilter{FromSeq: readFrom, ToSeq: readFrom})
		if err != nil {
			return auditSummary{}, err
		}
		if len(prev) == 0 {
			return auditSummary{}, &storage.AuditBreak{Seq: readFrom, Reason: fmt.Sprintf("entry %d missing", readFrom)}
		}
		v.prevHash = prev[0].PrevHash
	case first.Seq > 1:
		v.next, v.prevHash, v.requireAnchor = first.Seq, first.PrevHash, true
	default:
		v.next, v.prevHash = 1, ""
	}
	if err := readAudit(ctx, as, readFrom, end, page, v.add); err != nil {
		return auditSummary{}, err
	}
	limit := int64(0)
	if to > 0 {
		limit = to
	}
	if err := v.finish(end, limit); err != nil {
		return auditSummary{}, err
	}
	s := v.summary()
	if readFrom < start {
		// The entry before the range was checked, not counted.
		s.Entries--
		s.First = start
		if v.anchors[readFrom] != "" {
			s.Checkpoints--
		}
	}
	return s, nil
}

// segmentEntry is an AuditEntry in an exported segment.
type segmentEntry struct {
	Seq       int64     `json:"seq"`
	At        time.Time `json:"at"`
	Type      string    `json:"type"`
	Actor     string    `json:"actor"`
	CitizenID string    `json:"citizen_id"`
	AgencyID  string    `json:"agency_id"`
	PermitID  string    `json:"permit_id"`
	ClientID  string    `json:"client_id"`
	Purpose   string    `json:"purpose"`
	Claims    []string  `json:"claims"`
	IAL       string    `json:"ial"`
	Outcome   string    `json:"outcome"`
	Detail    string    `json:"detail"`
	PrevHash  string    `json:"prev_hash"`
	Hash      string    `json:"hash"`
}

func toSegmentEntry(e storage.AuditEntry) segmentEntry {
	claims := e.Claims
	if claims == nil {
		claims = []string{}
	}
	return segmentEntry{e.Seq, e.At.UTC(), e.Type, e.Actor, e.CitizenID, e.AgencyID, e.PermitID, e.ClientID,
		e.Purpose, claims, e.IAL, e.Outcome, e.Detail, e.PrevHash, e.Hash}
}

func (e segmentEntry) entry() storage.AuditEntry {
	return storage.AuditEntry{Seq: e.Seq, At: e.At, Type: e.Type, Actor: e.Actor, CitizenID: e.CitizenID,
		AgencyID: e.AgencyID, PermitID: e.PermitID, ClientID: e.ClientID, Purpose: e.Purpose, Claims: e.Claims,
		IAL: e.IAL, Outcome: e.Outcome, Detail: e.Detail, PrevHash: e.PrevHash, Hash: e.Hash}
}

// segmentCheckpoint is an AuditCheckpoint in an exported segment.
type segmentCheckpoint struct {
	Seq  int64     `json:"seq"`
	Hash string    `json:"hash"`
	At   time.Time `json:"at"`
	JWS  string    `json:"jws"`
}

// segmentHeader is what an exported segment says before its entries.
type segmentHeader struct {
	Format     string             `json:"format"`
	Issuer     string             `json:"issuer"`
	ExportedAt time.Time          `json:"exported_at"`
	JWKS       jose.JSONWebKeySet `json:"jwks"`
	PrevHash   string             `json:"prev_hash"`
	FirstSeq   int64              `json:"first_seq"`
	LastSeq    int64              `json:"last_seq"`
}

func (c segmentCheckpoint) checkpoint() storage.AuditCheckpoint {
	return storage.AuditCheckpoint{Seq: c.Seq, Hash: c.Hash, At: c.At, JWS: c.JWS}
}

func toSegmentCheckpoints(cs []storage.AuditCheckpoint) []segmentCheckpoint {
	out := make([]segmentCheckpoint, len(cs))
	for i, c := range cs {
		out[i] = segmentCheckpoint{c.Seq, c.Hash, c.At.UTC(), c.JWS}
	}
	return out
}

// auditSegment is an exported segment; see auditUsage for the format.
type auditSegment struct {
	segmentHeader
	Entries      []segmentEntry      `json:"entries"`
	Checkpoints  []segmentCheckpoint `json:"checkpoints"`
	Endorsements []segmentCheckpoint `json:"endorsements"`
}

// exportAudit writes the segment from..to (0: the first remaining entry,
// the head) to w, extended to the first checkpoint at or after to so that
// the whole segment is vouched for by a signature. It checkpoints the head
// first, so that such a checkpoint exists.
func (m *Main) exportAudit(ctx context.Context, w io.Writer, from, to int64, issuer string) (auditSummary, error) {
	if err := m.checkpointAudit(ctx); err != nil {
		return auditSummary{}, err
	}
	as, err := m.auditStore()
	if err != nil {
		return auditSummary{}, err
	}
	firsts, err := as.AuditEntries(ctx, storage.AuditFilter{Limit: 1})
	if err != nil {
		return auditSummary{}, err
	}
	if len(firsts) == 0 {
		return auditSummary{}, errors.New("the audit trail is empty")
	}
	first := firsts[0]
	head, err := as.AuditHead(ctx)
	if err != nil {
		return auditSummary{}, err
	}
	if from == 0 {
		from = first.Seq
	}
	if to == 0 {
		to = head.Seq
	}
	switch {
	case from < first.Seq:
		return auditSummary{}, usageError{fmt.Errorf("--from %d: the entries before %d were pruned", from, first.Seq)}
	case to > head.Seq:
		return auditSummary{}, usageError{fmt.Errorf("--to %d: the trail ends at %d", to, head.Seq)}
	case from > to:
		return auditSummary{}, usageError{fmt.Errorf("--from %d is after --to %d", from, to)}
	}

	// End at the first checkpoint at or after to.
	last := to
	for lo := to; lo <= head.Seq; lo += auditPageSize {
		cs, err := as.AuditCheckpoints(ctx, lo, lo+auditPageSize-1)
		if err != nil {
			return auditSummary{}, err
		}
		if len(cs) > 0 {
			last = cs[0].Seq
			break
		}
	}

	prevHash := ""
	if from > first.Seq {
		es, err := as.AuditEntries(ctx, storage.AuditFilter{FromSeq: from - 1, ToSeq: from - 1})
		if err != nil {
			return auditSummary{}, err
		}
		if len(es) == 0 {
			return auditSummary{}, fmt.Errorf("entry %d is missing from the store; run 'dopaid audit verify'", from-1)
		}
		prevHash = es[0].Hash
	} else {
		prevHash = first.PrevHash
	}

	pub, err := m.Keys.PublicKeys(ctx)
	if err != nil {
		return auditSummary{}, err
	}
	seg := auditSegment{segmentHeader: segmentHeader{
		Format: segmentFormat, Issuer: issuer, ExportedAt: m.auditNow().UTC(),
		JWKS: jose.JSONWebKeySet{Keys: pub}, PrevHash: prevHash, FirstSeq: from, LastSeq: last,
	}}
	// Walk the checkpoints newest first as a verifier will, keeping those
	// after the segment that bring a key into trust.
	ring := newKeyRing(pub)
	var inRange, endorsing []storage.AuditCheckpoint
	top, found, err := lastCheckpoint(ctx, as, head.Seq)
	if err != nil {
		return auditSummary{}, err
	}
	for hi := max(top.Seq, head.Seq); found && hi >= from; hi -= auditPageSize {
		cs, err := as.AuditCheckpoints(ctx, max(hi-auditPageSize+1, from), hi)
		if err != nil {
			return auditSummary{}, err
		}
		for _, c := range slices.Backward(cs) {
			if c.Seq <= last {
				inRange = append(inRange, c)
			}
			n := len(ring)
			if ring.check(c) == nil && len(ring) > n && c.Seq > last {
				endorsing = append(endorsing, c)
			}
		}
	}
	slices.Reverse(inRange)
	slices.Reverse(endorsing)
	seg.Checkpoints = toSegmentCheckpoints(inRange)
	seg.Endorsements = toSegmentCheckpoints(endorsing)

	// Stream the entries: a segment need not fit in memory.
	bw := bufio.NewWriter(w)
	hdr, err := json.Marshal(seg.segmentHeader)
	if err != nil {
		return auditSummary{}, err
	}
	bw.Write(hdr[:len(hdr)-1]) // without the closing brace
	bw.WriteString(`,"entries":[`)
	var n int64
	err = readAudit(ctx, as, from, last, auditPageSize, func(es []storage.AuditEntry) error {
		for _, e := range es {
			b, err := json.Marshal(toSegmentEntry(e))
			if err != nil {
				return err
			}
			if n > 0 {
				bw.WriteByte(',')
			}
			bw.WriteString("\n")
			bw.Write(b)
			n++
		}
		return nil
	})
	if err != nil {
		return auditSummary{}, err
	}
	cps, err := json.Marshal(seg.Checkpoints)
	if err != nil {
		return auditSummary{}, err
	}
	ends, err := json.Marshal(seg.Endorsements)
	if err != nil {
		return auditSummary{}, err
	}
	fmt.Fprintf(bw, "\n],\n\"checkpoints\":%s,\n\"endorsements\":%s}\n", cps, ends)
	if err := bw.Flush(); err != nil {
		return auditSummary{}, err
	}
	return auditSummary{Entries: n, First: from, Last: last, Checkpoints: len(inRange)}, nil
}

// verifySegment verifies an exported segment using nothing but the
// segment: the chain from prev_hash, the checkpoints' signatures against
// its JWKS (and the keys endorsed by checkpoints that verify), and their
// hashes against its entries.
func verifySegment(r io.Reader) (auditSummary, error) {
	var seg auditSegment
	dec := json.NewDecoder(r)
	if err := dec.Decode(&seg); err != nil {
		return auditSummary{}, fmt.Errorf("read segment: %w", err)
	}
	if seg.Format != segmentFormat {
		return auditSummary{}, fmt.Errorf("not an audit segment (format %q, want %s)", seg.Format, segmentFormat)
	}
	ring := newKeyRing(seg.JWKS.Keys)
	all := make([]storage.AuditCheckpoint, 0, len(seg.Checkpoints)+len(seg.Endorsements))
	for _, c := range slices.Concat(seg.Checkpoints, seg.Endorsements) {
		all = append(all, c.checkpoint())
	}
	slices.SortStableFunc(all, func(a, b storage.AuditCheckpoint) int { return cmp.Compare(b.Seq, a.Seq) })
	v := &auditVerifier{anchors: map[int64]string{}, prevHash: seg.PrevHash, next: seg.FirstSeq}
	for i, c := range all {
		if p := all[max(i-1, 0)]; i > 0 && p.Seq == c.Seq && (p.Hash != c.Hash || p.JWS != c.JWS || !p.At.Equal(c.At)) {
			return auditSummary{}, &checkpointBreak{Seq: c.Seq, Reason: "appears twice, differently"}
		}
		if err := ring.check(c); err != nil {
			return auditSummary{}, err
		}
		if c.Seq >= seg.FirstSeq && c.Seq <= seg.LastSeq {
			v.anchors[c.Seq] = c.Hash
		}
	}
	if seg.FirstSeq < 1 || seg.LastSeq < seg.FirstSeq {
		return auditSummary{}, fmt.Errorf("segment range %d..%d is invalid", seg.FirstSeq, seg.LastSeq)
	}
	if seg.FirstSeq == 1 && seg.PrevHash != "" {
		return auditSummary{}, &storage.AuditBreak{Seq: 1, Reason: "entry 1 does not start the trail (prev_hash is not empty)"}
	}
	es := make([]storage.AuditEntry, len(seg.Entries))
	for i, e := range seg.Entries {
		es[i] = e.entry()
	}
	if err := v.add(es); err != nil {
		return auditSummary{}, err
	}
	if err := v.finish(seg.LastSeq, seg.LastSeq); err != nil {
		return auditSummary{}, err
	}
	if v.count > 0 && v.lastEntry.Seq > seg.LastSeq {
		return auditSummary{}, &storage.AuditBreak{Seq: seg.LastSeq + 1, Reason: fmt.Sprintf("entry %d inserted (the segment ends at %d)", seg.LastSeq+1, seg.LastSeq)}
	}
	return v.summary(), nil
}

// reportAudit prints a verification's outcome: the summary, or the first
// break (to stdout, as the command's result).
func reportAudit(w io.Writer, s auditSummary, err error) error {
	var eb *storage.AuditBreak
	var cb *checkpointBreak
	switch {
	case errors.As(err, &eb):
		prefix := fmt.Sprintf("entry %d ", eb.Seq)
		fmt.Fprintf(w, "entry %d: %s\n", eb.Seq, strings.TrimPrefix(eb.Reason, prefix))
		return errAuditBroken
	case errors.As(err, &cb):
		fmt.Fprintln(w, cb.Error())
		return errAuditBroken
	case err != nil:
		return err
	}
	s.print(w)
	return nil
}

const auditUsage = `Usage:
  dopaid audit verify [--from N] [--to N] [flags]
  dopaid audit verify --file SEGMENT.json
  dopaid audit export [--from N] [--to N] [--out FILE] [--issuer URL] [flags]

verify checks the stored audit trail (or the entries from..to): every
entry links to the one before it and hashes to its Hash, every checkpoint's
signature verifies against the provider's public keys, and every
checkpoint's hash is its entry's. If entries were pruned, the first
remaining entry must be a checkpoint's. It prints "ok: …" and exits 0, or
names the first entry (or checkpoint) that was changed, removed or
reordered and exits 1. With --file it verifies an exported segment using
only the file: no database, no master key.

export writes the entries from..to (default: all that remain) as JSON,
extended to the first checkpoint at or after --to so that a signature
vouches for every entry; it signs the head first if needed. The format
("dopaid-audit-segment/1"):

  {
    "format":       "dopaid-audit-segment/1",
    "issuer":       the provider's issuer URL (--issuer),
    "exported_at":  RFC 3339 time,
    "jwks":         {"keys": [...]}, the provider's public keys at export,
    "prev_hash":    Hash of entry first_seq-1 ("" when first_seq is 1),
    "first_seq":    Seq of the first entry,
    "last_seq":     Seq of the last entry (a checkpoint's, when one exists),
    "entries":      [{"seq", "at", "type", "actor", "citizen_id",
                      "agency_id", "permit_id", "client_id", "purpose",
                      "claims", "ial", "outcome", "detail", "prev_hash",
                      "hash"}, ...] in Seq order,
    "checkpoints":  [{"seq", "hash", "at", "jws"}, ...] with
                    first_seq ≤ seq ≤ last_seq,
    "endorsements": [{"seq", "hash", "at", "jws"}, ...] later checkpoints
                    whose signatures carry trust from the jwks back to
                    keys that have since been retired
  }

Each entry's hash is storage.AuditEntry.ComputeHash: SHA-256 over the
length-prefixed fields. A checkpoint's jws is a compact ES256 JWS (header
kid, typ "dopaid-audit-checkpoint+jwt", and "endorse": the other public
keys it vouches for) over {"seq": N, "hash": "…", "at": "RFC 3339"}.
Offline verification checks the chain from prev_hash, each checkpoint's
signature against the jwks (or a key a verified later checkpoint
endorses) and its hash against the entry at its seq. The jwks should be
compared with the provider's published keys.

Flags:
`

// cmdAudit runs 'dopaid audit verify' and 'dopaid audit export'; see
// auditUsage, which documents the export format.
func cmdAudit(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) == 0 {
		return usageError{errors.New("audit: want 'verify', 'export', 'witness' or 'verify-receipt'")}
	}
	sub := args[0]
	if ok, err := cmdAuditLog(ctx, sub, args[1:], os.Stdin, stdout, stderr, env); ok {
		return err
	}
	if sub != "verify" && sub != "export" {
		return usageError{fmt.Errorf("audit: unknown subcommand %q", sub)}
	}
	var (
		cfg            Config
		from, to       int64
		file, out, iss string
	)
	fs := flag.NewFlagSet("dopaid audit "+sub, flag.ContinueOnError)
	cfg.bindFlags(fs, env, false)
	fs.Int64Var(&from, "from", 0, "first entry (Seq); default the first that remains")
	fs.Int64Var(&to, "to", 0, "last entry (Seq); default the head")
	if sub == "verify" {
		fs.StringVar(&file, "file", "", "verify this exported segment instead of the store")
	} else {
		fs.StringVar(&out, "out", "", "write the segment to this file instead of stdout")
		fs.StringVar(&iss, "issuer", env("DOPAID_ISSUER"), "the provider's issuer URL, recorded in the segment (DOPAID_ISSUER)")
	}
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), auditUsage)
		fs.PrintDefaults()
	}
	if err := parse(fs, args[1:], stderr); err != nil {
		return err
	}
	if from < 0 || to < 0 || (to > 0 && from > to) {
		return usageError{errors.New("--from and --to must be sequence numbers with --from ≤ --to")}
	}

	if file != "" {
		if from != 0 || to != 0 {
			return usageError{errors.New("--from and --to do not apply to --file")}
		}
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		s, err := verifySegment(f)
		return reportAudit(stdout, s, err)
	}

	if err := cfg.Validate(false, true); err != nil {
		return usageError{fmt.Errorf("invalid configuration:\n%w", indent(err))}
	}
	m := NewMain(cfg, stdout, stderr)
	defer m.Close()
	if err := m.Open(ctx); err != nil {
		return err
	}
	if sub == "verify" {
		s, err := m.verifyAudit(ctx, from, to, auditPageSize)
		return reportAudit(stdout, s, err)
	}

	w := stdout
	var f *os.File
	if out != "" {
		var err error
		if f, err = os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	s, err := m.exportAudit(ctx, w, from, to, iss)
	if err != nil {
		if f != nil {
			f.Close()
			os.Remove(out)
		}
		return err
	}
	if f != nil {
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %d entries, seq %d..%d, %d checkpoints\n", out, s.Entries, s.First, s.Last, s.Checkpoints)
	}
	return nil
}
