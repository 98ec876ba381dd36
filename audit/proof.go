package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	tlog "github.com/transparency-dev/formats/log"
	tproof "github.com/transparency-dev/formats/proof"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/dopaid/dopaid/storage"
)

// ErrNotIntegrated: the entry is written but has no place in the log yet;
// ask again within a second or so.
var ErrNotIntegrated = errors.New("audit entry not yet integrated")

// ErrRedacted: retention dropped the entry's contents, so there is no leaf
// to give a receipt for; the tree still holds its leaf hash.
var ErrRedacted = errors.New("audit entry redacted after its retention period")

// NodeReader reads stored tree nodes.
type NodeReader interface {
	LogNodes(ctx context.Context, ids []storage.LogNodeID) ([][]byte, error)
}

// InclusionProof returns the RFC 6962 inclusion proof of leaf index in the
// tree of the given size, from stored nodes in one read.
func InclusionProof(ctx context.Context, r NodeReader, index, size int64) ([][]byte, error) {
	if index < 0 || size < 0 {
		return nil, fmt.Errorf("audit: inclusion proof of %d in %d", index, size)
	}
	ns, err := proof.Inclusion(uint64(index), uint64(size))
	if err != nil {
		return nil, fmt.Errorf("audit: inclusion proof: %w", err)
	}
	return rehash(ctx, r, ns)
}

// ConsistencyProof returns the RFC 6962 consistency proof between the trees
// of size1 and size2 (size1 ≤ size2), from stored nodes in one read.
func ConsistencyProof(ctx context.Context, r NodeReader, size1, size2 int64) ([][]byte, error) {
	if size1 < 0 || size2 < 0 {
		return nil, fmt.Errorf("audit: consistency proof of %d and %d", size1, size2)
	}
	ns, err := proof.Consistency(uint64(size1), uint64(size2))
	if err != nil {
		return nil, fmt.Errorf("audit: consistency proof: %w", err)
	}
	return rehash(ctx, r, ns)
}

func rehash(ctx context.Context, r NodeReader, ns proof.Nodes) ([][]byte, error) {
	if len(ns.IDs) == 0 {
		return [][]byte{}, nil
	}
	hashes, err := r.LogNodes(ctx, nodeIDs(ns.IDs))
	if err != nil {
		return nil, fmt.Errorf("audit: proof nodes: %w", err)
	}
	return ns.Rehash(hashes, rfc6962.DefaultHasher.HashChildren)
}

func nodeIDs(ids []compact.NodeID) []storage.LogNodeID {
	out := make([]storage.LogNodeID, len(ids))
	for i, id := range ids {
		out[i] = storage.LogNodeID{Level: int(id.Level), Index: int64(id.Index)}
	}
	return out
}

// Receipt shows that an entry is in the log: the entry, its leaf index, the
// inclusion proof and the signed checkpoint the proof leads to. Anyone can
// check it offline with the log's public key (VerifyReceipt).
type Receipt struct {
	Entry      storage.LogEntry // Entry.Index is Index
	Index      int64
	Proof      [][]byte
	Checkpoint []byte
}

// NewReceipt returns the receipt of the entry with that ID against the
// newest head: ErrNotIntegrated if the entry has no place yet.
func NewReceipt(ctx context.Context, r Reader, id string) (Receipt, error) {
	e, err := r.LogEntry(ctx, id)
	if err != nil {
		return Receipt{}, fmt.Errorf("audit: receipt: %w", err)
	}
	if e.Index == storage.NotIntegrated {
		return Receipt{}, fmt.Errorf("audit: receipt of %q: %w", id, ErrNotIntegrated)
	}
	if e.Redacted != nil {
		return Receipt{}, fmt.Errorf("audit: receipt of %q: %w", id, ErrRedacted)
	}
	head, err := r.LogHead(ctx)
	if err != nil {
		return Receipt{}, fmt.Errorf("audit: receipt: %w", err)
	}
	p, err := InclusionProof(ctx, r, e.Index, head.Size)
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{Entry: e, Index: e.Index, Proof: p, Checkpoint: head.Checkpoint}, nil
}

// MarshalText encodes the receipt as a C2SP tlog-proof whose extra data is
// the entry's leaf (Leaf).
func (rc Receipt) MarshalText() ([]byte, error) {
	hashes := make([][sha256.Size]byte, len(rc.Proof))
	for i, h := range rc.Proof {
		if len(h) != sha256.Size {
			return nil, fmt.Errorf("audit: receipt: proof hash %d has %d bytes", i, len(h))
		}
		hashes[i] = [sha256.Size]byte(h)
	}
	return tproof.TLogProof{
		Index:      uint64(rc.Index),
		Hashes:     hashes,
		Checkpoint: rc.Checkpoint,
		ExtraData:  Leaf(rc.Entry),
	}.Marshal(), nil
}

// UnmarshalText decodes what MarshalText encoded. It checks the form only:
// VerifyReceipt checks the content.
func (rc *Receipt) UnmarshalText(b []byte) error {
	var p tproof.TLogProof
	if err := p.Unmarshal(b); err != nil {
		return fmt.Errorf("audit: receipt: %w", err)
	}
	if p.Index > 1<<62 {
		return fmt.Errorf("audit: receipt: index %d", p.Index)
	}
	e, err := ParseLeaf(p.ExtraData)
	if err != nil {
		return fmt.Errorf("audit: receipt: %w", err)
	}
	e.Index = int64(p.Index)
	proof := make([][]byte, len(p.Hashes))
	for i := range p.Hashes {
		proof[i] = bytes.Clone(p.Hashes[i][:])
	}
	*rc = Receipt{Entry: e, Index: e.Index, Proof: proof, Checkpoint: p.Checkpoint}
	return nil
}

// VerifyReceipt checks a receipt against the log's public key, pinned by
// the caller (from configuration or a published key), never taken from the
// receipt: the checkpoint must be signed by v for v's origin, and the
// entry's leaf hash with the proof must lead to the checkpoint's root. It
// returns the checkpoint the entry is included in.
func VerifyReceipt(rc Receipt, v note.Verifier) (*tlog.Checkpoint, error) {
	cp, err := ParseCheckpoint(rc.Checkpoint, v)
	if err != nil {
		return nil, fmt.Errorf("audit: receipt: %w", err)
	}
	if rc.Index < 0 || rc.Entry.Index != rc.Index {
		return nil, fmt.Errorf("audit: receipt: entry index %d, proof index %d", rc.Entry.Index, rc.Index)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(rc.Index), cp.Size, LeafHash(rc.Entry), rc.Proof, cp.Hash); err != nil {
		return nil, fmt.Errorf("audit: receipt: entry %d is not in the log of checkpoint %d: %w", rc.Index, cp.Size, err)
	}
	return cp, nil
}
