package release

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/dopaid/dopaid/storage"
)

// Verified claims (OpenID Connect for Identity Assurance 1.0). An
// application may ask, in the claims request parameter (OIDC Core §5.5),
// for claims together with how they were verified:
//
//	{"userinfo": {"verified_claims": {"verification": {"trust_framework": null},
//	  "claims": {"given_name": {"purpose": "…"}, "birthdate": null}}}}
//
// It receives them by the one rule (Claims): a verified claim is released
// only where it was asked for, the permit grants it for the request's
// purpose and the citizen consented to it. What was asked for and is not
// granted is left out, silently (IDA §6.5), and never widens anything:
// essential or not, the permit decides.

// TrustFramework names the rules the provider verifies identities under:
// DOPA's civil registry, proofed as DOMAIN.md's assurance levels say.
const TrustFramework = "th_dopa"

// EvidenceRecordType is the type of the electronic record the registry
// check is made against (IDA's predefined value for a population register).
const EvidenceRecordType = "population_register"

// VerifiableClaims are the claims the civil registry vouches for, which
// may appear inside verified_claims. ial is about the sign-in, not the
// person: it is told by verification.assurance_level instead.
var VerifiableClaims = slices.DeleteFunc(slices.Clone(storage.ClaimNames), func(c string) bool { return c == "ial" })

// ErrClaimsRequest is every malformed claims request parameter: the
// authorization request is refused with invalid_request.
var ErrClaimsRequest = errors.New("the claims request parameter is malformed")

// ClaimsRequest is a parsed claims request parameter.
type ClaimsRequest struct {
	UserInfo ClaimsMember
	IDToken  ClaimsMember
}

// ClaimsMember is the userinfo or id_token member of a claims request.
type ClaimsMember struct {
	// Claims are the individual claims asked for, by name.
	Claims map[string]ClaimSpec
	// Verified are the verified_claims asked for (an object or an array
	// of them in the request).
	Verified []VerifiedRequest
}

// ClaimSpec is what a request says of one claim (null: nothing).
type ClaimSpec struct {
	Essential bool
	// Purpose is the application's reason for asking, 3 to 300
	// characters (IDA §6.2), shown on the consent page.
	Purpose string
}

// VerifiedRequest is one verified_claims element of a request.
type VerifiedRequest struct {
	// Verification constrains the verification: trust_framework and
	// assurance_level with value or values are honoured (Accepts).
	Verification map[string]json.RawMessage
	Claims       map[string]ClaimSpec
}

// ParseClaimsRequest parses and checks a claims request parameter; nil or
// empty is an empty request. Any error wraps ErrClaimsRequest.
func ParseClaimsRequest(raw []byte) (ClaimsRequest, error) {
	var req ClaimsRequest
	if len(bytes.TrimSpace(raw)) == 0 {
		return req, nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil || top == nil {
		return req, fmt.Errorf("%w: not a JSON object", ErrClaimsRequest)
	}
	var err error
	if req.UserInfo, err = parseMember("userinfo", top["userinfo"]); err != nil {
		return req, err
	}
	if req.IDToken, err = parseMember("id_token", top["id_token"]); err != nil {
		return req, err
	}
	return req, nil
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

func parseMember(name string, raw json.RawMessage) (ClaimsMember, error) {
	var m ClaimsMember
	if isNull(raw) {
		return m, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return m, fmt.Errorf("%w: %s is not an object", ErrClaimsRequest, name)
	}
	for k, v := range fields {
		if k == "verified_claims" {
			vs, err := parseVerified(name, v)
			if err != nil {
				return m, err
			}
			m.Verified = vs
			continue
		}
		spec, err := parseSpec(name+"."+k, v)
		if err != nil {
			return m, err
		}
		if m.Claims == nil {
			m.Claims = map[string]ClaimSpec{}
		}
		m.Claims[k] = spec
	}
	return m, nil
}

func parseSpec(where string, raw json.RawMessage) (ClaimSpec, error) {
	var s ClaimSpec
	if isNull(raw) {
		return s, nil
	}
	var v struct {
		Essential *bool           `json:"essential"`
		Purpose   *string         `json:"purpose"`
		Values    json.RawMessage `json:"values"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return s, fmt.Errorf("%w: %s is not null or an object", ErrClaimsRequest, where)
	}
	if v.Essential != nil {
		s.Essential = *v.Essential
	}
	if v.Purpose != nil {
		if n := utf8.RuneCountInString(*v.Purpose); n < 3 || n > 300 {
			return s, fmt.Errorf("%w: %s.purpose must have 3 to 300 characters", ErrClaimsRequest, where)
		}
		s.Purpose = *v.Purpose
	}
	if !isNull(v.Values) {
		var vs []json.RawMessage
		if err := json.Unmarshal(v.Values, &vs); err != nil {
			return s, fmt.Errorf("%w: %s.values is not an array", ErrClaimsRequest, where)
		}
	}
	return s, nil
}

func parseVerified(member string, raw json.RawMessage) ([]VerifiedRequest, error) {
	where := member + ".verified_claims"
	var elems []json.RawMessage
	switch t := bytes.TrimSpace(raw); {
	case len(t) > 0 && t[0] == '[':
		if err := json.Unmarshal(t, &elems); err != nil || len(elems) == 0 {
			return nil, fmt.Errorf("%w: %s is not a non-empty array", ErrClaimsRequest, where)
		}
	case len(t) > 0 && t[0] == '{':
		elems = []json.RawMessage{t}
	default:
		return nil, fmt.Errorf("%w: %s is not an object or an array", ErrClaimsRequest, where)
	}
	var out []VerifiedRequest
	for _, e := range elems {
		var v struct {
			Verification json.RawMessage `json:"verification"`
			Claims       json.RawMessage `json:"claims"`
		}
		if err := json.Unmarshal(e, &v); err != nil {
			return nil, fmt.Errorf("%w: %s element is not an object", ErrClaimsRequest, where)
		}
		var vr VerifiedRequest
		if err := json.Unmarshal(v.Verification, &vr.Verification); err != nil || vr.Verification == nil {
			return nil, fmt.Errorf("%w: %s needs a verification object", ErrClaimsRequest, where)
		}
		var claims map[string]json.RawMessage
		if err := json.Unmarshal(v.Claims, &claims); err != nil || len(claims) == 0 {
			return nil, fmt.Errorf("%w: %s needs a claims object naming at least one claim", ErrClaimsRequest, where)
		}
		vr.Claims = map[string]ClaimSpec{}
		for k, c := range claims {
			spec, err := parseSpec(where+".claims."+k, c)
			if err != nil {
				return nil, err
			}
			vr.Claims[k] = spec
		}
		for k, c := range vr.Verification {
			if k != "trust_framework" && k != "assurance_level" {
				continue
			}
			if _, err := constraint(c); err != nil {
				return nil, fmt.Errorf("%w: %s.verification.%s is not null or a value constraint", ErrClaimsRequest, where, k)
			}
		}
		out = append(out, vr)
	}
	return out, nil
}

// constraint returns the values a verification element is constrained to
// (nil: any).
func constraint(raw json.RawMessage) ([]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var c struct {
		Value  *string  `json:"value"`
		Values []string `json:"values"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	out := slices.Clone(c.Values)
	if c.Value != nil {
		out = append(out, *c.Value)
	}
	return out, nil
}

// Accepts reports whether a verification under trustFramework at level
// meets the element's constraints. One that does not is left out of the
// answer (IDA §6.5.3), never an error.
func (v VerifiedRequest) Accepts(trustFramework, level string) bool {
	for k, want := range map[string]string{"trust_framework": trustFramework, "assurance_level": level} {
		vals, err := constraint(v.Verification[k])
		if err != nil || (vals != nil && !slices.Contains(vals, want)) {
			return false
		}
	}
	return true
}

// names are the verifiable claims the element asks for, in the order of
// storage.ClaimNames.
func (v VerifiedRequest) names() []string {
	var out []string
	for _, c := range VerifiableClaims {
		if _, ok := v.Claims[c]; ok {
			out = append(out, c)
		}
	}
	return out
}

// Verified returns the verified_claims elements of the member.
func (r ClaimsRequest) Verified(member string) []VerifiedRequest {
	if member == "id_token" {
		return r.IDToken.Verified
	}
	return r.UserInfo.Verified
}

// Purposes returns the per-claim purposes of the request, by claim name,
// from both members and their verified claims.
func (r ClaimsRequest) Purposes() map[string]string {
	out := map[string]string{}
	for _, m := range []ClaimsMember{r.IDToken, r.UserInfo} {
		for k, s := range m.Claims {
			if s.Purpose != "" {
				out[k] = s.Purpose
			}
		}
		for _, v := range m.Verified {
			for k, s := range v.Claims {
				if s.Purpose != "" {
					out[k] = s.Purpose
				}
			}
		}
	}
	return out
}

// VerifiedAsked returns the verified claims a request asks for that the
// permit grants for purpose: those a consent page must list besides the
// scopes' (Requested). A malformed request asks for nothing.
func VerifiedAsked(pm storage.Permit, purpose string, claimsParam []byte) []string {
	pu, ok := pm.Purpose(purpose)
	if !ok {
		return nil
	}
	req, err := ParseClaimsRequest(claimsParam)
	if err != nil {
		return nil
	}
	var asked []string
	for _, m := range []ClaimsMember{req.UserInfo, req.IDToken} {
		for _, v := range m.Verified {
			asked = append(asked, v.names()...)
		}
	}
	return storage.Intersect(storage.Intersect(storage.ClaimNames, asked), pu.Claims)
}

// Requested returns what a request would release if the citizen consents:
// Asked (its scopes) and VerifiedAsked (its verified claims), each once,
// in the order of storage.ClaimNames. These are the claims a consent page
// lists and a consent must cover.
func Requested(pm storage.Permit, purpose string, scopes []string, claimsParam []byte) []string {
	both := append(Asked(pm, purpose, scopes), VerifiedAsked(pm, purpose, claimsParam)...)
	return storage.SortClaims(both) // derived claims too, in their order
}

// VerifiedClaims returns the claims of one verified_claims element that
// may be released now: asked for by the element ∩ granted by the permit
// for purpose ∩ consented to (consent nil: none).
func VerifiedClaims(pm storage.Permit, purpose string, v VerifiedRequest, consent *storage.Consent) []string {
	pu, ok := pm.Purpose(purpose)
	if !ok || consent == nil || !consent.WithdrawnAt.IsZero() || consent.PermitID != pm.ID || consent.Purpose != purpose {
		return nil
	}
	return storage.Intersect(storage.Intersect(v.names(), pu.Claims), consent.Claims)
}

// VerifiedClaimName is how the audit trail names a claim released inside
// verified_claims, so that it reads apart from the same claim released
// plain: "verified_claims.given_name".
func VerifiedClaimName(claim string) string { return "verified_claims." + claim }
