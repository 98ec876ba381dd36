package storagetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// newGrant returns a grant with every field set, live from base for a day.
func newGrant(id string) storage.Grant {
	return storage.Grant{
		ID:        id,
		ClientID:  "client-1",
		Subject:   "subject-1",
		Scopes:    []string{"openid", "profile"},
		AuthTime:  at(-time.Minute),
		AMR:       []string{"face"},
		ACR:       "urn:dopa:aal2",
		IAL:       "2.3",
		SessionID: "session-1",
		Claims:    []byte(`{"id_token":{"acr":null}}`),
		Purpose:   "pension",
		DPoPJKT:   "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
		CreatedAt: base,
		ExpiresAt: at(24 * time.Hour),
	}
}

func newAccess(id, grantID string) storage.AccessToken {
	return storage.AccessToken{ID: id, GrantID: grantID, CreatedAt: base, ExpiresAt: at(5 * time.Minute)}
}

func newRefresh(id, grantID string) *storage.RefreshToken {
	return &storage.RefreshToken{ID: id, GrantID: grantID, CreatedAt: base, ExpiresAt: at(time.Hour)}
}

// issue stores a grant with access token "at-"+id and refresh token
// "rt-"+id.
func issue(t *testing.T, s storage.Store, g storage.Grant) {
	t.Helper()
	err := s.IssueTokens(context.Background(), g, newAccess("at-"+g.ID, g.ID), newRefresh("rt-"+g.ID, g.ID), nil)
	wantErr(t, "IssueTokens("+g.ID+")", err, nil)
}

// accessLive and refreshLive fail t unless the token's liveness at now is
// as wanted.
func accessLive(t *testing.T, s storage.Store, id string, now time.Time, live bool) {
	t.Helper()
	_, err := s.AccessToken(context.Background(), id, now)
	assertLive(t, "AccessToken("+id+")", err, live)
}

func refreshLive(t *testing.T, s storage.Store, id string, now time.Time, live bool) {
	t.Helper()
	_, err := s.RefreshToken(context.Background(), id, now)
	assertLive(t, "RefreshToken("+id+")", err, live)
}

func assertLive(t *testing.T, what string, err error, live bool) {
	t.Helper()
	if live {
		wantErr(t, what, err, nil)
	} else {
		wantErr(t, what, err, storage.ErrNotFound)
	}
}

func testIssueTokens(t *testing.T, su suite) {
	ctx := context.Background()

	t.Run("round trip", func(t *testing.T) {
		minimal := storage.Grant{ID: "minimal", ClientID: "client-1", Subject: "subject-1", ExpiresAt: at(time.Hour)}
		tests := []struct {
			name    string
			g       storage.Grant
			refresh bool
		}{
			{"with refresh token", newGrant("g"), true},
			{"without refresh token", newGrant("g"), false},
			{"minimal grant", minimal, true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				seedClient(t, s, "client-1")
				access := newAccess("at-1", tt.g.ID)
				var refresh *storage.RefreshToken
				if tt.refresh {
					refresh = newRefresh("rt-1", tt.g.ID)
				}
				wantErr(t, "IssueTokens", s.IssueTokens(ctx, tt.g, access, refresh, nil), nil)

				got, err := s.AccessToken(ctx, access.ID, base)
				wantErr(t, "AccessToken", err, nil)
				check(t, "AccessToken grant", got.Grant, tt.g, normGrant)
				check(t, "AccessToken token", got.Access, access, normAccess)

				ri, err := s.RefreshToken(ctx, "rt-1", base)
				if !tt.refresh {
					wantErr(t, "RefreshToken", err, storage.ErrNotFound)
					return
				}
				wantErr(t, "RefreshToken", err, nil)
				check(t, "RefreshToken grant", ri.Grant, tt.g, normGrant)
				check(t, "RefreshToken token", ri.Refresh, *refresh, normRefresh)
			})
		}
	})

	t.Run("more tokens for a live grant", func(t *testing.T) {
		s := su.store(t)
		seedClient(t, s, "client-1")
		g := newGrant("g")
		issue(t, s, g)
		wantErr(t, "IssueTokens again", s.IssueTokens(ctx, g, newAccess("at-2", "g"), nil, nil), nil)
		accessLive(t, s, "at-g", base, true)
		accessLive(t, s, "at-2", base, true)
		refreshLive(t, s, "rt-g", base, true)
	})

	t.Run("refused", func(t *testing.T) {
		tests := []struct {
			name    string
			g       storage.Grant
			access  storage.AccessToken
			refresh *storage.RefreshToken
			err     error
		}{
			{"revoked grant", newGrant("revoked"), newAccess("at-new", "revoked"), newRefresh("rt-new", "revoked"), storage.ErrConflict},
			{"access token ID taken", newGrant("new"), newAccess("at-live", "new"), newRefresh("rt-new", "new"), storage.ErrAlreadyExists},
			{"refresh token ID taken", newGrant("new"), newAccess("at-new", "new"), newRefresh("rt-live", "new"), storage.ErrAlreadyExists},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				seedClient(t, s, "client-1")
				issue(t, s, newGrant("live"))
				issue(t, s, newGrant("revoked"))
				wantErr(t, "RevokeGrant", s.RevokeGrant(ctx, "revoked", base), nil)

				tt.g.Subject = "subject-" + tt.g.ID
				err := s.IssueTokens(ctx, tt.g, tt.access, tt.refresh, nil)
				wantErr(t, "IssueTokens", err, tt.err)

				// One transaction: nothing of the refused call is left.
				accessLive(t, s, "at-new", base, false)
				refreshLive(t, s, "rt-new", base, false)
				n, err := s.RevokeGrants(ctx, storage.GrantFilter{Subject: tt.g.Subject}, base)
				wantErr(t, "RevokeGrants", err, nil)
				if n != 0 {
					t.Errorf("refused IssueTokens left a live grant behind")
				}
				// The tokens that were there are untouched.
				accessLive(t, s, "at-live", base, true)
				refreshLive(t, s, "rt-live", base, true)
			})
		}
	})
}

func testTokenExpiry(t *testing.T, su suite) {
	ctx := context.Background()
	tests := []struct {
		name            string
		now             time.Time
		access, refresh bool
	}{
		{"at issue", base, true, true},
		{"before access expiry", at(5*time.Minute - time.Millisecond), true, true},
		{"at access expiry", at(5 * time.Minute), false, true},
		{"before refresh expiry", at(time.Hour - time.Millisecond), false, true},
		{"at refresh expiry", at(time.Hour), false, false},
		{"long after", at(48 * time.Hour), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := su.store(t)
			seedClient(t, s, "client-1")
			issue(t, s, newGrant("g"))
			accessLive(t, s, "at-g", tt.now, tt.access)
			refreshLive(t, s, "rt-g", tt.now, tt.refresh)
		})
	}

	t.Run("unknown", func(t *testing.T) {
		s := su.store(t)
		seedClient(t, s, "client-1")
		issue(t, s, newGrant("g"))
		_, err := s.AccessToken(ctx, "rt-g", base)
		wantErr(t, "AccessToken of a refresh token ID", err, storage.ErrNotFound)
		_, err = s.RefreshToken(ctx, "at-g", base)
		wantErr(t, "RefreshToken of an access token ID", err, storage.ErrNotFound)
		_, err = s.AccessToken(ctx, "absent", base)
		wantErr(t, "AccessToken", err, storage.ErrNotFound)
		_, err = s.RefreshToken(ctx, "absent", base)
		wantErr(t, "RefreshToken", err, storage.ErrNotFound)
	})
}

func testRevokeAccessToken(t *testing.T, su suite) {
	ctx := context.Background()
	s := su.store(t)
	seedClient(t, s, "client-1")
	issue(t, s, newGrant("g"))
	wantErr(t, "IssueTokens", s.IssueTokens(ctx, newGrant("g"), newAccess("at-2", "g"), nil, nil), nil)

	wantErr(t, "RevokeAccessToken", s.RevokeAccessToken(ctx, "at-g", base), nil)
	accessLive(t, s, "at-g", base, false)
	accessLive(t, s, "at-2", base, true)
	refreshLive(t, s, "rt-g", base, true)

	wantErr(t, "RevokeAccessToken again", s.RevokeAccessToken(ctx, "at-g", at(time.Second)), nil)
	wantErr(t, "RevokeAccessToken of a missing token", s.RevokeAccessToken(ctx, "absent", base), nil)
}

func testRevokeGrant(t *testing.T, su suite) {
	ctx := context.Background()
	s := su.store(t)
	seedClient(t, s, "client-1")
	issue(t, s, newGrant("g"))
	issue(t, s, newGrant("other"))

	wantErr(t, "RevokeGrant", s.RevokeGrant(ctx, "g", base), nil)
	accessLive(t, s, "at-g", base, false)
	refreshLive(t, s, "rt-g", base, false)
	_, err := s.RotateRefreshToken(ctx, "rt-g", newAccess("at-next", ""), *newRefresh("rt-next", ""), base, nil)
	wantErr(t, "RotateRefreshToken of a revoked grant", err, storage.ErrNotFound)
	accessLive(t, s, "at-next", base, false)

	accessLive(t, s, "at-other", base, true)
	refreshLive(t, s, "rt-other", base, true)

	wantErr(t, "RevokeGrant again", s.RevokeGrant(ctx, "g", at(time.Second)), nil)
	wantErr(t, "RevokeGrant of a missing grant", s.RevokeGrant(ctx, "absent", base), nil)
}

func testRevokeGrants(t *testing.T, su suite) {
	ctx := context.Background()
	grant := func(id, client, subject, session string) storage.Grant {
		g := newGrant(id)
		g.ClientID, g.Subject, g.SessionID = client, subject, session
		return g
	}
	grants := []storage.Grant{
		grant("g1", "client-a", "alice", "s1"),
		grant("g2", "client-a", "bob", "s2"),
		grant("g3", "client-b", "alice", "s3"),
		grant("g4", "client-b", "alice", "s1"),
		grant("g5", "client-b", "bob", "s4"),
	}
	tests := []struct {
		name    string
		f       storage.GrantFilter
		revoked []string
	}{
		{"by client", storage.GrantFilter{ClientID: "client-a"}, []string{"g1", "g2"}},
		{"by subject", storage.GrantFilter{Subject: "alice"}, []string{"g1", "g3", "g4"}},
		{"by session", storage.GrantFilter{SessionID: "s1"}, []string{"g1", "g4"}},
		{"by client and subject", storage.GrantFilter{ClientID: "client-b", Subject: "alice"}, []string{"g3", "g4"}},
		{"by all three", storage.GrantFilter{ClientID: "client-b", Subject: "alice", SessionID: "s1"}, []string{"g4"}},
		{"no match", storage.GrantFilter{ClientID: "client-c"}, nil},
		{"subject is not a prefix match", storage.GrantFilter{Subject: "ali"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := su.store(t)
			seedClient(t, s, "client-a")
			seedClient(t, s, "client-b")
			for _, g := range grants {
				issue(t, s, g)
			}
			n, err := s.RevokeGrants(ctx, tt.f, base)
			wantErr(t, "RevokeGrants", err, nil)
			if n != int64(len(tt.revoked)) {
				t.Errorf("RevokeGrants(%+v) = %d, want %d", tt.f, n, len(tt.revoked))
			}
			for _, g := range grants {
				revoked := false
				for _, id := range tt.revoked {
					revoked = revoked || id == g.ID
				}
				accessLive(t, s, "at-"+g.ID, base, !revoked)
				refreshLive(t, s, "rt-"+g.ID, base, !revoked)
			}
			// Revoked grants are not live: a second call counts none.
			n, err = s.RevokeGrants(ctx, tt.f, at(time.Second))
			wantErr(t, "RevokeGrants again", err, nil)
			if n != 0 {
				t.Errorf("RevokeGrants(%+v) again = %d, want 0", tt.f, n)
			}
		})
	}

	t.Run("empty filter refused", func(t *testing.T) {
		s := su.store(t)
		seedClient(t, s, "client-a")
		seedClient(t, s, "client-b")
		for _, g := range grants {
			issue(t, s, g)
		}
		if _, err := s.RevokeGrants(ctx, storage.GrantFilter{}, base); err == nil {
			t.Errorf("RevokeGrants(empty filter): no error")
		}
		for _, g := range grants {
			accessLive(t, s, "at-"+g.ID, base, true)
		}
	})
}

func testRotateRefreshToken(t *testing.T, su suite) {
	ctx := context.Background()
	// The caller does not know the grant: successors come without GrantID.
	next := func(n int) (storage.AccessToken, storage.RefreshToken) {
		a := storage.AccessToken{ID: fmt.Sprintf("at-%d", n), CreatedAt: at(time.Minute), ExpiresAt: at(6 * time.Minute)}
		r := storage.RefreshToken{ID: fmt.Sprintf("rt-%d", n), CreatedAt: at(time.Minute), ExpiresAt: at(time.Hour + time.Minute)}
		return a, r
	}

	t.Run("rotates", func(t *testing.T) {
		s := su.store(t)
		seedClient(t, s, "client-1")
		g := newGrant("g")
		issue(t, s, g)
		a, r := next(1)
		got, err := s.RotateRefreshToken(ctx, "rt-g", a, r, at(time.Minute), nil)
		wantErr(t, "RotateRefreshToken", err, nil)
		check(t, "RotateRefreshToken grant", got, g, normGrant)

		refreshLive(t, s, "rt-g", at(time.Minute), false)
		ai, err := s.AccessToken(ctx, a.ID, at(time.Minute))
		wantErr(t, "AccessToken of the successor", err, nil)
		a.GrantID = g.ID
		check(t, "successor access token", ai.Access, a, normAccess)
		check(t, "successor access token grant", ai.Grant, g, normGrant)
		ri, err := s.RefreshToken(ctx, r.ID, at(time.Minute))
		wantErr(t, "RefreshToken of the successor", err, nil)
		r.GrantID = g.ID
		check(t, "successor refresh token", ri.Refresh, r, normRefresh)

		// The chain goes on.
		a2, r2 := next(2)
		_, err = s.RotateRefreshToken(ctx, r.ID, a2, r2, at(2*time.Minute), nil)
		wantErr(t, "RotateRefreshToken of the successor", err, nil)
		refreshLive(t, s, r2.ID, at(2*time.Minute), true)
	})

	t.Run("successors capped at grant expiry", func(t *testing.T) {
		s := su.store(t)
		seedClient(t, s, "client-1")
		g := newGrant("g")
		g.ExpiresAt = at(30 * time.Minute)
		wantErr(t, "IssueTokens", s.IssueTokens(ctx, g, newAccess("at-g", "g"), &storage.RefreshToken{
			ID: "rt-g", GrantID: "g", CreatedAt: base, ExpiresAt: g.ExpiresAt,
		}, nil), nil)
		a, r := next(1)
		a.ExpiresAt = at(time.Hour)
		r.ExpiresAt = at(2 * time.Hour)
		_, err := s.RotateRefreshToken(ctx, "rt-g", a, r, at(time.Minute), nil)
		wantErr(t, "RotateRefreshToken", err, nil)
		ai, err := s.AccessToken(ctx, a.ID, at(time.Minute))
		wantErr(t, "AccessToken", err, nil)
		ri, err := s.RefreshToken(ctx, r.ID, at(time.Minute))
		wantErr(t, "RefreshToken", err, nil)
		if got, want := normTime(ai.Access.ExpiresAt), normTime(g.ExpiresAt); !got.Equal(want) {
			t.Errorf("successor access token ExpiresAt = %v, want %v (the grant's)", got, want)
		}
		if got, want := normTime(ri.Refresh.ExpiresAt), normTime(g.ExpiresAt); !got.Equal(want) {
			t.Errorf("successor refresh token ExpiresAt = %v, want %v (the grant's)", got, want)
		}
		refreshLive(t, s, r.ID, at(30*time.Minute), false)
	})

	t.Run("not found", func(t *testing.T) {
		tests := []struct {
			name string
			old  string
			now  time.Time
		}{
			{"unknown", "rt-unknown", at(time.Minute)},
			{"access token ID", "at-g", at(time.Minute)},
			{"expired", "rt-g", at(time.Hour)},
			{"revoked grant", "rt-revoked", at(time.Minute)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				seedClient(t, s, "client-1")
				issue(t, s, newGrant("g"))
				issue(t, s, newGrant("revoked"))
				wantErr(t, "RevokeGrant", s.RevokeGrant(ctx, "revoked", base), nil)
				a, r := next(1)
				_, err := s.RotateRefreshToken(ctx, tt.old, a, r, tt.now, nil)
				wantErr(t, "RotateRefreshToken", err, storage.ErrNotFound)
				accessLive(t, s, a.ID, at(time.Minute), false)
				refreshLive(t, s, r.ID, at(time.Minute), false)
			})
		}
	})

	t.Run("reuse revokes the grant", func(t *testing.T) {
		s := su.store(t)
		seedClient(t, s, "client-1")
		issue(t, s, newGrant("g"))
		issue(t, s, newGrant("other"))
		a1, r1 := next(1)
		_, err := s.RotateRefreshToken(ctx, "rt-g", a1, r1, at(time.Minute), nil)
		wantErr(t, "RotateRefreshToken", err, nil)

		a2, r2 := next(2)
		_, err = s.RotateRefreshToken(ctx, "rt-g", a2, r2, at(2*time.Minute), nil)
		wantErr(t, "RotateRefreshToken of a used token", err, storage.ErrConflict)

		now := at(2 * time.Minute)
		for _, id := range []string{"at-g", a1.ID, a2.ID} {
			accessLive(t, s, id, now, false)
		}
		for _, id := range []string{r1.ID, r2.ID} {
			refreshLive(t, s, id, now, false)
		}
		a3, r3 := next(3)
		_, err = s.RotateRefreshToken(ctx, r1.ID, a3, r3, now, nil)
		wantErr(t, "RotateRefreshToken of the successor after reuse", err, storage.ErrNotFound)
		wantErr(t, "IssueTokens into the revoked grant", s.IssueTokens(ctx, newGrant("g"), a3, nil, nil), storage.ErrConflict)

		_, err = s.RotateRefreshToken(ctx, "rt-g", a3, r3, now, nil)
		wantErr(t, "RotateRefreshToken of a used token of a revoked grant", err, storage.ErrConflict)

		accessLive(t, s, "at-other", now, true)
		refreshLive(t, s, "rt-other", now, true)
	})

	t.Run("concurrent rotations", func(t *testing.T) {
		s := su.store(t)
		seedClient(t, s, "client-1")
		issue(t, s, newGrant("g"))
		const n = 16
		errs := race(n, func(i int) error {
			a, r := next(i)
			_, err := s.RotateRefreshToken(ctx, "rt-g", a, r, at(time.Minute), nil)
			return err
		})
		if w := winners(t, "RotateRefreshToken", errs, storage.ErrConflict); w != 1 {
			t.Errorf("%d of %d concurrent rotations succeeded, want 1", w, n)
		}
		// Every loser presented a used token: the grant is revoked, and
		// with it the winner's successors.
		for i := range n {
			a, r := next(i)
			accessLive(t, s, a.ID, at(time.Minute), false)
			refreshLive(t, s, r.ID, at(time.Minute), false)
		}
	})
}

// revocationsFrom reads the feed from cursor and returns what it reported
// (by kind and ID, with ExpiresAt) and the next cursor.
func revocationsFrom(t *testing.T, s storage.Store, cursor int64) (map[string]time.Time, int64) {
	t.Helper()
	rs, next, err := s.Revocations(context.Background(), cursor)
	wantErr(t, fmt.Sprintf("Revocations(%d)", cursor), err, nil)
	got := map[string]time.Time{}
	for _, r := range rs {
		k := "access:" + r.ID
		if r.Grant {
			k = "grant:" + r.ID
		}
		got[k] = r.ExpiresAt
	}
	return got, next
}

// testRevocations checks the revocation feed: every way of revoking a
// grant or an access token is reported, with its expiry, from the cursor
// of the read before it; reading on from a cursor reports nothing that was
// revoked before it was taken except what it may repeat; DeleteExpired
// takes out what ran out.
func testRevocations(t *testing.T, su suite) {
	ctx := context.Background()
	s := su.store(t)
	seedClient(t, s, "client-1")
	got, c0 := revocationsFrom(t, s, 0)
	if len(got) != 0 {
		t.Fatalf("Revocations of a new store = %v, want none", got)
	}
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		g := newGrant(id)
		g.Subject = "subject-" + id
		issue(t, s, g)
	}
	if got, _ := revocationsFrom(t, s, c0); len(got) != 0 {
		t.Errorf("Revocations after issuing only = %v, want none", got)
	}

	wantErr(t, "RevokeAccessToken", s.RevokeAccessToken(ctx, "at-a", base), nil)
	wantErr(t, "RevokeGrant", s.RevokeGrant(ctx, "b", base), nil)
	n, err := s.RevokeGrants(ctx, storage.GrantFilter{Subject: "subject-c"}, base)
	wantErr(t, "RevokeGrants", err, nil)
	if n != 1 {
		t.Fatalf("RevokeGrants = %d, want 1", n)
	}
	a1 := storage.AccessToken{ID: "at-d1", CreatedAt: at(time.Minute), ExpiresAt: at(6 * time.Minute)}
	r1 := storage.RefreshToken{ID: "rt-d1", CreatedAt: at(time.Minute), ExpiresAt: at(time.Hour)}
	_, err = s.RotateRefreshToken(ctx, "rt-d", a1, r1, at(time.Minute), nil)
	wantErr(t, "RotateRefreshToken", err, nil)
	a2, r2 := a1, r1
	a2.ID, r2.ID = "at-d2", "rt-d2"
	_, err = s.RotateRefreshToken(ctx, "rt-d", a2, r2, at(time.Minute), nil)
	wantErr(t, "RotateRefreshToken of a used token", err, storage.ErrConflict)

	want := map[string]time.Time{
		"access:at-a": newAccess("at-a", "a").ExpiresAt,
		"grant:b":     newGrant("b").ExpiresAt,
		"grant:c":     newGrant("c").ExpiresAt,
		"grant:d":     newGrant("d").ExpiresAt,
	}
	got, c1 := revocationsFrom(t, s, c0)
	for k, exp := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("Revocations(%d) lacks %s: got %v", c0, k, got)
		} else if !g.Equal(exp) {
			t.Errorf("Revocations(%d): %s expires %v, want %v", c0, k, g, exp)
		}
	}
	if _, ok := got["grant:e"]; ok {
		t.Errorf("Revocations reports grant e, which is live")
	}
	if all, _ := revocationsFrom(t, s, 0); len(all) != len(got) {
		t.Errorf("Revocations(0) = %v, want the same as from the first cursor: %v", all, got)
	}

	// From the new cursor on: what is revoked next, whatever came before
	// may come again.
	wantErr(t, "RevokeGrant of a revoked grant", s.RevokeGrant(ctx, "b", at(time.Second)), nil)
	wantErr(t, "RevokeGrant", s.RevokeGrant(ctx, "e", base), nil)
	got, _ = revocationsFrom(t, s, c1)
	if _, ok := got["grant:e"]; !ok {
		t.Errorf("Revocations(%d) after revoking e = %v, want grant:e", c1, got)
	}
	for k := range got {
		if _, ok := want[k]; !ok && k != "grant:e" {
			t.Errorf("Revocations(%d) reports %s, which was never revoked", c1, k)
		}
	}

	// Past every expiry, DeleteExpired empties the feed.
	_, err = s.DeleteExpired(ctx, at(48*time.Hour))
	wantErr(t, "DeleteExpired", err, nil)
	if got, _ := revocationsFrom(t, s, 0); len(got) != 0 {
		t.Errorf("Revocations after DeleteExpired past every expiry = %v, want none", got)
	}
}
