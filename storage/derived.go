package storage

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Derived claims: data minimisation as policy. A permit may grant, for a
// purpose, an answer computed from the registry instead of the data it is
// computed from: age_over_N (N from the claim name, e.g. age_over_20)
// instead of the birthdate, is_alive instead of the registry status,
// is_thai_national instead of the national ID number, province instead of
// the full address. A derived claim is granted, asked for (a scope of the
// same name), consented to, released and recorded under its own name, so
// that an agency granted age_over_20 alone never receives the birthdate.
//
// A derived claim is released only when the registry makes the answer
// certain; otherwise it is left out, as an empty claim is (OIDC Core
// §5.3.2), and never guessed.
const (
	ClaimAgeOverPrefix = "age_over_"
	ClaimIsAlive       = "is_alive"
	ClaimIsThaiNation  = "is_thai_national"
	ClaimProvince      = "province"
)

// Bounds of N in age_over_N.
const (
	MinAgeOver = 1
	MaxAgeOver = 120
)

// DerivedClaimNames are the derived claims other than age_over_N, in their
// canonical order (after every age_over_N, smallest N first).
var DerivedClaimNames = []string{ClaimIsAlive, ClaimIsThaiNation, ClaimProvince}

// GrantableClaims are the claims a purpose may list with fixed names: the
// raw ones (ClaimNames) then the derived ones; age_over_N comes besides.
var GrantableClaims = append(slices.Clone(ClaimNames), DerivedClaimNames...)

// AgeOver returns N of a claim age_over_N written canonically (no sign, no
// leading zero, MinAgeOver ≤ N ≤ MaxAgeOver).
func AgeOver(claim string) (int, bool) {
	s, ok := strings.CutPrefix(claim, ClaimAgeOverPrefix)
	if !ok || s == "" || s[0] == '0' || len(s) > 3 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < MinAgeOver || n > MaxAgeOver {
		return 0, false
	}
	return n, true
}

// AgeOverClaim returns the claim age_over_N.
func AgeOverClaim(n int) string { return ClaimAgeOverPrefix + strconv.Itoa(n) }

// IsDerivedClaim reports whether claim is a derived claim.
func IsDerivedClaim(claim string) bool {
	_, age := AgeOver(claim)
	return age || slices.Contains(DerivedClaimNames, claim)
}

// IsClaim reports whether a permit may grant claim: a raw or a derived one.
func IsClaim(claim string) bool { return slices.Contains(ClaimNames, claim) || IsDerivedClaim(claim) }

// DerivedFrom names the registry data a derived claim is computed from
// (and which the agency does not receive with it): birthdate, status, pid
// or address; "" for a claim that is not derived.
func DerivedFrom(claim string) string {
	if _, ok := AgeOver(claim); ok {
		return "birthdate"
	}
	switch claim {
	case ClaimIsAlive:
		return "status"
	case ClaimIsThaiNation:
		return "pid"
	case ClaimProvince:
		return "address"
	}
	return ""
}

// SortClaims returns the known claims (IsClaim) among claims, each once,
// in the canonical order: ClaimNames', then age_over_N by N, then
// DerivedClaimNames'.
func SortClaims(claims []string) []string {
	out := Intersect(ClaimNames, claims)
	var ages []int
	for _, c := range claims {
		if n, ok := AgeOver(c); ok && !slices.Contains(ages, n) {
			ages = append(ages, n)
		}
	}
	slices.Sort(ages)
	for _, n := range ages {
		out = append(out, AgeOverClaim(n))
	}
	return append(out, Intersect(DerivedClaimNames, claims)...)
}

// scopeClaimsOf returns the claims one scope asks for: ClaimScopes', or
// the derived claim of the same name.
func scopeClaimsOf(scope string) []string {
	if cs, ok := ClaimScopes[scope]; ok {
		return cs
	}
	if IsDerivedClaim(scope) {
		return []string{scope}
	}
	return nil
}

// DerivedValue computes a derived claim for a citizen at now (judged in
// the Asia/Bangkok calendar). ok is false when the claim is not derived
// or when the registry does not make the answer certain: the claim is
// then left out.
func DerivedValue(c Citizen, claim string, now time.Time) (v any, ok bool) {
	if n, age := AgeOver(claim); age {
		return c.Birthdate.AgeAtLeast(n, BEDateOf(now))
	}
	switch claim {
	case ClaimIsAlive:
		switch c.Status {
		case StatusAlive, StatusMoved:
			// Moved out and not yet registered elsewhere: alive all the same.
			return true, true
		case StatusDeceased:
			return false, true
		}
		// Struck off the house register (or no status): the registry does
		// not say whether the person lives.
		return nil, false
	case ClaimIsThaiNation:
		return thaiNational(c.PID)
	case ClaimProvince:
		if c.Address.Province == "" {
			return nil, false
		}
		return c.Address.Province, true
	}
	return nil, false
}

// thaiNational answers is_thai_national from the person category, the
// national ID number's first digit (DOMAIN.md): 1–5 are Thai nationals
// (births registered on time or late, persons in the house registers since
// 1984 or added later); 6 (illegal entrants and temporary residents) and 7
// (their children born in Thailand) are not. 8 mixes legal resident aliens
// with naturalised Thais and 0 is persons without registration status:
// uncertain, so left out.
func thaiNational(pid string) (any, bool) {
	if len(pid) != 13 {
		return nil, false
	}
	switch pid[0] {
	case '1', '2', '3', '4', '5':
		return true, true
	case '6', '7':
		return false, true
	}
	return nil, false
}

// AgeAtLeast reports whether a person born on d is at least n years old on
// the day today (both Buddhist Era). A person is n on the anniversary of
// their birth; one born on 29 February is n on 1 March in a common year.
// When the day or the month of d is unknown, the answer is given only when
// every possible birthdate gives the same one (ok false otherwise, and
// for no birthdate at all): born in 2543 BE with month and day unknown, a
// person is certainly 20 from 1 January 2564 BE on, certainly not before
// 31 December 2563 BE, and uncertain in between.
func (d BEDate) AgeAtLeast(n int, today BEDate) (atLeast any, ok bool) {
	if d.IsZero() || d.IsLifetime() || d.Validate() != nil {
		return nil, false
	}
	earliest, latest := d, d
	if d.Month == 0 {
		earliest.Month, latest.Month = 1, 12
	}
	if d.Day == 0 {
		earliest.Day, latest.Day = 1, daysIn(d.Year-BEOffset, latest.Month)
	}
	// Born on or before the cutoff: n years old today.
	cutoff := BEDate{Year: today.Year - n, Month: today.Month, Day: today.Day}
	switch {
	case !after(latest, cutoff):
		return true, true
	case after(earliest, cutoff):
		return false, true
	}
	return nil, false
}

// after reports whether a falls after b (all parts known).
func after(a, b BEDate) bool {
	if a.Year != b.Year {
		return a.Year > b.Year
	}
	if a.Month != b.Month {
		return a.Month > b.Month
	}
	return a.Day > b.Day
}
