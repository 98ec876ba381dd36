package storagetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// newAuthenticator returns a TOTP authenticator with eight recovery codes
// "rc-1" … "rc-8", enrolled at base and never used.
func newAuthenticator(id, citizenID string) storage.Authenticator {
	codes := make([]string, 8)
	for i := range codes {
		codes[i] = fmt.Sprintf("rc-%d", i+1)
	}
	return storage.Authenticator{
		ID:            id,
		CitizenID:     citizenID,
		Type:          "totp",
		Secret:        []byte("sealed-totp-" + id),
		RecoveryCodes: codes,
		CreatedAt:     base,
	}
}

// storeWithAuthenticator returns a store holding citizens 1 and 2 and
// newAuthenticator("a-1", "citizen-1").
func storeWithAuthenticator(t *testing.T, su suite) (storage.Store, storage.Authenticator) {
	t.Helper()
	s := su.store(t)
	seedCitizens(t, s, 1, 2)
	a := newAuthenticator("a-1", "citizen-1")
	wantErr(t, "CreateAuthenticator", s.CreateAuthenticator(context.Background(), a, nil), nil)
	return s, a
}

// wantAuthenticator fails t unless the citizen's TOTP authenticator is
// want, recovery codes in any order.
func wantAuthenticator(t *testing.T, s storage.Store, want storage.Authenticator) {
	t.Helper()
	got, err := s.Authenticator(context.Background(), want.CitizenID, want.Type)
	wantErr(t, "Authenticator", err, nil)
	if !sameSet(got.RecoveryCodes, want.RecoveryCodes) {
		t.Errorf("RecoveryCodes = %q, want %q in any order", got.RecoveryCodes, want.RecoveryCodes)
	}
	got.RecoveryCodes, want.RecoveryCodes = nil, nil
	check(t, "Authenticator", got, want, normAuthenticator)
}

func testAuthenticators(t *testing.T, su suite) {
	ctx := context.Background()

	t.Run("round trip", func(t *testing.T) {
		used := newAuthenticator("used", "citizen-1")
		used.LastUsedAt = at(time.Hour)
		noCodes := newAuthenticator("no-codes", "citizen-1")
		noCodes.RecoveryCodes = nil
		emptyCodes := newAuthenticator("empty-codes", "citizen-1")
		emptyCodes.RecoveryCodes = []string{}
		tests := []struct {
			name string
			a    storage.Authenticator
		}{
			{"every field", newAuthenticator("full", "citizen-1")},
			{"used before", used},
			{"no recovery codes", noCodes},
			{"empty recovery codes", emptyCodes},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				seedCitizens(t, s, 1)
				wantErr(t, "CreateAuthenticator", s.CreateAuthenticator(ctx, tt.a, nil), nil)
				got, err := s.Authenticator(ctx, tt.a.CitizenID, tt.a.Type)
				wantErr(t, "Authenticator", err, nil)
				check(t, "Authenticator", got, tt.a, normAuthenticator)
			})
		}
	})

	t.Run("lookup", func(t *testing.T) {
		tests := []struct {
			name, citizen, typ string
			want               string // ID; "" for ErrNotFound
		}{
			{"own", "citizen-1", "totp", "a-1"},
			{"other citizen's", "citizen-2", "totp", "a-2"},
			{"other type", "citizen-1", "webauthn", ""},
			{"citizen without one", "citizen-3", "totp", ""},
			{"unknown citizen", "citizen-9", "totp", ""},
			{"authenticator ID as citizen", "a-1", "totp", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s, _ := storeWithAuthenticator(t, su)
				seedCitizens(t, s, 3)
				wantErr(t, "CreateAuthenticator", s.CreateAuthenticator(ctx, newAuthenticator("a-2", "citizen-2"), nil), nil)
				got, err := s.Authenticator(ctx, tt.citizen, tt.typ)
				if tt.want == "" {
					wantErr(t, "Authenticator", err, storage.ErrNotFound)
					return
				}
				wantErr(t, "Authenticator", err, nil)
				if got.ID != tt.want {
					t.Errorf("Authenticator(%q, %q).ID = %q, want %q", tt.citizen, tt.typ, got.ID, tt.want)
				}
			})
		}
	})

	t.Run("re-enrolment replaces", func(t *testing.T) {
		s, old := storeWithAuthenticator(t, su)
		other := newAuthenticator("a-other", "citizen-2")
		wantErr(t, "CreateAuthenticator", s.CreateAuthenticator(ctx, other, nil), nil)
		renewed := newAuthenticator("a-new", "citizen-1")
		renewed.Secret = []byte("sealed-totp-renewed")
		renewed.RecoveryCodes = []string{"new-1", "new-2"}
		renewed.CreatedAt = at(time.Hour)
		wantErr(t, "CreateAuthenticator again", s.CreateAuthenticator(ctx, renewed, nil), nil)
		wantAuthenticator(t, s, renewed)
		wantAuthenticator(t, s, other)
		// The old one is gone, with its recovery codes.
		wantErr(t, "TouchAuthenticator of the replaced one", s.TouchAuthenticator(ctx, old.ID, at(time.Hour)), storage.ErrNotFound)
		wantErr(t, "UseRecoveryCode of the replaced one", s.UseRecoveryCode(ctx, "citizen-1", "totp", "rc-1", at(time.Hour)), storage.ErrNotFound)
		// The old ID may be used again.
		again := newAuthenticator(old.ID, "citizen-1")
		again.CreatedAt = at(2 * time.Hour)
		wantErr(t, "CreateAuthenticator with the replaced ID", s.CreateAuthenticator(ctx, again, nil), nil)
		wantAuthenticator(t, s, again)
	})

	t.Run("ID of another citizen's authenticator", func(t *testing.T) {
		s, a := storeWithAuthenticator(t, su)
		err := s.CreateAuthenticator(ctx, newAuthenticator(a.ID, "citizen-2"), nil)
		wantErr(t, "CreateAuthenticator", err, storage.ErrAlreadyExists)
		wantAuthenticator(t, s, a)
		_, err = s.Authenticator(ctx, "citizen-2", "totp")
		wantErr(t, "Authenticator of the refused one", err, storage.ErrNotFound)
	})

	t.Run("replace recovery codes", func(t *testing.T) {
		s, a := storeWithAuthenticator(t, su)
		fresh := []string{"new-1", "new-2"}
		wantErr(t, "ReplaceRecoveryCodes", s.ReplaceRecoveryCodes(ctx, "citizen-1", a.ID, fresh, nil), nil)
		a.RecoveryCodes = fresh
		wantAuthenticator(t, s, a)
		wantErr(t, "UseRecoveryCode of an old code", s.UseRecoveryCode(ctx, "citizen-1", "totp", "rc-1", at(time.Minute)), storage.ErrNotFound)
		wantErr(t, "UseRecoveryCode of a new code", s.UseRecoveryCode(ctx, "citizen-1", "totp", "new-2", at(time.Minute)), nil)
		a.RecoveryCodes, a.LastUsedAt = []string{"new-1"}, at(time.Minute)
		wantAuthenticator(t, s, a)
		// Another citizen's, or one replaced meanwhile, is not found and
		// keeps its codes.
		wantErr(t, "ReplaceRecoveryCodes of another citizen's", s.ReplaceRecoveryCodes(ctx, "citizen-2", a.ID, []string{"x"}, nil), storage.ErrNotFound)
		wantErr(t, "ReplaceRecoveryCodes of a missing one", s.ReplaceRecoveryCodes(ctx, "citizen-1", "absent", []string{"x"}, nil), storage.ErrNotFound)
		wantAuthenticator(t, s, a)
	})

	t.Run("touch", func(t *testing.T) {
		s, a := storeWithAuthenticator(t, su)
		wantErr(t, "TouchAuthenticator", s.TouchAuthenticator(ctx, a.ID, at(time.Minute)), nil)
		a.LastUsedAt = at(time.Minute)
		wantAuthenticator(t, s, a)
		wantErr(t, "TouchAuthenticator later", s.TouchAuthenticator(ctx, a.ID, at(time.Hour)), nil)
		a.LastUsedAt = at(time.Hour)
		wantAuthenticator(t, s, a)
		wantErr(t, "TouchAuthenticator of a missing one", s.TouchAuthenticator(ctx, "absent", at(time.Hour)), storage.ErrNotFound)
	})
}

func testUseRecoveryCode(t *testing.T, su suite) {
	ctx := context.Background()
	all := newAuthenticator("a-1", "citizen-1").RecoveryCodes
	without := func(codes ...string) []string {
		return slices.DeleteFunc(slices.Clone(all), func(c string) bool { return slices.Contains(codes, c) })
	}

	tests := []struct {
		name               string
		citizen, typ, code string
		err                error
		left               []string
	}{
		{"first", "citizen-1", "totp", "rc-1", nil, without("rc-1")},
		{"last", "citizen-1", "totp", "rc-8", nil, without("rc-8")},
		{"unknown code", "citizen-1", "totp", "rc-9", storage.ErrNotFound, all},
		{"empty code", "citizen-1", "totp", "", storage.ErrNotFound, all},
		{"prefix of a code", "citizen-1", "totp", "rc-", storage.ErrNotFound, all},
		{"other citizen", "citizen-2", "totp", "rc-1", storage.ErrNotFound, all},
		{"other type", "citizen-1", "webauthn", "rc-1", storage.ErrNotFound, all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, a := storeWithAuthenticator(t, su)
			now := at(time.Minute)
			err := s.UseRecoveryCode(ctx, tt.citizen, tt.typ, tt.code, now)
			wantErr(t, "UseRecoveryCode", err, tt.err)
			want := a
			want.RecoveryCodes = tt.left
			if tt.err == nil {
				want.LastUsedAt = now
			}
			wantAuthenticator(t, s, want)
		})
	}

	t.Run("once per code", func(t *testing.T) {
		s, a := storeWithAuthenticator(t, su)
		wantErr(t, "UseRecoveryCode", s.UseRecoveryCode(ctx, "citizen-1", "totp", "rc-3", at(time.Minute)), nil)
		wantErr(t, "UseRecoveryCode again", s.UseRecoveryCode(ctx, "citizen-1", "totp", "rc-3", at(time.Hour)), storage.ErrNotFound)
		wantErr(t, "UseRecoveryCode of another", s.UseRecoveryCode(ctx, "citizen-1", "totp", "rc-4", at(time.Hour)), nil)
		a.RecoveryCodes = without("rc-3", "rc-4")
		a.LastUsedAt = at(time.Hour)
		wantAuthenticator(t, s, a)
	})

	t.Run("every code", func(t *testing.T) {
		s, a := storeWithAuthenticator(t, su)
		for _, c := range all {
			wantErr(t, "UseRecoveryCode("+c+")", s.UseRecoveryCode(ctx, "citizen-1", "totp", c, at(time.Minute)), nil)
		}
		a.RecoveryCodes = nil
		a.LastUsedAt = at(time.Minute)
		wantAuthenticator(t, s, a)
		wantErr(t, "UseRecoveryCode with none left", s.UseRecoveryCode(ctx, "citizen-1", "totp", "rc-1", at(time.Minute)), storage.ErrNotFound)
	})

	t.Run("concurrent use of one code", func(t *testing.T) {
		s, a := storeWithAuthenticator(t, su)
		const n = 8
		errs := race(n, func(int) error {
			return s.UseRecoveryCode(ctx, "citizen-1", "totp", "rc-5", at(time.Minute))
		})
		if w := winners(t, "UseRecoveryCode", errs, storage.ErrNotFound); w != 1 {
			t.Errorf("%d of %d concurrent UseRecoveryCode calls succeeded, want 1", w, n)
		}
		a.RecoveryCodes = without("rc-5")
		a.LastUsedAt = at(time.Minute)
		wantAuthenticator(t, s, a)
	})

	t.Run("concurrent use of different codes", func(t *testing.T) {
		s, a := storeWithAuthenticator(t, su)
		errs := race(len(all), func(i int) error {
			return s.UseRecoveryCode(ctx, "citizen-1", "totp", all[i], at(time.Minute))
		})
		for i, err := range errs {
			wantErr(t, "UseRecoveryCode("+all[i]+")", err, nil)
		}
		a.RecoveryCodes = nil
		a.LastUsedAt = at(time.Minute)
		wantAuthenticator(t, s, a)
	})
}
