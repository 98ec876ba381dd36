package op

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/dopaid/dopaid/storage"
)

// DPoP (RFC 9449): sender-constrained tokens.
//
// A client that sends a DPoP proof to the token endpoint gets tokens bound
// to the proof's key (token_type DPoP): the grant records the key's JWK
// SHA-256 thumbprint (Grant.DPoPJKT, sealed into every access token too),
// a refresh needs a proof by the same key, and userinfo accepts the access
// token only under the DPoP scheme with a proof by that key over it (ath).
// A code whose request named dpop_jkt (at PAR or authorize), or whose
// request was pushed with a proof, is redeemed only with that key.
//
// Each proof is good once, on every replica (ReplayStore). The token and
// PAR endpoints (§8) and userinfo (§9) want a server nonce in the proof,
// answering use_dpop_nonce without one (400 at the first two; 401 with a
// DPoP challenge at userinfo). Introspection sees no proof: the resource
// server checks its own against cnf.jkt. Nonces are an HMAC
// of the time window under a key every replica derives alike, so any
// replica accepts another's; one is sent in DPoP-Nonce with every answer
// to a DPoP request.

// dpopAlgs are the proof algorithms accepted (FAPI 2.0: ES256, PS256).
var dpopAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.PS256}

// dpopProofAge is how far a proof's iat may lie from now.
const dpopProofAge = time.Minute

// dpopNonceWindow is how long a server nonce is current; the previous
// window's is still accepted.
const dpopNonceWindow = 5 * time.Minute

type dpopKey struct{}

// dpopJKT returns the thumbprint of the key of the request's valid DPoP
// proof, or "".
func dpopJKT(ctx context.Context) string {
	s, _ := ctx.Value(dpopKey{}).(string)
	return s
}

// dpopError is a refused proof: invalid_dpop_proof, or use_dpop_nonce.
type dpopError struct{ code, description string }

// dpopNonce returns the server nonce of the window n.
func (p *Provider) dpopNonce(n int64) string {
	k := hmac.New(sha256.New, p.cfg.PairwiseKey)
	k.Write([]byte("dopaid dpop nonce key"))
	m := hmac.New(sha256.New, k.Sum(nil))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	m.Write(b[:])
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

func (p *Provider) currentNonce() string {
	return p.dpopNonce(p.now().Unix() / int64(dpopNonceWindow/time.Second))
}

func (p *Provider) nonceValid(nonce string) bool {
	w := p.now().Unix() / int64(dpopNonceWindow/time.Second)
	for _, n := range []int64{w, w - 1} {
		if subtle.ConstantTimeCompare([]byte(nonce), []byte(p.dpopNonce(n))) == 1 {
			return true
		}
	}
	return false
}

// checkDPoP validates the request's DPoP proof (RFC 9449 §4.3) for the
// endpoint htu, over accessToken if not empty, and returns its key's
// thumbprint; "" and no error when the request carries no proof.
func (p *Provider) checkDPoP(r *http.Request, htu, accessToken string, wantNonce bool) (string, *dpopError) {
	ctx := r.Context()
	vs := r.Header.Values("DPoP")
	if len(vs) == 0 {
		return "", nil
	}
	bad := func(why string) (string, *dpopError) {
		p.log.WarnContext(ctx, "DPoP proof refused", "reason", why)
		return "", &dpopError{"invalid_dpop_proof", "the DPoP proof is not valid"}
	}
	if len(vs) > 1 {
		return bad("more than one proof")
	}
	jws, err := jose.ParseSigned(vs[0], dpopAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return bad("not a JWS with an accepted algorithm")
	}
	h := jws.Signatures[0].Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "dpop+jwt" {
		return bad("typ")
	}
	if h.JSONWebKey == nil || !h.JSONWebKey.IsPublic() || !h.JSONWebKey.Valid() {
		return bad("jwk")
	}
	payload, err := jws.Verify(h.JSONWebKey.Key)
	if err != nil {
		return bad("signature")
	}
	var cl struct {
		JTI   string `json:"jti"`
		HTM   string `json:"htm"`
		HTU   string `json:"htu"`
		IAT   *int64 `json:"iat"`
		ATH   string `json:"ath"`
		Nonce string `json:"nonce"`
	}
	if err := json.Unmarshal(payload, &cl); err != nil {
		return bad("claims")
	}
	now := p.now()
	switch {
	case cl.JTI == "" || len(cl.JTI) > 256 || !storage.ValidText(cl.JTI):
		return bad("jti")
	case cl.HTM != r.Method:
		return bad("htm")
	case !sameHTU(cl.HTU, htu):
		return bad("htu")
	case cl.IAT == nil || time.Unix(*cl.IAT, 0).Before(now.Add(-dpopProofAge)) || time.Unix(*cl.IAT, 0).After(now.Add(clockSkew)):
		return bad("iat")
	}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		if subtle.ConstantTimeCompare([]byte(cl.ATH), []byte(base64.RawURLEncoding.EncodeToString(sum[:]))) != 1 {
			return bad("ath")
		}
	}
	if wantNonce && !p.nonceValid(cl.Nonce) {
		return "", &dpopError{"use_dpop_nonce", "the DPoP proof must carry the server's nonce"}
	}
	tp, err := h.JSONWebKey.Thumbprint(crypto.SHA256)
	if err != nil {
		return bad("thumbprint")
	}
	jkt := base64.RawURLEncoding.EncodeToString(tp)
	// Each proof once, on every replica (§11.1).
	exp := time.Unix(*cl.IAT, 0).Add(dpopProofAge + clockSkew)
	if err := p.store.UseOnce(ctx, "dpop:"+jkt, cl.JTI, exp, now); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return bad("replayed")
		}
		p.log.ErrorContext(ctx, "record DPoP proof jti", "err", err)
		return "", &dpopError{"server_error", ""}
	}
	return jkt, nil
}

// sameHTU compares a proof's htu with the endpoint, without query and
// fragment (§4.3 item 9).
func sameHTU(got, want string) bool {
	if i := strings.IndexAny(got, "?#"); i >= 0 {
		got = got[:i]
	}
	return got == want
}

// withDPoP checks the proof of a request to a back-channel endpoint (token,
// PAR): a bad one is refused with 400 (§5.2, §7.1 for the nonce); a good
// one's key thumbprint goes into the request's context.
func (p *Provider) withDPoP(path string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.Header.Values("DPoP")) == 0 {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("DPoP-Nonce", p.currentNonce())
		jkt, derr := p.checkDPoP(r, p.endpoint(path), "", true)
		if derr != nil {
			status := http.StatusBadRequest
			if derr.code == "server_error" {
				status = http.StatusInternalServerError
			}
			writeDPoPError(w, status, derr)
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), dpopKey{}, jkt)))
	})
}

// withDPoPToken reads an access token presented under the DPoP scheme
// (Authorization: DPoP <token>, §7.1) at userinfo: the proof must be over
// that token; the library is then handed the token as it knows it.
func (p *Provider) withDPoPToken(path string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if len(auth) < 5 || !strings.EqualFold(auth[:5], "DPoP ") {
			h.ServeHTTP(w, r)
			return
		}
		token := strings.TrimSpace(auth[5:])
		// Userinfo wants the server's nonce too (§9), from the same
		// windows as the token endpoint, so one nonce serves both.
		w.Header().Set("DPoP-Nonce", p.currentNonce())
		jkt, derr := p.checkDPoP(r, p.endpoint(path), token, true)
		if derr == nil && jkt == "" {
			derr = &dpopError{"invalid_dpop_proof", "the DPoP scheme needs a DPoP proof"}
		}
		if derr != nil {
			w.Header().Set("WWW-Authenticate", `DPoP algs="ES256 PS256", error="`+derr.code+`"`)
			writeDPoPError(w, http.StatusUnauthorized, derr)
			return
		}
		r = r.Clone(context.WithValue(r.Context(), dpopKey{}, jkt))
		r.Header.Set("Authorization", "Bearer "+token)
		h.ServeHTTP(w, r)
	})
}

func writeDPoPError(w http.ResponseWriter, status int, e *dpopError) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.code, e.description})
}

// boundTo reports whether a token of grant g may be used by a request
// whose proof key is jkt: an unbound grant by anyone (a bearer token), a
// bound one only with a proof by its key.
func boundTo(g storage.Grant, jkt string) bool {
	return g.DPoPJKT == "" || subtle.ConstantTimeCompare([]byte(g.DPoPJKT), []byte(jkt)) == 1
}
