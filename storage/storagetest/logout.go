package storagetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// seedLogoutClient stores a client that takes back-channel logout tokens.
func seedLogoutClient(t *testing.T, s storage.Store, id string) {
	t.Helper()
	c := newClient(id)
	c.BackchannelLogoutURI = "https://rp.example.go.th/backchannel-logout"
	c.BackchannelLogoutSessionRequired = true
	if err := s.CreateClient(context.Background(), c, nil); err != nil {
		t.Fatalf("CreateClient(%q): %v", id, err)
	}
}

// owedLogout issues a grant of client to subject and revokes it at base,
// so that a logout is owed for it.
func owedLogout(t *testing.T, s storage.Store, grantID, client, subject string) {
	t.Helper()
	g := newGrant(grantID)
	g.ClientID, g.Subject = client, subject
	issue(t, s, g)
	wantErr(t, "RevokeGrant("+grantID+")", s.RevokeGrant(context.Background(), grantID, base), nil)
}

func claimIDs(ds []storage.LogoutDelivery) []string {
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.GrantID)
	}
	slices.Sort(ids)
	return ids
}

// testLogouts pins down the back-channel logout outbox: what revokes a
// grant of a client with a logout URI owes a logout, in the same
// transaction; claims lease; retries back off; a finished delivery is
// never claimed again.
func testLogouts(t *testing.T, su suite) {
	ctx := context.Background()
	const lease = time.Minute

	t.Run("every revocation of a grant owes one logout", func(t *testing.T) {
		s := su.store(t)
		seedPermits(t, s, "permit-1")
		seedCitizens(t, s, 1)
		seedLogoutClient(t, s, "client-1")
		seedClient(t, s, "no-uri") // takes no logout tokens
		grant := func(id, client, session string) {
			g := newGrant(id)
			g.ClientID, g.Subject, g.SessionID = client, "citizen-1", session
			issue(t, s, g)
		}
		grant("one", "client-1", "s1")
		grant("session", "client-1", "s2")
		grant("consent", "client-1", "s3")
		grant("quiet", "no-uri", "s2")
		grant("live", "client-1", "s4")
		wantErr(t, "RevokeGrant", s.RevokeGrant(ctx, "one", base), nil)
		wantErr(t, "RevokeGrant again", s.RevokeGrant(ctx, "one", at(time.Second)), nil)
		_, err := s.RevokeGrants(ctx, storage.GrantFilter{SessionID: "s2"}, base)
		wantErr(t, "RevokeGrants", err, nil)
		giveConsents(t, s, newConsent("c"))
		// Withdrawal revokes the rest of the citizen's grants under the permit.
		_, err = s.WithdrawConsent(ctx, "citizen-1", "c", base, nil)
		wantErr(t, "WithdrawConsent", err, nil)

		ds, err := s.ClaimLogouts(ctx, base, lease, 10)
		wantErr(t, "ClaimLogouts", err, nil)
		if got, want := claimIDs(ds), []string{"consent", "live", "one", "session"}; !slices.Equal(got, want) {
			t.Fatalf("ClaimLogouts = %v, want %v (once each, none for a client without a logout URI)", got, want)
		}
		for _, d := range ds {
			if d.ClientID != "client-1" || d.Subject != "citizen-1" || !d.CreatedAt.Equal(base) || d.Attempts != 1 {
				t.Errorf("claimed %+v, want client-1, citizen-1, created at the revocation, attempt 1", d)
			}
		}
		if _, err := s.LogoutOutcome(ctx, "quiet"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("LogoutOutcome(quiet) = %v, want ErrNotFound", err)
		}
	})

	t.Run("a claim leases, a retry backs off, a finish is final", func(t *testing.T) {
		s := su.store(t)
		seedLogoutClient(t, s, "client-1")
		owedLogout(t, s, "g1", "client-1", "citizen-1")
		owedLogout(t, s, "g2", "client-1", "citizen-2")

		ds, err := s.ClaimLogouts(ctx, base, lease, 1)
		wantErr(t, "ClaimLogouts", err, nil)
		if len(ds) != 1 {
			t.Fatalf("ClaimLogouts(n=1) = %d deliveries, want 1", len(ds))
		}
		first := ds[0].GrantID
		ds, err = s.ClaimLogouts(ctx, at(lease-time.Millisecond), lease, 10)
		wantErr(t, "ClaimLogouts within the lease", err, nil)
		if got := claimIDs(ds); len(got) != 1 || got[0] == first {
			t.Fatalf("ClaimLogouts within the lease = %v, want only the other delivery", got)
		}
		other := ds[0].GrantID

		// Back-off: not due before next, due at next.
		wantErr(t, "RetryLogout", s.RetryLogout(ctx, first, at(10*time.Second), nil), nil)
		ds, err = s.ClaimLogouts(ctx, at(10*time.Second-time.Millisecond), lease, 10)
		wantErr(t, "ClaimLogouts before the retry", err, nil)
		if len(ds) != 0 {
			t.Fatalf("ClaimLogouts before the retry is due = %v, want none", claimIDs(ds))
		}
		ds, err = s.ClaimLogouts(ctx, at(10*time.Second), lease, 10)
		wantErr(t, "ClaimLogouts at the retry", err, nil)
		if len(ds) != 1 || ds[0].GrantID != first || ds[0].Attempts != 2 {
			t.Fatalf("ClaimLogouts at the retry = %+v, want %s at attempt 2", ds, first)
		}

		// A lease that runs out without a word makes the delivery due again.
		ds, err = s.ClaimLogouts(ctx, at(2*lease), lease, 10)
		wantErr(t, "ClaimLogouts after the leases", err, nil)
		if got := claimIDs(ds); !slices.Equal(got, []string{"g1", "g2"}) {
			t.Fatalf("ClaimLogouts after the leases = %v, want both", got)
		}

		wantErr(t, "FinishLogout delivered", s.FinishLogout(ctx, first, storage.LogoutDelivered, at(11*time.Second), nil), nil)
		wantErr(t, "FinishLogout abandoned", s.FinishLogout(ctx, other, storage.LogoutAbandoned, at(11*time.Second), nil), nil)
		for id, want := range map[string]string{first: storage.LogoutDelivered, other: storage.LogoutAbandoned} {
			got, err := s.LogoutOutcome(ctx, id)
			wantErr(t, "LogoutOutcome", err, nil)
			if got != want {
				t.Errorf("LogoutOutcome(%s) = %q, want %q", id, got, want)
			}
		}
		ds, err = s.ClaimLogouts(ctx, at(time.Hour), lease, 10)
		wantErr(t, "ClaimLogouts after finishing", err, nil)
		if len(ds) != 0 {
			t.Errorf("ClaimLogouts after both finished = %v, want none: never twice", claimIDs(ds))
		}
		wantErr(t, "FinishLogout twice", s.FinishLogout(ctx, first, storage.LogoutDelivered, at(time.Hour), nil), storage.ErrConflict)
		wantErr(t, "RetryLogout of a finished one", s.RetryLogout(ctx, first, at(time.Hour), nil), storage.ErrConflict)
		wantErr(t, "FinishLogout of none", s.FinishLogout(ctx, "none", storage.LogoutDelivered, at(time.Hour), nil), storage.ErrNotFound)
		wantErr(t, "RetryLogout of none", s.RetryLogout(ctx, "none", at(time.Hour), nil), storage.ErrNotFound)
		if err := s.FinishLogout(ctx, "g1", "maybe", at(time.Hour), nil); err == nil {
			t.Error("FinishLogout with an unknown outcome succeeded")
		}

		// Finished rows are bookkeeping once their time is past.
		if _, err := s.DeleteExpired(ctx, at(2*time.Hour)); err != nil {
			t.Fatalf("DeleteExpired: %v", err)
		}
		if _, err := s.LogoutOutcome(ctx, first); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("LogoutOutcome after DeleteExpired = %v, want ErrNotFound", err)
		}
	})

	t.Run("concurrent claimers never share a delivery", func(t *testing.T) {
		s := su.store(t)
		seedLogoutClient(t, s, "client-1")
		const rows, claimers = 24, 8
		var want []string
		for i := range rows {
			id := "g" + string(rune('a'+i))
			owedLogout(t, s, id, "client-1", "citizen-1")
			want = append(want, id)
		}
		got := make([][]storage.LogoutDelivery, claimers)
		errs := race(claimers, func(i int) error {
			var err error
			got[i], err = s.ClaimLogouts(ctx, base, lease, 5)
			return err
		})
		if n := winners(t, "ClaimLogouts", errs, nil); n != claimers {
			t.Fatalf("%d of %d claimers succeeded", n, claimers)
		}
		var all []storage.LogoutDelivery
		for _, ds := range got {
			all = append(all, ds...)
		}
		ids := claimIDs(all)
		if len(ids) != len(slices.Compact(slices.Clone(ids))) {
			t.Fatalf("claimers shared deliveries: %v", ids)
		}
		// Whatever the first round left, a second round takes, and none twice.
		more, err := s.ClaimLogouts(ctx, base, lease, rows)
		wantErr(t, "ClaimLogouts", err, nil)
		ids = claimIDs(append(all, more...))
		if !slices.Equal(ids, want) {
			t.Errorf("claimed %v, want each of %v exactly once", ids, want)
		}
	})
}
