package op

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/dopaid/dopaid/storage"
)

// Encryption of ID tokens and userinfo responses (OIDC Core §10.2): the
// signed JWT is the payload of a JWE (cty JWT) encrypted to the system's
// public key: sign, then encrypt, never the other way round.

// encryptionAlgs and encryptionEncs are what a system may ask for, and
// what discovery advertises. A userinfo response is signed (with the
// system's ID token algorithm: userinfo_signing_alg_values_supported)
// when the system asks for it encrypted.
var (
	encryptionAlgs = []string{storage.EncryptionAlgRSAOAEP256, storage.EncryptionAlgECDHES}
	encryptionEncs = []string{storage.EncryptionEncA256GCM}
)

// errNoEncryptionKey: the system asks for encryption and has registered no
// key it can be done with. Nothing is released in the clear instead.
var errNoEncryptionKey = errors.New("no usable encryption key")

// noEncryptionKey is what the system is answered then: its registration,
// not its request, is at fault, and it says so without any internal text.
func noEncryptionKey(what string) error {
	return oidc.ErrUnauthorizedClient().WithDescription(
		"the system asks for %s encrypted and has no usable encryption key registered", what)
}

// encryptJWT encrypts a signed JWT to the system's key for alg with enc.
// alg "" means no encryption: the JWT is returned as it is.
func (p *Provider) encryptJWT(ctx context.Context, c storage.Client, alg, enc, jwt string) (string, error) {
	if alg == "" {
		return jwt, nil
	}
	if enc == "" {
		enc = storage.EncryptionEncA256GCM
	}
	if !slices.Contains(encryptionAlgs, alg) || !slices.Contains(encryptionEncs, enc) {
		// The registration checks these; a value it let through is not
		// used in some weaker form.
		p.log.ErrorContext(ctx, "system asks for an unsupported encryption", "client_id", c.ID, "alg", alg, "enc", enc)
		return "", errNoEncryptionKey
	}
	key, err := p.prefetchedKey(ctx, c, alg)
	if err != nil {
		return "", err
	}
	e, err := jose.NewEncrypter(jose.ContentEncryption(enc),
		jose.Recipient{Algorithm: jose.KeyAlgorithm(alg), Key: key.Key, KeyID: key.KeyID},
		(&jose.EncrypterOptions{}).WithContentType("JWT").WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("encrypter for %s: %w", alg, err)
	}
	obj, err := e.Encrypt([]byte(jwt))
	if err != nil {
		return "", fmt.Errorf("encrypt: %w", err)
	}
	return obj.CompactSerialize()
}

// releaseRefusal is a release refused where nothing may be written (inside
// a store transaction): the caller records it (refused) and answers.
type releaseRefusal struct {
	pm     storage.Permit
	why    string
	answer error
}

func (r *releaseRefusal) Error() string { return "release refused: " + r.why }

// encKeyKey is the context key of an encryption key looked up ahead.
type encKeyKey struct{}

type lookedUpKey struct {
	clientID, alg string
	key           jose.JSONWebKey
	err           error
}

// prefetchEncryptionKey looks up the key the system's ID tokens are
// encrypted to, for encryptJWT to find in the returned context: a fetch
// from its jwks_uri happens here, not inside a store transaction.
func (p *Provider) prefetchEncryptionKey(ctx context.Context, c storage.Client) context.Context {
	alg := c.IDTokenEncryptedResponseAlg
	if alg == "" || !slices.Contains(encryptionAlgs, alg) {
		return ctx
	}
	k, err := p.encryptionKey(ctx, c, alg)
	return context.WithValue(ctx, encKeyKey{}, lookedUpKey{clientID: c.ID, alg: alg, key: k, err: err})
}

// prefetchedKey is the key prefetchEncryptionKey found for c and alg, or
// else the one encryptionKey finds now.
func (p *Provider) prefetchedKey(ctx context.Context, c storage.Client, alg string) (jose.JSONWebKey, error) {
	if k, ok := ctx.Value(encKeyKey{}).(lookedUpKey); ok && k.clientID == c.ID && k.alg == alg {
		return k.key, k.err
	}
	return p.encryptionKey(ctx, c, alg)
}

// encryptionKey finds the system's public key for alg: in its registered
// JWKS or else at its jwks_uri, a key of the algorithm's type whose use is
// enc (or unstated) and whose alg, if stated, is alg. A key marked for
// encryption wins over one whose use is unstated.
func (p *Provider) encryptionKey(ctx context.Context, c storage.Client, alg string) (jose.JSONWebKey, error) {
	var set []jose.JSONWebKey
	switch {
	case len(c.JWKS) > 0:
		keys, err := parseEncryptionJWKS(c.JWKS)
		if err != nil {
			p.log.WarnContext(ctx, "system has no usable encryption key", "client_id", c.ID, "err", err)
			return jose.JSONWebKey{}, errNoEncryptionKey
		}
		set = keys
	case c.JWKSURI != "":
		keys, err := p.encJWKS.keys(ctx, c.ID, c.JWKSURI, "")
		if err != nil {
			p.log.WarnContext(ctx, "system's encryption keys unavailable", "client_id", c.ID, "err", err)
			return jose.JSONWebKey{}, errNoEncryptionKey
		}
		set = keys
	}
	var found *jose.JSONWebKey
	for i, k := range set {
		if !encryptsWith(k, alg) {
			continue
		}
		if k.Use == "enc" {
			return k, nil
		}
		if found == nil {
			found = &set[i]
		}
	}
	if found == nil {
		p.log.WarnContext(ctx, "system has no encryption key for its algorithm", "client_id", c.ID, "alg", alg)
		return jose.JSONWebKey{}, errNoEncryptionKey
	}
	return *found, nil
}

// encryptsWith reports whether k can be a recipient's key for alg.
func encryptsWith(k jose.JSONWebKey, alg string) bool {
	if (k.Use != "" && k.Use != "enc") || (k.Algorithm != "" && k.Algorithm != alg) {
		return false
	}
	switch key := k.Key.(type) {
	case *rsa.PublicKey:
		return alg == storage.EncryptionAlgRSAOAEP256 && key.N.BitLen() >= 2048
	case *ecdsa.PublicKey:
		switch key.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return alg == storage.EncryptionAlgECDHES
		}
	}
	return false
}

// parseEncryptionJWKS reads a key set and keeps its public keys that may
// encrypt (use enc or unstated, RSA of 2048 bits or more, or EC); a
// private or symmetric key refuses the whole set, as in parseJWKS.
func parseEncryptionJWKS(b []byte) ([]jose.JSONWebKey, error) {
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, errors.New("not a JSON Web Key Set")
	}
	var keys []jose.JSONWebKey
	for i, r := range raw.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(r); err != nil {
			continue
		}
		if !k.IsPublic() {
			return nil, fmt.Errorf("key %d is a private or symmetric key", i)
		}
		if !k.Valid() || !(encryptsWith(k, storage.EncryptionAlgRSAOAEP256) || encryptsWith(k, storage.EncryptionAlgECDHES)) {
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no usable public encryption key")
	}
	return keys, nil
}

// userinfoJWT signs the userinfo claims (with iss and aud, OIDC Core
// §5.3.2) with the provider's key for the system's signing algorithm and
// encrypts them to the system's key.
func (p *Provider) userinfoJWT(ctx context.Context, c storage.Client, info *oidc.UserInfo) (string, error) {
	alg := c.SigningAlg
	if alg == "" {
		alg = string(jose.ES256)
	}
	key, err := p.cfg.Keys.Signer(ctx, alg)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(info)
	if err != nil {
		return "", err
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		return "", err
	}
	claims["iss"] = p.cfg.Issuer
	claims["aud"] = c.ID
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jwt, err := p.sign(key, payload)
	if err != nil {
		return "", err
	}
	return p.encryptJWT(ctx, c, c.UserinfoEncryptedResponseAlg, c.UserinfoEncryptedResponseEnc, jwt)
}

// jwtAnswer carries a JWT that an endpoint answers with instead of the
// JSON that zitadel's router writes for every response.
type jwtAnswer struct{ token string }

type jwtAnswerKey struct{}

// setJWTAnswer makes the request's answer token, as application/jwt. It
// reports false when the handler chain offers no such answer.
func setJWTAnswer(ctx context.Context, token string) bool {
	a, ok := ctx.Value(jwtAnswerKey{}).(*jwtAnswer)
	if ok {
		a.token = token
	}
	return ok
}

// withJWTAnswer lets the handler answer with a JWT (setJWTAnswer): its
// successful JSON answer is then replaced by the JWT, Content-Type
// application/jwt (OIDC Core §5.3.2). Refusals pass through as they are.
func withJWTAnswer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := &jwtAnswer{}
		h.ServeHTTP(&jwtWriter{ResponseWriter: w, a: a}, r.WithContext(context.WithValue(r.Context(), jwtAnswerKey{}, a)))
	})
}

type jwtWriter struct {
	http.ResponseWriter
	a       *jwtAnswer
	written bool
}

func (jw *jwtWriter) WriteHeader(code int) {
	if jw.written {
		return
	}
	jw.written = true
	if jw.a.token != "" && code == http.StatusOK {
		jw.Header().Set("Content-Type", "application/jwt")
		jw.ResponseWriter.WriteHeader(code)
		_, _ = io.WriteString(jw.ResponseWriter, jw.a.token)
		return
	}
	jw.a.token = "" // an error answer: written as it is
	jw.ResponseWriter.WriteHeader(code)
}

func (jw *jwtWriter) Write(b []byte) (int, error) {
	if !jw.written {
		jw.WriteHeader(http.StatusOK)
	}
	if jw.a.token != "" {
		return len(b), nil // the JSON the JWT replaces
	}
	return jw.ResponseWriter.Write(b)
}

// encryptionFailed records and answers the refusal of a system that asks
// for encryption it has no key for (what: "ID tokens", "userinfo
// responses"); any other error is internal.
func (p *Provider) encryptionFailed(ctx context.Context, typ string, c storage.Client, pm storage.Permit, g *storage.Grant, what string, err error) error {
	if errors.Is(err, errNoEncryptionKey) {
		return p.refused(ctx, typ, c, pm, g, "no_encryption_key", noEncryptionKey(what))
	}
	return p.internal(ctx, "encrypt "+what, err)
}
