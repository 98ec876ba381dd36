package storagetest

import (
	"context"
	"testing"

	"github.com/dopaid/dopaid/storage"
)

// derivedPurposes ask for derived claims (storage/derived.go) beside raw
// ones, as an application and a permit may.
func derivedPurposes() []storage.Purpose {
	return []storage.Purpose{
		{Code: "alcohol", DescriptionTH: "ซื้อเครื่องดื่ม", DescriptionEN: "Buying drinks", Claims: []string{"age_over_20"}},
		{Code: "pension", DescriptionTH: "เบี้ยยังชีพ", DescriptionEN: "Old-age allowance",
			Claims: []string{"given_name", "age_over_60", "is_alive", "is_thai_national", "province"}},
	}
}

// testDerivedClaims: an application asks for, a permit grants, a consent
// covers and an audit entry names derived claims, and each reads back
// exactly as stored, in its order.
func testDerivedClaims(t *testing.T, su suite) {
	ctx := context.Background()
	s := su.store(t)
	seedAgencies(t, s)

	app := newApplication("app-derived")
	app.Purposes = derivedPurposes()
	wantErr(t, "CreateApplication", s.CreateApplication(ctx, app, nil), nil)
	gotApp, err := s.Application(ctx, app.ID)
	wantErr(t, "Application", err, nil)
	check(t, "Application", gotApp, app, normApplication)

	pm := newPermit("permit-derived")
	pm.ApplicationID = app.ID
	pm.Purposes = derivedPurposes()
	wantErr(t, "CreatePermit", s.CreatePermit(ctx, pm), nil)
	wantPermit(t, s, pm)

	// An update that narrows a purpose to a derived claim alone keeps it.
	want := pm
	want.Purposes = []storage.Purpose{derivedPurposes()[1]}
	want.Purposes[0].Claims = []string{"province"}
	want.Version = pm.Version + 1
	got, err := s.UpdatePermit(ctx, pm.ID, func(p storage.Permit) (storage.Permit, error) {
		p.Purposes = want.Purposes
		return p, nil
	})
	wantErr(t, "UpdatePermit", err, nil)
	want.UpdatedAt = got.UpdatedAt
	check(t, "UpdatePermit", got, want, normPermit)
	wantPermit(t, s, want)

	c := newConsent("consent-derived")
	c.PermitID, c.Purpose, c.Claims = pm.ID, "pension", []string{"age_over_60", "is_alive", "province"}
	giveConsents(t, s, c)
	wantInForce(t, s, c)

	e := newAuditEntry(1)
	e.PermitID, e.Purpose, e.Claims = pm.ID, "pension", []string{"age_over_60", "is_alive", "province"}
	in, err := s.AppendAudit(ctx, e)
	wantErr(t, "AppendAudit", err, nil)
	check(t, "AppendAudit", in, stored(e, in.ID, 0), normAudit)
}
