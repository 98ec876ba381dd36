package op

import (
	"context"
	"slices"
	"time"

	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/release"
)

// Verified claims (OpenID Connect for Identity Assurance 1.0): where a
// grant's claims request asks for verified_claims in a member (userinfo or
// id_token), the answer carries them with how the provider verified the
// citizen. Which claims, by the one rule (release.VerifiedClaims): asked
// for ∩ granted by the permit for the purpose ∩ consented to.

// evidenceSource names the authority the registry check is made against.
var evidenceSource = map[string]any{
	"name":         "Bureau of Registration Administration, Department of Provincial Administration",
	"country_code": "THA",
}

// verifiedClaims returns the verified_claims of member for grant g under
// permit pm — an object, or an array when the request asked for several
// and more than one yields claims; nil when nothing is to be released —
// and the names released, marked as verified (release.VerifiedClaimName)
// for the audit trail.
func (p *Provider) verifiedClaims(ctx context.Context, pm storage.Permit, g storage.Grant, member string) (any, []string, error) {
	req, err := release.ParseClaimsRequest(g.Claims)
	if err != nil {
		// Checked at authorize; a request stored before that check asks
		// for nothing.
		return nil, nil, nil
	}
	asked := req.Verified(member)
	if len(asked) == 0 {
		return nil, nil, nil
	}
	con, err := p.consents.get(ctx, consentKey{g.Subject, pm.ID, g.Purpose})
	if isNotFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	pr, err := p.store.LatestProofing(ctx, g.Subject)
	if isNotFound(err) {
		return nil, nil, nil // never proofed: nothing verified to tell
	}
	if err != nil {
		return nil, nil, err
	}
	verification := verificationOf(pr)
	var out []map[string]any
	var released []string
	for _, v := range asked {
		if !v.Accepts(release.TrustFramework, pr.IAL) {
			continue
		}
		names := release.VerifiedClaims(pm, g.Purpose, v, &con)
		if len(names) == 0 {
			continue
		}
		values, err := p.claims(ctx, g.Subject, names, g)
		if err != nil {
			return nil, nil, err
		}
		if len(values) == 0 {
			continue
		}
		out = append(out, map[string]any{"verification": verification, "claims": values})
		for _, n := range names {
			if _, ok := values[n]; ok && !slices.Contains(released, release.VerifiedClaimName(n)) {
				released = append(released, release.VerifiedClaimName(n))
			}
		}
	}
	switch len(out) {
	case 0:
		return nil, nil, nil
	case 1:
		return out[0], released, nil
	}
	return out, released, nil
}

// verificationOf is the verification element of a proofing (IDA §5.1):
// under the th_dopa trust framework, at the level the proofing reached,
// with its evidence — the citizen's record in the civil registry, checked
// against the registry's data ("data") and, where the face was compared
// with the registry photo, by automated remote biometric comparison
// ("bvr") with the presentation-attack (liveness) outcome.
func verificationOf(pr storage.Proofing) map[string]any {
	at := idaTime(pr.CreatedAt)
	checks := []map[string]any{{"check_method": "data", "organization": "DOPA", "time": at}}
	if f := pr.Face; f != nil && f.Match {
		bvr := map[string]any{"check_method": "bvr", "time": idaTime(f.At)}
		if f.Vendor != "" {
			bvr["organization"] = f.Vendor
		}
		if f.Liveness != "" {
			// Not an IDA member: the ISO/IEC 30107-3 outcome (bona_fide,
			// attack, inconclusive), which relying parties may ignore.
			bvr["liveness"] = f.Liveness
		}
		checks = append(checks, bvr)
	}
	return map[string]any{
		"trust_framework": release.TrustFramework,
		"assurance_level": pr.IAL,
		"time":            at,
		"evidence": []map[string]any{{
			"type":          "electronic_record",
			"check_details": checks,
			"time":          at,
			"record": map[string]any{
				"type":   release.EvidenceRecordType,
				"source": evidenceSource,
			},
		}},
	}
}

// idaTime writes a time as IDA does: ISO 8601, UTC, to the second.
func idaTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
