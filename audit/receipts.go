package audit

import (
	"context"
	"fmt"

	"github.com/dopaid/dopaid/storage"
)

// ReceiptAt returns the receipt of an integrated entry against a head the
// caller read once for many entries (a download or an export), so that
// each receipt costs one read of O(log n) nodes. It returns
// ErrNotIntegrated for an entry that has no place yet, or whose place is
// beyond the head (integrated after the head was read).
func ReceiptAt(ctx context.Context, r NodeReader, head storage.LogHead, e storage.LogEntry) (Receipt, error) {
	if e.Index == storage.NotIntegrated || e.Index >= head.Size {
		return Receipt{}, fmt.Errorf("audit: receipt of %q: %w", e.ID, ErrNotIntegrated)
	}
	p, err := InclusionProof(ctx, r, e.Index, head.Size)
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{Entry: e, Index: e.Index, Proof: p, Checkpoint: head.Checkpoint}, nil
}

// ReceiptOf is ReceiptAt for an entry as the audit trail's readers see it
// (Seq is the leaf index plus one; 0 while not integrated).
func ReceiptOf(ctx context.Context, r NodeReader, head storage.LogHead, e storage.AuditEntry) (Receipt, error) {
	le := e.LogEntry()
	if e.Seq > 0 {
		le.Index = e.Seq - 1
	}
	return ReceiptAt(ctx, r, head, le)
}
