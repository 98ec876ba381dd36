package op

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/dopaid/dopaid/storage"
)

var errBadHint = errors.New("invalid id_token_hint")

// hintClaims is what the provider needs from an ID token it issued.
type hintClaims struct {
	Issuer   string        `json:"iss"`
	Subject  string        `json:"sub"`
	Audience oidc.Audience `json:"aud"`
	Expiry   int64         `json:"exp"`
	AZP      string        `json:"azp"`
	// SID is the grant the token was issued under (see idToken).
	SID string `json:"sid"`
}

// verifyIDTokenHint checks that hint is an ID token this provider signed,
// for clientID when given, and — unless expiredOK — not expired (the
// library would accept an expired one at authorize). It returns the
// token's audience client and claims.
func (p *Provider) verifyIDTokenHint(ctx context.Context, hint, clientID string, expiredOK bool) (hintClaims, error) {
	var hc hintClaims
	jws, err := jose.ParseSigned(hint, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil || len(jws.Signatures) != 1 {
		return hc, errBadHint
	}
	pub, err := p.cfg.Keys.PublicKeys(ctx)
	if err != nil {
		return hc, err
	}
	kid := jws.Signatures[0].Header.KeyID
	var payload []byte
	for _, k := range pub {
		if k.KeyID == kid && k.Algorithm == jws.Signatures[0].Header.Algorithm {
			payload, err = jws.Verify(k.Key)
			if err != nil {
				return hc, errBadHint
			}
			break
		}
	}
	if payload == nil {
		return hc, errBadHint
	}
	if err := json.Unmarshal(payload, &hc); err != nil {
		return hc, errBadHint
	}
	if hc.Issuer != p.cfg.Issuer || len(hc.Audience) == 0 || (!expiredOK && time.Unix(hc.Expiry, 0).Before(p.now())) {
		return hc, errBadHint
	}
	if clientID != "" && !slices.Contains(hc.Audience, clientID) {
		return hc, errBadHint
	}
	return hc, nil
}

// endSession is RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).
// A genuine id_token_hint identifies the client and the citizen: the grant
// it was issued under is revoked, and so are the browser's sign-on session
// and its grants when the hint names the browser's citizen. The hint may
// have expired (§2: an RP signs out long after its ID token's few minutes);
// its signature, issuer and audience must hold. The browser is sent only to a
// post_logout_redirect_uri registered for that client, with state;
// otherwise the provider shows its own signed-out page.
func (p *Provider) endSession(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q, ok := p.browserForm(w, r)
	if !ok {
		return
	}
	for _, vs := range q {
		if !storage.ValidText(vs[0]) {
			p.errorPage(w, r, http.StatusBadRequest, "invalid_request", "The sign-out request is not valid text.")
			return
		}
	}
	hint, clientID, postLogout := q.Get("id_token_hint"), q.Get("client_id"), q.Get("post_logout_redirect_uri")
	var hc hintClaims
	if hint != "" {
		var err error
		hc, err = p.verifyIDTokenHint(ctx, hint, clientID, true)
		if err != nil {
			if !errors.Is(err, errBadHint) {
				p.log.ErrorContext(ctx, "end session: keys", "err", err)
			}
			p.errorPage(w, r, http.StatusBadRequest, "invalid_request", "The sign-out request is not valid (id_token_hint).")
			return
		}
		if clientID == "" {
			clientID = hc.AZP
			if clientID == "" {
				clientID = hc.Audience[0]
			}
		}
	}
	var c storage.Client
	if clientID != "" {
		if c, ok = p.pageClient(w, r, clientID); !ok {
			return
		}
	}
	if postLogout != "" && (c.ID == "" || !slices.Contains(c.PostLogoutRedirectURIs, postLogout)) {
		p.errorPage(w, r, http.StatusBadRequest, "invalid_request", "The return address after sign-out is not registered for this application.")
		return
	}
	if hint != "" {
		// Signing out of the app ends the app's grant: its access and
		// refresh tokens stop working at once.
		if err := p.store.RevokeGrant(ctx, hc.SID, p.now()); hc.SID != "" && err != nil {
			p.log.ErrorContext(ctx, "end session: revoke", "err", err)
			p.errorPage(w, r, http.StatusInternalServerError, "server_error", "The service is temporarily unavailable.")
			return
		}
		// And it ends the citizen's single sign-on session in this browser
		// (OpenID Connect RP-Initiated Logout §2) — only when the hint is
		// this browser's citizen's: anyone's valid ID token in a link must
		// not sign someone else out.
		if name := p.cfg.SessionCookie; name != "" {
			if ck, err := r.Cookie(name); err == nil && ck.Value != "" {
				p.endBrowserSession(w, r, c, hc.Subject, name, ck.Value)
			}
		}
	}
	if postLogout != "" {
		v := map[string][]string{}
		if st := q.Get("state"); st != "" {
			v["state"] = []string{st}
		}
		http.Redirect(w, r, appendQuery(postLogout, v), http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pages.ExecuteTemplate(w, "signedout.html", nil); err != nil {
		p.log.ErrorContext(ctx, "render signed-out page", "err", err)
	}
}

// endBrowserSession deletes the browser's sign-on session, and revokes the
// grants made in it, if its citizen is the one the client's ID token names
// (by the client's pairwise sub).
func (p *Provider) endBrowserSession(w http.ResponseWriter, r *http.Request, c storage.Client, sub, cookieName, cookieValue string) {
	ctx := r.Context()
	sess, err := p.store.Session(ctx, HashToken(cookieValue), p.now())
	if err != nil {
		if !isNotFound(err) {
			p.log.ErrorContext(ctx, "end session: load session", "err", err)
		}
		return
	}
	pm, err := p.permitOf(ctx, c)
	if err != nil && !errors.Is(err, errNoPermit) {
		p.log.ErrorContext(ctx, "end session: load permit", "err", err)
		return
	}
	if subtle.ConstantTimeCompare([]byte(p.Subject(sectorOf(c, pm), sess.Subject)), []byte(sub)) != 1 {
		return
	}
	// The session ends with its entry, or not at all.
	rec := storage.Record{{At: p.now(), Type: storage.AuditSignOut, Actor: "client:" + c.ID, CitizenID: sess.Subject,
		AgencyID: pm.AgencyID, PermitID: pm.ID, ClientID: c.ID, Outcome: "success", Detail: "rp_logout"}}
	if err := p.store.DeleteSession(ctx, sess.ID, rec); err != nil {
		p.log.ErrorContext(ctx, "end session: delete session", "err", err)
		return
	}
	// The session's grants end with it, whichever application holds them.
	if _, err := p.store.RevokeGrants(ctx, storage.GrantFilter{SessionID: sess.ID}, p.now()); err != nil {
		p.log.ErrorContext(ctx, "end session: revoke the session's grants", "err", err)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, Secure: p.cfg.SecureCookies, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}
