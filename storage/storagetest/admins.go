package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// newAdmin returns an officer with every field set, whose username is
// "user-"+id.
func newAdmin(id string) storage.Admin {
	return storage.Admin{
		ID:           id,
		Username:     "user-" + id,
		Name:         "เจ้าหน้าที่ " + id,
		Role:         storage.RoleOfficer,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$" + id,
		TOTPSecret:   []byte("sealed-totp-" + id),
		CreatedAt:    at(-time.Hour),
		UpdatedAt:    at(-time.Minute),
	}
}

func wantAdmin(t *testing.T, s storage.Store, want storage.Admin) {
	t.Helper()
	ctx := context.Background()
	got, err := s.Admin(ctx, want.ID)
	wantErr(t, "Admin("+want.ID+")", err, nil)
	check(t, "Admin("+want.ID+")", got, want, normAdmin)
	got, err = s.AdminByUsername(ctx, want.Username)
	wantErr(t, "AdminByUsername("+want.Username+")", err, nil)
	check(t, "AdminByUsername("+want.Username+")", got, want, normAdmin)
}

func wantAdminCount(t *testing.T, s storage.Store, want int) {
	t.Helper()
	got, err := s.CountAdmins(context.Background())
	wantErr(t, "CountAdmins", err, nil)
	if got != want {
		t.Errorf("CountAdmins = %d, want %d", got, want)
	}
}

func testAdmins(t *testing.T, su suite) {
	ctx := context.Background()

	t.Run("round trip", func(t *testing.T) {
		supervisor := newAdmin("sup")
		supervisor.Role = storage.RoleSupervisor
		supervisor.AgencyID = "agency-1"
		disabled := newAdmin("disabled")
		disabled.Disabled = true
		disabled.TOTPSecret = []byte{}
		invited := newAdmin("invited")
		invited.PasswordHash, invited.TOTPSecret = "", nil
		invited.InviteHash, invited.InviteExpiresAt = "invite-hash-invited", at(72*time.Hour)
		tests := []struct {
			name string
			a    storage.Admin
		}{
			{"every field", newAdmin("full")},
			{"agency supervisor", supervisor},
			{"disabled, empty secret", disabled},
			{"invited, not enrolled", invited},
			{"zero values", storage.Admin{ID: "zero", Username: "zero"}},
			{"unicode username", storage.Admin{ID: "th", Username: "สมชาย.ใ", Role: storage.RoleAuditor}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				seedAgencies(t, s)
				wantErr(t, "CreateAdmin", s.CreateAdmin(ctx, tt.a, nil), nil)
				wantAdmin(t, s, tt.a)
				if tt.a.InviteHash != "" {
					got, err := s.AdminByInvite(ctx, tt.a.InviteHash)
					wantErr(t, "AdminByInvite", err, nil)
					check(t, "AdminByInvite", got, tt.a, normAdmin)
				}
				list, err := s.Admins(ctx)
				wantErr(t, "Admins", err, nil)
				check(t, "Admins", list, []storage.Admin{tt.a}, func(as []storage.Admin) []storage.Admin { return normList(as, normAdmin) })
				wantAdminCount(t, s, 1)
			})
		}
	})

	t.Run("duplicate", func(t *testing.T) {
		sameUsername := newAdmin("b")
		sameUsername.Username = "user-a"
		tests := []struct {
			name string
			a    storage.Admin
		}{
			{"ID", newAdmin("a")},
			{"username", sameUsername},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				wantErr(t, "CreateAdmin", s.CreateAdmin(ctx, newAdmin("a"), nil), nil)
				tt.a.Name = "must not be stored"
				wantErr(t, "CreateAdmin again", s.CreateAdmin(ctx, tt.a, nil), storage.ErrAlreadyExists)
				wantAdmin(t, s, newAdmin("a"))
				wantAdminCount(t, s, 1)
			})
		}
	})

	t.Run("invitations", func(t *testing.T) {
		s := su.store(t)
		invited, enrolled := newAdmin("invited"), newAdmin("enrolled")
		invited.InviteHash, invited.InviteExpiresAt = "hash-1", at(time.Hour)
		for _, a := range []storage.Admin{invited, enrolled} {
			wantErr(t, "CreateAdmin("+a.ID+")", s.CreateAdmin(ctx, a, nil), nil)
		}
		// An enrolled account has no invitation: the empty hash finds nothing.
		for _, h := range []string{"", "hash-2", "HASH-1"} {
			_, err := s.AdminByInvite(ctx, h)
			wantErr(t, "AdminByInvite("+h+")", err, storage.ErrNotFound)
		}
		other := newAdmin("other")
		other.InviteHash = "hash-1"
		wantErr(t, "CreateAdmin with an invitation hash taken", s.CreateAdmin(ctx, other, nil), storage.ErrAlreadyExists)
		// Enrolment spends the invitation.
		spent, err := s.UpdateAdmin(ctx, "invited", func(a storage.Admin) (storage.Admin, error) {
			a.InviteHash, a.InviteExpiresAt = "", time.Time{}
			return a, nil
		}, nil)
		wantErr(t, "UpdateAdmin", err, nil)
		want := invited
		want.InviteHash, want.InviteExpiresAt = "", time.Time{}
		check(t, "UpdateAdmin result", spent, want, normAdmin)
		wantAdmin(t, s, want)
		_, err = s.AdminByInvite(ctx, "hash-1")
		wantErr(t, "AdminByInvite of a spent invitation", err, storage.ErrNotFound)
	})

	t.Run("usernames compared exactly", func(t *testing.T) {
		// Folding case is the caller's business; the store keeps what it gets.
		s := su.store(t)
		lower, upper := newAdmin("lower"), newAdmin("upper")
		lower.Username, upper.Username = "alice", "Alice"
		for _, a := range []storage.Admin{lower, upper} {
			wantErr(t, "CreateAdmin("+a.Username+")", s.CreateAdmin(ctx, a, nil), nil)
		}
		wantAdmin(t, s, lower)
		wantAdmin(t, s, upper)
		_, err := s.AdminByUsername(ctx, "ALICE")
		wantErr(t, "AdminByUsername(ALICE)", err, storage.ErrNotFound)
	})

	t.Run("missing", func(t *testing.T) {
		s := su.store(t)
		wantAdminCount(t, s, 0)
		wantErr(t, "CreateAdmin", s.CreateAdmin(ctx, newAdmin("a"), nil), nil)
		_, err := s.Admin(ctx, "absent")
		wantErr(t, "Admin", err, storage.ErrNotFound)
		_, err = s.Admin(ctx, "user-a")
		wantErr(t, "Admin by a username", err, storage.ErrNotFound)
		_, err = s.AdminByUsername(ctx, "absent")
		wantErr(t, "AdminByUsername", err, storage.ErrNotFound)
		_, err = s.AdminByUsername(ctx, "a")
		wantErr(t, "AdminByUsername by an ID", err, storage.ErrNotFound)
		called := false
		_, err = s.UpdateAdmin(ctx, "absent", func(a storage.Admin) (storage.Admin, error) {
			called = true
			return a, nil
		}, nil)
		wantErr(t, "UpdateAdmin", err, storage.ErrNotFound)
		if called {
			t.Errorf("UpdateAdmin called fn for a missing account")
		}
	})

	t.Run("list ordered by username", func(t *testing.T) {
		s := su.store(t)
		list, err := s.Admins(ctx)
		wantErr(t, "Admins of an empty store", err, nil)
		if len(list) != 0 {
			t.Fatalf("Admins of an empty store = %d accounts, want 0", len(list))
		}
		for id, username := range map[string]string{"1": "mallee", "2": "boonmee", "3": "wichai", "4": "anong", "5": "boonchu"} {
			a := newAdmin(id)
			a.Username = username
			wantErr(t, "CreateAdmin", s.CreateAdmin(ctx, a, nil), nil)
		}
		list, err = s.Admins(ctx)
		wantErr(t, "Admins", err, nil)
		got := ids(list, func(a storage.Admin) string { return a.Username })
		if want := []string{"anong", "boonchu", "boonmee", "mallee", "wichai"}; !slices.Equal(got, want) {
			t.Errorf("Admins usernames = %q, want %q", got, want)
		}
		wantAdminCount(t, s, 5)
	})
}

func testUpdateAdmin(t *testing.T, su suite) {
	ctx := context.Background()

	tests := []struct {
		name string
		fn   func(storage.Admin) (storage.Admin, error)
		want func(storage.Admin) storage.Admin // nil: the update aborts
		err  error
	}{
		{
			name: "change fields",
			fn: func(a storage.Admin) (storage.Admin, error) {
				a.Role = storage.RoleApprover
				a.PasswordHash = "$argon2id$new"
				a.TOTPSecret = nil
				a.Disabled = true
				a.UpdatedAt = base
				return a, nil
			},
			want: func(a storage.Admin) storage.Admin {
				a.Role = storage.RoleApprover
				a.PasswordHash = "$argon2id$new"
				a.TOTPSecret = nil
				a.Disabled = true
				a.UpdatedAt = base
				return a
			},
		},
		{
			name: "rename",
			fn:   func(a storage.Admin) (storage.Admin, error) { a.Username = "renamed"; return a, nil },
			want: func(a storage.Admin) storage.Admin { a.Username = "renamed"; return a },
		},
		{
			name: "ID kept",
			fn:   func(a storage.Admin) (storage.Admin, error) { a.ID = "other"; return a, nil },
			want: identity[storage.Admin],
		},
		{
			name: "username taken",
			fn:   func(a storage.Admin) (storage.Admin, error) { a.Username = "user-b"; return a, nil },
			err:  storage.ErrAlreadyExists,
		},
		{
			name: "fn error aborts",
			fn: func(a storage.Admin) (storage.Admin, error) {
				a.Name = "must not be stored"
				return a, errTest
			},
			err: errTest,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := su.store(t)
			orig := newAdmin("a")
			for _, a := range []storage.Admin{orig, newAdmin("b")} {
				wantErr(t, "CreateAdmin", s.CreateAdmin(ctx, a, nil), nil)
			}
			var seen storage.Admin
			got, err := s.UpdateAdmin(ctx, "a", func(a storage.Admin) (storage.Admin, error) {
				seen = a
				return tt.fn(a)
			}, nil)
			wantErr(t, "UpdateAdmin", err, tt.err)
			check(t, "account passed to fn", seen, orig, normAdmin)
			want := orig
			if tt.want != nil {
				want = tt.want(orig)
				check(t, "UpdateAdmin result", got, want, normAdmin)
			}
			wantAdmin(t, s, want)
			wantAdmin(t, s, newAdmin("b"))
			if want.Username != orig.Username {
				_, err := s.AdminByUsername(ctx, orig.Username)
				wantErr(t, "AdminByUsername of the old name", err, storage.ErrNotFound)
			}
			_, err = s.Admin(ctx, "other")
			wantErr(t, "Admin(other)", err, storage.ErrNotFound)
			wantAdminCount(t, s, 2)
		})
	}

	t.Run("concurrent updates lose nothing", func(t *testing.T) {
		s := su.store(t)
		wantErr(t, "CreateAdmin", s.CreateAdmin(ctx, newAdmin("a"), nil), nil)
		const n = 16
		errs := race(n, func(i int) error {
			_, err := s.UpdateAdmin(ctx, "a", func(a storage.Admin) (storage.Admin, error) {
				a.Name += fmt.Sprintf("[%02d]", i)
				return a, nil
			}, nil)
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("UpdateAdmin #%d: %v", i, err)
			}
		}
		got, err := s.Admin(ctx, "a")
		wantErr(t, "Admin", err, nil)
		for i := range n {
			if mark := fmt.Sprintf("[%02d]", i); strings.Count(got.Name, mark) != 1 {
				t.Errorf("Name after %d concurrent appends = %q, want %s in it once", n, got.Name, mark)
			}
		}
	})
}

// testAdminConfirmation: who created an account and who confirmed it are
// kept, and a read tells a confirmed account from one that awaits its
// checker (clause 5).
func testAdminConfirmation(t *testing.T, su suite) {
	ctx := context.Background()
	s := su.store(t)
	pending := newAdmin("pending")
	pending.CreatedBy = "maker"
	wantErr(t, "CreateAdmin", s.CreateAdmin(ctx, pending, nil), nil)
	wantAdmin(t, s, pending)
	got, err := s.Admin(ctx, "pending")
	wantErr(t, "Admin", err, nil)
	if got.State() != storage.AdminPending || got.Confirmed() {
		t.Errorf("an enrolled account with a creator and no confirmation: state %q, confirmed %v; want pending", got.State(), got.Confirmed())
	}
	confirmed, err := s.UpdateAdmin(ctx, "pending", func(a storage.Admin) (storage.Admin, error) {
		a.ConfirmedBy, a.ConfirmedAt = "checker", at(time.Minute)
		return a, nil
	}, nil)
	wantErr(t, "UpdateAdmin", err, nil)
	want := pending
	want.ConfirmedBy, want.ConfirmedAt = "checker", at(time.Minute)
	check(t, "UpdateAdmin result", confirmed, want, normAdmin)
	wantAdmin(t, s, want)
	got, _ = s.Admin(ctx, "pending")
	if got.State() != storage.AdminActive {
		t.Errorf("confirmed account: state %q, want active", got.State())
	}
	list, err := s.Admins(ctx)
	wantErr(t, "Admins", err, nil)
	check(t, "Admins", list, []storage.Admin{want}, func(as []storage.Admin) []storage.Admin { return normList(as, normAdmin) })
}

func testAdminTokens(t *testing.T, su suite) {
	ctx := context.Background()
	newToken := func(id, adminID string, created time.Duration) storage.AdminToken {
		return storage.AdminToken{ID: id, AdminID: adminID, Name: "script " + id, Hash: "hash-" + id,
			CreatedAt: at(created), ExpiresAt: at(created + 90*24*time.Hour)}
	}
	tokens := func(t *testing.T, s storage.Store, adminID string) []storage.AdminToken {
		t.Helper()
		list, err := s.AdminTokens(ctx, adminID)
		wantErr(t, "AdminTokens("+adminID+")", err, nil)
		return list
	}

	t.Run("round trip, newest first", func(t *testing.T) {
		s := su.store(t)
		for _, a := range []storage.Admin{newAdmin("a"), newAdmin("b")} {
			wantErr(t, "CreateAdmin", s.CreateAdmin(ctx, a, nil), nil)
		}
		t1, t2, other := newToken("t1", "a", 0), newToken("t2", "a", time.Hour), newToken("t3", "b", 0)
		for _, tk := range []storage.AdminToken{t1, t2, other} {
			wantErr(t, "CreateAdminToken("+tk.ID+")", s.CreateAdminToken(ctx, tk, nil), nil)
		}
		got, err := s.AdminTokenByHash(ctx, "hash-t1")
		wantErr(t, "AdminTokenByHash", err, nil)
		check(t, "AdminTokenByHash", got, t1, normAdminToken)
		check(t, "AdminTokens(a)", tokens(t, s, "a"), []storage.AdminToken{t2, t1}, func(ts []storage.AdminToken) []storage.AdminToken { return normList(ts, normAdminToken) })
		check(t, "AdminTokens(b)", tokens(t, s, "b"), []storage.AdminToken{other}, func(ts []storage.AdminToken) []storage.AdminToken { return normList(ts, normAdminToken) })
		if n := len(tokens(t, s, "nobody")); n != 0 {
			t.Errorf("AdminTokens of an unknown account = %d tokens, want 0", n)
		}
		if !got.Live(at(time.Minute)) || got.Live(t1.ExpiresAt) {
			t.Errorf("Live: a fresh token is not live, or an expired one is")
		}
	})

	t.Run("refused", func(t *testing.T) {
		s := su.store(t)
		wantErr(t, "CreateAdmin", s.CreateAdmin(ctx, newAdmin("a"), nil), nil)
		wantErr(t, "CreateAdminToken", s.CreateAdminToken(ctx, newToken("t1", "a", 0), nil), nil)
		sameHash := newToken("t2", "a", 0)
		sameHash.Hash = "hash-t1"
		wantErr(t, "CreateAdminToken with a hash taken", s.CreateAdminToken(ctx, sameHash, nil), storage.ErrAlreadyExists)
		wantErr(t, "CreateAdminToken with an ID taken", s.CreateAdminToken(ctx, newToken("t1", "a", time.Hour), nil), storage.ErrAlreadyExists)
		wantErr(t, "CreateAdminToken of an unknown account", s.CreateAdminToken(ctx, newToken("t3", "nobody", 0), nil), storage.ErrNotFound)
		for _, h := range []string{"", "hash-t2", "HASH-T1"} {
			_, err := s.AdminTokenByHash(ctx, h)
			wantErr(t, "AdminTokenByHash("+h+")", err, storage.ErrNotFound)
		}
		if n := len(tokens(t, s, "a")); n != 1 {
			t.Errorf("after refused creations AdminTokens = %d tokens, want 1", n)
		}
	})

	t.Run("revoke once", func(t *testing.T) {
		s := su.store(t)
		for _, a := range []storage.Admin{newAdmin("a"), newAdmin("b")} {
			wantErr(t, "CreateAdmin", s.CreateAdmin(ctx, a, nil), nil)
		}
		tk := newToken("t1", "a", 0)
		wantErr(t, "CreateAdminToken", s.CreateAdminToken(ctx, tk, nil), nil)
		_, err := s.RevokeAdminToken(ctx, "b", "t1", "b", at(time.Minute))
		wantErr(t, "RevokeAdminToken by another account's ID", err, storage.ErrNotFound)
		_, err = s.RevokeAdminToken(ctx, "a", "absent", "a", at(time.Minute))
		wantErr(t, "RevokeAdminToken of an unknown token", err, storage.ErrNotFound)
		got, err := s.RevokeAdminToken(ctx, "a", "t1", "approver", at(time.Minute))
		wantErr(t, "RevokeAdminToken", err, nil)
		want := tk
		want.RevokedAt, want.RevokedBy = at(time.Minute), "approver"
		check(t, "RevokeAdminToken result", got, want, normAdminToken)
		stored, err := s.AdminTokenByHash(ctx, tk.Hash)
		wantErr(t, "AdminTokenByHash", err, nil)
		check(t, "revoked token", stored, want, normAdminToken)
		if stored.Live(at(2 * time.Minute)) {
			t.Error("a revoked token is live")
		}
		_, err = s.RevokeAdminToken(ctx, "a", "t1", "a", at(time.Hour))
		wantErr(t, "RevokeAdminToken again", err, storage.ErrConflict)
		stored, _ = s.AdminTokenByHash(ctx, tk.Hash)
		check(t, "token after a second revocation", stored, want, normAdminToken)
	})

	t.Run("concurrent revocations: one wins", func(t *testing.T) {
		s := su.store(t)
		wantErr(t, "CreateAdmin", s.CreateAdmin(ctx, newAdmin("a"), nil), nil)
		wantErr(t, "CreateAdminToken", s.CreateAdminToken(ctx, newToken("t1", "a", 0), nil), nil)
		errs := race(8, func(i int) error {
			_, err := s.RevokeAdminToken(ctx, "a", "t1", fmt.Sprintf("r%d", i), at(time.Minute))
			return err
		})
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, storage.ErrConflict):
				t.Errorf("RevokeAdminToken: %v, want nil or ErrConflict", err)
			}
		}
		if won != 1 {
			t.Errorf("%d concurrent revocations succeeded, want 1", won)
		}
	})
}
