package storage

import (
	"fmt"
	"slices"
)

// AuditBreak is the error VerifyAuditChain returns: where a segment of the
// audit trail stops being the chain the store wrote, and how.
type AuditBreak struct {
	// Seq is the first entry that was changed, removed, reordered or
	// inserted.
	Seq int64
	// Reason says what happened to it: "entry 7 missing", "entry 7 changed",
	// "entry 7 inserted", "entry 7 out of order", "entry 7 repeated".
	Reason string
}

func (b *AuditBreak) Error() string { return "audit chain broken: " + b.Reason }

func auditBreak(seq int64, what string) *AuditBreak {
	return &AuditBreak{Seq: seq, Reason: fmt.Sprintf("entry %d %s", seq, what)}
}

// VerifyAuditChain checks that entries are a contiguous, untouched segment
// of the audit trail: Seq runs from firstSeq without gaps, the first entry's
// PrevHash is prevHash ("" when the segment starts the trail, or the Hash of
// a checkpoint's entry), every later PrevHash is the Hash before it, and
// every Hash is the entry's ComputeHash. It returns nil or an *AuditBreak.
//
// A break is named after the entry that caused it, not the one where it
// shows: an entry rewritten together with its Hash is only noticed at its
// successor, whose PrevHash no longer matches; an entry inserted with a
// valid hash is noticed at the next one, whose PrevHash skips it.
//
// A segment rewritten from some entry to its end verifies: only a known
// later hash (a checkpoint, or an export's recorded head) catches that.
func VerifyAuditChain(entries []AuditEntry, prevHash string, firstSeq int64) error {
	// hashBefore returns the Hash that entry i-1 holds (prevHash for i = 0).
	hashBefore := func(i int) string {
		if i == 0 {
			return prevHash
		}
		return entries[i-1].Hash
	}
	for i, e := range entries {
		want := firstSeq + int64(i)
		switch {
		case e.Seq > want:
			if slices.ContainsFunc(entries[i+1:], func(l AuditEntry) bool { return l.Seq == want }) {
				return auditBreak(want, "out of order")
			}
			return auditBreak(want, "missing")
		case e.Seq < want:
			return auditBreak(e.Seq, "repeated")
		}
		intact := e.Hash == e.ComputeHash()
		if e.PrevHash != hashBefore(i) {
			renumbered := e
			renumbered.Seq--
			switch {
			case i > 0 && e.PrevHash == hashBefore(i-1) && (intact || e.Hash == renumbered.ComputeHash()):
				// e is as written, or was only moved up one place, and
				// still names the entry two back: the one between was
				// slipped in.
				return auditBreak(entries[i-1].Seq, "inserted")
			case i > 0 && intact:
				// e is as written, so its predecessor changed and had its
				// hash recomputed.
				return auditBreak(entries[i-1].Seq, "changed")
			case intact:
				return &AuditBreak{Seq: e.Seq, Reason: fmt.Sprintf("entry %d does not follow entry %d", e.Seq, e.Seq-1)}
			}
			return auditBreak(e.Seq, "changed")
		}
		if !intact {
			return auditBreak(e.Seq, "changed")
		}
	}
	return nil
}
