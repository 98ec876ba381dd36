package release_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/release"
)

// TestDerivedRelease: a derived claim is asked for by the scope of its
// name, granted, consented to and released by the one rule, and never
// opens the raw claim it is computed from.
func TestDerivedRelease(t *testing.T) {
	pm := permit()
	pm.Purposes = []storage.Purpose{
		{Code: "alcohol", Claims: []string{"age_over_20"}},
		{Code: "region", Claims: []string{"given_name", "province", "is_alive"}},
	}
	for _, tt := range []struct {
		name   string
		scopes []string
		err    error
	}{
		{"age_over_20", []string{"openid", "age_over_20", "purpose:alcohol"}, nil},
		{"birthdate is not granted", []string{"openid", "birthdate", "purpose:alcohol"}, release.ErrScopeNotGranted},
		{"profile asks for birthdate", []string{"openid", "profile", "purpose:alcohol"}, release.ErrScopeNotGranted},
		{"another age", []string{"openid", "age_over_18", "purpose:alcohol"}, release.ErrScopeNotGranted},
		{"address is not granted", []string{"openid", "address", "purpose:region"}, release.ErrScopeNotGranted},
		{"province", []string{"openid", "province", "is_alive", "purpose:region"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := release.Purpose(pm, tt.scopes, ""); !errors.Is(err, tt.err) {
				t.Errorf("Purpose = %v, want %v", err, tt.err)
			}
		})
	}
	if got, want := release.Asked(pm, "alcohol", []string{"openid", "age_over_20", "birthdate"}), []string{"age_over_20"}; !slices.Equal(got, want) {
		t.Errorf("Asked = %v, want %v", got, want)
	}
	// The consent page asks for what Requested returns: derived claims
	// too, beside any verified_claims request.
	if got, want := release.Requested(pm, "alcohol", []string{"openid", "age_over_20"}, nil), []string{"age_over_20"}; !slices.Equal(got, want) {
		t.Errorf("Requested = %v, want %v", got, want)
	}
	con := &storage.Consent{PermitID: pm.ID, Purpose: "region", Claims: []string{"province"}}
	if got, want := release.Claims(pm, "region", []string{"openid", "province", "is_alive", "given_name"}, con), []string{"province"}; !slices.Equal(got, want) {
		t.Errorf("Claims = %v, want %v (is_alive and given_name were not consented to)", got, want)
	}
	scopes := release.ClientScopes(pm)
	for _, s := range []string{"age_over_20", "province", "is_alive", "given_name"} {
		if !slices.Contains(scopes, s) {
			t.Errorf("ClientScopes = %v, want %s", scopes, s)
		}
	}
	if slices.Contains(scopes, "birthdate") || slices.Contains(scopes, "address") {
		t.Errorf("ClientScopes = %v opens raw data the permit does not grant", scopes)
	}
}
