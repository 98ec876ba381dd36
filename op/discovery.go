package op

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/go-jose/go-jose/v4"
	oidcop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/dopaid/dopaid/storage/release"
)

// discoveryDocument lists only what the provider really does (OIDC
// Discovery 1.0 §3, RFC 8414 §2).
type discoveryDocument struct {
	Issuer                             string `json:"issuer"`
	AuthorizationEndpoint              string `json:"authorization_endpoint"`
	TokenEndpoint                      string `json:"token_endpoint"`
	UserinfoEndpoint                   string `json:"userinfo_endpoint"`
	JWKSURI                            string `json:"jwks_uri"`
	IntrospectionEndpoint              string `json:"introspection_endpoint"`
	RevocationEndpoint                 string `json:"revocation_endpoint"`
	PushedAuthorizationRequestEndpoint string `json:"pushed_authorization_request_endpoint"`
	// RequirePushedAuthorizationRequests is false: PAR is required per
	// system (RequirePAR, FAPI), which RFC 9126 §6 lets metadata omit.
	RequirePushedAuthorizationRequests         bool     `json:"require_pushed_authorization_requests"`
	EndSessionEndpoint                         string   `json:"end_session_endpoint"`
	BackchannelLogoutSupported                 bool     `json:"backchannel_logout_supported"`
	BackchannelLogoutSessionSupported          bool     `json:"backchannel_logout_session_supported"` // sid: the grant's, in ID and logout tokens
	ScopesSupported                            []string `json:"scopes_supported"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	SubjectTypesSupported                      []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported           []string `json:"id_token_signing_alg_values_supported"`
	IDTokenEncryptionAlgValuesSupported        []string `json:"id_token_encryption_alg_values_supported"`
	IDTokenEncryptionEncValuesSupported        []string `json:"id_token_encryption_enc_values_supported"`
	UserinfoSigningAlgValuesSupported          []string `json:"userinfo_signing_alg_values_supported"`
	UserinfoEncryptionAlgValuesSupported       []string `json:"userinfo_encryption_alg_values_supported"`
	UserinfoEncryptionEncValuesSupported       []string `json:"userinfo_encryption_enc_values_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	ClaimsSupported                            []string `json:"claims_supported"`
	ACRValuesSupported                         []string `json:"acr_values_supported,omitempty"`
	ClaimsParameterSupported                   bool     `json:"claims_parameter_supported"`
	// OpenID Connect for Identity Assurance 1.0 §8 (verifiedclaims.go).
	VerifiedClaimsSupported                    bool     `json:"verified_claims_supported"`
	TrustFrameworksSupported                   []string `json:"trust_frameworks_supported"`
	EvidenceSupported                          []string `json:"evidence_supported"`
	ElectronicRecordsSupported                 []string `json:"electronic_records_supported"`
	ClaimsInVerifiedClaimsSupported            []string `json:"claims_in_verified_claims_supported"`
	RequestParameterSupported                  bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported               bool     `json:"request_uri_parameter_supported"`
	RequestObjectSigningAlgValuesSupported     []string `json:"request_object_signing_alg_values_supported"`
	DPoPSigningAlgValuesSupported              []string `json:"dpop_signing_alg_values_supported"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	PromptValuesSupported                      []string `json:"prompt_values_supported"`
	UILocalesSupported                         []string `json:"ui_locales_supported"`
}

// authMethods are the client authentication methods a system can be
// registered with. "none" is not one: public clients cannot be
// registered, so no client could use it.
var authMethods = []string{"private_key_jwt", "client_secret_basic", "client_secret_post"}

// promptValues are the prompt values the sign-in honours. select_account
// is not among them: a browser holds one citizen's session, there is no
// account to choose, and such a request is answered
// account_selection_required (OIDC Core §3.1.2.1).
var promptValues = []string{"none", "login", "consent"}

func (p *Provider) newDiscovery() discoveryDocument {
	algs := func(a ...jose.SignatureAlgorithm) []string {
		out := make([]string, len(a))
		for i, v := range a {
			out[i] = string(v)
		}
		return out
	}
	return discoveryDocument{
		Issuer:                                     p.cfg.Issuer,
		AuthorizationEndpoint:                      p.endpoint(PathAuthorize),
		TokenEndpoint:                              p.endpoint(PathToken),
		UserinfoEndpoint:                           p.endpoint(PathUserinfo),
		JWKSURI:                                    p.endpoint(PathJWKS),
		IntrospectionEndpoint:                      p.endpoint(PathIntrospect),
		RevocationEndpoint:                         p.endpoint(PathRevoke),
		PushedAuthorizationRequestEndpoint:         p.endpoint(PathPAR),
		RequirePushedAuthorizationRequests:         false,
		EndSessionEndpoint:                         p.endpoint(PathEndSession),
		BackchannelLogoutSupported:                 true,
		BackchannelLogoutSessionSupported:          true,
		ScopesSupported:                            supportedScopes,
		ResponseTypesSupported:                     []string{"code"},
		ResponseModesSupported:                     []string{"query"},
		GrantTypesSupported:                        grantTypes,
		SubjectTypesSupported:                      []string{"pairwise"},
		IDTokenSigningAlgValuesSupported:           algs(jose.ES256, jose.RS256),
		IDTokenEncryptionAlgValuesSupported:        encryptionAlgs,
		IDTokenEncryptionEncValuesSupported:        encryptionEncs,
		UserinfoSigningAlgValuesSupported:          algs(jose.ES256, jose.RS256),
		UserinfoEncryptionAlgValuesSupported:       encryptionAlgs,
		UserinfoEncryptionEncValuesSupported:       encryptionEncs,
		TokenEndpointAuthMethodsSupported:          authMethods,
		TokenEndpointAuthSigningAlgValuesSupported: algs(assertionAlgs...),
		IntrospectionEndpointAuthMethodsSupported:  authMethods,
		RevocationEndpointAuthMethodsSupported:     authMethods,
		CodeChallengeMethodsSupported:              []string{"S256"},
		ClaimsSupported:                            slices.Concat([]string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "at_hash", "sid"}, citizenClaims, derivedClaimsSupported()),
		ACRValuesSupported:                         p.cfg.ACRValues,
		ClaimsParameterSupported:                   true,
		VerifiedClaimsSupported:                    true,
		TrustFrameworksSupported:                   []string{release.TrustFramework},
		EvidenceSupported:                          []string{"electronic_record"},
		ElectronicRecordsSupported:                 []string{release.EvidenceRecordType},
		ClaimsInVerifiedClaimsSupported:            release.VerifiableClaims,
		RequestParameterSupported:                  true,
		// Only the request_uri of a pushed request (RFC 9126): the
		// provider never fetches a request object from elsewhere.
		RequestURIParameterSupported:               false,
		RequestObjectSigningAlgValuesSupported:     algs(requestObjectAlgs...),
		DPoPSigningAlgValuesSupported:              algs(dpopAlgs...),
		AuthorizationResponseIssParameterSupported: true,
		PromptValuesSupported:                      promptValues,
		UILocalesSupported:                         []string{"th", "en"},
	}
}

func (s *server) Discovery(context.Context, *oidcop.Request[struct{}]) (*oidcop.Response, error) {
	return oidcop.NewResponse(s.p.discovery), nil
}

// asMetadata serves the same document as RFC 8414 authorization server metadata.
func (p *Provider) asMetadata(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(p.discovery)
}

// Keys serves the JWKS: every published key, including the next one before
// it signs and retired ones until the tokens they signed have expired.
func (s *server) Keys(ctx context.Context, _ *oidcop.Request[struct{}]) (*oidcop.Response, error) {
	pub, err := s.p.cfg.Keys.PublicKeys(ctx)
	if err != nil {
		return nil, s.p.internal(ctx, "jwks", err)
	}
	return oidcop.NewResponse(jose.JSONWebKeySet{Keys: pub}), nil
}
