package admin

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/mail"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"

	"github.com/dopaid/dopaid/storage"
)

// ValidationError lists what is wrong with the input, field by field. Field
// names are the JSON names of the API, with indexes: "purposes[0].claims",
// "grant.supervisors", "redirect_uris[1]".
type ValidationError struct {
	Fields map[string]string
}

func (e *ValidationError) Error() string {
	names := make([]string, 0, len(e.Fields))
	for f := range e.Fields {
		names = append(names, f)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("invalid input: ")
	for i, f := range names {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f + ": " + e.Fields[f])
	}
	return b.String()
}

// problems collects field errors; the first message per field wins.
type problems map[string]string

func (p problems) add(field, format string, a ...any) {
	if _, ok := p[field]; !ok {
		p[field] = fmt.Sprintf(format, a...)
	}
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Fields: p}
}

// Limits on free text, so that a mistake or an attack cannot fill the store.
const (
	maxName  = 300
	maxText  = 4000
	maxItems = 50
	maxURI   = 2000
	maxJWKS  = 64 << 10
)

// The widest network ranges a system may register (clause 10): wider ones
// are "any address" in disguise.
const (
	minRangeBits4 = 8
	minRangeBits6 = 32
)

// text trims v and checks that it is present (when required) and short
// enough; it returns the trimmed value.
func (p problems) text(field, v string, required bool, max int) string {
	v = strings.TrimSpace(v)
	switch {
	case v == "" && required:
		p.add(field, "is required")
	case !utf8.ValidString(v):
		p.add(field, "is not valid UTF-8")
	case strings.IndexByte(v, 0) >= 0:
		p.add(field, "contains a NUL character")
	case utf8.RuneCountInString(v) > max:
		p.add(field, "is longer than %d characters", max)
	}
	return v
}

func (p problems) email(field, v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return v
	}
	if a, err := mail.ParseAddress(v); err != nil || a.Address != v || a.Name != "" {
		p.add(field, "is not an email address")
	}
	return v
}

var (
	purposeCode    = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{1,40}$`)
	registrationNo = regexp.MustCompile(`^[0-9]{13}$`)
)

// checkAgency validates and normalises an agency.
func checkAgency(a storage.Agency) (storage.Agency, error) {
	p := problems{}
	a.NameTH = p.text("name_th", a.NameTH, true, maxName)
	a.NameEN = p.text("name_en", a.NameEN, true, maxName)
	a.RegistrationNo = strings.TrimSpace(a.RegistrationNo)
	if !slices.Contains(storage.Categories, a.Category) {
		p.add("category", "must be one of %s (clause 3)", strings.Join(storage.Categories, ", "))
	}
	switch {
	case a.Category == storage.CategoryPrivate && a.RegistrationNo == "":
		p.add("registration_no", "is required for a private juristic person")
	case a.RegistrationNo != "" && !registrationNo.MatchString(a.RegistrationNo):
		p.add("registration_no", "must be the 13-digit juristic person registration number")
	}
	if len(a.Contacts) > maxItems {
		p.add("contacts", "has more than %d entries", maxItems)
	}
	for i, c := range a.Contacts {
		f := fmt.Sprintf("contacts[%d].", i)
		c.Name = p.text(f+"name", c.Name, true, maxName)
		c.Position = p.text(f+"position", c.Position, false, maxName)
		c.Email = p.email(f+"email", c.Email)
		c.Phone = p.text(f+"phone", c.Phone, false, 50)
		a.Contacts[i] = c
	}
	return a, p.err()
}

// claims validates a purpose's claim list: known names, each once.
func (p problems) claims(field string, claims []string) []string {
	if len(claims) == 0 {
		p.add(field, "must name at least one claim")
		return nil
	}
	var out []string
	for _, c := range claims {
		switch {
		case !storage.IsClaim(c):
			p.add(field, "unknown claim %q (derived claims: age_over_N with N from %d to %d, %s)", c, storage.MinAgeOver, storage.MaxAgeOver, strings.Join(storage.DerivedClaimNames, ", "))
		case slices.Contains(out, c):
			p.add(field, "claim %q is listed twice", c)
		default:
			out = append(out, c)
		}
	}
	return out
}

// checkApplication validates an application's own fields (not its
// agency's existence, which needs the store).
func (s *Service) checkApplication(app storage.Application) (storage.Application, problems) {
	p := problems{}
	app.AgencyID = strings.TrimSpace(app.AgencyID)
	if app.AgencyID == "" {
		p.add("agency_id", "is required")
	}
	app.Mission = p.text("mission", app.Mission, true, maxText)
	app.Reason = p.text("reason", app.Reason, true, maxText)
	app.Necessity = p.text("necessity", app.Necessity, true, maxText)
	switch {
	case len(app.Purposes) == 0:
		p.add("purposes", "at least one purpose is required")
	case len(app.Purposes) > maxItems:
		p.add("purposes", "has more than %d entries", maxItems)
	}
	seen := map[string]bool{}
	for i, pu := range app.Purposes {
		f := fmt.Sprintf("purposes[%d].", i)
		switch {
		case !purposeCode.MatchString(pu.Code):
			p.add(f+"code", "must be 2 to 41 characters: lower-case letters, digits, _ and -, starting with a letter or digit")
		case seen[pu.Code]:
			p.add(f+"code", "purpose %q is listed twice", pu.Code)
		}
		seen[pu.Code] = true
		pu.DescriptionTH = p.text(f+"description_th", pu.DescriptionTH, true, maxText)
		pu.DescriptionEN = p.text(f+"description_en", pu.DescriptionEN, true, maxText)
		pu.Claims = p.claims(f+"claims", pu.Claims)
		app.Purposes[i] = pu
	}
	if len(app.Systems) > maxItems {
		p.add("systems", "has more than %d entries", maxItems)
	}
	for i, sys := range app.Systems {
		app.Systems[i] = s.checkSystem(p, fmt.Sprintf("systems[%d].", i), sys)
		if sys.AnyNetwork {
			p.add(fmt.Sprintf("systems[%d].any_network", i), "is an approver's decision when the system is registered, not part of the application")
		}
		if sys.RequirePAR {
			p.add(fmt.Sprintf("systems[%d].require_par", i), "is set when the system is registered, not part of the application")
		}
		if sys.FAPI {
			p.add(fmt.Sprintf("systems[%d].fapi", i), "is set when the system is registered, not part of the application")
		}
	}
	a := app.Acceptance
	a.Name = p.text("acceptance.name", a.Name, true, maxName)
	a.Position = p.text("acceptance.position", a.Position, true, maxName)
	a.TermsVersion = p.text("acceptance.terms_version", a.TermsVersion, true, 100)
	if a.At.IsZero() {
		p.add("acceptance.at", "the time the terms were accepted is required")
	} else if a.At.After(s.now().Add(maxSkew)) {
		p.add("acceptance.at", "is in the future")
	}
	app.Acceptance = a
	return app, p
}

// checkGrant validates what an approval grants against what the
// application asked for, and returns the granted purposes with the
// application's descriptions and the claims in the canonical order.
func checkGrant(p problems, app storage.Application, g Grant) Grant {
	switch {
	case len(g.Purposes) == 0:
		p.add("grant.purposes", "at least one purpose must be granted")
	case len(g.Purposes) > maxItems:
		p.add("grant.purposes", "has more than %d entries", maxItems)
	}
	out := g
	out.Purposes = nil
	seen := map[string]bool{}
	for i, gp := range g.Purposes {
		f := fmt.Sprintf("grant.purposes[%d].", i)
		asked := -1
		for j, ap := range app.Purposes {
			if ap.Code == gp.Code {
				asked = j
			}
		}
		switch {
		case asked < 0:
			p.add(f+"code", "the application did not ask for purpose %q", gp.Code)
			continue
		case seen[gp.Code]:
			p.add(f+"code", "purpose %q is granted twice", gp.Code)
			continue
		}
		seen[gp.Code] = true
		ap := app.Purposes[asked]
		claims := p.claims(f+"claims", gp.Claims)
		for _, c := range claims {
			if !slices.Contains(ap.Claims, c) {
				p.add(f+"claims", "claim %q was not asked for this purpose", c)
			}
		}
		out.Purposes = append(out.Purposes, storage.Purpose{
			Code: ap.Code, DescriptionTH: ap.DescriptionTH, DescriptionEN: ap.DescriptionEN,
			Claims: storage.SortClaims(claims),
		})
	}
	switch {
	case g.ValidFrom.IsZero():
		p.add("grant.valid_from", "is required")
	case g.ValidUntil.IsZero():
		p.add("grant.valid_until", "is required")
	case !g.ValidUntil.After(g.ValidFrom):
		p.add("grant.valid_until", "must be after valid_from")
	}
	out.Conditions = p.text("grant.conditions", g.Conditions, false, maxText)
	switch {
	case len(g.Supervisors) == 0:
		p.add("grant.supervisors", "the agency must have appointed at least one supervisor (clause 9)")
	case len(g.Supervisors) > maxItems:
		p.add("grant.supervisors", "has more than %d entries", maxItems)
	}
	out.Supervisors = slices.Clone(g.Supervisors)
	for i, sv := range out.Supervisors {
		f := fmt.Sprintf("grant.supervisors[%d].", i)
		sv.Name = p.text(f+"name", sv.Name, true, maxName)
		sv.Position = p.text(f+"position", sv.Position, true, maxName)
		sv.OrderRef = p.text(f+"order_ref", sv.OrderRef, true, maxName)
		sv.Email = p.email(f+"email", sv.Email)
		sv.Phone = p.text(f+"phone", sv.Phone, false, 50)
		out.Supervisors[i] = sv
	}
	return out
}

// Signing algorithms a system may ask for its ID tokens.
const (
	AlgES256 = "ES256"
	AlgRS256 = "RS256"
)

// checkSystem validates and normalises a system's specification; field
// names are prefixed with prefix ("" or "systems[0].").
func (s *Service) checkSystem(p problems, prefix string, sys storage.System) storage.System {
	sys.Name = p.text(prefix+"name", sys.Name, true, maxName)
	if len(sys.RedirectURIs) == 0 {
		p.add(prefix+"redirect_uris", "at least one redirect URI is required")
	}
	sys.RedirectURIs = s.checkURIs(p, prefix+"redirect_uris", sys.RedirectURIs)
	sys.PostLogoutRedirectURIs = s.checkURIs(p, prefix+"post_logout_redirect_uris", sys.PostLogoutRedirectURIs)
	sys.JWKSURI = strings.TrimSpace(sys.JWKSURI)
	switch sys.AuthMethod {
	case storage.AuthMethodPrivateKeyJWT:
		switch {
		case len(sys.JWKS) == 0 && sys.JWKSURI == "":
			p.add(prefix+"jwks", "private_key_jwt needs the system's public keys: a JWKS or a jwks_uri")
		case len(sys.JWKS) > 0 && sys.JWKSURI != "":
			p.add(prefix+"jwks_uri", "give either a JWKS or a jwks_uri, not both")
		case len(sys.JWKS) > 0:
			if msg := checkJWKS(sys.JWKS); msg != "" {
				p.add(prefix+"jwks", "%s", msg)
			} else if !hasKey(sys.JWKS, func(k jose.JSONWebKey) bool { return k.Use != "enc" }) {
				p.add(prefix+"jwks", "private_key_jwt needs a signing key (use sig or unstated)")
			}
		default:
			if msg := s.checkJWKSURI(sys.JWKSURI); msg != "" {
				p.add(prefix+"jwks_uri", "%s", msg)
			}
		}
	case storage.AuthMethodSecretBasic, storage.AuthMethodSecretPost:
		// Keys only to encrypt to (checkEncryption).
		if encrypted(sys) {
			break
		}
		if len(sys.JWKS) > 0 {
			p.add(prefix+"jwks", "only for private_key_jwt or encryption")
		}
		if sys.JWKSURI != "" {
			p.add(prefix+"jwks_uri", "only for private_key_jwt or encryption")
		}
	default:
		p.add(prefix+"auth_method", "must be %s, %s or %s", storage.AuthMethodPrivateKeyJWT, storage.AuthMethodSecretBasic, storage.AuthMethodSecretPost)
	}
	// The provider posts logout tokens to it from its own network: the
	// same rules as for a jwks_uri it fetches.
	if sys.BackchannelLogoutURI = strings.TrimSpace(sys.BackchannelLogoutURI); sys.BackchannelLogoutURI != "" {
		if msg := s.checkJWKSURI(sys.BackchannelLogoutURI); msg != "" {
			p.add(prefix+"backchannel_logout_uri", "%s", msg)
		}
	} else if sys.BackchannelLogoutSessionRequired {
		p.add(prefix+"backchannel_logout_session_required", "needs a back-channel logout URI")
	}
	if len(sys.NetworkRanges) > maxItems {
		p.add(prefix+"network_ranges", "has more than %d entries", maxItems)
	}
	var ranges []string
	for i, r := range sys.NetworkRanges {
		f := fmt.Sprintf("%snetwork_ranges[%d]", prefix, i)
		pr, err := netip.ParsePrefix(strings.TrimSpace(r))
		switch {
		case err != nil:
			p.add(f, "%q is not a CIDR range such as 203.0.113.0/24 or 2001:db8::/48", r)
		case pr != pr.Masked():
			p.add(f, "%q has host bits set; did you mean %s?", r, pr.Masked())
		case pr.Addr().Is4() && pr.Bits() < minRangeBits4 || pr.Addr().Is6() && pr.Bits() < minRangeBits6:
			// A range this wide names no system: it is "any address",
			// which only an approver's recorded any_network decision may
			// grant, and only to a private_key_jwt system.
			p.add(f, "%s is wider than /%d (IPv4) or /%d (IPv6): name the system's own ranges", pr, minRangeBits4, minRangeBits6)
		case slices.Contains(ranges, pr.String()):
			p.add(f, "%s is listed twice", pr)
		default:
			ranges = append(ranges, pr.String())
		}
	}
	sys.NetworkRanges = ranges
	if len(ranges) > 0 && sys.AnyNetwork {
		p.add(prefix+"any_network", "give either network ranges or the decision that the system may call from any address, not both")
	}
	switch sys.SigningAlg {
	case "":
		sys.SigningAlg = AlgES256
	case AlgES256, AlgRS256:
	default:
		p.add(prefix+"signing_alg", "must be ES256 or RS256")
	}
	if sys.FAPI {
		// FAPI 2.0: private_key_jwt, and ES256 or PS256 ID tokens (the
		// provider signs with ES256 or RS256).
		if sys.AuthMethod != storage.AuthMethodPrivateKeyJWT {
			p.add(prefix+"auth_method", "the FAPI 2.0 profile needs private_key_jwt")
		}
		if sys.SigningAlg == AlgRS256 {
			p.add(prefix+"signing_alg", "the FAPI 2.0 profile needs ES256")
		}
	}
	return s.checkEncryption(p, prefix, sys)
}

// encrypted reports whether a system asks for encrypted ID tokens or
// userinfo responses.
func encrypted(sys storage.System) bool {
	return sys.IDTokenEncryptedResponseAlg != "" || sys.UserinfoEncryptedResponseAlg != "" ||
		sys.IDTokenEncryptedResponseEnc != "" || sys.UserinfoEncryptedResponseEnc != ""
}

// checkEncryption checks what a system asks to be encrypted (OIDC Core
// §10.2; the DCR metadata names are the field names) and that it has a
// public key to encrypt to: one in its JWKS for each algorithm, or a
// jwks_uri (checked when the provider fetches it). An alg without an enc
// takes A256GCM, the only content encryption offered.
func (s *Service) checkEncryption(p problems, prefix string, sys storage.System) storage.System {
	check := func(what string, alg, enc *string) {
		*alg, *enc = strings.TrimSpace(*alg), strings.TrimSpace(*enc)
		switch *alg {
		case "":
			if *enc != "" {
				p.add(prefix+what+"_encrypted_response_enc", "only with %s_encrypted_response_alg", what)
			}
			return
		case storage.EncryptionAlgRSAOAEP256, storage.EncryptionAlgECDHES:
		default:
			p.add(prefix+what+"_encrypted_response_alg", "must be RSA-OAEP-256 or ECDH-ES")
			return
		}
		switch *enc {
		case "":
			*enc = storage.EncryptionEncA256GCM
		case storage.EncryptionEncA256GCM:
		default:
			p.add(prefix+what+"_encrypted_response_enc", "must be A256GCM")
			return
		}
		switch {
		case len(sys.JWKS) == 0 && sys.JWKSURI == "":
			p.add(prefix+what+"_encrypted_response_alg", "needs the system's public encryption key: a JWKS or a jwks_uri")
		case len(sys.JWKS) > 0 && !hasKey(sys.JWKS, func(k jose.JSONWebKey) bool { return encryptsWith(k, *alg) }):
			p.add(prefix+what+"_encrypted_response_alg", "the JWKS has no public key for %s (use enc or unstated)", *alg)
		}
	}
	check("id_token", &sys.IDTokenEncryptedResponseAlg, &sys.IDTokenEncryptedResponseEnc)
	check("userinfo", &sys.UserinfoEncryptedResponseAlg, &sys.UserinfoEncryptedResponseEnc)
	if !encrypted(sys) || sys.AuthMethod == storage.AuthMethodPrivateKeyJWT {
		return sys // private_key_jwt's keys are checked with its method
	}
	switch {
	case len(sys.JWKS) > 0 && sys.JWKSURI != "":
		p.add(prefix+"jwks_uri", "give either a JWKS or a jwks_uri, not both")
	case len(sys.JWKS) > 0:
		if msg := checkJWKS(sys.JWKS); msg != "" {
			p.add(prefix+"jwks", "%s", msg)
		}
	case sys.JWKSURI != "":
		if msg := s.checkJWKSURI(sys.JWKSURI); msg != "" {
			p.add(prefix+"jwks_uri", "%s", msg)
		}
	}
	return sys
}

// encryptsWith reports whether k can be the key an ID token or userinfo
// response is encrypted to with alg (as the provider chooses it).
func encryptsWith(k jose.JSONWebKey, alg string) bool {
	if (k.Use != "" && k.Use != "enc") || (k.Algorithm != "" && k.Algorithm != alg) {
		return false
	}
	switch k.Key.(type) {
	case *rsa.PublicKey:
		return alg == storage.EncryptionAlgRSAOAEP256
	case *ecdsa.PublicKey:
		return alg == storage.EncryptionAlgECDHES
	}
	return false
}

// hasKey reports whether the key set b (checked) has a key for which ok holds.
func hasKey(b []byte, ok func(jose.JSONWebKey) bool) bool {
	var set jose.JSONWebKeySet
	if json.Unmarshal(b, &set) != nil {
		return false
	}
	return slices.ContainsFunc(set.Keys, ok)
}

// checkRegistered applies clause 10's network rule to a system being
// registered or changed (after checkSystem): a system that authenticates
// with a client secret names the network ranges its servers call from; a
// private_key_jwt system names them too unless the approver decides,
// explicitly and on the record, that it may call from any address.
// given is how many ranges the request named (those checkSystem refused
// have their own problem).
func checkRegistered(p problems, sys storage.System, given int) {
	if given > 0 {
		return
	}
	switch {
	case usesSecret(sys.AuthMethod) && sys.AnyNetwork:
		p.add("any_network", "a system that authenticates with a client secret must name its network ranges (clause 10); only a private_key_jwt system may be allowed any address")
	case usesSecret(sys.AuthMethod):
		p.add("network_ranges", "a system that authenticates with a client secret must name the network ranges its servers call from (clause 10), such as 203.0.113.0/24")
	case sys.AuthMethod == storage.AuthMethodPrivateKeyJWT && !sys.AnyNetwork:
		p.add("network_ranges", "name the network ranges the system calls from (clause 10), or decide explicitly that this private_key_jwt system may call from any address (any_network)")
	}
}

// checkURIs validates redirect URIs: absolute https (http only on a
// loopback host in development), no fragment, no wildcard, no user info,
// each once. They are kept byte for byte: the provider matches them exactly.
func (s *Service) checkURIs(p problems, field string, uris []string) []string {
	if len(uris) > maxItems {
		p.add(field, "has more than %d entries", maxItems)
	}
	var out []string
	for i, raw := range uris {
		f := fmt.Sprintf("%s[%d]", field, i)
		if msg := s.checkURI(raw); msg != "" {
			p.add(f, "%s", msg)
			continue
		}
		if slices.Contains(out, raw) {
			p.add(f, "is listed twice")
			continue
		}
		out = append(out, raw)
	}
	return out
}

func (s *Service) checkURI(raw string) string {
	if raw == "" || len(raw) > maxURI {
		return fmt.Sprintf("must be an absolute URL of at most %d bytes", maxURI)
	}
	if strings.Contains(raw, "#") {
		return "must not have a fragment"
	}
	if strings.ContainsAny(raw, "* \t\r\n") {
		return "must not contain wildcards or white space"
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return "must be an absolute URL"
	}
	if u.User != nil {
		return "must not carry a user name or password"
	}
	host := u.Hostname()
	switch u.Scheme {
	case "https":
	case "http":
		if !s.cfg.DevLoopbackHTTP || (host != "localhost" && host != "127.0.0.1") {
			if s.cfg.DevLoopbackHTTP {
				return "must use https (http only on localhost or 127.0.0.1)"
			}
			return "must use https"
		}
	default:
		return "must use https"
	}
	return ""
}

// checkJWKSURI reports what is wrong with a jwks_uri, or "": it must be an
// absolute https URL (http only on a loopback host in development) without
// fragment or user info. The provider fetches it from its own network, so
// a query is allowed but nothing that could hide where it goes.
func (s *Service) checkJWKSURI(raw string) string {
	if len(raw) > maxURI {
		return fmt.Sprintf("must be an absolute URL of at most %d bytes", maxURI)
	}
	if strings.Contains(raw, "#") {
		return "must not have a fragment"
	}
	if strings.ContainsAny(raw, " \t\r\n") {
		return "must not contain white space"
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return "must be an absolute URL"
	}
	if u.User != nil {
		return "must not carry a user name or password"
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !s.cfg.DevLoopbackHTTP || !loopbackHost(u.Hostname()) {
			if s.cfg.DevLoopbackHTTP {
				return "must use https (http only on a loopback host)"
			}
			return "must use https"
		}
	default:
		return "must use https"
	}
	return ""
}

// loopbackHost reports whether host is localhost or a loopback address.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// checkJWKS reports what is wrong with a registered key set, or "".
func checkJWKS(b []byte) string {
	if len(b) > maxJWKS {
		return fmt.Sprintf("is larger than %d bytes", maxJWKS)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return "is not a JSON Web Key Set"
	}
	if len(set.Keys) == 0 {
		return "has no keys"
	}
	if len(set.Keys) > 20 {
		return "has more than 20 keys"
	}
	kids := map[string]bool{}
	for i, k := range set.Keys {
		switch k.Key.(type) {
		case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
		case *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey, []byte:
			return fmt.Sprintf("key %d is a private or symmetric key; register public keys only", i)
		default:
			return fmt.Sprintf("key %d is not an EC, RSA or Ed25519 public key", i)
		}
		switch {
		case !k.Valid():
			return fmt.Sprintf("key %d is not a valid key", i)
		case k.Use != "" && k.Use != "sig" && k.Use != "enc":
			return fmt.Sprintf("key %d has use %q, want sig or enc", i, k.Use)
		case k.KeyID != "" && kids[k.KeyID]:
			return fmt.Sprintf("key ID %q is used twice", k.KeyID)
		}
		if rk, ok := k.Key.(*rsa.PublicKey); ok && rk.N.BitLen() < 2048 {
			return fmt.Sprintf("key %d is an RSA key of %d bits; at least 2048 are required", i, rk.N.BitLen())
		}
		kids[k.KeyID] = true
	}
	return ""
}
