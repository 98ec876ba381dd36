package audit_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/dopaid/dopaid/audit"
	"github.com/dopaid/dopaid/storage"
)

// TestRedact: retention drops the contents of old entries and keeps their
// leaf hashes, so that the log still verifies against every signed and
// published checkpoint, proofs still check with the library's verifier, an
// export still verifies offline, and readers see the entries as redacted;
// a changed kept leaf hash is named.
func TestRedact(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		key := testKey(t, "id.example.go.th/audit")
		l := newTamperLog(t, b, key)

		// Entries 0 … 9 were written before the cut-off.
		n, err := audit.Redact(ctx, l.store, t0.Add(10*time.Millisecond))
		if err != nil || n != 10 {
			t.Fatalf("Redact = %d, %v; want 10", n, err)
		}
		if n, err := audit.Redact(ctx, l.store, t0.Add(10*time.Millisecond)); err != nil || n != 0 {
			t.Fatalf("Redact again = %d, %v; want 0", n, err)
		}
		res, err := l.verify(t, true)
		if err != nil {
			t.Fatalf("Verify after redaction: %v", err)
		}
		if res.Entries != 20 || res.Redacted != 10 || !res.NewestRedacted.Equal(t0.Add(9*time.Millisecond)) {
			t.Errorf("Verify checked %+v, want 20 entries, 10 redacted, the newest at %v", res, t0.Add(9*time.Millisecond))
		}

		// Readers see them as redacted, contents gone.
		e, err := l.store.LogEntry(ctx, "t-3")
		if err != nil {
			t.Fatal(err)
		}
		if e.Redacted == nil || e.CitizenID != "" || e.Purpose != "" || len(e.Claims) != 0 || e.Detail != "" || e.Index != 3 {
			t.Errorf("LogEntry(t-3) = %+v, want it redacted", e)
		}
		all, err := l.store.(storage.AuditStore).AuditEntries(ctx, storage.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range all {
			if want := i < 10; a.Redacted != want || (a.Purpose == "") != want {
				t.Errorf("AuditEntries[%d] = %+v, want Redacted %v", i, a, want)
			}
		}
		if _, err := audit.NewReceipt(ctx, l.store, "t-3"); !errors.Is(err, audit.ErrRedacted) {
			t.Errorf("NewReceipt of a redacted entry: %v, want ErrRedacted", err)
		}

		// Proofs still check with the library's own verifier.
		head, err := l.store.LogHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p, err := audit.InclusionProof(ctx, l.store, 3, head.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, 3, uint64(head.Size), e.Redacted, p, head.Root); err != nil {
			t.Errorf("inclusion of redacted entry 3: %v", err)
		}
		if r, err := audit.NewReceipt(ctx, l.store, "t-15"); err != nil {
			t.Errorf("NewReceipt of a whole entry: %v", err)
		} else if _, err := audit.VerifyReceipt(r, key.Verifier()); err != nil {
			t.Errorf("VerifyReceipt of a whole entry: %v", err)
		}
		heads, err := l.store.LogHeads(ctx, 8, 1)
		if err != nil || len(heads) != 1 {
			t.Fatalf("LogHeads = %v, %v", heads, err)
		}
		cp, err := audit.ConsistencyProof(ctx, l.store, 8, head.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, 8, uint64(head.Size), cp, heads[0].Root, head.Root); err != nil {
			t.Errorf("consistency 8 → %d: %v", head.Size, err)
		}

		// An export spanning redacted and whole entries verifies offline.
		var seg bytes.Buffer
		if _, err := audit.Export(ctx, l.store, key.Verifier(), &seg, 5, 15); err != nil {
			t.Fatalf("Export: %v", err)
		}
		if _, err := audit.VerifySegment(&seg, key.Verifier()); err != nil {
			t.Errorf("VerifySegment of a segment with redacted entries: %v", err)
		}

		// A kept leaf hash changed behind the triggers' back is named.
		l.exec(t, `UPDATE audit_log_entries SET redacted_leaf = $1 WHERE seq = (SELECT seq FROM audit_log_leaves WHERE leaf_index = 6)`, bytes.Repeat([]byte{7}, 32))
		_, err = l.verify(t, true)
		wantBad(t, err, 6, "redacted")
		// And changed in the tree too, it breaks the checkpoints.
		l.exec(t, `UPDATE audit_log_nodes SET hash = $1 WHERE level = 0 AND idx = 6`, bytes.Repeat([]byte{7}, 32))
		if _, err = l.verify(t, true); err == nil {
			t.Errorf("Verify with a redacted entry's leaf hash changed in the entry and the tree: no error")
		}
	})
}
