package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/dopaid/dopaid/storage"
)

// VerifyError is what Verify found wrong: the first bad entry's leaf index
// (or -1 when the fault is in a tree head and no entry can be named) and
// what is wrong with it.
type VerifyError struct {
	Index  int64
	Reason string
}

func (e *VerifyError) Error() string {
	if e.Index < 0 {
		return "audit log: " + e.Reason
	}
	return fmt.Sprintf("audit log: entry %d: %s", e.Index, e.Reason)
}

// VerifyResult says what Verify checked.
type VerifyResult struct {
	Entries   int64 // leaves recomputed
	Heads     int   // signed tree heads in the store checked
	Published int   // published checkpoints checked
	// Redacted counts the entries whose contents retention dropped: their
	// kept leaf hashes were checked against the tree, their contents cannot
	// be. NewestRedacted is the time of the newest of them, for an auditor to
	// compare with the retention period.
	Redacted       int64
	NewestRedacted time.Time
}

// verifyPage is how many entries Verify reads at a time.
const verifyPage = 1000

type vouch struct {
	size int64
	root []byte
	what string
	// outside: published or witnessed, out of reach of whoever holds the
	// database (and perhaps the log key); the store's own heads are not.
	outside bool
}

// Verify recomputes the log from its entries and checks it against every
// signed tree head in the store and every published checkpoint given (see
// ReadPublished), all of which must be signed by v, the log's pinned key. It
// returns a *VerifyError naming the first bad entry when an entry was
// changed, deleted (in the middle or at the tail), moved, when the log is
// shorter than a checkpoint vouches for (truncation), or when two signed
// checkpoints cannot both describe it (a fork). Entries not yet integrated
// are not its concern. It reads entries and heads page by page, so its
// memory does not grow with the log (published checkpoints aside).
func Verify(ctx context.Context, r Reader, v note.Verifier, published [][]byte) (VerifyResult, error) {
	var res VerifyResult
	var pub []vouch
	for i, b := range published {
		cp, err := ParseCheckpoint(b, v)
		if err != nil {
			return res, &VerifyError{-1, fmt.Sprintf("published checkpoint %d: %v", i+1, err)}
		}
		res.Published++
		if cp.Size == 0 {
			continue
		}
		pub = append(pub, vouch{int64(cp.Size), cp.Hash, fmt.Sprintf("the published checkpoint of size %d", cp.Size), true})
	}
	sort.SliceStable(pub, func(i, j int) bool { return pub[i].size < pub[j].size })
	var headSize int64
	if h, err := r.LogHead(ctx); err == nil {
		headSize = h.Size
	} else if !errors.Is(err, storage.ErrNotFound) {
		return res, fmt.Errorf("audit: verify: %w", err)
	}
	heads := headCursor{r: r, v: v, from: 1}

	rng := rangeFactory.NewEmptyRange(0)
	// next leaf; size of the last checkpoint that matched; of the last one
	// from outside the database that matched. A fork is named from the
	// latter: heads re-signed in the database by whoever rewrote it prove
	// nothing about where the rewriting began.
	next, good, goodOutside := int64(0), int64(0), int64(0)
	pi := 0
	// vouchesAt returns the signed roots for size next, stored and
	// published, and counts them.
	vouchesAt := func(size int64) ([]vouch, error) {
		var vs []vouch
		for {
			h, ok, err := heads.peek(ctx)
			if err != nil {
				return nil, err
			}
			if !ok || h.size > size {
				break
			}
			heads.pop()
			res.Heads++
			vs = append(vs, h)
		}
		for ; pi < len(pub) && pub[pi].size <= size; pi++ {
			vs = append(vs, pub[pi])
		}
		return vs, nil
	}
	for {
		es, err := r.LogEntries(ctx, next, next+verifyPage)
		if err != nil {
			return res, fmt.Errorf("audit: verify: %w", err)
		}
		if len(es) == 0 {
			break
		}
		ids := make([]storage.LogNodeID, len(es))
		for i, e := range es {
			ids[i] = storage.LogNodeID{Level: 0, Index: e.Index}
		}
		leaves, err := r.LogNodes(ctx, ids)
		if errors.Is(err, storage.ErrNotFound) {
			leaves = nil // the checkpoints still decide; only the naming is coarser
		} else if err != nil {
			return res, fmt.Errorf("audit: verify: %w", err)
		}
		for i, e := range es {
			if e.Index != next {
				return res, &VerifyError{next, fmt.Sprintf("missing: the log goes from entry %d to entry %d", next-1, e.Index)}
			}
			lh := LeafHash(e)
			if e.Redacted != nil {
				// Retention dropped its contents and kept its leaf hash: the
				// tree and the checkpoints vouch for that hash instead.
				lh = e.Redacted
				res.Redacted++
				if e.At.After(res.NewestRedacted) {
					res.NewestRedacted = e.At
				}
				if leaves != nil && !bytes.Equal(lh, leaves[i]) {
					return res, &VerifyError{next, "redacted, and the leaf hash it kept is not the leaf the tree holds at its index"}
				}
			} else if leaves != nil && !bytes.Equal(lh, leaves[i]) {
				return res, &VerifyError{next, "changed or moved: it does not hash to the leaf the tree holds at its index"}
			}
			if err := rng.Append(lh, nil); err != nil {
				return res, err
			}
			next++
			res.Entries++
			vs, err := vouchesAt(next)
			if err != nil {
				return res, err
			}
			if len(vs) == 0 {
				continue
			}
			root, err := rng.GetRootHash(nil)
			if err != nil {
				return res, err
			}
			var ok, bad []string
			badOutside, okOutside := false, false
			for _, vc := range vs {
				if bytes.Equal(vc.root, root) {
					ok = append(ok, vc.what)
					okOutside = okOutside || vc.outside
				} else {
					bad = append(bad, vc.what)
					badOutside = badOutside || vc.outside
				}
			}
			from := good
			if badOutside {
				from = goodOutside
			}
			switch {
			case len(bad) > 0 && len(ok) > 0:
				return res, &VerifyError{from, fmt.Sprintf("fork: %s and %s are signed but differ; the log has entries agreeing with the first, after entry %d", ok[0], bad[0], from-1)}
			case len(bad) > 0:
				return res, &VerifyError{from, fmt.Sprintf("%s does not match entries %d to %d: one of them was changed, moved or replaced, or the log forked", bad[0], from, next-1)}
			}
			good = next
			if okOutside {
				goodOutside = next
			}
		}
	}
	// Whatever vouches for more entries than the log has: its tail was cut.
	var last *vouch
	if pi < len(pub) {
		last = &pub[len(pub)-1]
	}
	if headSize > next && (last == nil || headSize > last.size) {
		last = &vouch{size: headSize, what: fmt.Sprintf("the signed tree head of size %d", headSize)}
	}
	if last != nil {
		return res, &VerifyError{next, fmt.Sprintf("missing: %s vouches for %d entries, the log has %d (its tail was cut)", last.what, last.size, next)}
	}
	if next > headSize {
		return res, &VerifyError{headSize, fmt.Sprintf("integrated, with %d after it, but no signed tree head vouches for it (tree heads were deleted)", next-headSize-1)}
	}
	return res, nil
}

// headCursor reads the stored heads in order of size, a page at a time,
// checking each one's signature.
type headCursor struct {
	r    Reader
	v    note.Verifier
	from int64
	buf  []vouch
	done bool
}

func (c *headCursor) peek(ctx context.Context) (vouch, bool, error) {
	if len(c.buf) == 0 && !c.done {
		hs, err := c.r.LogHeads(ctx, c.from, verifyPage)
		if err != nil {
			return vouch{}, false, fmt.Errorf("audit: verify: %w", err)
		}
		c.done = len(hs) < verifyPage
		for _, h := range hs {
			cp, err := ParseCheckpoint(h.Checkpoint, c.v)
			if err != nil {
				return vouch{}, false, &VerifyError{-1, fmt.Sprintf("tree head %d: %v", h.Size, err)}
			}
			if cp.Size != uint64(h.Size) || !bytes.Equal(cp.Hash, h.Root) {
				return vouch{}, false, &VerifyError{-1, fmt.Sprintf("tree head %d: its signed checkpoint says size %d", h.Size, cp.Size)}
			}
			c.buf = append(c.buf, vouch{h.Size, cp.Hash, fmt.Sprintf("the signed tree head of size %d", h.Size), false})
			c.from = h.Size + 1
		}
	}
	if len(c.buf) == 0 {
		return vouch{}, false, nil
	}
	return c.buf[0], true, nil
}

func (c *headCursor) pop() { c.buf = c.buf[1:] }
