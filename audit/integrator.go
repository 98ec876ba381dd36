package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	tlog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/dopaid/dopaid/storage"
)

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// DefaultBatch is how many entries one integration round takes at most.
const DefaultBatch = 512

// IntegratorConfig configures an Integrator.
type IntegratorConfig struct {
	// Batch is the most entries one round (one transaction) integrates;
	// DefaultBatch if zero.
	Batch int
	// Now is the clock for the heads' times; time.Now if nil.
	Now func() time.Time
	// Log receives what Run recovers from; nothing if nil.
	Log *slog.Logger
	// MinGap is the least time between the starts of two rounds that Wake
	// asked for, DefaultMinGap if zero: under load, writers wake the
	// integrator after almost every commit, and rounds that far apart
	// gather the entries written meanwhile into one transaction instead of
	// one round per entry. It delays an entry by at most MinGap.
	MinGap time.Duration
}

// DefaultMinGap is IntegratorConfig.MinGap's default, the server's tick.
// A round costs the database a transaction (and the publisher a write)
// whatever its size: measured with cmd/dopaid-bench on PostgreSQL, rounds
// 25 ms apart cut userinfo throughput by a quarter against 200 ms. So
// under load rounds come at the tick's pace, and Wake speeds up the first
// entry after a quiet spell.
const DefaultMinGap = 200 * time.Millisecond

// Integrator sequences written entries into the log. Any number of them,
// on any number of replicas, may run at once: the store lets one integrate
// at a time, and the others' rounds end with ErrConflict and change nothing.
type Integrator struct {
	store  Integrating
	key    *Key
	batch  int
	now    func() time.Time
	log    *slog.Logger
	wake   chan struct{}
	minGap time.Duration
}

// NewIntegrator returns an Integrator that signs the heads it makes with key.
func NewIntegrator(store Integrating, key *Key, cfg IntegratorConfig) *Integrator {
	in := &Integrator{store: store, key: key, batch: cfg.Batch, now: cfg.Now, log: cfg.Log, wake: make(chan struct{}, 1), minGap: cfg.MinGap}
	if in.minGap <= 0 {
		in.minGap = DefaultMinGap
	}
	if in.batch <= 0 {
		in.batch = DefaultBatch
	}
	if in.now == nil {
		in.now = time.Now
	}
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	return in
}

// IntegrateOnce runs one round: up to Batch entries, one transaction, one
// new signed head. It returns how many entries it integrated; ErrConflict
// when another integrator holds the right.
func (in *Integrator) IntegrateOnce(ctx context.Context) (int, error) {
	n, err := in.store.IntegrateLog(ctx, in.batch, in.extend)
	if err != nil {
		// n > 0: the round stands, what followed it failed (see
		// storage.LogStore), and Run still publishes its head.
		return n, fmt.Errorf("audit: integrate: %w", err)
	}
	return n, nil
}

// Integrate runs rounds until no entry waits, and returns how many entries
// it integrated; it stops with ErrConflict when another integrator holds
// the right.
func (in *Integrator) Integrate(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := in.IntegrateOnce(ctx)
		total += n
		if err != nil || n < in.batch {
			return total, err
		}
	}
}

// Wake asks a running Run to integrate now rather than at its next tick
// (a writer in this process calls it after its transaction committed).
func (in *Integrator) Wake() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// Run integrates every interval, and whenever Wake is called, until ctx
// ends; after each round that made a head it calls each of after (a
// Publisher's Publish, say). A round that finds another integrator holding
// the right waits for the next tick: when that replica dies its lock goes
// with its connection and this one takes over.
func (in *Integrator) Run(ctx context.Context, interval time.Duration, after ...func(context.Context) error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		started := time.Now()
		n, err := in.Integrate(ctx)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, storage.ErrConflict):
		case err != nil:
			in.log.ErrorContext(ctx, "audit log integration failed", "err", err)
		}
		if n > 0 {
			for _, f := range after {
				if err := f(ctx); err != nil {
					in.log.ErrorContext(ctx, "audit log: after integration", "err", err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-in.wake:
			// Let the entries of the writers that follow this one join
			// the round (see IntegratorConfig.MinGap).
			if d := in.minGap - time.Since(started); d > 0 {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(d):
				}
			}
		}
	}
}

// extend appends pending to the tree of head: leaf hashes into the compact
// range, every completed perfect subtree as a node to store, and a new head
// with a checkpoint signed by the log key. It refuses to extend a head whose
// checkpoint is not the log's or does not match its range: an integrator
// must not build on a tree it cannot vouch for.
func (in *Integrator) extend(head storage.LogHead, pending []storage.LogEntry) (storage.LogIntegration, error) {
	r, err := rangeFactory.NewRange(0, uint64(head.Size), head.Range)
	if err != nil {
		return storage.LogIntegration{}, fmt.Errorf("head %d: %w", head.Size, err)
	}
	if head.Size > 0 {
		root, err := r.GetRootHash(nil)
		if err != nil {
			return storage.LogIntegration{}, err
		}
		cp, err := in.parse(head.Checkpoint)
		if err != nil {
			return storage.LogIntegration{}, fmt.Errorf("head %d: %w", head.Size, err)
		}
		if !bytes.Equal(root, head.Root) || !bytes.Equal(cp.Hash, root) || cp.Size != uint64(head.Size) {
			return storage.LogIntegration{}, fmt.Errorf("head %d: its range, root and checkpoint disagree", head.Size)
		}
	}
	var nodes []storage.LogNode
	visit := func(id compact.NodeID, hash []byte) {
		nodes = append(nodes, storage.LogNode{
			LogNodeID: storage.LogNodeID{Level: int(id.Level), Index: int64(id.Index)},
			Hash:      bytes.Clone(hash),
		})
	}
	for _, e := range pending {
		if err := r.Append(LeafHash(e), visit); err != nil {
			return storage.LogIntegration{}, err
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		return storage.LogIntegration{}, err
	}
	signed, err := in.sign(r.End(), root)
	if err != nil {
		return storage.LogIntegration{}, err
	}
	hashes := make([][]byte, len(r.Hashes()))
	for i, h := range r.Hashes() {
		hashes[i] = bytes.Clone(h)
	}
	return storage.LogIntegration{
		Nodes: nodes,
		Head: storage.LogHead{
			Size:       int64(r.End()),
			Root:       root,
			Range:      hashes,
			At:         in.now().Truncate(time.Millisecond).UTC(),
			Checkpoint: signed,
		},
	}, nil
}

func (in *Integrator) sign(size uint64, root []byte) ([]byte, error) {
	cp := tlog.Checkpoint{Origin: in.key.Origin(), Size: size, Hash: root}
	signed, err := note.Sign(&note.Note{Text: string(cp.Marshal())}, in.key.signer)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint %d: %w", size, err)
	}
	return signed, nil
}

func (in *Integrator) parse(signed []byte) (*tlog.Checkpoint, error) {
	return ParseCheckpoint(signed, in.key.Verifier())
}

// ParseCheckpoint opens a signed checkpoint of the log whose verifier v is
// (its origin is v's name) and returns what it says; an error unless v
// signed it.
func ParseCheckpoint(signed []byte, v note.Verifier) (*tlog.Checkpoint, error) {
	cp, _, _, err := tlog.ParseCheckpoint(signed, v.Name(), v)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return cp, nil
}
