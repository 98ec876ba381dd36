package release

import (
	"slices"
	"strconv"
	"strings"
)

// Assurance. A sign-in has an identity assurance level (IAL: how well the
// citizen was proofed against the registry, "1.2" … "2.3"), and methods
// (amr: otp, and face when the face was compared as its sign-on session
// began). An
// application learns of them in three ways, each by one rule:
//
//   - ial, the exact level, is a claim like any other: released only where
//     the permit grants it for the purpose and the citizen consented to it
//     (Claims), in the ID token and at userinfo.
//   - acr is what the application asked about with acr_values: the highest
//     of the levels it listed that the sign-in reached (the login pages
//     step up, or refuse, when it reached none). Without acr_values it is
//     DefaultACR, which every proofed citizen reaches. So acr never tells
//     more than the application asked, and nothing that ial would not.
//   - amr is the methods of the sign-on session, always (OIDC Core §2).

// ACRPrefix starts the acr value of an identity assurance level:
// urn:dopa:digital-id:ial:2.3.
const ACRPrefix = "urn:dopa:digital-id:ial:"

// Levels are the identity assurance levels the provider offers as acr
// values, lowest first.
var Levels = []string{"1.2", "1.3", "2.2", "2.3"}

// DefaultIAL is the level acr states when the application asked for none:
// a registry match, which every citizen who can sign in has.
const DefaultIAL = "1.2"

// DefaultACR is DefaultIAL as an acr value.
var DefaultACR = ACRFor(DefaultIAL)

// ACRFor returns the acr value of an identity assurance level.
func ACRFor(ial string) string { return ACRPrefix + ial }

// ACRValues are Levels as acr values, for discovery.
func ACRValues() []string {
	out := make([]string, len(Levels))
	for i, l := range Levels {
		out[i] = ACRFor(l)
	}
	return out
}

// requested returns the known levels among acr values, in their order.
func requested(acrValues []string) []string {
	var out []string
	for _, v := range acrValues {
		if ial, ok := strings.CutPrefix(v, ACRPrefix); ok && validIAL(ial) && !slices.Contains(out, ial) {
			out = append(out, ial)
		}
	}
	return out
}

// RequiredIAL is the level a sign-in must reach for a request's
// acr_values: the lowest level they list (any listed level is acceptable),
// or "" when they list none this provider knows.
func RequiredIAL(acrValues []string) string {
	req := ""
	for _, ial := range requested(acrValues) {
		if req == "" || CompareIAL(ial, req) < 0 {
			req = ial
		}
	}
	return req
}

// Satisfies reports whether a sign-in at level ial meets the request's
// acr_values.
func Satisfies(ial string, acrValues []string) bool {
	need := RequiredIAL(acrValues)
	return need == "" || CompareIAL(ial, need) >= 0
}

// ACR returns the acr an application receives for a sign-in at level ial
// that answered a request with acrValues: the highest requested level the
// sign-in reached; DefaultACR when the request named no level; "" (no acr)
// when the sign-in reached neither.
func ACR(acrValues []string, ial string) string {
	best := ""
	for _, l := range requested(acrValues) {
		if CompareIAL(ial, l) >= 0 && (best == "" || CompareIAL(l, best) > 0) {
			best = l
		}
	}
	if best != "" {
		return ACRFor(best)
	}
	if RequiredIAL(acrValues) == "" && CompareIAL(ial, DefaultIAL) >= 0 {
		return DefaultACR
	}
	return ""
}

// CompareIAL orders identity assurance levels ("1.1" < "1.2" < "1.3" <
// "2.1" < "2.2" < "2.3" < "3") for step-up decisions: it returns -1, 0 or
// +1 as a is lower than, equal to or higher than b. A level that is not of
// the form N or N.M (including "") ranks below every real level, so it
// never satisfies a requirement.
func CompareIAL(a, b string) int {
	x, okx := parseIAL(a)
	y, oky := parseIAL(b)
	switch {
	case !okx && !oky:
		return 0
	case !okx:
		return -1
	case !oky:
		return 1
	}
	for i := range x {
		if x[i] != y[i] {
			if x[i] < y[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

func validIAL(s string) bool { _, ok := parseIAL(s); return ok }

func parseIAL(s string) ([2]int, bool) {
	major, minor, dotted := strings.Cut(s, ".")
	var v [2]int
	for i, p := range []string{major, minor} {
		if i == 1 && !dotted {
			break
		}
		if p == "" || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return v, false
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			return v, false
		}
		v[i] = n
	}
	return v, true
}
