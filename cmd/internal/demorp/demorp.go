// Package demorp is a small OpenID Connect relying party that shows what an
// agency's application receives from dopaid: a start page with a few kinds of
// sign-in, and, after the round trip, the ID token's claims and the userinfo
// response (never the raw tokens), and RP-initiated sign-out.
//
// It is written the way an agency would write its own application, on
// zitadel's rp package with nothing specific to dopaid: authorization code
// flow with PKCE (S256), state and nonce in signed and encrypted cookies,
// client_secret_basic, the authorization response's iss checked (RFC 9207),
// the ID token verified by the library, and the acr of a sign-in that asked
// for an assurance level checked by the application. It doubles as the
// integration example for agency developers, so it imports only the standard
// library and the RP libraries, never dopaid's own packages.
//
// It is a demonstration: signed-in sessions live in an in-memory map that is
// lost on restart and not shared between processes. cmd/dopaid mounts it
// with --dev; cmd/dopaid-demo-rp runs it on its own.
package demorp

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"
)

// ACRPrefix starts the acr values of DOPA-Digital ID's identity assurance
// levels: ACRPrefix+"2.3" asks for IAL 2.3.
const ACRPrefix = "urn:dopa:digital-id:ial:"

// DefaultScopes are requested by a plain sign-in when Config.Scopes is empty.
var DefaultScopes = []string{"openid", "profile", "offline_access", "ial"}

// Levels a sign-in may ask for (the ial query parameter of /login), and the
// prompt values it may pass on.
var (
	levels  = []string{"1.2", "1.3", "2.2", "2.3"}
	prompts = []string{"none", "login", "consent"}
)

// Cookie names. The rp package adds its own "state" and "pkce"; every
// cookie is scoped to the demo's path.
const (
	flowCookie    = "demorp-flow"    // nonce and required acr of the sign-in under way
	sessionCookie = "demorp-session" // random key into the in-memory sessions
	logoutCookie  = "demorp-logout"  // state of the sign-out under way
)

// Config configures the demo. The command that runs it fills it in.
type Config struct {
	// Issuer is the provider's issuer URL; discovery is fetched from it.
	Issuer string
	// ClientID and ClientSecret are the registered client's credentials
	// (client_secret_basic).
	ClientID, ClientSecret string
	// BaseURL is where the demo is served, for example
	// http://127.0.0.1:8080/demo. BaseURL+"/callback" must be a registered
	// redirect URI and BaseURL+"/" a registered post-logout redirect URI.
	// Cookies are Secure when it is https.
	BaseURL string
	// Scopes of a plain sign-in; nil means DefaultScopes.
	Scopes []string
	// HTTPClient calls the provider; nil means a client with a 10 s timeout.
	HTTPClient *http.Client
	// CookieKey (32 bytes) signs and encrypts the flow cookies.
	CookieKey []byte
	// Logger receives the causes of failures; nil discards them.
	Logger *slog.Logger
}

// Validate reports every problem with the configuration at once.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if u, err := url.Parse(c.Issuer); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		add("issuer must be an http(s) URL")
	}
	if c.ClientID == "" {
		add("client ID is required")
	}
	if c.ClientSecret == "" {
		add("client secret is required")
	}
	if u, err := url.Parse(c.BaseURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.Fragment != "" {
		add("base URL must be an http(s) URL without query or fragment")
	}
	if len(c.CookieKey) != 32 {
		add("cookie key must be 32 bytes, got %d", len(c.CookieKey))
	}
	if len(c.Scopes) > 0 && !slices.Contains(c.Scopes, "openid") {
		add("scopes must include openid")
	}
	return errors.Join(errs...)
}

// demo is the relying party's HTTP handler.
type demo struct {
	cfg      Config
	base     string // BaseURL without a trailing slash
	host     string // its host
	prefix   string // its path, "" or "/demo"
	scopes   []string
	party    rp.RelyingParty
	cookies  *httphelper.CookieHandler
	secure   bool
	log      *slog.Logger
	sessions *sessions
	exchange http.Handler
}

// New builds the demo; it fetches the provider's discovery document, so the
// provider must be reachable. The handler serves the paths of BaseURL: mount
// it where BaseURL points (cmd/dopaid mounts it at /demo/).
func New(ctx context.Context, cfg Config) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := &demo{cfg: cfg, base: strings.TrimSuffix(cfg.BaseURL, "/"), scopes: cfg.Scopes, log: cfg.Logger, sessions: newSessions()}
	u, _ := url.Parse(d.base)
	d.host, d.prefix = u.Host, u.Path
	d.secure = u.Scheme == "https"
	if d.scopes == nil {
		d.scopes = DefaultScopes
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	hashKey, err := hkdf.Key(sha256.New, cfg.CookieKey, nil, "demorp cookie mac", 32)
	if err != nil {
		return nil, err
	}
	encKey, err := hkdf.Key(sha256.New, cfg.CookieKey, nil, "demorp cookie encryption", 32)
	if err != nil {
		return nil, err
	}
	opts := []httphelper.CookieHandlerOpt{httphelper.WithPath(d.prefix + "/"), httphelper.WithMaxAge(int(flowTTL / time.Second))}
	if !d.secure {
		opts = append(opts, httphelper.WithUnsecure())
	}
	d.cookies = httphelper.NewCookieHandler(hashKey, encKey, opts...)

	d.party, err = rp.NewRelyingPartyOIDC(ctx, cfg.Issuer, cfg.ClientID, cfg.ClientSecret, d.base+"/callback", d.scopes,
		rp.WithHTTPClient(client),
		rp.WithPKCE(d.cookies),
		rp.WithAuthStyle(oauth2.AuthStyleInHeader), // client_secret_basic
		rp.WithSigningAlgsFromDiscovery(),
		rp.WithVerifierOpts(rp.WithNonce(nonceFrom)),
		rp.WithErrorHandler(d.providerError),
		rp.WithUnauthorizedHandler(d.exchangeFailed),
	)
	if err != nil {
		return nil, fmt.Errorf("set up the relying party for %s: %w", cfg.Issuer, err)
	}
	d.exchange = rp.CodeExchangeHandler(rp.UserinfoCallback(d.signedIn), d.party)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", d.home)
	mux.HandleFunc("GET /login", d.login)
	mux.HandleFunc("GET /callback", d.callback)
	mux.HandleFunc("POST /logout", d.logout)
	mux.HandleFunc("GET /style.css", serveStyle)
	var h http.Handler = mux
	if d.prefix != "" {
		h = http.StripPrefix(d.prefix, h)
	}
	return secureHeaders(issuerOrigin(cfg.Issuer), http.NewCrossOriginProtection().Handler(h)), nil
}

// flowTTL bounds how long a sign-in or sign-out may take.
const flowTTL = 10 * time.Minute

// flow is what the callback must check beyond what rp checks itself.
type flow struct {
	nonce string
	acr   string // the acr the ID token must carry; "" when none was asked for
}

type flowKey struct{}

// nonceFrom gives the ID token verifier the nonce of the sign-in under way.
func nonceFrom(ctx context.Context) string {
	f, _ := ctx.Value(flowKey{}).(flow)
	return f.nonce
}

// login starts a sign-in. Query parameters choose among a few options:
// pid=1 adds the pid scope, ial=2.3 asks for that assurance level
// (acr_values), prompt=none asks for a silent sign-in.
func (d *demo) login(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	scopes := slices.Clone(d.scopes)
	if q.Get("pid") == "1" && !slices.Contains(scopes, "pid") {
		scopes = append(scopes, "pid")
	}
	f := flow{nonce: randomString()}
	params := []rp.URLParamOpt{
		rp.WithURLParam("scope", strings.Join(scopes, " ")),
		rp.WithURLParam("nonce", f.nonce),
	}
	if ial := q.Get("ial"); ial != "" {
		if !slices.Contains(levels, ial) {
			d.render(w, http.StatusBadRequest, page{Message: msgBadOption})
			return
		}
		f.acr = ACRPrefix + ial
		params = append(params, rp.WithURLParam("acr_values", f.acr))
	}
	if p := q.Get("prompt"); p != "" {
		if !slices.Contains(prompts, p) {
			d.render(w, http.StatusBadRequest, page{Message: msgBadOption})
			return
		}
		params = append(params, rp.WithPromptURLParam(p))
	}
	if err := d.cookies.SetCookie(w, flowCookie, f.nonce+" "+f.acr); err != nil {
		d.log.ErrorContext(r.Context(), "demo rp: set flow cookie", "err", err)
		d.render(w, http.StatusInternalServerError, page{Message: msgInternal})
		return
	}
	// rp sets the state and PKCE verifier cookies and redirects.
	rp.AuthURLHandler(randomString, d.party, params...)(w, r)
}

// callback receives the authorization response. It checks iss and reads
// the flow cookie, then lets rp check state, exchange the code (with the
// PKCE verifier), verify the ID token (signature, iss, aud, exp, nonce) and
// call userinfo.
func (d *demo) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// RFC 9207: the provider advertises authorization_response_iss_parameter_supported,
	// so a response without the right iss may come from another provider
	// (a mix-up attack) and is refused, errors included.
	if iss := r.URL.Query().Get("iss"); iss != d.cfg.Issuer {
		d.log.WarnContext(ctx, "demo rp: authorization response with a wrong or missing iss", "iss", iss)
		d.render(w, http.StatusBadRequest, page{Message: msgWrongIssuer})
		return
	}
	v, err := d.cookies.CheckCookie(r, flowCookie)
	d.cookies.DeleteCookie(w, flowCookie)
	if err != nil {
		d.log.InfoContext(ctx, "demo rp: callback without a sign-in under way", "err", err)
		d.render(w, http.StatusBadRequest, page{Message: d.msgNoFlow()})
		return
	}
	nonce, acr, _ := strings.Cut(v, " ")
	r = r.WithContext(context.WithValue(ctx, flowKey{}, flow{nonce: nonce, acr: acr}))
	d.exchange.ServeHTTP(w, r)
}

// claimSet is a JSON object of claims as the provider sent them.
type claimSet map[string]any

// GetSubject lets rp.Userinfo check that userinfo is about the ID token's subject.
func (c claimSet) GetSubject() string { s, _ := c["sub"].(string); return s }

// signedIn runs once the ID token is verified and userinfo fetched.
func (d *demo) signedIn(w http.ResponseWriter, r *http.Request, tokens *oidc.Tokens[*oidc.IDTokenClaims], _ string, _ rp.RelyingParty, info claimSet) {
	ctx := r.Context()
	f, _ := ctx.Value(flowKey{}).(flow)
	// acr_values is a request the provider may not meet; an application
	// that needs a level checks the acr it got.
	if got := tokens.IDTokenClaims.AuthenticationContextClassReference; f.acr != "" && got != f.acr {
		d.log.WarnContext(ctx, "demo rp: sign-in below the requested level", "want", f.acr, "got", got)
		d.render(w, http.StatusForbidden, page{Message: msgLevel})
		return
	}
	claims, err := prettyJSON(tokens.IDTokenClaims.Claims)
	if err == nil {
		var ui string
		ui, err = prettyJSON(info)
		if err == nil {
			var id string
			id, err = d.sessions.add(session{idToken: tokens.IDToken, claims: claims, userinfo: ui, csrf: randomString()})
			if err == nil {
				http.SetCookie(w, d.cookie(sessionCookie, id, int(sessionTTL/time.Second)))
				// Off the callback URL, so that reloading the page does not
				// replay the code.
				http.Redirect(w, r, d.base+"/", http.StatusSeeOther)
				return
			}
		}
	}
	d.log.ErrorContext(ctx, "demo rp: keep the session", "err", err)
	d.render(w, http.StatusInternalServerError, page{Message: msgInternal})
}

// providerError shows an error the provider returned in the authorization
// response (login_required, access_denied, …): the provider means it for
// the application, so the demo shows it as it came.
func (d *demo) providerError(w http.ResponseWriter, r *http.Request, code, description, _ string) {
	d.render(w, http.StatusOK, page{Error: code, ErrorDescription: description, Explanation: explanations[code]})
}

// exchangeFailed is rp's answer to everything else that goes wrong in the
// callback: a state that does not match, a code the provider refuses, an
// ID token that does not verify, userinfo that fails. The cause is logged;
// the page says only that the sign-in failed.
func (d *demo) exchangeFailed(w http.ResponseWriter, r *http.Request, cause, _ string) {
	d.log.WarnContext(r.Context(), "demo rp: sign-in failed", "cause", cause)
	d.render(w, http.StatusBadRequest, page{Message: d.msgNoFlow()})
}

// home is the start page, with the result of the sign-in when there is one.
func (d *demo) home(w http.ResponseWriter, r *http.Request) {
	var p page
	if s, _ := d.session(r); s != nil {
		p.Claims, p.Userinfo, p.CSRF = s.claims, s.userinfo, s.csrf
	}
	if st := r.URL.Query().Get("state"); st != "" {
		// Back from the provider's end_session endpoint with the state the
		// sign-out sent.
		if v, err := d.cookies.CheckCookie(r, logoutCookie); err == nil && subtle.ConstantTimeCompare([]byte(v), []byte(st)) == 1 {
			p.SignedOut = true
		}
		d.cookies.DeleteCookie(w, logoutCookie)
	}
	if r.Host != d.host {
		// Cookies set here would not reach the callback at BaseURL.
		p.OtherHost = d.base + "/"
	}
	d.render(w, http.StatusOK, p)
}

// logout ends the demo's session and sends the browser to the provider's
// end_session endpoint (OpenID Connect RP-Initiated Logout 1.0 §2) with
// id_token_hint, post_logout_redirect_uri and state. It must be the browser
// that goes there: the provider's sign-on session lives in the browser's
// cookie, and a server-to-server call cannot end it — the next person at a
// shared computer would be signed in as this citizen without a question.
// The ID token in the URL carries no personal data beyond the pairwise sub
// (the provider puts claims in userinfo, not in the ID token). The provider
// comes back to BaseURL+"/" with the state, which home checks.
func (d *demo) logout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s, id := d.session(r)
	if s == nil {
		http.Redirect(w, r, d.base+"/", http.StatusSeeOther)
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.csrf)) != 1 {
		d.render(w, http.StatusForbidden, page{Message: msgForbidden})
		return
	}
	d.sessions.remove(id)
	http.SetCookie(w, d.cookie(sessionCookie, "", -1))
	endpoint := d.party.GetEndSessionEndpoint()
	if endpoint == "" {
		d.log.WarnContext(ctx, "demo rp: the provider advertises no end_session_endpoint")
		d.render(w, http.StatusBadGateway, page{Message: msgSignOut})
		return
	}
	state := randomString()
	if err := d.cookies.SetCookie(w, logoutCookie, state); err != nil {
		d.log.ErrorContext(ctx, "demo rp: set logout cookie", "err", err)
		d.render(w, http.StatusInternalServerError, page{Message: msgInternal})
		return
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		d.log.WarnContext(ctx, "demo rp: unusable end_session_endpoint", "err", err)
		d.render(w, http.StatusBadGateway, page{Message: msgSignOut})
		return
	}
	q := u.Query()
	q.Set("id_token_hint", s.idToken)
	q.Set("client_id", d.cfg.ClientID)
	q.Set("post_logout_redirect_uri", d.base+"/")
	q.Set("state", state)
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// session returns the signed-in session of the request, if any, and its key.
func (d *demo) session(r *http.Request) (*session, string) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, ""
	}
	return d.sessions.get(c.Value), c.Value
}

func (d *demo) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: d.prefix + "/", MaxAge: maxAge,
		HttpOnly: true, Secure: d.secure, SameSite: http.SameSiteLaxMode}
}

func prettyJSON(v any) (string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // the template escapes; keep the JSON readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return b.String(), nil
}

// issuerOrigin is the scheme and host of the issuer URL (Validate has
// checked that it parses).
func issuerOrigin(issuer string) string {
	u, _ := url.Parse(issuer)
	return u.Scheme + "://" + u.Host
}

// randomString returns 256 random bits, base64url-encoded.
func randomString() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewLazy returns a handler that builds the demo with New on its first
// request, so it can be mounted before the provider accepts connections (or
// on the provider's own server). While the provider cannot be reached it
// answers 503 and tries again on the next request. The configuration is
// checked at once.
func NewLazy(cfg Config) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := &lazy{cfg: cfg, log: cfg.Logger}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	return l, nil
}

type lazy struct {
	cfg Config
	log *slog.Logger
	mu  sync.Mutex
	h   http.Handler
}

func (l *lazy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	h := l.h
	if h == nil {
		ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
		var err error
		h, err = New(ctx, l.cfg)
		cancel()
		if err != nil {
			l.mu.Unlock()
			l.log.WarnContext(r.Context(), "demo rp: provider not reachable yet", "err", err)
			w.Header().Set("Retry-After", "2")
			http.Error(w, "The demo cannot reach the provider yet; try again in a moment.", http.StatusServiceUnavailable)
			return
		}
		l.h = h
	}
	l.mu.Unlock()
	h.ServeHTTP(w, r)
}

// Page texts shown instead of causes, which go to the log.
const (
	msgBadOption   = "That sign-in option is not known. / ไม่รู้จักตัวเลือกการเข้าสู่ระบบนี้"
	msgInternal    = "Something went wrong in the demo; see its log. / เกิดข้อผิดพลาดในแอปสาธิต"
	msgWrongIssuer = "The sign-in response did not come from the expected provider (iss), so it was refused. / การตอบกลับไม่ได้มาจากผู้ให้บริการที่คาดไว้ จึงถูกปฏิเสธ"
	msgLevel       = "The provider signed you in below the assurance level this sign-in asked for (acr), so the application refuses it. / ระดับความน่าเชื่อถือต่ำกว่าที่ร้องขอ แอปจึงปฏิเสธ"
	msgForbidden   = "This sign-out request was not made from the demo's own page. / คำขอออกจากระบบนี้ไม่ได้มาจากหน้าของแอปสาธิต"
	msgSignOut     = "You are signed out of the demo, but the provider did not confirm the sign-out; see the demo's log. / ออกจากแอปสาธิตแล้ว แต่ผู้ให้บริการไม่ยืนยันการออกจากระบบ"
)

func (d *demo) msgNoFlow() string {
	return "The sign-in could not be completed: it was not started here, took too long, or the provider refused it. Start again from " +
		d.base + "/ (open the demo at exactly that address). / ไม่สามารถเข้าสู่ระบบได้ โปรดเริ่มใหม่"
}

// explanations say what common authorization errors mean for this demo.
var explanations = map[string]string{
	"login_required":       "The provider has no signed-in session for you, so a silent sign-in (prompt=none) cannot succeed. Sign in first. / ยังไม่ได้เข้าสู่ระบบกับผู้ให้บริการ จึงเข้าสู่ระบบแบบเงียบไม่ได้",
	"consent_required":     "The provider needs your consent, which a silent sign-in cannot ask for. / ต้องให้ความยินยอมก่อน",
	"interaction_required": "The provider needs to show you a page, which a silent sign-in does not allow. / ต้องมีการโต้ตอบกับผู้ใช้",
	"access_denied":        "The sign-in was declined or could not reach the requested level. / การเข้าสู่ระบบถูกปฏิเสธ",
}

//go:embed pages
var assets embed.FS

var pages = template.Must(template.ParseFS(assets, "pages/page.html"))

// page is what the one template shows.
type page struct {
	SignedOut               bool   // back from a sign-out whose state matched
	OtherHost               string // the demo's own address, when opened at another
	Claims, Userinfo        string // pretty-printed JSON
	CSRF                    string // sign-out form token
	Error, ErrorDescription string // from the provider
	Explanation             string
	Message                 string // the demo's own error
}

func (d *demo) render(w http.ResponseWriter, status int, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	data := struct {
		page
		Prefix, Issuer, ClientID, Scopes string
	}{p, d.prefix, d.cfg.Issuer, d.cfg.ClientID, strings.Join(d.scopes, " ")}
	if err := pages.ExecuteTemplate(w, "page.html", data); err != nil {
		d.log.Error("demo rp: render page", "err", err)
	}
}

func serveStyle(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=3600")
	http.ServeFileFS(w, r, assets, "pages/style.css")
}

// secureHeaders sets a strict CSP (no script at all) and keeps pages with
// personal data out of caches and Referer headers. The sign-out form may
// lead to the provider (issuer, its origin): form-action covers the
// redirect that follows a form's submission.
func secureHeaders(issuer string, h http.Handler) http.Handler {
	csp := "default-src 'none'; style-src 'self'; form-action 'self' " + issuer + "; frame-ancestors 'none'; base-uri 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}
