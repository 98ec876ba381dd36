// Package release is dopaid's release policy, in one place: what a relying
// party may receive about a citizen, and how the assurance of a sign-in is
// told to it. The provider (op), the login pages (login) and the
// administrators' service (admin) all decide through it, so that a
// consent page, a token, userinfo and a system's registered scopes cannot
// disagree.
//
// The rule (DESIGN.md, clauses 5, 7, 8 and 11 of the DOPA announcement):
// an agency's system receives the claims that the request's scopes ask
// for ∩ the claims its permit grants for the request's purpose ∩ the
// claims the citizen consented to, and only while the permit is in force.
// The identity assurance level is itself a claim (ial), released only on
// those terms; acr never tells more than the application asked about (see
// ACR).
//
// release holds no state and does no I/O: callers load the permit and the
// consent and hand them in. It may import only storage and the standard
// library.
package release

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// ErrNotInForce is every refusal because of the permit's state. InForce
// wraps it with the reason (Standing).
var ErrNotInForce = errors.New("the agency's permit is not in force")

// Standings of a permit at a moment: in force, or why not.
const (
	InForceNow  = "in_force"
	Suspended   = "suspended"
	Revoked     = "revoked"
	Expired     = "expired"
	NotYetValid = "not_yet_valid"
	NotApproved = "not_approved" // pending or rejected
)

// Standing returns whether the permit lets its systems work at now, or
// the reason it does not.
func Standing(pm storage.Permit, now time.Time) string {
	switch pm.State {
	case storage.PermitApproved:
	case storage.PermitSuspended:
		return Suspended
	case storage.PermitRevoked:
		return Revoked
	default:
		return NotApproved
	}
	switch {
	case now.Before(pm.ValidFrom):
		return NotYetValid
	case !now.Before(pm.ValidUntil):
		return Expired
	}
	return InForceNow
}

// InForce returns nil if the permit is in force at now, and otherwise an
// error wrapping ErrNotInForce that names the reason. Every step of a
// sign-in checks it again (authorize, the consent page, the return to the
// provider, every token, userinfo and introspection call): a suspension
// stops the sign-ins in progress, not only the next ones.
func InForce(pm storage.Permit, now time.Time) error {
	if s := Standing(pm, now); s != InForceNow {
		return fmt.Errorf("%w (%s)", ErrNotInForce, s)
	}
	return nil
}

// Refusals of a request's scopes and purpose. Each is an OAuth
// invalid_scope, but ErrTwoPurposes, which is invalid_request.
var (
	ErrTwoPurposes       = errors.New("the request names two purposes")
	ErrPurposeRequired   = errors.New("the request must name its purpose (scope purpose:CODE)")
	ErrPurposeNotGranted = errors.New("the purpose is not granted by the agency's permit")
	ErrScopeNotGranted   = errors.New("the scope asks for claims the permit does not grant for this purpose")
)

// PurposeScopePrefix starts the scope that names a request's purpose,
// which every client library can send: "purpose:CODE".
const PurposeScopePrefix = "purpose:"

// Purpose picks the purpose a request is for: its purpose:CODE scope or
// its purpose parameter, or the permit's only purpose when it grants one.
// It refuses a claim scope asking for any claim the purpose does not
// grant, so that the citizen is never asked for what cannot be released.
func Purpose(pm storage.Permit, scopes []string, param string) (storage.Purpose, error) {
	code := param
	for _, s := range scopes {
		if c, ok := strings.CutPrefix(s, PurposeScopePrefix); ok {
			if code != "" && code != c {
				return storage.Purpose{}, ErrTwoPurposes
			}
			code = c
		}
	}
	if code == "" {
		if len(pm.Purposes) != 1 {
			return storage.Purpose{}, ErrPurposeRequired
		}
		code = pm.Purposes[0].Code
	}
	pu, ok := pm.Purpose(code)
	if !ok {
		return storage.Purpose{}, ErrPurposeNotGranted
	}
	for _, s := range scopes {
		for _, claim := range storage.ScopeClaimNames(s) {
			if !slices.Contains(pu.Claims, claim) {
				return storage.Purpose{}, fmt.Errorf("scope %s: %w", s, ErrScopeNotGranted)
			}
		}
	}
	return pu, nil
}

// ClientScopes are the scopes a system registered under the permit may
// request: openid, offline_access, and every claim scope that asks for at
// least one claim some granted purpose allows. Each request is narrowed
// further to its own purpose (Purpose, Claims).
func ClientScopes(pm storage.Permit) []string {
	granted := map[string]bool{}
	for _, pu := range pm.Purposes {
		for _, c := range pu.Claims {
			granted[c] = true
		}
	}
	var claimScopes []string
	for scope, claims := range storage.ClaimScopes {
		if slices.ContainsFunc(claims, func(c string) bool { return granted[c] }) {
			claimScopes = append(claimScopes, scope)
		}
	}
	for c := range granted {
		// A derived claim is asked for by the scope of its own name.
		if storage.IsDerivedClaim(c) {
			claimScopes = append(claimScopes, c)
		}
	}
	sort.Strings(claimScopes)
	return append([]string{"openid", "offline_access"}, claimScopes...)
}

// Asked returns the claims a request for purpose would release if the
// citizen consents: what its scopes ask for ∩ what the permit grants for
// the purpose, in the order of storage.ClaimNames. These are the claims a
// consent page lists. An unknown purpose asks for nothing.
func Asked(pm storage.Permit, purpose string, scopes []string) []string {
	pu, ok := pm.Purpose(purpose)
	if !ok {
		return nil
	}
	return storage.Intersect(storage.ScopeClaims(scopes), pu.Claims)
}

// Claims returns the claims that may be released now for a grant of
// purpose under the permit: Asked ∩ the claims of the citizen's consent in
// force (nil: there is none). The consent must be the citizen's for this
// permit and purpose; any other gives nothing. Whether the permit is in
// force is InForce's to say; callers check both.
func Claims(pm storage.Permit, purpose string, scopes []string, consent *storage.Consent) []string {
	asked := Asked(pm, purpose, scopes)
	if len(asked) == 0 || consent == nil || !consent.WithdrawnAt.IsZero() ||
		consent.PermitID != pm.ID || consent.Purpose != purpose {
		return nil
	}
	return storage.Intersect(asked, consent.Claims)
}

// Covers reports whether a consent in force (nil: none) covers the
// claims at the permit's current version, so that the citizen need not be
// asked again. A change of the permit (a new version) or a claim not yet
// consented to asks again — except that a renewal which did not widen the
// consent's purpose (Purpose.ConsentFrom) keeps the consents given since.
func Covers(consent *storage.Consent, pm storage.Permit, claims []string) bool {
	if consent == nil || !consent.WithdrawnAt.IsZero() || consent.PermitID != pm.ID {
		return false
	}
	if consent.PermitVersion != pm.Version {
		pu, ok := pm.Purpose(consent.Purpose)
		if !ok || pu.ConsentFrom == 0 || consent.PermitVersion < pu.ConsentFrom || consent.PermitVersion > pm.Version {
			return false
		}
	}
	for _, c := range claims {
		if !slices.Contains(consent.Claims, c) {
			return false
		}
	}
	return true
}
