package release_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/release"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func permit() storage.Permit {
	return storage.Permit{ID: "pm", State: storage.PermitApproved, Version: 3,
		ValidFrom: now.Add(-time.Hour), ValidUntil: now.Add(time.Hour),
		Purposes: []storage.Purpose{
			{Code: "licence", Claims: []string{"given_name", "family_name", "birthdate", "ial"}},
			{Code: "survey", Claims: []string{"given_name"}},
		}}
}

func TestStanding(t *testing.T) {
	tests := []struct {
		name string
		edit func(*storage.Permit)
		want string
	}{
		{"approved and valid", func(*storage.Permit) {}, release.InForceNow},
		{"suspended", func(p *storage.Permit) { p.State = storage.PermitSuspended }, release.Suspended},
		{"revoked", func(p *storage.Permit) { p.State = storage.PermitRevoked }, release.Revoked},
		{"pending", func(p *storage.Permit) { p.State = storage.PermitPending }, release.NotApproved},
		{"rejected", func(p *storage.Permit) { p.State = storage.PermitRejected }, release.NotApproved},
		{"expired at ValidUntil", func(p *storage.Permit) { p.ValidUntil = now }, release.Expired},
		{"not yet valid", func(p *storage.Permit) { p.ValidFrom = now.Add(time.Second) }, release.NotYetValid},
		{"valid from now", func(p *storage.Permit) { p.ValidFrom = now }, release.InForceNow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pm := permit()
			tt.edit(&pm)
			if got := release.Standing(pm, now); got != tt.want {
				t.Errorf("Standing = %q, want %q", got, tt.want)
			}
			err := release.InForce(pm, now)
			if got, want := err == nil, tt.want == release.InForceNow; got != want {
				t.Errorf("InForce = %v, want nil: %v", err, want)
			}
			if err != nil && !errors.Is(err, release.ErrNotInForce) {
				t.Errorf("InForce = %v, want it to wrap ErrNotInForce", err)
			}
			if got, want := pm.Active(now), tt.want == release.InForceNow; got != want {
				t.Errorf("Permit.Active = %v, want %v (the two must agree)", got, want)
			}
		})
	}
}

func TestPurpose(t *testing.T) {
	one := permit()
	one.Purposes = one.Purposes[:1]
	tests := []struct {
		name    string
		pm      storage.Permit
		scopes  []string
		param   string
		want    string
		wantErr error
	}{
		{"scope names it", permit(), []string{"openid", "purpose:survey", "given_name"}, "", "survey", nil},
		{"parameter names it", permit(), []string{"openid"}, "licence", "licence", nil},
		{"scope and parameter agree", permit(), []string{"purpose:licence"}, "licence", "licence", nil},
		{"scope and parameter differ", permit(), []string{"purpose:licence"}, "survey", "", release.ErrTwoPurposes},
		{"two scopes", permit(), []string{"purpose:licence", "purpose:survey"}, "", "", release.ErrTwoPurposes},
		{"none named, two granted", permit(), []string{"openid"}, "", "", release.ErrPurposeRequired},
		{"none named, one granted", one, []string{"openid", "ial"}, "", "licence", nil},
		{"not granted", permit(), []string{"purpose:marketing"}, "", "", release.ErrPurposeNotGranted},
		{"scope beyond the purpose", permit(), []string{"purpose:survey", "family_name"}, "", "", release.ErrScopeNotGranted},
		{"profile asks for more than granted", permit(), []string{"purpose:licence", "profile"}, "", "", release.ErrScopeNotGranted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pu, err := release.Purpose(tt.pm, tt.scopes, tt.param)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Purpose error = %v, want %v", err, tt.wantErr)
			}
			if pu.Code != tt.want {
				t.Errorf("Purpose = %q, want %q", pu.Code, tt.want)
			}
		})
	}
}

func TestClientScopesOfPermits(t *testing.T) {
	for _, tt := range []struct {
		claims [][]string
		want   []string
	}{
		{[][]string{{"ial"}}, []string{"openid", "offline_access", "ial"}},
		{[][]string{{"pid", "given_name"}, {"middle_name", "address"}},
			[]string{"openid", "offline_access", "address", "given_name", "pid", "profile"}},
		{[][]string{{"name_en"}}, []string{"openid", "offline_access", "profile"}},
	} {
		var pm storage.Permit
		for _, c := range tt.claims {
			pm.Purposes = append(pm.Purposes, storage.Purpose{Code: "p", Claims: c})
		}
		if got := release.ClientScopes(pm); !slices.Equal(got, tt.want) {
			t.Errorf("ClientScopes(%v) = %v, want %v", tt.claims, got, tt.want)
		}
	}
}

func TestClientScopes(t *testing.T) {
	tests := []struct {
		claims []string
		want   []string
	}{
		{nil, []string{"openid", "offline_access"}},
		{[]string{"given_name"}, []string{"openid", "offline_access", "given_name", "profile"}},
		{[]string{"pid", "ial"}, []string{"openid", "offline_access", "ial", "pid"}},
	}
	for _, tt := range tests {
		pm := storage.Permit{Purposes: []storage.Purpose{{Code: "p", Claims: tt.claims}}}
		if got := release.ClientScopes(pm); !slices.Equal(got, tt.want) {
			t.Errorf("ClientScopes(%v) = %v, want %v", tt.claims, got, tt.want)
		}
	}
}

// TestClaims is the rule itself: scopes ∩ permit's purpose ∩ consent.
func TestClaims(t *testing.T) {
	pm := permit()
	con := &storage.Consent{CitizenID: "c", PermitID: "pm", PermitVersion: 3, Purpose: "licence",
		Claims: []string{"birthdate", "family_name", "given_name"}}
	withdrawn := *con
	withdrawn.WithdrawnAt = now
	other := *con
	other.PermitID = "another"
	tests := []struct {
		name    string
		purpose string
		scopes  []string
		consent *storage.Consent
		want    []string
	}{
		{"all three agree", "licence", []string{"openid", "given_name", "family_name"}, con, []string{"given_name", "family_name"}},
		{"profile narrowed to the purpose and the consent", "licence", []string{"openid", "profile", "ial"}, con, []string{"given_name", "family_name", "birthdate"}},
		{"ial not consented", "licence", []string{"openid", "ial"}, con, nil},
		{"no consent", "licence", []string{"openid", "given_name"}, nil, nil},
		{"withdrawn consent", "licence", []string{"openid", "given_name"}, &withdrawn, nil},
		{"another permit's consent", "licence", []string{"openid", "given_name"}, &other, nil},
		{"consent for another purpose", "survey", []string{"openid", "given_name"}, con, nil},
		{"purpose not granted", "marketing", []string{"openid", "given_name"}, con, nil},
		{"only openid", "licence", []string{"openid"}, con, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := release.Claims(pm, tt.purpose, tt.scopes, tt.consent); !slices.Equal(got, tt.want) {
				t.Errorf("Claims = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCovers(t *testing.T) {
	pm := permit()
	con := &storage.Consent{PermitID: "pm", PermitVersion: 3, Purpose: "licence", Claims: []string{"family_name", "given_name"}}
	if !release.Covers(con, pm, []string{"given_name"}) {
		t.Error("a consent to more does not cover less")
	}
	if release.Covers(con, pm, []string{"given_name", "birthdate"}) {
		t.Error("a consent covers a claim not consented to")
	}
	if release.Covers(nil, pm, nil) {
		t.Error("no consent covers the request")
	}
	changed := pm
	changed.Version++
	if release.Covers(con, changed, []string{"given_name"}) {
		t.Error("a consent to an earlier version of the permit covers the request")
	}

	// A renewal that kept the purpose as it was (ConsentFrom at or
	// before the consent's version) keeps the consent; one that widened
	// it (ConsentFrom after) asks again.
	renewed := pm
	renewed.Version = 5
	renewed.Purposes = slices.Clone(pm.Purposes)
	for i := range renewed.Purposes {
		renewed.Purposes[i].ConsentFrom = 3
	}
	if !release.Covers(con, renewed, []string{"given_name"}) {
		t.Error("a renewal that did not widen the purpose drops the consent")
	}
	if release.Covers(con, renewed, []string{"given_name", "birthdate"}) {
		t.Error("after a renewal a consent covers a claim not consented to")
	}
	for i := range renewed.Purposes {
		renewed.Purposes[i].ConsentFrom = 5
	}
	if release.Covers(con, renewed, []string{"given_name"}) {
		t.Error("a consent given before the purpose widened covers the request")
	}
	future := *con
	future.PermitVersion = 9
	for i := range renewed.Purposes {
		renewed.Purposes[i].ConsentFrom = 3
	}
	if release.Covers(&future, renewed, []string{"given_name"}) {
		t.Error("a consent naming a later version than the permit's covers it")
	}
}

func TestACR(t *testing.T) {
	a := release.ACRFor
	tests := []struct {
		name      string
		acrValues []string
		ial       string
		want      string
	}{
		{"no acr_values: the default, whatever the level", nil, "2.3", release.DefaultACR},
		{"no acr_values, level 1.2", nil, "1.2", release.DefaultACR},
		{"no acr_values, below the default", nil, "1.1", ""},
		{"no level at all", nil, "", ""},
		{"one level asked and reached", []string{a("2.2")}, "2.3", a("2.2")},
		{"the highest reached of several", []string{a("1.2"), a("2.3"), a("2.2")}, "2.2", a("2.2")},
		{"all reached", []string{a("1.3"), a("2.3")}, "2.3", a("2.3")},
		{"unknown values are ignored", []string{"urn:other", a("x.y"), a("1.3")}, "2.3", a("1.3")},
		{"only unknown values: the default", []string{"urn:other"}, "2.3", release.DefaultACR},
		{"asked but not reached", []string{a("2.3")}, "1.3", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := release.ACR(tt.acrValues, tt.ial); got != tt.want {
				t.Errorf("ACR(%q, %q) = %q, want %q", tt.acrValues, tt.ial, got, tt.want)
			}
		})
	}
}

func TestRequiredIAL(t *testing.T) {
	a := release.ACRFor
	for _, tt := range []struct {
		acr  []string
		want string
	}{
		{nil, ""},
		{[]string{"urn:other"}, ""},
		{[]string{a("2.3"), a("1.3")}, "1.3"},
		{[]string{a("2.2")}, "2.2"},
	} {
		if got := release.RequiredIAL(tt.acr); got != tt.want {
			t.Errorf("RequiredIAL(%q) = %q, want %q", tt.acr, got, tt.want)
		}
		if tt.want != "" && release.Satisfies("1.2", tt.acr) == (release.CompareIAL("1.2", tt.want) < 0) {
			t.Errorf("Satisfies(1.2, %q) disagrees with RequiredIAL", tt.acr)
		}
	}
}

func TestCompareIAL(t *testing.T) {
	order := []string{"1.1", "1.2", "1.3", "2.1", "2.2", "2.3", "3"}
	for i, a := range order {
		for j, b := range order {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := release.CompareIAL(a, b); got != want {
				t.Errorf("CompareIAL(%q, %q) = %d, want %d", a, b, got, want)
			}
		}
	}
	tests := []struct {
		a, b string
		want int
	}{
		{"", "1.2", -1},
		{"1.2", "", 1},
		{"", "", 0},
		{"junk", "1.1", -1},
		{"2.3", "2.10", -1},
		{"3", "3.0", 0},
		{"3.1", "3", 1},
		{"1.", "1.1", -1},
		{".1", "1.1", -1},
		{"-1", "1.1", -1},
		{"+2", "1.1", -1},
		{"2.2.1", "1.1", -1},
		{" 2.2", "1.1", -1},
		{"junk", "other", 0},
	}
	for _, tt := range tests {
		if got := release.CompareIAL(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareIAL(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
