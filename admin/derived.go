package admin

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/dopaid/dopaid/storage"
)

// Derived claims (storage/derived.go) on the console: an application asks
// for, and an approver grants, an answer (age_over_N, is_alive,
// is_thai_national, province) in place of the data it is computed from;
// the permit page shows, purpose by purpose, which get raw data and which
// derived claims only, beside the application's justification.

// claimLabel names a claim in the console's language m.
func claimLabel(m map[string]string, c string) string {
	if n, ok := storage.AgeOver(c); ok {
		return fmt.Sprintf(m["claim_age_over"], n)
	}
	return labelOf(m, "claim_", c)
}

// rawClaims are the claims that are not derived.
func rawClaims(claims []string) []string {
	return slices.DeleteFunc(slices.Clone(claims), storage.IsDerivedClaim)
}

// derivedClaims are the derived claims.
func derivedClaims(claims []string) []string {
	return slices.DeleteFunc(slices.Clone(claims), func(c string) bool { return !storage.IsDerivedClaim(c) })
}

// ageOverField renders a purpose's age_over_N claims as the form's age
// field: the Ns, separated by spaces.
func ageOverField(claims []string) string {
	var ns []string
	for _, c := range claims {
		if n, ok := storage.AgeOver(c); ok {
			ns = append(ns, strconv.Itoa(n))
		}
	}
	return strings.Join(ns, " ")
}

// ageOverClaims reads the form's age field (ages separated by spaces or
// commas) as age_over_N claims. A value that is not an age becomes a claim
// the service refuses by name, so the officer sees what was wrong.
func ageOverClaims(field string) []string {
	var out []string
	for _, v := range strings.FieldsFunc(field, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		out = append(out, storage.ClaimAgeOverPrefix+v)
	}
	return out
}
