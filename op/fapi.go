package op

import (
	"context"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// The FAPI 2.0 security profile, per system (storage.Client.FAPI). A
// system under it:
//
//   - pushes every authorization request (RFC 9126), as RequirePAR;
//   - authenticates with private_key_jwt only, at the token and PAR
//     endpoints alike, with an ES256 or PS256 assertion;
//   - signs its request objects with ES256 or PS256;
//   - redeems codes and refreshes tokens only with a DPoP proof, so every
//     token it holds is sender-constrained (RFC 9449);
//   - gets ES256 ID tokens (the provider signs with ES256 or RS256);
//   - gets codes that live at most fapiCodeTTL.
//
// What every system gets anyway: PKCE with S256 only, iss in every
// authorization response (RFC 9207), no CORS at the authorization
// endpoint, DPoP proofs in ES256 or PS256.

// fapiAlgs are the signature algorithms FAPI 2.0 §5.4 allows that the
// provider accepts from a client.
var fapiAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.PS256}

// fapiCodeTTL bounds a FAPI system's authorization codes (FAPI 2.0 §5.3.2.1:
// "no more than 60 seconds").
const fapiCodeTTL = 60 * time.Second

// codeTTL is how long a code minted for the client lives.
func (p *Provider) codeTTL(ctx context.Context, clientID string) time.Duration {
	ttl := p.cfg.CodeTTL
	if ttl <= fapiCodeTTL {
		return ttl
	}
	c, err := p.clients.get(ctx, clientID)
	if err != nil || c.FAPI {
		// Fail closed: a client that cannot be read gets the short code.
		return fapiCodeTTL
	}
	return ttl
}

// errDPoPRequired refuses a FAPI system's token request without a DPoP
// proof: its tokens must be sender-constrained.
func errDPoPRequired() error {
	return oidc.ErrInvalidRequest().WithDescription("this client must send a DPoP proof (RFC 9449)")
}
