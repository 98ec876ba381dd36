package op

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/release"
)

// supportedScopes are openid, offline_access and the claim scopes
// (claims.go). A client never gets a scope outside its registered list.
var supportedScopes = func() []string {
	s := []string{"openid", "offline_access"}
	for k := range claimScopes {
		s = append(s, k)
	}
	s = append(s, derivedClaimsSupported()...)
	slices.Sort(s[2:])
	return s
}()

var (
	// RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is 43 characters.
	codeChallengeRE = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	// RFC 7636 §4.1: 43 to 128 unreserved characters.
	codeVerifierRE = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)
)

// authError is a refusal sent back to the client's (verified) redirect URI.
type authError struct {
	code, description string
}

func (p *Provider) browserCookieName() string {
	if p.cfg.BrowserCookie != "" {
		return p.cfg.BrowserCookie
	}
	if p.cfg.SecureCookies {
		return "__Host-dopaid-browser"
	}
	return "dopaid-browser"
}

// browserID returns the browser's binding cookie, minting one when absent.
func (p *Provider) browserID(w http.ResponseWriter, r *http.Request) (string, error) {
	if c, err := r.Cookie(p.browserCookieName()); err == nil && len(c.Value) >= 43 && len(c.Value) <= 64 {
		return c.Value, nil
	}
	v, err := keys.RandomToken(32)
	if err != nil {
		return "", err
	}
	http.SetCookie(w, &http.Cookie{
		Name:     p.browserCookieName(),
		Value:    v,
		Path:     "/",
		Secure:   p.cfg.SecureCookies,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
	return v, nil
}

// authorize is the authorization endpoint (RFC 6749 §3.1, OIDC Core §3.1.2).
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q, ok := p.browserForm(w, r)
	if !ok {
		return
	}
	clientID := q.Get("client_id")
	if clientID == "" {
		p.errorPage(w, r, http.StatusBadRequest, "invalid_request", "The request does not name an application (client_id).")
		return
	}
	if !storage.ValidText(clientID) {
		p.errorPage(w, r, http.StatusBadRequest, "invalid_request", "The request's application (client_id) is not valid text.")
		return
	}
	c, ok := p.pageClient(w, r, clientID)
	if !ok {
		return
	}
	// From here the request names a registered client: its refusals by
	// the rules of clauses 10 and 11 are recorded (refusedPage); requests
	// that name no client are answered only (see refused).
	if c.Disabled {
		p.refusedPage(w, r, c, storage.Permit{}, "client_disabled", http.StatusBadRequest, "unauthorized_client", "The application is not allowed to use this service.")
		return
	}
	if ru := q.Get("request_uri"); ru != "" {
		// A pushed request (RFC 9126 §4): its parameters were checked at
		// push time and are used alone.
		p.authorizePushed(w, r, c, ru)
		return
	}
	if c.RequirePAR || c.FAPI {
		p.refusedPage(w, r, c, storage.Permit{}, "par_required", http.StatusBadRequest, "invalid_request", "This application must push its authorization request first (PAR).")
		return
	}
	if obj := q.Get("request"); obj != "" {
		// A signed request object (RFC 9101 §6.3): its parameters are used
		// alone, never merged with those of the query.
		v, err := p.requestObject(ctx, c, obj)
		if err != nil {
			p.refusedPage(w, r, c, storage.Permit{}, "request_object_invalid", http.StatusBadRequest, "invalid_request_object", "The application's signed request could not be accepted.")
			return
		}
		q = v
	}
	redirectURI := q.Get("redirect_uri")
	if !validRedirect(c, redirectURI) {
		p.errorPage(w, r, http.StatusBadRequest, "invalid_redirect_uri", "The return address (redirect_uri) is not registered for this application.")
		return
	}
	state := q.Get("state")
	if !storage.ValidText(state) {
		// It could not be sent back as it came.
		p.errorPage(w, r, http.StatusBadRequest, "invalid_request", "The request's state is not valid text.")
		return
	}
	// The agency's permit must be in force (clauses 5 and 11): otherwise an
	// error page, no redirect — the system is not allowed to receive anything.
	pm, ok := p.pagePermit(w, r, c, redirectURI, state)
	if !ok {
		return
	}
	ar, aerr := p.validateRequest(ctx, c, pm, q)
	if aerr != nil {
		p.redirectError(w, r, redirectURI, state, *aerr)
		return
	}
	p.startSignIn(w, r, ar)
}

// validRedirect reports whether uri is one of the client's: an exact,
// byte-for-byte match against the registered list: no prefix, wildcard,
// port or normalisation leniency (RFC 9700 §4.1.3).
func validRedirect(c storage.Client, uri string) bool {
	return uri != "" && slices.Contains(c.RedirectURIs, uri)
}

// pagePermit returns the permit of the client's agency if it is in force,
// or answers with an error page: no automatic redirect — the system is not
// allowed to receive anything. The page explains, in both languages, and
// offers the way back: the registered redirectURI with the error alone
// (unauthorized_client, state, iss), so that the application can react.
func (p *Provider) pagePermit(w http.ResponseWriter, r *http.Request, c storage.Client, redirectURI, state string) (storage.Permit, bool) {
	pm, err := p.activePermit(r.Context(), c)
	if err != nil {
		if errors.Is(err, errNoPermit) {
			back := url.Values{"error": {"unauthorized_client"}, "error_description": {"the agency's permit is not in force"}, "iss": {p.cfg.Issuer}}
			if state != "" {
				back.Set("state", state)
			}
			p.refusedPageReturn(w, r, c, pm, p.permitRefusal(pm), http.StatusForbidden, errorView{Code: "unauthorized_client",
				Message: "The agency's permit to use DOPA-Digital ID is not in force.", Return: appendQuery(redirectURI, back)})
			return pm, false
		}
		p.log.ErrorContext(r.Context(), "authorize: load permit", "err", err)
		p.errorPage(w, r, http.StatusInternalServerError, "server_error", "The service is temporarily unavailable.")
		return pm, false
	}
	return pm, true
}

// validateRequest checks an authorization request whose redirect URI is
// known to be the client's: every parameter, the scopes against the client
// and the permit, the purpose. The authorization endpoint and the pushed
// authorization request endpoint share it.
func (p *Provider) validateRequest(ctx context.Context, c storage.Client, pm storage.Permit, q url.Values) (storage.AuthRequest, *authError) {
	// Every parameter is text: invalid UTF-8 or NUL is the client's error,
	// said here rather than by the database that would refuse to store it.
	for k, vs := range q {
		if !storage.ValidText(vs[0]) {
			return storage.AuthRequest{}, &authError{"invalid_request", "the parameter " + strconv.Quote(k) + " is not valid UTF-8 text"}
		}
	}
	ar, aerr := p.parseAuthRequest(ctx, c, q)
	if aerr == nil {
		// Scopes outside the permit, or an unknown purpose, are refused
		// before the citizen is asked anything.
		var pu storage.Purpose
		pu, aerr = resolvePurpose(pm, ar.Scopes, q.Get("purpose"))
		ar.Purpose = pu.Code
	}
	ar.Scopes = withoutPurposeScopes(ar.Scopes)
	if aerr != nil {
		return storage.AuthRequest{}, aerr
	}
	// dpop_jkt (RFC 9449 §10): the code is redeemed only with that key.
	if jkt := q.Get("dpop_jkt"); jkt != "" {
		if !codeChallengeRE.MatchString(jkt) { // a SHA-256, base64url: 43 characters
			return storage.AuthRequest{}, &authError{"invalid_request", "dpop_jkt is malformed"}
		}
		ar.DPoPJKT = jkt
	}
	return ar, nil
}

// startSignIn stores a validated request, bound to this browser, and sends
// the browser to the login pages.
func (p *Provider) startSignIn(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest) {
	ctx := r.Context()
	fail := func(e authError) {
		p.redirectError(w, r, ar.RedirectURI, ar.State, e)
	}
	bid, err := p.browserID(w, r)
	if err != nil {
		fail(authError{"server_error", ""})
		p.log.ErrorContext(ctx, "authorize: browser cookie", "err", err)
		return
	}
	// Both IDs sort by the time they were made (storage.OrderedID), so the
	// indexes on them — the requests', the grants' and the tokens' by
	// grant — take new rows at their right edge; each keeps the random
	// bits it had (a request's 32 bytes: it names the sign-in in the
	// login pages' address).
	now := p.now()
	id, err1 := storage.OrderedID(now, 32)
	gid, err2 := storage.OrderedID(now, 16)
	if err := errors.Join(err1, err2); err != nil {
		p.log.ErrorContext(ctx, "authorize: random", "err", err)
		fail(authError{"server_error", ""})
		return
	}
	ar.ID = id
	ar.GrantID = gid
	ar.BrowserBinding = HashToken(bid)
	ar.CreatedAt = now
	ar.ExpiresAt = now.Add(p.cfg.AuthRequestTTL)
	if err := p.store.CreateAuthRequest(ctx, ar); err != nil {
		p.log.ErrorContext(ctx, "authorize: store request", "err", err)
		fail(authError{"server_error", ""})
		return
	}
	http.Redirect(w, r, p.cfg.LoginURL(id), http.StatusFound)
}

// browserForm parses a browser endpoint's parameters (query and form),
// refusing repeated ones (RFC 6749 §3.1), and names that are not text,
// with an error page.
func (p *Provider) browserForm(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, r, http.StatusBadRequest, "invalid_request", "The request could not be read.")
		return nil, false
	}
	for k, v := range r.Form {
		if !storage.ValidText(k) {
			p.errorPage(w, r, http.StatusBadRequest, "invalid_request", "The request has a parameter whose name is not valid text.")
			return nil, false
		}
		if len(v) > 1 {
			p.errorPage(w, r, http.StatusBadRequest, "invalid_request", "The request repeats the parameter "+strconv.Quote(k)+".")
			return nil, false
		}
	}
	return r.Form, true
}

// pageClient loads a client for a browser endpoint, answering with an
// error page when it cannot.
func (p *Provider) pageClient(w http.ResponseWriter, r *http.Request, id string) (storage.Client, bool) {
	c, err := p.clients.get(r.Context(), id)
	if err == nil {
		return c, true
	}
	if isNotFound(err) {
		p.errorPage(w, r, http.StatusBadRequest, "invalid_client", "The application is not registered.")
		return c, false
	}
	p.log.ErrorContext(r.Context(), "load client", "err", err)
	p.errorPage(w, r, http.StatusInternalServerError, "server_error", "The service is temporarily unavailable.")
	return c, false
}

// parseAuthRequest validates everything after the redirect URI; its
// refusals go back to the client.
func (p *Provider) parseAuthRequest(ctx context.Context, c storage.Client, q url.Values) (storage.AuthRequest, *authError) {
	bad := func(code, desc string) (storage.AuthRequest, *authError) {
		return storage.AuthRequest{}, &authError{code, desc}
	}
	if q.Get("request") != "" || q.Get("request_uri") != "" {
		// Resolved before: a request object cannot nest another.
		return bad("invalid_request_object", "a request object cannot carry request or request_uri")
	}
	// Code flow only: implicit and hybrid flows are never offered.
	if rt := q.Get("response_type"); rt != "code" {
		if rt == "" {
			return bad("invalid_request", "response_type is required")
		}
		return bad("unsupported_response_type", "only response_type=code is supported")
	}
	mode := q.Get("response_mode")
	if mode != "" && mode != "query" {
		return bad("invalid_request", "only response_mode=query is supported")
	}
	scopes := strings.Fields(q.Get("scope"))
	if !slices.Contains(scopes, "openid") {
		return bad("invalid_scope", "the openid scope is required")
	}
	for _, s := range scopes {
		if strings.HasPrefix(s, "purpose:") {
			continue // checked against the permit by resolvePurpose
		}
		if !supportedScope(s) || !slices.Contains(c.Scopes, s) {
			return bad("invalid_scope", "scope "+strconv.Quote(s)+" is not allowed for this client")
		}
	}
	scopes = dedupe(scopes)
	// PKCE with S256 for every client, public or confidential (RFC 9700 §2.1.1).
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	if challenge == "" {
		return bad("invalid_request", "code_challenge is required (PKCE)")
	}
	if method != "S256" {
		return bad("invalid_request", "code_challenge_method must be S256")
	}
	if !codeChallengeRE.MatchString(challenge) {
		return bad("invalid_request", "code_challenge is malformed")
	}
	prompt := strings.Fields(q.Get("prompt"))
	for _, pr := range prompt {
		if pr == "select_account" {
			return bad("account_selection_required", "the provider offers no choice of account")
		}
		if !slices.Contains(promptValues, pr) {
			return bad("invalid_request", "unknown prompt value")
		}
	}
	if slices.Contains(prompt, "none") && len(prompt) > 1 {
		return bad("invalid_request", "prompt=none cannot be combined with other values")
	}
	var maxAge *time.Duration
	if s := q.Get("max_age"); s != "" {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return bad("invalid_request", "max_age must be a non-negative integer")
		}
		d := time.Duration(n) * time.Second
		maxAge = &d
	}
	var claims []byte
	if s := q.Get("claims"); s != "" {
		// OIDC Core §5.5, with OpenID Connect for Identity Assurance's
		// verified_claims (verifiedclaims.go).
		if _, err := release.ParseClaimsRequest([]byte(s)); err != nil {
			return bad("invalid_request", err.Error())
		}
		claims = []byte(s)
	}
	if hint := q.Get("id_token_hint"); hint != "" {
		if _, err := p.verifyIDTokenHint(ctx, hint, c.ID, false); err != nil {
			return bad("invalid_request", "id_token_hint is not valid")
		}
	}
	const maxLen = 2048
	for _, k := range []string{"state", "nonce", "login_hint", "ui_locales", "acr_values"} {
		if len(q.Get(k)) > maxLen {
			return bad("invalid_request", k+" is too long")
		}
	}
	return storage.AuthRequest{
		ClientID:            c.ID,
		RedirectURI:         q.Get("redirect_uri"),
		Scopes:              scopes,
		State:               q.Get("state"),
		Nonce:               q.Get("nonce"),
		ResponseType:        "code",
		ResponseMode:        mode,
		CodeChallenge:       challenge,
		CodeChallengeMethod: method,
		Prompt:              prompt,
		MaxAge:              maxAge,
		LoginHint:           q.Get("login_hint"),
		UILocales:           strings.Fields(q.Get("ui_locales")),
		ACRValues:           strings.Fields(q.Get("acr_values")),
		Claims:              claims,
		Purpose:             q.Get("purpose"),
	}, nil
}

// redirectError sends an authorization error to a verified redirect URI
// with state and iss (RFC 6749 §4.1.2.1, RFC 9207).
func (p *Provider) redirectError(w http.ResponseWriter, r *http.Request, redirectURI, state string, e authError) {
	v := url.Values{"error": {e.code}, "iss": {p.cfg.Issuer}}
	if e.description != "" {
		v.Set("error_description", e.description)
	}
	if state != "" {
		v.Set("state", state)
	}
	http.Redirect(w, r, appendQuery(redirectURI, v), http.StatusFound)
}

func appendQuery(uri string, v url.Values) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri // registered URIs parse; unreachable
	}
	q := u.Query()
	for k, vs := range v {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// callback is where login returns the browser once the request is complete:
// the provider mints the code and answers the client.
func (p *Provider) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.URL.Query().Get("id")
	now := p.now()
	ar, err := storage.AuthRequest{}, storage.ErrNotFound // no such request could exist
	if storage.ValidText(id) {
		ar, err = p.store.AuthRequest(ctx, id, now)
	}
	if err != nil {
		if isNotFound(err) {
			p.errorPage(w, r, http.StatusBadRequest, "invalid_request", "This sign-in request has expired or does not exist.")
			return
		}
		p.log.ErrorContext(ctx, "callback: load request", "err", err)
		p.errorPage(w, r, http.StatusInternalServerError, "server_error", "The service is temporarily unavailable.")
		return
	}
	// The request must come back to the browser that started it: a request
	// ID that leaks (a shared link, a log) is useless in another browser.
	ck, err := r.Cookie(p.browserCookieName())
	if err != nil || subtle.ConstantTimeCompare([]byte(HashToken(ck.Value)), []byte(ar.BrowserBinding)) != 1 {
		p.errorPage(w, r, http.StatusForbidden, "invalid_request", "This sign-in request was started in another browser.")
		return
	}
	if !ar.Done {
		p.errorPage(w, r, http.StatusBadRequest, "interaction_required", "Sign-in has not been completed for this request.")
		return
	}
	if ar.Error != "" {
		// The login pages ended the request (prompt=none without a session,
		// the citizen declined, a level that could not be reached). The
		// request is spent: delete it so the answer is given once.
		if err := p.store.DeleteAuthRequest(ctx, ar.ID); err != nil {
			p.log.ErrorContext(ctx, "callback: delete failed request", "err", err)
		}
		p.redirectError(w, r, ar.RedirectURI, ar.State, authError{ar.Error, ""})
		return
	}
	if ar.CodeHash != "" {
		// Answered already: by the login pages (Answer), or by an earlier
		// visit here.
		p.errorPage(w, r, http.StatusBadRequest, "invalid_request", "This sign-in request has already been answered.")
		return
	}
	if !p.permitStillInForce(w, r, ar) {
		return
	}
	code, err := keys.RandomToken(32)
	if err != nil {
		p.log.ErrorContext(ctx, "callback: random", "err", err)
		p.redirectError(w, r, ar.RedirectURI, ar.State, authError{"server_error", ""})
		return
	}
	if err := p.store.SaveAuthCode(ctx, ar.ID, HashToken(code), now.Add(p.codeTTL(ctx, ar.ClientID)), now); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			p.errorPage(w, r, http.StatusBadRequest, "invalid_request", "This sign-in request has already been answered.")
			return
		}
		p.log.ErrorContext(ctx, "callback: save code", "err", err)
		p.redirectError(w, r, ar.RedirectURI, ar.State, authError{"server_error", ""})
		return
	}
	http.Redirect(w, r, p.codeResponse(ar, code), http.StatusFound)
}

// codeResponse is the authorization response that carries code to ar's
// client: its redirect URI with code, state and iss (RFC 9207).
func (p *Provider) codeResponse(ar storage.AuthRequest, code string) string {
	v := url.Values{"code": {code}, "iss": {p.cfg.Issuer}}
	if ar.State != "" {
		v.Set("state", ar.State)
	}
	return appendQuery(ar.RedirectURI, v)
}

// Answer is for the login pages, about to complete request ar with a
// sign-in: the provider's answer made beforehand, so that it commits with
// the completion and the browser goes from the login pages straight to
// the client — one redirect and one write transaction fewer per sign-in
// than through CallbackURL. It returns the code to store with the
// completion (storage.AuthResult.Code) and the authorization response
// that carries it, which the pages may send only once the completion
// has committed. It answers only what the callback would answer with a
// code: with ok false (the client or its permit not in force, or not
// readable now) the pages send the browser to CallbackURL, which refuses
// and records the refusal as before. It has the shape login expects.
func (p *Provider) Answer(ctx context.Context, ar storage.AuthRequest) (storage.AuthCode, string, bool) {
	if ar.Done || ar.RedirectURI == "" {
		return storage.AuthCode{}, "", false
	}
	c, err := p.clients.get(ctx, ar.ClientID)
	if err == nil {
		_, err = p.activePermit(ctx, c)
	}
	if err != nil {
		return storage.AuthCode{}, "", false
	}
	code, err := keys.RandomToken(32)
	if err != nil {
		return storage.AuthCode{}, "", false
	}
	return storage.AuthCode{Hash: HashToken(code), ExpiresAt: p.now().Add(p.codeTTL(ctx, ar.ClientID))},
		p.codeResponse(ar, code), true
}

// withoutPurposeScopes drops purpose:CODE scopes: the purpose is kept in
// its own field, the scopes list what is released.
func withoutPurposeScopes(s []string) []string {
	out := s[:0:0]
	for _, v := range s {
		if !strings.HasPrefix(v, "purpose:") {
			out = append(out, v)
		}
	}
	return out
}

func dedupe(s []string) []string {
	out := make([]string, 0, len(s))
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
