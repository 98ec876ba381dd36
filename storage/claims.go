package storage

import "slices"

// ClaimScopes maps each claim scope to the claims it asks for. The names
// follow DOPA's ThaID app where they overlap, so agencies can switch
// providers; the standard OIDC profile and address scopes map onto them.
// openid and offline_access ask for no claims.
var ClaimScopes = map[string][]string{
	"profile": {"title", "given_name", "middle_name", "family_name", "name",
		"title_en", "given_name_en", "middle_name_en", "family_name_en", "name_en", "birthdate", "gender"},
	"pid":              {"pid"},
	"title":            {"title"},
	"given_name":       {"given_name"},
	"family_name":      {"family_name"},
	"title_en":         {"title_en"},
	"given_name_en":    {"given_name_en"},
	"family_name_en":   {"family_name_en"},
	"birthdate":        {"birthdate"},
	"gender":           {"gender"},
	"address":          {"address"},
	"ial":              {"ial"},
	"date_of_issuance": {"date_of_issuance"},
	"date_of_expiry":   {"date_of_expiry"},
}

// ClaimNames are every claim the provider can release about a citizen.
var ClaimNames = []string{"pid", "title", "given_name", "middle_name", "family_name", "name",
	"title_en", "given_name_en", "middle_name_en", "family_name_en", "name_en", "birthdate", "gender",
	"address", "ial", "date_of_issuance", "date_of_expiry"}

// ScopeClaims returns the claims the scopes ask for, each once, in the
// order of ClaimNames, then the derived claims (derived.go) asked for by
// scopes of their own names, in SortClaims' order.
func ScopeClaims(scopes []string) []string {
	var out []string
	for _, name := range ClaimNames {
		for _, s := range scopes {
			if slices.Contains(ClaimScopes[s], name) {
				out = append(out, name)
				break
			}
		}
	}
	return append(out, SortClaims(slices.DeleteFunc(slices.Clone(scopes), func(s string) bool { return !IsDerivedClaim(s) }))...)
}

// ScopeClaimNames returns the claims one scope asks for: a claim scope's
// (ClaimScopes), or the derived claim the scope is named after.
func ScopeClaimNames(scope string) []string { return scopeClaimsOf(scope) }

// Intersect returns the elements of a that are in b, in a's order.
func Intersect(a, b []string) []string {
	var out []string
	for _, v := range a {
		if slices.Contains(b, v) && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
