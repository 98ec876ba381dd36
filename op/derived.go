package op

import (
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
	for _, v := range supportedScopes {
		if v == s {
			return true
		}
	}
	return storage.IsDerivedClaim(s)
}
