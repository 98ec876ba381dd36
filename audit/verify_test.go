package audit_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dopaid/dopaid/audit"
	"github.com/dopaid/dopaid/storage"
)

// tamperLog is a log of 20 entries integrated in rounds of 4 (heads at 4,
// 8, …, 20), every head published to dir.
type tamperLog struct {
	backend
	key *audit.Key
	in  *audit.Integrator
	pub *audit.Publisher
	dir string
}

func newTamperLog(t *testing.T, b backend, key *audit.Key) tamperLog {
	t.Helper()
	l := tamperLog{backend: b, key: key, dir: t.TempDir()}
	l.in = audit.NewIntegrator(b.store, key, audit.IntegratorConfig{Batch: 4})
	var err error
	l.pub, err = audit.NewPublisher(l.dir, b.store, key.Verifier())
	if err != nil {
		t.Fatal(err)
	}
	write(t, b.store, "t", 0, 20)
	integrate(t, l.in)
	if err := l.pub.Publish(context.Background()); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return l
}

func (l tamperLog) verify(t *testing.T, withPublished bool) (audit.VerifyResult, error) {
	t.Helper()
	var published [][]byte
	if withPublished {
		var err error
		if published, err = audit.ReadPublished(l.dir); err != nil {
			t.Fatal(err)
		}
	}
	return audit.Verify(context.Background(), l.store, l.key.Verifier(), published)
}

// wantBad fails t unless err is a VerifyError naming entry index, with
// reason containing what.
func wantBad(t *testing.T, err error, index int64, what string) {
	t.Helper()
	var ve *audit.VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("Verify = %v, want a VerifyError naming entry %d", err, index)
	}
	if ve.Index != index || !strings.Contains(ve.Reason, what) {
		t.Errorf("Verify = %v, want entry %d: …%s…", err, index, what)
	}
}

// truncate rolls the database back to the log's first size entries, as
// someone who can write it and wants to cut the tail would: entries, the
// nodes above them and the newer heads all go, and what is left is a
// consistent, shorter log.
func (l tamperLog) truncate(t *testing.T, size int) {
	t.Helper()
	l.exec(t, `DELETE FROM audit_log_entries WHERE seq IN (SELECT seq FROM audit_log_leaves WHERE leaf_index >= $1)`, size)
	l.exec(t, `DELETE FROM audit_log_leaves WHERE leaf_index >= $1`, size)
	l.exec(t, `DELETE FROM audit_log_nodes WHERE (idx + 1) << level > $1`, size)
	l.exec(t, `DELETE FROM audit_log_heads WHERE size > $1`, size)
}

func TestVerify(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		key := testKey(t, "id.example.go.th/audit")

		t.Run("intact", func(t *testing.T) {
			l := newTamperLog(t, b.fresh(t), key)
			res, err := l.verify(t, true)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if res.Entries != 20 || res.Heads != 5 || res.Published != 5 {
				t.Errorf("Verify checked %+v, want 20 entries, 5 heads, 5 published", res)
			}
		})
		t.Run("changed entry", func(t *testing.T) {
			l := newTamperLog(t, b.fresh(t), key)
			l.exec(t, `UPDATE audit_log_entries SET purpose = 'marketing' WHERE seq = (SELECT seq FROM audit_log_leaves WHERE leaf_index = 9)`)
			_, err := l.verify(t, false)
			wantBad(t, err, 9, "changed")
		})
		t.Run("changed entry and its leaf", func(t *testing.T) {
			l := newTamperLog(t, b.fresh(t), key)
			e, _ := l.store.LogEntries(ctx, 9, 10)
			e[0].Purpose = "marketing"
			l.exec(t, `UPDATE audit_log_entries SET purpose = 'marketing' WHERE seq = (SELECT seq FROM audit_log_leaves WHERE leaf_index = 9)`)
			l.exec(t, `UPDATE audit_log_nodes SET hash = $1 WHERE level = 0 AND idx = 9`, audit.LeafHash(e[0]))
			_, err := l.verify(t, false)
			// The signed head of size 12 no longer matches: the fault is
			// in entries 8 to 11, after the last head that does.
			wantBad(t, err, 8, "does not match entries 8 to 11")
		})
		t.Run("deleted in the middle", func(t *testing.T) {
			l := newTamperLog(t, b.fresh(t), key)
			l.exec(t, `DELETE FROM audit_log_entries WHERE seq = (SELECT seq FROM audit_log_leaves WHERE leaf_index = 9)`)
			l.exec(t, `DELETE FROM audit_log_leaves WHERE leaf_index = 9`)
			_, err := l.verify(t, false)
			wantBad(t, err, 9, "missing")
		})
		t.Run("deleted at the tail", func(t *testing.T) {
			l := newTamperLog(t, b.fresh(t), key)
			l.exec(t, `DELETE FROM audit_log_entries WHERE seq IN (SELECT seq FROM audit_log_leaves WHERE leaf_index >= 17)`)
			l.exec(t, `DELETE FROM audit_log_leaves WHERE leaf_index >= 17`)
			_, err := l.verify(t, false)
			wantBad(t, err, 17, "tail was cut")
		})
		t.Run("truncated behind a published checkpoint", func(t *testing.T) {
			l := newTamperLog(t, b.fresh(t), key)
			l.truncate(t, 12)
			// The database alone is a consistent log of 12…
			if _, err := l.verify(t, false); err != nil {
				t.Fatalf("Verify of the truncated database alone: %v", err)
			}
			// …but the checkpoints outside it vouch for 20.
			_, err := l.verify(t, true)
			wantBad(t, err, 12, "the published checkpoint of size 20 vouches for 20 entries, the log has 12")
			// And the publisher refuses to go on from the cut log.
			if err := l.pub.Publish(ctx); err == nil || !strings.Contains(err.Error(), "cut") {
				t.Errorf("Publish after truncation: %v, want an error", err)
			}
		})
		t.Run("reordered", func(t *testing.T) {
			l := newTamperLog(t, b.fresh(t), key)
			l.exec(t, `UPDATE audit_log_leaves SET leaf_index = 1000 WHERE leaf_index = 5`)
			l.exec(t, `UPDATE audit_log_leaves SET leaf_index = 5 WHERE leaf_index = 6`)
			l.exec(t, `UPDATE audit_log_leaves SET leaf_index = 6 WHERE leaf_index = 1000`)
			_, err := l.verify(t, false)
			wantBad(t, err, 5, "changed or moved")
		})
		t.Run("fork", func(t *testing.T) {
			l := newTamperLog(t, b.fresh(t), key)
			// The same key signs another history of 12 entries (entry 10
			// differs), and that checkpoint reaches the published ones.
			other := newSQLite(t)
			es := write(t, other.store, "t", 0, 10)
			_ = es
			alt := entry(t, "t", 10)
			alt.Detail = "another history"
			if err := other.store.AppendLogEntries(ctx, []storage.LogEntry{alt}); err != nil {
				t.Fatal(err)
			}
			write(t, other.store, "t", 11, 12)
			integrate(t, audit.NewIntegrator(other.store, key, audit.IntegratorConfig{Batch: 4}))
			forked, _ := other.store.LogHead(ctx)
			published, _ := audit.ReadPublished(l.dir)
			published = append(published, forked.Checkpoint)
			_, err := audit.Verify(ctx, l.store, key.Verifier(), published)
			wantBad(t, err, 8, "fork")
		})
		t.Run("fork re-signed between published checkpoints", func(t *testing.T) {
			// Whoever holds the database and the log key cuts back to 8
			// entries, writes another history and integrates it: the
			// database's own heads (12, 16, 20) all agree with it. Only 8
			// and 20 were published. The fork is named from the last
			// checkpoint from outside the database that matched (8), not
			// from the re-signed heads (16).
			l := newTamperLog(t, b.fresh(t), key)
			l.truncate(t, 8)
			write(t, l.store, "fork", 8, 20)
			integrate(t, l.in)
			all, err := audit.ReadPublished(l.dir)
			if err != nil {
				t.Fatal(err)
			}
			var published [][]byte
			for _, b := range all {
				cp, err := audit.ParseCheckpoint(b, key.Verifier())
				if err != nil {
					t.Fatal(err)
				}
				if cp.Size == 8 || cp.Size == 20 {
					published = append(published, b)
				}
			}
			_, err = audit.Verify(ctx, l.store, key.Verifier(), published)
			wantBad(t, err, 8, "fork")
		})
		t.Run("forged head", func(t *testing.T) {
			l := newTamperLog(t, b.fresh(t), key)
			other := newSQLite(t)
			write(t, other.store, "x", 0, 8)
			integrate(t, audit.NewIntegrator(other.store, testKey(t, "id.example.go.th/audit"), audit.IntegratorConfig{}))
			h, _ := other.store.LogHead(ctx)
			l.exec(t, `UPDATE audit_log_heads SET checkpoint = $1 WHERE size = 8`, h.Checkpoint)
			_, err := l.verify(t, false)
			wantBad(t, err, -1, "tree head 8")
		})
		t.Run("heads deleted", func(t *testing.T) {
			l := newTamperLog(t, b.fresh(t), key)
			l.exec(t, `DELETE FROM audit_log_heads WHERE size > 12`)
			_, err := l.verify(t, false)
			wantBad(t, err, 12, "no signed tree head")
		})
		t.Run("publisher refuses a fork", func(t *testing.T) {
			l := newTamperLog(t, b.fresh(t), key)
			// Cut back to 12 and grow another history past 20 with the
			// log's own key: every head in the database is signed and
			// consistent with the others, but not with what was published.
			l.truncate(t, 12)
			write(t, l.store, "fork", 12, 24)
			integrate(t, l.in)
			if _, err := l.verify(t, false); err != nil {
				t.Fatalf("Verify of the rewritten database alone: %v", err)
			}
			before, _ := os.ReadFile(filepath.Join(l.dir, audit.PublishedFile))
			err := l.pub.Publish(ctx)
			if err == nil || !strings.Contains(err.Error(), "not consistent") {
				t.Errorf("Publish of a forked head: %v, want an error", err)
			}
			after, _ := os.ReadFile(filepath.Join(l.dir, audit.PublishedFile))
			if string(after) != string(before) {
				t.Error("Publish wrote a forked checkpoint")
			}
			_, err = l.verify(t, true)
			wantBad(t, err, 12, "fork")
		})
	})
}

func TestPublisher(t *testing.T) {
	ctx := context.Background()
	b := newSQLite(t)
	key := testKey(t, "id.example.go.th/audit")
	in := audit.NewIntegrator(b.store, key, audit.IntegratorConfig{Batch: 3})
	dir := filepath.Join(t.TempDir(), "published")
	pub, err := audit.NewPublisher(dir, b.store, key.Verifier())
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctx); err != nil {
		t.Fatalf("Publish of an empty log: %v", err)
	}
	write(t, b.store, "p", 0, 7)
	integrate(t, in)
	if err := pub.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	cps, err := audit.ReadPublished(dir)
	if err != nil || len(cps) != 3 {
		t.Fatalf("ReadPublished = %d checkpoints, %v; want 3 (sizes 3, 6, 7) once each", len(cps), err)
	}

	// A crash mid-write leaves a partial line; a new Publisher drops it
	// and carries on from the last whole one.
	path := filepath.Join(dir, audit.PublishedFile)
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"checkpoint":"id.exa`)
	f.Close()
	if _, err := audit.ReadPublished(dir); err == nil {
		t.Error("ReadPublished of a partial line: no error")
	}
	pub, err = audit.NewPublisher(dir, b.store, key.Verifier())
	if err != nil {
		t.Fatal(err)
	}
	write(t, b.store, "p", 7, 9)
	integrate(t, in)
	if err := pub.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	cps, err = audit.ReadPublished(dir)
	if err != nil || len(cps) != 4 {
		t.Fatalf("ReadPublished = %d checkpoints, %v; want 4", len(cps), err)
	}
	if _, err := audit.Verify(ctx, b.store, key.Verifier(), cps); err != nil {
		t.Errorf("Verify: %v", err)
	}
	// A publisher for another key refuses the directory.
	if _, err := audit.NewPublisher(dir, b.store, testKey(t, "id.example.go.th/audit").Verifier()); err == nil {
		t.Error("NewPublisher with another log's key: no error")
	}
}
