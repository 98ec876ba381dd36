package storagetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

func newKey(id, alg string, gen int64) storage.SigningKey {
	created := at(time.Duration(gen) * time.Hour)
	return storage.SigningKey{
		ID:          id,
		Algorithm:   alg,
		Generation:  gen,
		PrivateKey:  []byte("sealed:" + id),
		PublicKey:   []byte(fmt.Sprintf(`{"kty":"EC","kid":%q}`, id)),
		CreatedAt:   created,
		ActivatesAt: created.Add(time.Hour),
	}
}

func keyIDs(ks []storage.SigningKey) []string {
	ids := []string{}
	for _, k := range ks {
		ids = append(ids, k.ID)
	}
	return ids
}

func testSigningKeys(t *testing.T, su suite) {
	ctx := context.Background()

	t.Run("round trip", func(t *testing.T) {
		retired := newKey("retired", "RS256", 1)
		retired.RetiresAt = at(2 * time.Hour)
		retired.ExpiresAt = at(26 * time.Hour)
		tests := []struct {
			name string
			k    storage.SigningKey
		}{
			{"current", newKey("k1", "ES256", 1)},
			{"retired", retired},
			{"no key material", storage.SigningKey{ID: "bare", Algorithm: "ES256", Generation: 7}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				wantErr(t, "CreateSigningKey", s.CreateSigningKey(ctx, tt.k), nil)
				got, err := s.SigningKeys(ctx, base)
				wantErr(t, "SigningKeys", err, nil)
				check(t, "SigningKeys", got, []storage.SigningKey{tt.k}, normKeys)
			})
		}
	})

	t.Run("unique", func(t *testing.T) {
		tests := []struct {
			name string
			k    storage.SigningKey
			err  error
		}{
			{"same ID", newKey("es-1", "RS256", 9), storage.ErrAlreadyExists},
			{"same algorithm and generation", newKey("es-1b", "ES256", 1), storage.ErrAlreadyExists},
			{"same generation, other algorithm", newKey("rs-1", "RS256", 1), nil},
			{"next generation", newKey("es-2", "ES256", 2), nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				first := newKey("es-1", "ES256", 1)
				wantErr(t, "CreateSigningKey", s.CreateSigningKey(ctx, first), nil)
				wantErr(t, "CreateSigningKey", s.CreateSigningKey(ctx, tt.k), tt.err)
				got, err := s.SigningKeys(ctx, base)
				wantErr(t, "SigningKeys", err, nil)
				want := []storage.SigningKey{first}
				if tt.err == nil {
					want = append(want, tt.k)
				}
				if !sameSet(keyIDs(got), keyIDs(want)) {
					t.Errorf("SigningKeys IDs = %q, want %q", keyIDs(got), keyIDs(want))
				}
			})
		}
	})

	t.Run("concurrent rotations", func(t *testing.T) {
		s := su.store(t)
		const n = 8
		errs := race(n, func(i int) error {
			return s.CreateSigningKey(ctx, newKey(fmt.Sprintf("replica-%d", i), "ES256", 2))
		})
		if w := winners(t, "CreateSigningKey", errs, storage.ErrAlreadyExists); w != 1 {
			t.Errorf("%d of %d replicas created generation 2, want 1", w, n)
		}
	})

	t.Run("listing", func(t *testing.T) {
		keys := []storage.SigningKey{
			newKey("es-2", "ES256", 2),
			newKey("rs-1", "RS256", 1),
			newKey("es-1", "ES256", 1),
			newKey("es-3", "ES256", 3),
			newKey("rs-2", "RS256", 2),
		}
		tests := []struct {
			name string
			now  time.Time
			want []string // in order for each algorithm
		}{
			{"all live", at(3 * time.Hour), []string{"es-3", "es-2", "es-1", "rs-2", "rs-1"}},
			{"before es-1 expires", at(10*time.Hour - time.Millisecond), []string{"es-3", "es-2", "es-1", "rs-2", "rs-1"}},
			{"es-1 expired", at(10 * time.Hour), []string{"es-3", "es-2", "rs-2", "rs-1"}},
			{"es-1 and rs-1 expired", at(30 * time.Hour), []string{"es-3", "es-2", "rs-2"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				for _, k := range keys {
					wantErr(t, "CreateSigningKey", s.CreateSigningKey(ctx, k), nil)
				}
				wantErr(t, "RetireSigningKey", s.RetireSigningKey(ctx, "es-1", at(4*time.Hour), at(10*time.Hour)), nil)
				wantErr(t, "RetireSigningKey", s.RetireSigningKey(ctx, "rs-1", at(4*time.Hour), at(30*time.Hour)), nil)
				got, err := s.SigningKeys(ctx, tt.now)
				wantErr(t, "SigningKeys", err, nil)
				for i := 1; i < len(got); i++ {
					if got[i].Generation > got[i-1].Generation {
						t.Errorf("SigningKeys = %q: generation %d after %d, want newest first",
							keyIDs(got), got[i].Generation, got[i-1].Generation)
					}
				}
				var es, rs, wantES, wantRS []string
				for _, k := range got {
					if k.Algorithm == "ES256" {
						es = append(es, k.ID)
					} else {
						rs = append(rs, k.ID)
					}
				}
				for _, id := range tt.want {
					if id[:2] == "es" {
						wantES = append(wantES, id)
					} else {
						wantRS = append(wantRS, id)
					}
				}
				if !slices.Equal(es, wantES) || !slices.Equal(rs, wantRS) {
					t.Errorf("SigningKeys at %v = %q, want per algorithm %q and %q", tt.now, keyIDs(got), wantES, wantRS)
				}
			})
		}
	})

	t.Run("retire", func(t *testing.T) {
		s := su.store(t)
		k := newKey("es-1", "ES256", 1)
		wantErr(t, "CreateSigningKey", s.CreateSigningKey(ctx, k), nil)
		wantErr(t, "CreateSigningKey", s.CreateSigningKey(ctx, newKey("es-2", "ES256", 2)), nil)
		wantErr(t, "RetireSigningKey", s.RetireSigningKey(ctx, "es-1", at(5*time.Hour), at(29*time.Hour)), nil)
		wantErr(t, "RetireSigningKey again", s.RetireSigningKey(ctx, "es-1", at(6*time.Hour), at(30*time.Hour)), storage.ErrConflict)
		wantErr(t, "RetireSigningKey of a missing key", s.RetireSigningKey(ctx, "absent", at(6*time.Hour), at(30*time.Hour)), storage.ErrNotFound)

		got, err := s.SigningKeys(ctx, base)
		wantErr(t, "SigningKeys", err, nil)
		k.RetiresAt = at(5 * time.Hour)
		k.ExpiresAt = at(29 * time.Hour)
		check(t, "SigningKeys", got, []storage.SigningKey{newKey("es-2", "ES256", 2), k}, normKeys)
	})
}

func testUseOnce(t *testing.T, su suite) {
	ctx := context.Background()
	type use struct {
		scope, value string
		expiresAt    time.Time
		now          time.Time
		err          error
	}
	tests := []struct {
		name string
		uses []use
	}{
		{"replay", []use{
			{"jti", "a", at(time.Minute), base, nil},
			{"jti", "a", at(time.Minute), at(time.Second), storage.ErrAlreadyExists},
			{"jti", "a", at(time.Hour), at(time.Minute - time.Millisecond), storage.ErrAlreadyExists},
		}},
		{"other value", []use{
			{"jti", "a", at(time.Minute), base, nil},
			{"jti", "b", at(time.Minute), base, nil},
		}},
		{"other scope", []use{
			{"jti:client-1", "a", at(time.Minute), base, nil},
			{"jti:client-2", "a", at(time.Minute), base, nil},
			{"jti:client-2", "a", at(time.Minute), base, storage.ErrAlreadyExists},
		}},
		{"expired entry reused", []use{
			{"jti", "a", at(time.Minute), base, nil},
			{"jti", "a", at(time.Hour), at(time.Minute), nil},
			// The reuse recorded its own expiry.
			{"jti", "a", at(2 * time.Hour), at(30 * time.Minute), storage.ErrAlreadyExists},
			{"jti", "a", at(2 * time.Hour), at(time.Hour), nil},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := su.store(t)
			for i, u := range tt.uses {
				err := s.UseOnce(ctx, u.scope, u.value, u.expiresAt, u.now)
				wantErr(t, fmt.Sprintf("UseOnce #%d (%q, %q)", i, u.scope, u.value), err, u.err)
			}
		})
	}

	t.Run("concurrent", func(t *testing.T) {
		s := su.store(t)
		const n = 16
		errs := race(n, func(int) error { return s.UseOnce(ctx, "jti", "raced", at(time.Minute), base) })
		if w := winners(t, "UseOnce", errs, storage.ErrAlreadyExists); w != 1 {
			t.Errorf("%d of %d concurrent UseOnce calls succeeded, want 1", w, n)
		}
	})
}
