package op

import (
	"context"
	"slices"

	"github.com/dopaid/dopaid/storage"
)

// Derived claims (storage/derived.go): an answer computed from the
// registry in place of the data it is computed from. Each is released
// under its own name only, where the permit grants it for the purpose and
// the citizen consented to it (release.Claims), and left out when the
// registry does not make the answer certain.

// commonAgeOver are the age_over_N claims discovery names: Thai law's
// ages (15, the ID card; 18, the vote and the driving licence; 20,
// majority; 60, the old-age allowance). A permit may grant any N from
// storage.MinAgeOver to storage.MaxAgeOver; discovery cannot list them all.
var commonAgeOver = []int{15, 18, 20, 60}

// derivedClaimsSupported are the derived claims discovery lists in
// claims_supported and scopes_supported.
func derivedClaimsSupported() []string {
	var out []string
	for _, n := range commonAgeOver {
		out = append(out, storage.AgeOverClaim(n))
	}
	return append(out, storage.DerivedClaimNames...)
}

// setDerived adds to out the derived claims among names, for citizen c at
// the provider's now.
func (p *Provider) setDerived(out map[string]any, c storage.Citizen, names []string) {
	for _, name := range names {
		if !storage.IsDerivedClaim(name) {
			continue
		}
		if v, ok := storage.DerivedValue(c, name, p.now()); ok {
			out[name] = v
		}
	}
}

// supportedScope reports whether the provider knows scope s: openid,
// offline_access, a claim scope, or a derived claim's.
func supportedScope(s string) bool {
	return slices.Contains(supportedScopes, s) || storage.IsDerivedClaim(s)
}

// idTokenDerived returns the derived claims among names for the ID token,
// as ial is there: an answer (age_over_20: true) tells an application no
// more in the ID token than at userinfo. Raw data stays at userinfo. A map
// always, for the caller to add to.
func (p *Provider) idTokenDerived(ctx context.Context, subject string, names []string) (map[string]any, error) {
	out := map[string]any{}
	if !slices.ContainsFunc(names, storage.IsDerivedClaim) {
		return out, nil
	}
	c, err := p.citizens.get(ctx, subject)
	if isNotFound(err) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	p.setDerived(out, c, names)
	return out, nil
}

// releasedDerived are the derived claims among names that the ID token
// carries (in extra), by name for the audit trail: never their values.
func releasedDerived(names []string, extra map[string]any) []string {
	var out []string
	for _, n := range names {
		if _, ok := extra[n]; ok && storage.IsDerivedClaim(n) {
			out = append(out, n)
		}
	}
	return out
}
