package audit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"

	"github.com/dopaid/dopaid/audit"
	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
)

// TestProofs builds a log in rounds of odd sizes and checks, with the merkle
// library's own reference tree and verifier, every head's root, the
// inclusion proof of every entry in every head, and the consistency proof
// between every two heads.
func TestProofs(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		key := testKey(t, "id.example.go.th/audit")
		in := audit.NewIntegrator(b.store, key, audit.IntegratorConfig{Batch: 5})
		ref := testonly.New(rfc6962.DefaultHasher)
		var sizes []int64
		n := 0
		for _, round := range []int{1, 1, 2, 3, 5, 8, 13, 1, 4} {
			for _, e := range write(t, b.store, "p", n, n+round) {
				ref.AppendData(audit.Leaf(e))
			}
			n += round
			integrate(t, in)
			head, err := b.store.LogHead(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if head.Size != int64(n) || !bytes.Equal(head.Root, ref.Hash()) {
				t.Fatalf("head %d root %x; the reference tree of %d has %x", head.Size, head.Root, n, ref.Hash())
			}
			cp, err := audit.ParseCheckpoint(head.Checkpoint, key.Verifier())
			if err != nil || cp.Size != uint64(n) || !bytes.Equal(cp.Hash, head.Root) || cp.Origin != "id.example.go.th/audit" {
				t.Fatalf("checkpoint %q: %+v, %v", head.Checkpoint, cp, err)
			}
		}
		heads, err := b.store.LogHeads(ctx, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range heads {
			sizes = append(sizes, h.Size)
		}
		// Rounds of more than Batch entries take several heads.
		if len(sizes) < 10 {
			t.Errorf("%d heads for rounds of up to 13 entries in batches of 5", len(sizes))
		}
		for _, size := range sizes {
			root := ref.HashAt(uint64(size))
			for i := range size {
				p, err := audit.InclusionProof(ctx, b.store, i, size)
				if err != nil {
					t.Fatalf("InclusionProof(%d, %d): %v", i, size, err)
				}
				if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(i), uint64(size), ref.LeafHash(uint64(i)), p, root); err != nil {
					t.Errorf("inclusion of %d in %d: %v", i, size, err)
				}
			}
			for _, size1 := range sizes {
				if size1 > size {
					break
				}
				p, err := audit.ConsistencyProof(ctx, b.store, size1, size)
				if err != nil {
					t.Fatalf("ConsistencyProof(%d, %d): %v", size1, size, err)
				}
				if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(size1), uint64(size), p, ref.HashAt(uint64(size1)), root); err != nil {
					t.Errorf("consistency of %d and %d: %v", size1, size, err)
				}
			}
		}
		// O(log n) reads: a proof is one query of at most ~2 log2(n) nodes,
		// never a walk over the entries.
		counting := &countingNodes{r: b.store}
		if _, err := audit.InclusionProof(ctx, counting, 3, int64(n)); err != nil {
			t.Fatal(err)
		}
		if counting.calls != 1 || counting.nodes > 12 {
			t.Errorf("an inclusion proof in %d leaves read %d nodes in %d calls", n, counting.nodes, counting.calls)
		}
	})
}

type countingNodes struct {
	r            audit.NodeReader
	calls, nodes int
}

func (c *countingNodes) LogNodes(ctx context.Context, ids []storage.LogNodeID) ([][]byte, error) {
	c.calls++
	c.nodes += len(ids)
	return c.r.LogNodes(ctx, ids)
}

func TestReceipt(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		key := testKey(t, "id.example.go.th/audit")
		in := audit.NewIntegrator(b.store, key, audit.IntegratorConfig{})
		es := write(t, b.store, "r", 0, 11)

		_, err := audit.NewReceipt(ctx, b.store, es[4].ID)
		if !errors.Is(err, audit.ErrNotIntegrated) {
			t.Fatalf("NewReceipt before integration: %v, want ErrNotIntegrated", err)
		}
		integrate(t, in)
		rc, err := audit.NewReceipt(ctx, b.store, es[4].ID)
		if err != nil {
			t.Fatal(err)
		}
		text, err := rc.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(text), "c2sp.org/tlog-proof@v1\n") {
			t.Errorf("receipt does not start as a C2SP tlog-proof:\n%s", text)
		}
		var got audit.Receipt
		if err := got.UnmarshalText(text); err != nil {
			t.Fatal(err)
		}
		cp, err := audit.VerifyReceipt(got, key.Verifier())
		if err != nil {
			t.Fatalf("VerifyReceipt: %v", err)
		}
		if cp.Size != 11 || got.Entry.Detail != es[4].Detail || got.Index != 4 {
			t.Errorf("verified receipt: checkpoint %d, entry %+v", cp.Size, got.Entry)
		}

		// A forger with a key of their own and the same origin, whose
		// receipt carries their own checkpoint: refused, since the key is
		// pinned, not read from the receipt.
		forger := testKey(t, "id.example.go.th/audit")
		fb := newSQLite(t)
		fake := es[4]
		fake.Detail = "never happened"
		if err := fb.store.AppendLogEntries(ctx, []storage.LogEntry{fake}); err != nil {
			t.Fatal(err)
		}
		integrate(t, audit.NewIntegrator(fb.store, forger, audit.IntegratorConfig{}))
		forged, err := audit.NewReceipt(ctx, fb.store, fake.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := audit.VerifyReceipt(forged, forger.Verifier()); err != nil {
			t.Fatalf("the forged receipt does not even verify with its own key: %v", err)
		}
		bad := map[string]audit.Receipt{"forged checkpoint": forged}
		changed := got
		changed.Entry.Purpose = "marketing"
		bad["changed entry"] = changed
		moved := got
		moved.Index, moved.Entry.Index = 5, 5
		bad["moved entry"] = moved
		short := got
		short.Proof = short.Proof[1:]
		bad["short proof"] = short
		for name, rc := range bad {
			if _, err := audit.VerifyReceipt(rc, key.Verifier()); err == nil {
				t.Errorf("VerifyReceipt(%s): no error", name)
			}
		}
	})
}

func TestLoadKey(t *testing.T) {
	ctx := context.Background()
	b := newSQLite(t)
	env, err := keys.NewEnvelope(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	k1, err := audit.LoadKey(ctx, b.store, env, "id.example.go.th/audit", t0)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := audit.LoadKey(ctx, b.store, env, "id.example.go.th/audit", t0)
	if err != nil {
		t.Fatal(err)
	}
	if k1.VerifierKey() != k2.VerifierKey() || k1.Origin() != "id.example.go.th/audit" {
		t.Errorf("LoadKey twice: %s and %s", k1.VerifierKey(), k2.VerifierKey())
	}
	rec, err := b.store.LogKey(ctx, "id.example.go.th/audit")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(rec.PrivateKey, []byte("PRIVATE+KEY")) {
		t.Error("the log key is stored in clear")
	}
	if _, err := note.NewVerifier(rec.PublicKey); err != nil {
		t.Errorf("stored public key: %v", err)
	}
	other, _ := keys.NewEnvelope(bytes.Repeat([]byte{8}, 32))
	if _, err := audit.LoadKey(ctx, b.store, other, "id.example.go.th/audit", t0); !errors.Is(err, keys.ErrWrongMasterKey) {
		t.Errorf("LoadKey under another master key: %v, want ErrWrongMasterKey", err)
	}
	// The signature checks out with the published verifier key.
	in := audit.NewIntegrator(b.store, k2, audit.IntegratorConfig{})
	write(t, b.store, "k", 0, 3)
	integrate(t, in)
	v, _ := note.NewVerifier(k1.VerifierKey())
	head, _ := b.store.LogHead(ctx)
	if _, err := audit.ParseCheckpoint(head.Checkpoint, v); err != nil {
		t.Errorf("checkpoint with the published key: %v", err)
	}
}

// TestIntegratorRun: a running integrator picks up entries when woken,
// and calls its after-functions once a round made a head, so that a
// publisher follows at once.
func TestIntegratorRun(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx, cancel := context.WithCancel(context.Background())
		key := testKey(t, "id.example.go.th/audit")
		in := audit.NewIntegrator(b.store, key, audit.IntegratorConfig{})
		pub, err := audit.NewPublisher(t.TempDir(), b.store, key.Verifier())
		if err != nil {
			t.Fatal(err)
		}
		rounds := make(chan struct{}, 10)
		done := make(chan error)
		// The ticker is an hour: only Wake makes the rounds below happen.
		go func() {
			done <- in.Run(ctx, time.Hour, pub.Publish, func(context.Context) error { rounds <- struct{}{}; return nil })
		}()
		for i := range 3 {
			es := write(t, b.store, fmt.Sprint("run", i), 0, 5)
			in.Wake()
			// The first round, at once on start, may have taken some of
			// the entries; a round after the wake takes the rest.
			for {
				<-rounds
				e, err := b.store.LogEntry(ctx, es[4].ID)
				if err != nil {
					t.Fatal(err)
				}
				if e.Index != storage.NotIntegrated {
					if e.Index != int64(5*i+4) {
						t.Fatalf("after wake %d: entry at %d, want %d", i, e.Index, 5*i+4)
					}
					break
				}
			}
		}
		if cps, _ := audit.ReadPublished(pub.Dir()); len(cps) < 3 {
			t.Errorf("%d checkpoints published after 3 rounds", len(cps))
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	})
}

// failingAfterRound is a store whose work after an integration round fails
// (as SQLite's indexing of the round's entries may): the round commits and
// IntegrateLog returns its count with the error.
type failingAfterRound struct {
	audit.Store
}

func (s failingAfterRound) IntegrateLog(ctx context.Context, max int,
	fn func(storage.LogHead, []storage.LogEntry) (storage.LogIntegration, error),
) (int, error) {
	n, err := s.Store.IntegrateLog(ctx, max, fn)
	if err != nil || n == 0 {
		return n, err
	}
	return n, errors.New("after the round: disk I/O error")
}

// TestIntegratorRunPublishesDespiteLaterFailure: a round that committed is
// published even when what the store does after it fails, so that its
// checkpoint leaves the database at once and does not wait for the next
// entry to come.
func TestIntegratorRunPublishesDespiteLaterFailure(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		key := testKey(t, "id.example.go.th/audit")
		in := audit.NewIntegrator(failingAfterRound{b.store}, key, audit.IntegratorConfig{})
		pub, err := audit.NewPublisher(t.TempDir(), b.store, key.Verifier())
		if err != nil {
			t.Fatal(err)
		}
		write(t, b.store, "f", 0, 4)
		if n, err := in.IntegrateOnce(ctx); n != 4 || err == nil {
			t.Fatalf("IntegrateOnce = %d, %v; want 4 and the error", n, err)
		}
		write(t, b.store, "f", 4, 7)
		rounds := make(chan struct{}, 10)
		done := make(chan error)
		go func() {
			done <- in.Run(ctx, time.Hour, pub.Publish, func(context.Context) error { rounds <- struct{}{}; return nil })
		}()
		<-rounds
		cps, err := audit.ReadPublished(pub.Dir())
		if err != nil || len(cps) == 0 {
			t.Fatalf("published after a round whose aftermath failed: %d checkpoints, %v; want one", len(cps), err)
		}
		v, _ := note.NewVerifier(key.VerifierKey())
		if cp, err := audit.ParseCheckpoint(cps[len(cps)-1], v); err != nil || cp.Size != 7 {
			t.Errorf("newest published checkpoint = %+v, %v; want size 7", cp, err)
		}
		cancel()
		<-done
	})
}
