package storagetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// newConsent returns a consent of citizen-1 to permit-1 for "loan", in force
// since base.
func newConsent(id string) storage.Consent {
	return storage.Consent{
		ID:            id,
		CitizenID:     "citizen-1",
		AgencyID:      "agency-1",
		PermitID:      "permit-1",
		PermitVersion: 3,
		Purpose:       "loan",
		Claims:        []string{"family_name", "given_name", "pid"},
		GivenAt:       base,
	}
}

// storeWithPermits returns a store holding citizens 1 and 2 and permits
// permit-1 and permit-2, for consents to refer to.
func storeWithPermits(t *testing.T, su suite) storage.Store {
	t.Helper()
	s := su.store(t)
	seedCitizens(t, s, 1, 2)
	seedPermits(t, s, "permit-1", "permit-2")
	return s
}

func giveConsents(t *testing.T, s storage.Store, cs ...storage.Consent) {
	t.Helper()
	for _, c := range cs {
		if err := s.GiveConsent(context.Background(), c, nil); err != nil {
			t.Fatalf("GiveConsent(%q): %v", c.ID, err)
		}
	}
}

// wantInForce fails t unless want is the consent in force for its
// citizen, permit and purpose.
func wantInForce(t *testing.T, s storage.Store, want storage.Consent) {
	t.Helper()
	got, err := s.Consent(context.Background(), want.CitizenID, want.PermitID, want.Purpose)
	wantErr(t, fmt.Sprintf("Consent(%s, %s, %s)", want.CitizenID, want.PermitID, want.Purpose), err, nil)
	check(t, "Consent", got, want, normConsent)
}

// wantNoneInForce fails t if a consent is in force for citizen, permit and
// purpose.
func wantNoneInForce(t *testing.T, s storage.Store, citizenID, permitID, purpose string) {
	t.Helper()
	_, err := s.Consent(context.Background(), citizenID, permitID, purpose)
	wantErr(t, fmt.Sprintf("Consent(%s, %s, %s)", citizenID, permitID, purpose), err, storage.ErrNotFound)
}

// wantConsents fails t unless the citizen's consents in force are want,
// in that order.
func wantConsents(t *testing.T, s storage.Store, citizenID string, want ...storage.Consent) {
	t.Helper()
	got, err := s.ConsentsByCitizen(context.Background(), citizenID)
	wantErr(t, "ConsentsByCitizen("+citizenID+")", err, nil)
	check(t, "ConsentsByCitizen("+citizenID+")", got, want, func(cs []storage.Consent) []storage.Consent { return normList(cs, normConsent) })
}

func testConsents(t *testing.T, su suite) {
	ctx := context.Background()

	t.Run("round trip", func(t *testing.T) {
		empty := newConsent("empty")
		empty.Claims = []string{}
		tests := []struct {
			name string
			c    storage.Consent
		}{
			{"every field", newConsent("full")},
			{"no claims", empty},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := storeWithPermits(t, su)
				giveConsents(t, s, tt.c)
				wantInForce(t, s, tt.c)
				wantConsents(t, s, "citizen-1", tt.c)
			})
		}
	})

	t.Run("none", func(t *testing.T) {
		s := storeWithPermits(t, su)
		giveConsents(t, s, newConsent("c"))
		tests := []struct{ citizen, permit, purpose string }{
			{"citizen-2", "permit-1", "loan"},
			{"citizen-1", "permit-2", "loan"},
			{"citizen-1", "permit-1", "welfare"},
		}
		for _, tt := range tests {
			wantNoneInForce(t, s, tt.citizen, tt.permit, tt.purpose)
		}
		wantConsents(t, s, "citizen-2")
	})

	t.Run("duplicate ID", func(t *testing.T) {
		s := storeWithPermits(t, su)
		first := newConsent("c")
		giveConsents(t, s, first)
		again := newConsent("c")
		again.GivenAt = at(time.Hour)
		wantErr(t, "GiveConsent again", s.GiveConsent(ctx, again, nil), storage.ErrAlreadyExists)
		// The failed call withdrew nothing.
		wantInForce(t, s, first)
		other := newConsent("c")
		other.Purpose = "welfare"
		wantErr(t, "GiveConsent with the ID for another purpose", s.GiveConsent(ctx, other, nil), storage.ErrAlreadyExists)
		wantConsents(t, s, "citizen-1", first)
	})

	t.Run("a new consent replaces the one in force", func(t *testing.T) {
		s := storeWithPermits(t, su)
		old := newConsent("old")
		old.GivenAt = at(-2 * time.Hour)
		otherPurpose := newConsent("other-purpose")
		otherPurpose.Purpose = "welfare"
		otherPurpose.GivenAt = at(-3 * time.Hour)
		otherPermit := newConsent("other-permit")
		otherPermit.PermitID = "permit-2"
		otherPermit.GivenAt = at(-4 * time.Hour)
		otherCitizen := newConsent("other-citizen")
		otherCitizen.CitizenID = "citizen-2"
		otherCitizen.GivenAt = at(-5 * time.Hour)
		giveConsents(t, s, old, otherPurpose, otherPermit, otherCitizen)

		renewed := newConsent("renewed")
		renewed.PermitVersion = 4
		renewed.Claims = []string{"given_name"}
		giveConsents(t, s, renewed)
		wantInForce(t, s, renewed)
		wantConsents(t, s, "citizen-1", renewed, otherPurpose, otherPermit)
		wantConsents(t, s, "citizen-2", otherCitizen)
		// The replaced consent is withdrawn: it can no longer be withdrawn.
		_, err := s.WithdrawConsent(ctx, "citizen-1", "old", at(time.Hour), nil)
		wantErr(t, "WithdrawConsent of the replaced consent", err, storage.ErrNotFound)
		wantInForce(t, s, renewed)
	})

	t.Run("newest first", func(t *testing.T) {
		s := storeWithPermits(t, su)
		var cs []storage.Consent
		for i, d := range []time.Duration{-2 * time.Hour, -time.Hour, -3 * time.Hour, 0} {
			c := newConsent(fmt.Sprintf("c-%d", i))
			c.Purpose = fmt.Sprintf("purpose-%d", i)
			c.GivenAt = at(d)
			cs = append(cs, c)
		}
		giveConsents(t, s, cs...)
		wantConsents(t, s, "citizen-1", cs[3], cs[1], cs[0], cs[2])
	})

	t.Run("concurrent consents leave one in force", func(t *testing.T) {
		s := storeWithPermits(t, su)
		const n = 8
		errs := race(n, func(i int) error {
			return s.GiveConsent(ctx, newConsent(fmt.Sprintf("c-%d", i)), nil)
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("GiveConsent #%d: %v", i, err)
			}
		}
		got, err := s.ConsentsByCitizen(ctx, "citizen-1")
		wantErr(t, "ConsentsByCitizen", err, nil)
		if len(got) != 1 {
			t.Fatalf("ConsentsByCitizen after %d concurrent consents = %d consents in force, want 1", n, len(got))
		}
		wantInForce(t, s, got[0])
	})
}

func testWithdrawConsent(t *testing.T, su suite) {
	ctx := context.Background()
	now := at(time.Hour)

	tests := []struct {
		name      string
		citizenID string
		consentID string
		err       error // nil: withdrawn
	}{
		{"by the citizen", "citizen-1", "c", nil},
		{"by another citizen", "citizen-2", "c", storage.ErrNotFound},
		{"unknown consent", "citizen-1", "absent", storage.ErrNotFound},
		{"citizen's ID as the consent", "citizen-1", "citizen-1", storage.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := storeWithPermits(t, su)
			c, other := newConsent("c"), newConsent("other")
			other.Purpose = "welfare"
			other.GivenAt = at(-time.Hour)
			giveConsents(t, s, c, other)
			got, err := s.WithdrawConsent(ctx, tt.citizenID, tt.consentID, now, nil)
			wantErr(t, "WithdrawConsent", err, tt.err)
			if tt.err != nil {
				wantInForce(t, s, c)
				wantConsents(t, s, "citizen-1", c, other)
				return
			}
			want := c
			want.WithdrawnAt = now
			check(t, "WithdrawConsent result", got, want, normConsent)
			wantNoneInForce(t, s, c.CitizenID, c.PermitID, c.Purpose)
			wantConsents(t, s, "citizen-1", other)
			_, err = s.WithdrawConsent(ctx, tt.citizenID, tt.consentID, at(2*time.Hour), nil)
			wantErr(t, "WithdrawConsent again", err, storage.ErrNotFound)
		})
	}

	t.Run("consent again after withdrawing", func(t *testing.T) {
		s := storeWithPermits(t, su)
		giveConsents(t, s, newConsent("c"))
		_, err := s.WithdrawConsent(ctx, "citizen-1", "c", now, nil)
		wantErr(t, "WithdrawConsent", err, nil)
		again := newConsent("again")
		again.GivenAt = at(2 * time.Hour)
		giveConsents(t, s, again)
		wantInForce(t, s, again)
		wantConsents(t, s, "citizen-1", again)
	})

	t.Run("exactly once under a race", func(t *testing.T) {
		s := storeWithPermits(t, su)
		giveConsents(t, s, newConsent("c"))
		const n = 8
		errs := race(n, func(i int) error {
			_, err := s.WithdrawConsent(ctx, "citizen-1", "c", now.Add(time.Duration(i)*time.Second), nil)
			return err
		})
		if got := winners(t, "WithdrawConsent", errs, storage.ErrNotFound); got != 1 {
			t.Errorf("%d of %d concurrent WithdrawConsent calls succeeded, want 1", got, n)
		}
		wantNoneInForce(t, s, "citizen-1", "permit-1", "loan")
	})
}
