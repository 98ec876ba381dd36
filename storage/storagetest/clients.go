package storagetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// newClient returns a client with every field set.
func newClient(id string) storage.Client {
	return storage.Client{
		ID:                     id,
		Name:                   "System " + id,
		SecretHash:             "hmac-sha256:" + id,
		AuthMethod:             storage.AuthMethodSecretBasic,
		RedirectURIs:           []string{"https://rp.example.go.th/cb", "https://rp.example.go.th/cb?x=1"},
		PostLogoutRedirectURIs: []string{"https://rp.example.go.th/bye"},
		Scopes:                 []string{"openid", "profile"},
		SigningAlg:             "ES256",
		PermitID:               "permit-1",
		NetworkRanges:          []string{"10.0.0.0/8", "2001:db8::/32"},
		AccessTokenTTL:         5 * time.Minute,
		RefreshTokenTTL:        24 * time.Hour,
		CreatedAt:              at(-time.Hour),
		UpdatedAt:              at(-time.Minute),
	}
}

// seedClient stores the client that the request and token fixtures name, for
// backends that check references.
func seedClient(t *testing.T, s storage.Store, id string) {
	t.Helper()
	if err := s.CreateClient(context.Background(), newClient(id), nil); err != nil {
		t.Fatalf("CreateClient(%q): %v", id, err)
	}
}

func testClients(t *testing.T, su suite) {
	ctx := context.Background()

	t.Run("round trip", func(t *testing.T) {
		jwt := newClient("jwt")
		jwt.AuthMethod = storage.AuthMethodPrivateKeyJWT
		jwt.SecretHash = ""
		jwt.JWKS = []byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`)
		jwksURI := newClient("jwks-uri")
		jwksURI.AuthMethod = storage.AuthMethodPrivateKeyJWT
		jwksURI.SecretHash = ""
		jwksURI.JWKSURI = "https://rp.example.go.th/.well-known/jwks.json?v=ก"
		disabled := newClient("disabled")
		disabled.Disabled = true
		par := newClient("par-required")
		par.RequirePAR = true
		encrypted := newClient("encrypted")
		encrypted.IDTokenEncryptedResponseAlg = storage.EncryptionAlgRSAOAEP256
		encrypted.IDTokenEncryptedResponseEnc = storage.EncryptionEncA256GCM
		encrypted.UserinfoEncryptedResponseAlg = storage.EncryptionAlgECDHES
		encrypted.UserinfoEncryptedResponseEnc = storage.EncryptionEncA256GCM
		fapi := newClient("fapi")
		fapi.AuthMethod = storage.AuthMethodPrivateKeyJWT
		fapi.SecretHash = ""
		fapi.FAPI = true
		bcl := newClient("backchannel-logout")
		bcl.BackchannelLogoutURI = "https://rp.example.go.th/logout?x=ก"
		bcl.BackchannelLogoutSessionRequired = true
		empty := storage.Client{
			ID:                     "empty-slices",
			AuthMethod:             storage.AuthMethodNone,
			JWKS:                   []byte{},
			RedirectURIs:           []string{},
			PostLogoutRedirectURIs: []string{},
			Scopes:                 []string{},
			NetworkRanges:          []string{},
		}
		tests := []struct {
			name string
			c    storage.Client
		}{
			{"every field", newClient("full")},
			{"private_key_jwt", jwt},
			{"private_key_jwt at a jwks_uri", jwksURI},
			{"disabled", disabled},
			{"PAR required", par},
			{"encrypted responses", encrypted},
			{"FAPI 2.0 profile", fapi},
			{"back-channel logout", bcl},
			{"zero values", storage.Client{ID: "zero"}},
			{"empty slices", empty},
			{"unicode", storage.Client{ID: "ระบบ-1", Name: "กรมการปกครอง 🇹🇭", Scopes: []string{"openid", "ชื่อ"}}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				wantErr(t, "CreateClient", s.CreateClient(ctx, tt.c, nil), nil)
				got, err := s.Client(ctx, tt.c.ID)
				wantErr(t, "Client", err, nil)
				check(t, "Client", got, tt.c, normClient)
				list, err := s.Clients(ctx)
				wantErr(t, "Clients", err, nil)
				check(t, "Clients", list, []storage.Client{tt.c}, normClients)
			})
		}
	})

	t.Run("duplicate ID", func(t *testing.T) {
		s := su.store(t)
		first := newClient("a")
		wantErr(t, "CreateClient", s.CreateClient(ctx, first, nil), nil)
		second := newClient("a")
		second.Name = "another"
		wantErr(t, "CreateClient again", s.CreateClient(ctx, second, nil), storage.ErrAlreadyExists)
		got, err := s.Client(ctx, "a")
		wantErr(t, "Client", err, nil)
		check(t, "Client", got, first, normClient)
	})

	t.Run("missing", func(t *testing.T) {
		s := su.store(t)
		seedClient(t, s, "present")
		_, err := s.Client(ctx, "absent")
		wantErr(t, "Client", err, storage.ErrNotFound)
		wantErr(t, "DeleteClient", s.DeleteClient(ctx, "absent", nil), storage.ErrNotFound)
		called := false
		_, err = s.UpdateClient(ctx, "absent", func(c storage.Client) (storage.Client, error) {
			called = true
			return c, nil
		}, nil)
		wantErr(t, "UpdateClient", err, storage.ErrNotFound)
		if called {
			t.Errorf("UpdateClient called fn for a missing client")
		}
	})

	t.Run("list ordered by ID", func(t *testing.T) {
		s := su.store(t)
		list, err := s.Clients(ctx)
		wantErr(t, "Clients of an empty store", err, nil)
		if len(list) != 0 {
			t.Fatalf("Clients of an empty store = %d clients, want 0", len(list))
		}
		ids := []string{"m", "b", "z", "a", "b2"}
		for _, id := range ids {
			seedClient(t, s, id)
		}
		list, err = s.Clients(ctx)
		wantErr(t, "Clients", err, nil)
		var got []string
		for _, c := range list {
			got = append(got, c.ID)
		}
		want := slices.Sorted(slices.Values(ids))
		if !slices.Equal(got, want) {
			t.Errorf("Clients IDs = %q, want %q", got, want)
		}
	})

	t.Run("delete", func(t *testing.T) {
		s := su.store(t)
		seedClient(t, s, "a")
		seedClient(t, s, "b")
		wantErr(t, "DeleteClient", s.DeleteClient(ctx, "a", nil), nil)
		_, err := s.Client(ctx, "a")
		wantErr(t, "Client after delete", err, storage.ErrNotFound)
		wantErr(t, "DeleteClient again", s.DeleteClient(ctx, "a", nil), storage.ErrNotFound)
		list, err := s.Clients(ctx)
		wantErr(t, "Clients", err, nil)
		check(t, "Clients", list, []storage.Client{newClient("b")}, normClients)
		// The ID is free again.
		wantErr(t, "CreateClient after delete", s.CreateClient(ctx, newClient("a"), nil), nil)
	})
}

func testUpdateClient(t *testing.T, su suite) {
	ctx := context.Background()

	tests := []struct {
		name string
		fn   func(storage.Client) (storage.Client, error)
		want func(storage.Client) storage.Client // nil: the update aborts
		err  error
	}{
		{
			name: "change fields",
			fn: func(c storage.Client) (storage.Client, error) {
				c.Name = "renamed"
				c.Scopes = append(c.Scopes, "email")
				c.Disabled = true
				c.JWKSURI = "https://rp.example.go.th/jwks"
				c.RedirectURIs = nil
				c.RequirePAR = true
				c.IDTokenEncryptedResponseAlg, c.IDTokenEncryptedResponseEnc = storage.EncryptionAlgECDHES, storage.EncryptionEncA256GCM
				c.UserinfoEncryptedResponseAlg, c.UserinfoEncryptedResponseEnc = storage.EncryptionAlgRSAOAEP256, storage.EncryptionEncA256GCM
				c.FAPI = true
				c.UpdatedAt = at(time.Minute)
				return c, nil
			},
			want: func(c storage.Client) storage.Client {
				c.Name = "renamed"
				c.Scopes = []string{"openid", "profile", "email"}
				c.Disabled = true
				c.JWKSURI = "https://rp.example.go.th/jwks"
				c.RedirectURIs = nil
				c.RequirePAR = true
				c.IDTokenEncryptedResponseAlg, c.IDTokenEncryptedResponseEnc = storage.EncryptionAlgECDHES, storage.EncryptionEncA256GCM
				c.UserinfoEncryptedResponseAlg, c.UserinfoEncryptedResponseEnc = storage.EncryptionAlgRSAOAEP256, storage.EncryptionEncA256GCM
				c.FAPI = true
				c.UpdatedAt = at(time.Minute)
				return c
			},
		},
		{
			name: "no change",
			fn:   func(c storage.Client) (storage.Client, error) { return c, nil },
			want: func(c storage.Client) storage.Client { return c },
		},
		{
			name: "fn error aborts",
			fn: func(c storage.Client) (storage.Client, error) {
				c.Name = "must not be stored"
				return c, errTest
			},
			err: errTest,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := su.store(t)
			orig := newClient("a")
			wantErr(t, "CreateClient", s.CreateClient(ctx, orig, nil), nil)
			var seen storage.Client
			got, err := s.UpdateClient(ctx, "a", func(c storage.Client) (storage.Client, error) {
				seen = c
				return tt.fn(c)
			}, nil)
			wantErr(t, "UpdateClient", err, tt.err)
			check(t, "client passed to fn", seen, orig, normClient)
			want := orig
			if tt.want != nil {
				want = tt.want(orig)
				check(t, "UpdateClient result", got, want, normClient)
			}
			stored, err := s.Client(ctx, "a")
			wantErr(t, "Client", err, nil)
			check(t, "stored client", stored, want, normClient)
		})
	}

	t.Run("concurrent updates lose nothing", func(t *testing.T) {
		s := su.store(t)
		wantErr(t, "CreateClient", s.CreateClient(ctx, newClient("a"), nil), nil)
		const n = 20
		errs := race(n, func(i int) error {
			_, err := s.UpdateClient(ctx, "a", func(c storage.Client) (storage.Client, error) {
				c.Scopes = append(c.Scopes, fmt.Sprintf("scope-%02d", i))
				return c, nil
			}, nil)
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("UpdateClient #%d: %v", i, err)
			}
		}
		got, err := s.Client(ctx, "a")
		wantErr(t, "Client", err, nil)
		want := []string{"openid", "profile"}
		for i := range n {
			want = append(want, fmt.Sprintf("scope-%02d", i))
		}
		if !sameSet(got.Scopes, want) {
			t.Errorf("Scopes after %d concurrent appends = %q, want (any order) %q", n, got.Scopes, want)
		}
	})
}
