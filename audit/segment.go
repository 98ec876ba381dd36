package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"

	"github.com/dopaid/dopaid/storage"
)

// SegmentFormat names the format of an exported segment of the log.
const SegmentFormat = "dopaid-audit-segment/2"

// Segment is a run of consecutive entries of the log, exported with what it
// takes to check them offline against the log's pinned public key: a signed
// checkpoint and the two compact ranges around the run (the hashes of the
// perfect subtrees left and right of it), so that the entries' leaf hashes,
// put between them, must give the checkpoint's root. The key itself is never
// in the segment.
type Segment struct {
	Format string `json:"format"`
	// Checkpoint is the signed note (C2SP tlog-checkpoint) of the tree the
	// segment is part of.
	Checkpoint string `json:"checkpoint"`
	// From is the first entry's leaf index; the entries follow without gaps.
	From int64 `json:"from"`
	// Left is the compact range [0, From), Right [From+len(Entries), size).
	Left    [][]byte       `json:"left"`
	Entries []SegmentEntry `json:"entries"`
	Right   [][]byte       `json:"right"`
}

// SegmentEntry is a LogEntry in a segment.
type SegmentEntry struct {
	Index     int64     `json:"index"`
	ID        string    `json:"id"`
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
	// RedactedLeaf is set, and every field but Index, ID, At and Type is
	// empty, when retention dropped the entry's contents: it is the entry's
	// leaf hash, which the checkpoint vouches for in their place.
	RedactedLeaf []byte `json:"redacted_leaf,omitempty"`
}

func toSegmentEntry(e storage.LogEntry) SegmentEntry {
	claims := e.Claims
	if claims == nil {
		claims = []string{}
	}
	return SegmentEntry{e.Index, e.ID, e.At.UTC(), e.Type, e.Actor, e.CitizenID, e.AgencyID, e.PermitID, e.ClientID,
		e.Purpose, claims, e.IAL, e.Outcome, e.Detail, e.Redacted}
}

// LogEntry returns the entry as the log holds it.
func (e SegmentEntry) LogEntry() storage.LogEntry {
	return storage.LogEntry{ID: e.ID, At: e.At, Type: e.Type, Actor: e.Actor, CitizenID: e.CitizenID, AgencyID: e.AgencyID,
		PermitID: e.PermitID, ClientID: e.ClientID, Purpose: e.Purpose, Claims: e.Claims, IAL: e.IAL, Outcome: e.Outcome,
		Detail: e.Detail, Index: e.Index, Redacted: e.RedactedLeaf}
}

// SegmentSummary says what a segment holds. Its String names entries by
// seq, their leaf index plus one, as the readers of the trail do.
type SegmentSummary struct {
	Entries  int64
	From, To int64 // leaf indices, To exclusive
	Size     uint64
	Origin   string
}

func (s SegmentSummary) String() string {
	if s.Entries == 0 {
		return fmt.Sprintf("no entries, in the log %s of %d entries", s.Origin, s.Size)
	}
	return fmt.Sprintf("%d entries, seq %d..%d, in the log %s of %d entries", s.Entries, s.From+1, s.To, s.Origin, s.Size)
}

// Export writes the entries with from ≤ index < to (to 0: the newest head's
// size) as a Segment against the newest head, after checking that head's
// checkpoint with v.
func Export(ctx context.Context, r Reader, v note.Verifier, w io.Writer, from, to int64) (SegmentSummary, error) {
	head, err := r.LogHead(ctx)
	if err != nil {
		return SegmentSummary{}, fmt.Errorf("audit: export: %w", err)
	}
	cp, err := ParseCheckpoint(head.Checkpoint, v)
	if err != nil {
		return SegmentSummary{}, fmt.Errorf("audit: export: newest tree head: %w", err)
	}
	if to == 0 {
		to = head.Size
	}
	if from < 0 || to > head.Size || from > to {
		return SegmentSummary{}, fmt.Errorf("audit: export: entries %d..%d: the log has entries 0..%d", from, to-1, head.Size-1)
	}
	seg := Segment{Format: SegmentFormat, Checkpoint: string(head.Checkpoint), From: from, Entries: []SegmentEntry{}}
	if seg.Left, err = rangeHashes(ctx, r, 0, from); err != nil {
		return SegmentSummary{}, err
	}
	if seg.Right, err = rangeHashes(ctx, r, to, head.Size); err != nil {
		return SegmentSummary{}, err
	}
	for next := from; next < to; {
		es, err := r.LogEntries(ctx, next, min(next+verifyPage, to))
		if err != nil {
			return SegmentSummary{}, fmt.Errorf("audit: export: %w", err)
		}
		for _, e := range es {
			if e.Index != next {
				return SegmentSummary{}, &VerifyError{next, "missing from the store: run 'dopaid audit verify'"}
			}
			seg.Entries = append(seg.Entries, toSegmentEntry(e))
			next++
		}
		if len(es) == 0 {
			return SegmentSummary{}, &VerifyError{next, "missing from the store: run 'dopaid audit verify'"}
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	if err := enc.Encode(seg); err != nil {
		return SegmentSummary{}, fmt.Errorf("audit: export: %w", err)
	}
	return SegmentSummary{Entries: to - from, From: from, To: to, Size: cp.Size, Origin: cp.Origin}, nil
}

// rangeHashes returns the hashes of the compact range [begin, end) from
// stored nodes, in one read.
func rangeHashes(ctx context.Context, r NodeReader, begin, end int64) ([][]byte, error) {
	ids := compact.RangeNodes(uint64(begin), uint64(end), nil)
	if len(ids) == 0 {
		return [][]byte{}, nil
	}
	hs, err := r.LogNodes(ctx, nodeIDs(ids))
	if err != nil {
		return nil, fmt.Errorf("audit: compact range %d..%d: %w", begin, end, err)
	}
	return hs, nil
}

// VerifySegment checks a segment read from rd against the log's public key
// v, pinned by the caller (never taken from the segment): the checkpoint
// must be signed by v, the entries' indices must run on without a gap from
// From, and their leaf hashes between the two compact ranges must give the
// checkpoint's root. It returns a *VerifyError naming the entry when one is
// missing or out of place, or the run when one was changed.
func VerifySegment(rd io.Reader, v note.Verifier) (SegmentSummary, error) {
	var seg Segment
	if err := json.NewDecoder(rd).Decode(&seg); err != nil {
		return SegmentSummary{}, fmt.Errorf("audit: segment: %w", err)
	}
	if seg.Format != SegmentFormat {
		return SegmentSummary{}, fmt.Errorf("audit: not a segment of the audit log (format %q, want %s)", seg.Format, SegmentFormat)
	}
	cp, err := ParseCheckpoint([]byte(seg.Checkpoint), v)
	if err != nil {
		return SegmentSummary{}, &VerifyError{-1, fmt.Sprintf("segment: %v", err)}
	}
	end := seg.From + int64(len(seg.Entries))
	if seg.From < 0 || uint64(end) > cp.Size {
		return SegmentSummary{}, &VerifyError{-1, fmt.Sprintf("segment: entries %d..%d are not in a log of %d entries", seg.From, end-1, cp.Size)}
	}
	for i, e := range seg.Entries {
		want := seg.From + int64(i)
		switch {
		case e.Index > want:
			return SegmentSummary{}, &VerifyError{want, fmt.Sprintf("missing: the segment goes from entry %d to entry %d", want-1, e.Index)}
		case e.Index < want:
			return SegmentSummary{}, &VerifyError{e.Index, fmt.Sprintf("out of order: found after entry %d", want-1)}
		}
	}
	rng, err := rangeFactory.NewRange(0, uint64(seg.From), seg.Left)
	if err != nil {
		return SegmentSummary{}, &VerifyError{-1, fmt.Sprintf("segment: left range: %v", err)}
	}
	for _, e := range seg.Entries {
		if err := rng.Append(leafHashOf(e.LogEntry()), nil); err != nil {
			return SegmentSummary{}, err
		}
	}
	right, err := rangeFactory.NewRange(uint64(end), cp.Size, seg.Right)
	if err != nil {
		return SegmentSummary{}, &VerifyError{-1, fmt.Sprintf("segment: right range: %v", err)}
	}
	if err := rng.AppendRange(right, nil); err != nil {
		return SegmentSummary{}, err
	}
	root, err := rng.GetRootHash(nil)
	if err != nil {
		return SegmentSummary{}, err
	}
	if !bytes.Equal(root, cp.Hash) {
		return SegmentSummary{}, &VerifyError{seg.From, fmt.Sprintf("the entries from here to entry %d do not give the signed checkpoint's root: one of them was changed, moved or replaced", end)}
	}
	return SegmentSummary{Entries: int64(len(seg.Entries)), From: seg.From, To: end, Size: cp.Size, Origin: cp.Origin}, nil
}
