package storagetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// newFlow returns a flow in its face step with every field set, live from
// base for fifteen minutes, with nonce "nonce-"+id.
func newFlow(id string) storage.Flow {
	return storage.Flow{
		ID:            id,
		AuthRequestID: "ar-" + id,
		CitizenID:     "citizen-1",
		Step:          "face",
		Nonce:         "nonce-" + id,
		Matched:       []string{"pid", "name_th", "birthdate", "laser_code"},
		Face:          newFace(),
		IAL:           "1.3",
		PendingSecret: []byte("sealed-pending-" + id),
		CreatedAt:     base,
		ExpiresAt:     at(15 * time.Minute),
	}
}

// wantFlow fails t unless the store holds want as a live flow at now.
func wantFlow(t *testing.T, s storage.Store, want storage.Flow, now time.Time) {
	t.Helper()
	got, err := s.Flow(context.Background(), want.ID, now)
	wantErr(t, "Flow("+want.ID+")", err, nil)
	check(t, "Flow("+want.ID+")", got, want, normFlow)
}

func testFlows(t *testing.T, su suite) {
	ctx := context.Background()

	t.Run("round trip", func(t *testing.T) {
		start := storage.Flow{ID: "start", AuthRequestID: "ar-1", Step: "identify", ExpiresAt: at(time.Minute)}
		empty := newFlow("empty")
		empty.Matched = []string{}
		empty.PendingSecret = []byte{}
		empty.Face = nil
		tests := []struct {
			name string
			f    storage.Flow
		}{
			{"every field", newFlow("full")},
			{"first step", start},
			{"empty slices", empty},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				wantErr(t, "CreateFlow", s.CreateFlow(ctx, tt.f), nil)
				wantFlow(t, s, tt.f, base)
			})
		}
	})

	t.Run("duplicate", func(t *testing.T) {
		sameNonce := newFlow("b")
		sameNonce.Nonce = "nonce-a"
		tests := []struct {
			name string
			f    storage.Flow
		}{
			{"ID", newFlow("a")},
			{"nonce", sameNonce},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				first := newFlow("a")
				wantErr(t, "CreateFlow", s.CreateFlow(ctx, first), nil)
				tt.f.Step = "other"
				wantErr(t, "CreateFlow again", s.CreateFlow(ctx, tt.f), storage.ErrAlreadyExists)
				wantFlow(t, s, first, base)
			})
		}
	})

	t.Run("flows without a nonce", func(t *testing.T) {
		s := su.store(t)
		for _, id := range []string{"a", "b"} {
			f := newFlow(id)
			f.Nonce = ""
			wantErr(t, "CreateFlow("+id+")", s.CreateFlow(ctx, f), nil)
		}
		_, err := s.FlowByNonce(ctx, "", base)
		wantErr(t, "FlowByNonce(\"\")", err, storage.ErrNotFound)
	})

	t.Run("lookup", func(t *testing.T) {
		tests := []struct {
			name    string
			byNonce bool // FlowByNonce, not Flow
			key     string
			now     time.Time
			want    string // ID; "" for ErrNotFound
		}{
			{"by ID", false, "a", base, "a"},
			{"by ID before expiry", false, "a", at(15*time.Minute - time.Millisecond), "a"},
			{"by ID at expiry", false, "a", at(15 * time.Minute), ""},
			{"by ID after expiry", false, "a", at(time.Hour), ""},
			{"unknown ID", false, "c", base, ""},
			{"nonce as ID", false, "nonce-a", base, ""},
			{"by nonce", true, "nonce-b", base, "b"},
			{"by nonce before expiry", true, "nonce-a", at(15*time.Minute - time.Millisecond), "a"},
			{"by nonce at expiry", true, "nonce-a", at(15 * time.Minute), ""},
			{"unknown nonce", true, "nonce-c", base, ""},
			{"ID as nonce", true, "a", base, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				for _, id := range []string{"a", "b"} {
					wantErr(t, "CreateFlow("+id+")", s.CreateFlow(ctx, newFlow(id)), nil)
				}
				lookup := s.Flow
				if tt.byNonce {
					lookup = s.FlowByNonce
				}
				got, err := lookup(ctx, tt.key, tt.now)
				if tt.want == "" {
					wantErr(t, "lookup", err, storage.ErrNotFound)
					return
				}
				wantErr(t, "lookup", err, nil)
				check(t, "lookup", got, newFlow(tt.want), normFlow)
			})
		}
	})

	t.Run("delete", func(t *testing.T) {
		s := su.store(t)
		for _, id := range []string{"a", "b"} {
			wantErr(t, "CreateFlow("+id+")", s.CreateFlow(ctx, newFlow(id)), nil)
		}
		wantErr(t, "DeleteFlow", s.DeleteFlow(ctx, "a"), nil)
		_, err := s.Flow(ctx, "a", base)
		wantErr(t, "Flow after delete", err, storage.ErrNotFound)
		_, err = s.FlowByNonce(ctx, "nonce-a", base)
		wantErr(t, "FlowByNonce after delete", err, storage.ErrNotFound)
		wantFlow(t, s, newFlow("b"), base)
		wantErr(t, "DeleteFlow again", s.DeleteFlow(ctx, "a"), nil)
		wantErr(t, "DeleteFlow of a missing flow", s.DeleteFlow(ctx, "absent"), nil)
		// The nonce is free again.
		wantErr(t, "CreateFlow with the deleted flow's nonce", s.CreateFlow(ctx, newFlow("a")), nil)
	})
}

func testUpdateFlow(t *testing.T, su suite) {
	ctx := context.Background()

	t.Run("applies fn", func(t *testing.T) {
		s := su.store(t)
		orig := newFlow("a")
		orig.Face, orig.IAL, orig.PendingSecret = nil, "", nil
		wantErr(t, "CreateFlow", s.CreateFlow(ctx, orig), nil)
		now := at(time.Minute)
		var seen storage.Flow
		got, err := s.UpdateFlow(ctx, "a", now, func(f storage.Flow) (storage.Flow, error) {
			seen = f
			f.ID = "renamed" // ignored
			f.Step = "enrol"
			f.Nonce = "nonce-new"
			f.Face = newFace()
			f.IAL = "2.3"
			f.PendingSecret = []byte("sealed-pending")
			f.ExpiresAt = at(20 * time.Minute)
			return f, nil
		})
		wantErr(t, "UpdateFlow", err, nil)
		check(t, "flow handed to fn", seen, orig, normFlow)
		want := orig
		want.Step, want.Nonce, want.Face, want.IAL = "enrol", "nonce-new", newFace(), "2.3"
		want.PendingSecret, want.ExpiresAt = []byte("sealed-pending"), at(20*time.Minute)
		check(t, "UpdateFlow", got, want, normFlow)
		wantFlow(t, s, want, at(16*time.Minute))
		_, err = s.Flow(ctx, "renamed", now)
		wantErr(t, "Flow(renamed)", err, storage.ErrNotFound)
		got, err = s.FlowByNonce(ctx, "nonce-new", now)
		wantErr(t, "FlowByNonce of the new nonce", err, nil)
		check(t, "FlowByNonce of the new nonce", got, want, normFlow)
		_, err = s.FlowByNonce(ctx, "nonce-a", now)
		wantErr(t, "FlowByNonce of the old nonce", err, storage.ErrNotFound)
	})

	t.Run("clears fields", func(t *testing.T) {
		s := su.store(t)
		orig := newFlow("a")
		wantErr(t, "CreateFlow", s.CreateFlow(ctx, orig), nil)
		got, err := s.UpdateFlow(ctx, "a", base, func(f storage.Flow) (storage.Flow, error) {
			f.Nonce, f.Face, f.PendingSecret, f.Matched = "", nil, nil, nil
			return f, nil
		})
		wantErr(t, "UpdateFlow", err, nil)
		want := orig
		want.Nonce, want.Face, want.PendingSecret, want.Matched = "", nil, nil, nil
		check(t, "UpdateFlow", got, want, normFlow)
		wantFlow(t, s, want, base)
		_, err = s.FlowByNonce(ctx, "nonce-a", base)
		wantErr(t, "FlowByNonce of the cleared nonce", err, storage.ErrNotFound)
	})

	t.Run("refused", func(t *testing.T) {
		tests := []struct {
			name   string
			id     string
			now    time.Time
			fnErr  error // what fn returns
			nonce  string
			err    error
			called bool // whether fn must have been called
		}{
			{"fn fails", "a", base, errTest, "", errTest, true},
			{"nonce taken", "a", base, nil, "nonce-b", storage.ErrAlreadyExists, true},
			{"at expiry", "a", at(15 * time.Minute), nil, "", storage.ErrNotFound, false},
			{"missing", "absent", base, nil, "", storage.ErrNotFound, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				for _, id := range []string{"a", "b"} {
					wantErr(t, "CreateFlow("+id+")", s.CreateFlow(ctx, newFlow(id)), nil)
				}
				called := false
				_, err := s.UpdateFlow(ctx, tt.id, tt.now, func(f storage.Flow) (storage.Flow, error) {
					called = true
					f.Step = "changed"
					if tt.nonce != "" {
						f.Nonce = tt.nonce
					}
					return f, tt.fnErr
				})
				wantErr(t, "UpdateFlow", err, tt.err)
				if called != tt.called {
					t.Errorf("fn called: %v, want %v", called, tt.called)
				}
				wantFlow(t, s, newFlow("a"), base)
				wantFlow(t, s, newFlow("b"), base)
			})
		}
	})

	t.Run("concurrent updates", func(t *testing.T) {
		s := su.store(t)
		orig := newFlow("a")
		orig.Matched = nil
		wantErr(t, "CreateFlow", s.CreateFlow(ctx, orig), nil)
		const n = 16
		errs := race(n, func(i int) error {
			_, err := s.UpdateFlow(ctx, "a", base, func(f storage.Flow) (storage.Flow, error) {
				f.Matched = append(f.Matched, fmt.Sprintf("m-%d", i))
				return f, nil
			})
			return err
		})
		for i, err := range errs {
			wantErr(t, fmt.Sprintf("UpdateFlow #%d", i), err, nil)
		}
		got, err := s.Flow(ctx, "a", base)
		wantErr(t, "Flow", err, nil)
		want := make([]string, n)
		for i := range want {
			want[i] = fmt.Sprintf("m-%d", i)
		}
		if !sameSet(got.Matched, want) {
			t.Errorf("after %d concurrent updates Matched = %q, want every one of %q", n, got.Matched, want)
		}
	})
}
