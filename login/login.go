// Package login serves the citizen-facing pages that an authorization
// request passes through: identity proofing against the civil registry
// (registry match, then a face-match result), authenticator (TOTP)
// enrolment, sign-in, and the single sign-on session. Under Path+"/me" it
// serves the citizen's portal: consents and their withdrawal, the record of
// every release, and sign-on sessions. Pages are in Thai and English.
//
// Which claims a consent page asks for, whether the client's permit is
// still in force, and the acr a sign-in completes with are decided by
// storage/release, the release policy the provider follows too.
//
// login may import storage (storage/release among it), keys and audit (receipts), never op: the provider hands it
// Config.Callback, which returns the URL that completes a request, and the
// provider reads what login wrote to the store (AuthRequest completion or
// failure). Citizens' personal data (ID numbers, laser codes, TOTP secrets)
// never reaches a log line.
package login

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/dopaid/dopaid/audit"
	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
)

// Path is where the provider sends the browser to sign in; every page of
// the package lives under it.
const Path = "/login"

//go:embed pages static
var assets embed.FS

// pages holds one template set per page (the page with the shared
// layout), so that each page's "title" block is its own.
var pages = parsePages()

type pageSet map[string]*template.Template

func parsePages() pageSet {
	funcs := template.FuncMap{"t": func(m map[string]string, k string) string { return m[k] }, "field": fieldAttrs}
	names, err := fs.Glob(assets, "pages/*.html")
	if err != nil {
		panic(err)
	}
	set := pageSet{}
	for _, n := range names {
		base := n[len("pages/"):]
		if base == "layout.html" {
			continue
		}
		set[base] = template.Must(template.New(base).Funcs(funcs).ParseFS(assets, "pages/layout.html", n))
	}
	return set
}

// fieldAttrs are an input's accessibility attributes: its hint (the id
// of the element that describes it, or ""), and when fields names an error
// for it, aria-invalid and the error message (id+"-error") first.
func fieldAttrs(fields map[string]string, id, hint string) template.HTMLAttr {
	var ids []string
	invalid := ""
	if fields[id] != "" {
		invalid = ` aria-invalid="true"`
		ids = append(ids, id+"-error")
	}
	if hint != "" {
		ids = append(ids, hint)
	}
	if len(ids) == 0 {
		return ""
	}
	// ids are the templates' own constants, never input.
	return template.HTMLAttr(invalid + ` aria-describedby="` + template.HTMLEscapeString(strings.Join(ids, " ")) + `"`)
}

// ExecuteTemplate renders the named page.
func (ps pageSet) ExecuteTemplate(w io.Writer, name string, data any) error {
	t, ok := ps[name]
	if !ok {
		return fmt.Errorf("no page %q", name)
	}
	return t.ExecuteTemplate(w, name, data)
}

// Store is what the login pages need of the store: the citizen side
// (registry, authenticators, proofing, flows, throttles), the requests and
// sessions they complete, and what the law requires before a release —
// the agency's permit, the citizen's consents and the audit trail. The
// compiler checks every method; none is optional at run time.
// storage.Store has them all.
type Store interface {
	storage.CitizenStores
	storage.AuthRequestStore
	storage.SessionStore
	storage.ReplayStore
	storage.ConsentStore
	Client(ctx context.Context, id string) (storage.Client, error)
	RevokeGrants(ctx context.Context, f storage.GrantFilter, now time.Time) (int64, error)
	// The agency, its permit (clauses 5 and 11: checked again before the
	// citizen is asked to consent) and its systems.
	Agency(ctx context.Context, id string) (storage.Agency, error)
	Permit(ctx context.Context, id string) (storage.Permit, error)
	// Decisions: a scheduled suspension or revocation is in force at its
	// time, before the background job applies it (storage.Permit.At). It
	// may return only the decisions not yet applied, all that At reads.
	Decisions(ctx context.Context, permitID string) ([]storage.Decision, error)
	ClientsByPermit(ctx context.Context, permitID string) ([]storage.Client, error)
	// The audit trail: every consent, sign-in and proofing is recorded,
	// and the citizen reads their releases from it.
	AppendAudit(ctx context.Context, e storage.AuditEntry) (storage.AuditEntry, error)
	AuditEntries(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEntry, error)
	// The log's newest head and its nodes: each release in the citizen's
	// download carries its receipt (inclusion proof, signed checkpoint).
	LogHead(ctx context.Context) (storage.LogHead, error)
	audit.NodeReader
}

// Config configures the login pages. cmd builds it.
type Config struct {
	Store Store
	// Callback returns the provider URL that finishes a request.
	Callback func(ctx context.Context, authRequestID string) string
	// Answer, if set, makes the provider's answer to a request the pages
	// are about to complete (op.Provider.Answer): the code stored with the
	// completion and the response that takes it to the client, where the
	// browser then goes instead of Callback; ok false (or nil Answer):
	// Callback, which answers.
	Answer func(ctx context.Context, ar storage.AuthRequest) (code storage.AuthCode, response string, ok bool)
	// Envelope seals TOTP secrets at rest.
	Envelope *keys.Envelope
	// LaserMACKey keys the laser-code hash the registry import stores.
	LaserMACKey []byte
	// ThrottleKey keys the hash of ID numbers in failure counters.
	ThrottleKey []byte
	// RecoveryKey keys the hash of recovery codes.
	RecoveryKey []byte
	// Registry matches typed details at proofing (nil: the imported table,
	// TableRegistry over Store).
	Registry Registry
	// Face compares selfies with registry photos (nil: no online face check).
	Face FaceVerifier
	// Simulator labels the pages as using the development simulator; cmd
	// sets it only with --dev.
	Simulator bool
	// Signed verifies face results posted by registered external verifiers
	// (kiosks); nil disables the endpoint.
	Signed *SignedResults
	// TrustedProxies may set Forwarded or X-Forwarded-For (the failure counters count
	// the citizen's address, not the proxy's).
	TrustedProxies []netip.Prefix
	// ProxyHeader is the one header the trusted proxies write (see
	// storage.Proxies); empty: either, and both must agree.
	ProxyHeader string
	// Issuer names the service in authenticator apps.
	Issuer        string
	SecureCookies bool
	Assurance     AssuranceConfig
	Throttle      ThrottlePolicy
	// SessionIdle and SessionMax bound a sign-on session (defaults 30 min, 12 h).
	SessionIdle time.Duration
	SessionMax  time.Duration
	// RefreshTokenTTL is how long an agency that asked for offline_access
	// keeps access after a sign-in (the provider's refresh token lifetime,
	// op.Config.RefreshTokenTTL; a system's own overrides it), shown on the
	// consent page. Default 8 h, the provider's default.
	RefreshTokenTTL time.Duration
	// FlowTTL bounds a proofing or enrolment flow (default 20 min).
	FlowTTL time.Duration
	Logger  *slog.Logger
	Now     func() time.Time
}

// Handler serves the login pages.
type Handler struct {
	cfg  Config
	log  *slog.Logger
	now  func() time.Time
	mux  *http.ServeMux
	csrf *http.CrossOriginProtection
}

// New returns the login pages' handler.
func New(cfg Config) (*Handler, error) {
	var errs []error
	if cfg.Store == nil {
		errs = append(errs, errors.New("store is required"))
	}
	if cfg.Callback == nil {
		errs = append(errs, errors.New("callback is required"))
	}
	if cfg.Envelope == nil {
		errs = append(errs, errors.New("envelope is required"))
	}
	if len(cfg.LaserMACKey) < 32 || len(cfg.ThrottleKey) < 32 || len(cfg.RecoveryKey) < 32 {
		errs = append(errs, errors.New("laser, throttle and recovery keys of 32 bytes are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionIdle == 0 {
		cfg.SessionIdle = 30 * time.Minute
	}
	if cfg.SessionMax == 0 {
		cfg.SessionMax = 12 * time.Hour
	}
	if cfg.RefreshTokenTTL <= 0 {
		cfg.RefreshTokenTTL = 8 * time.Hour
	}
	if cfg.FlowTTL == 0 {
		cfg.FlowTTL = 20 * time.Minute
	}
	if cfg.Registry == nil {
		cfg.Registry = &TableRegistry{Store: cfg.Store, LaserMACKey: cfg.LaserMACKey}
	}
	cfg.Assurance = cfg.Assurance.withDefaults()
	cfg.Throttle = cfg.Throttle.withDefaults()
	h := &Handler{cfg: cfg, log: cfg.Logger, now: cfg.Now, mux: http.NewServeMux(), csrf: http.NewCrossOriginProtection()}
	static, _ := fs.Sub(assets, "static")
	m := h.mux
	m.Handle("GET "+Path+"/static/", http.StripPrefix(Path+"/static/", http.FileServerFS(static)))
	m.HandleFunc("GET "+Path, h.entry)
	m.HandleFunc("POST "+Path+"/signin", h.signIn)
	m.HandleFunc("GET "+Path+"/proof", h.proofForm)
	m.HandleFunc("POST "+Path+"/proof", h.proofRegistry)
	m.HandleFunc("GET "+Path+"/face", h.faceForm)
	m.HandleFunc("POST "+Path+"/face", h.faceSubmit)
	m.HandleFunc("POST "+Path+"/face/check", h.faceCheck)
	m.HandleFunc("GET "+Path+"/enrol", h.enrolForm)
	m.HandleFunc("POST "+Path+"/enrol", h.enrolSubmit)
	m.HandleFunc("GET "+Path+"/recovery", h.recoveryCodes)
	m.HandleFunc("GET "+Path+"/lang", h.setLang)
	m.HandleFunc("POST "+Path+"/signout", h.signOut)
	m.HandleFunc("GET "+Path+"/consent", h.consentPage)
	m.HandleFunc("POST "+Path+"/consent", h.consentSubmit)
	m.HandleFunc("GET "+Path+"/continue", h.continueAfterEnrolment)
	m.HandleFunc("GET "+mePath, h.portal)
	m.HandleFunc("POST "+mePath+"/signin", h.portalSignIn)
	m.HandleFunc("GET "+mePath+"/authenticator", h.authenticatorPage)
	m.HandleFunc("POST "+mePath+"/authenticator", h.replaceAuthenticator)
	m.HandleFunc("POST "+mePath+"/recovery-codes", h.renewRecoveryCodes)
	m.HandleFunc("GET "+mePath+"/consents/{id}/withdraw", h.confirmWithdrawal)
	m.HandleFunc("POST "+mePath+"/consents/{id}/withdraw", h.withdrawConsent)
	m.HandleFunc("GET "+mePath+"/history.json", h.history("json"))
	m.HandleFunc("GET "+mePath+"/history.csv", h.history("csv"))
	m.HandleFunc("POST "+mePath+"/sessions/{n}/signout", h.signOutSession)
	m.HandleFunc("POST "+mePath+"/sessions/signout-all", h.signOutEverywhere)
	return h, nil
}

// SignedResultHandler is the API endpoint external verifiers post signed
// face results to. It is not a browser route: no cookies, no CSRF, JSON
// errors. cmd mounts it at Path+"/face/result".
func (h *Handler) SignedResultHandler() http.Handler { return http.HandlerFunc(h.signedResult) }

// URL returns the sign-in page for an authorization request, relative to
// the server root.
func URL(authRequestID string) string {
	return Path + "?authRequestID=" + url.QueryEscape(authRequestID)
}

const maxFormBytes = 6 << 20 // a selfie upload at most; other forms are far smaller

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Security-Policy", csp(""))
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Permissions-Policy", "camera=(self), microphone=(), geolocation=()")
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	// Cross-origin POSTs are refused by the browser's own headers
	// (Sec-Fetch-Site / Origin); forms also carry a token (checkForm).
	h.csrf.Handler(h.mux).ServeHTTP(w, r)
}

// csp is the pages' content security policy. Browsers apply form-action
// to every redirect that follows a form submission, and a form that
// completes a request (sign-in, step-up) is redirected through the provider
// to the client's redirect URI: returnTo, a source expression for that
// origin (formOrigin), is allowed besides 'self'.
func csp(returnTo string) string {
	formAction := "'self'"
	if returnTo != "" {
		formAction += " " + returnTo
	}
	return "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; form-action " +
		formAction + "; frame-ancestors 'none'; base-uri 'none'"
}

var (
	cspScheme = regexp.MustCompile(`^[a-z][a-z0-9+.-]*$`)
	cspHost   = regexp.MustCompile(`^[a-z0-9-]+(\.[a-z0-9-]+)*(:[0-9]{1,5})?$`)
)

// formOrigin returns the CSP source expression that names a redirect URI's
// origin (a scheme source for a native app's private-use scheme), or "" when
// none can name it exactly (an IPv6 literal, for one).
func formOrigin(redirectURI string) string {
	u, err := url.Parse(redirectURI)
	if err != nil || !cspScheme.MatchString(u.Scheme) {
		return ""
	}
	if u.Host == "" {
		if u.Scheme == "http" || u.Scheme == "https" {
			return ""
		}
		return u.Scheme + ":"
	}
	host := strings.ToLower(u.Host)
	if !cspHost.MatchString(host) {
		return ""
	}
	return u.Scheme + "://" + host
}

// page is what every template gets.
type page struct {
	Lang       string
	T          map[string]string
	CSRF       string
	RequestID  string
	ClientName string
	// ReturnTo is formOrigin of the request's redirect URI, on pages whose
	// forms may complete the request.
	ReturnTo string
	// Next is where the language switch returns to: the same step, read
	// again by GET (stepURL) unless a handler names it.
	Next  string
	Error string
	// Fields are messages at the fields they concern (by the input's id):
	// format errors that need no registry and reveal nothing.
	Fields map[string]string
	// Form is what the citizen typed, shown again with an error.
	Form      map[string]string
	Simulator bool
	Data      any
}

func (h *Handler) newPage(w http.ResponseWriter, r *http.Request, requestID string) page {
	l := lang(r)
	return page{Lang: l, T: messages[l], CSRF: h.csrfToken(w, r), RequestID: requestID, Simulator: h.cfg.Simulator}
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if p.Next == "" {
		p.Next = stepURL(r, p.RequestID)
	}
	if p.ReturnTo != "" {
		w.Header().Set("Content-Security-Policy", csp(p.ReturnTo))
	}
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, p); err != nil {
		h.log.ErrorContext(r.Context(), "login: render", "page", name, "err", err)
	}
}

// stepURL is the address that shows the step r is at again, in whatever
// language the citizen has chosen: the page itself for a GET, and for a
// form's answer (an error, a refusal) the page that form is on. The
// language switch returns there, so that it never loses the citizen's
// place in the flow.
func stepURL(r *http.Request, requestID string) string {
	withRequest := func(p string) string {
		if requestID == "" {
			return p
		}
		return p + "?authRequestID=" + url.QueryEscape(requestID)
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return localNext(r.URL.RequestURI())
	}
	switch r.URL.Path {
	case Path + "/proof":
		return withRequest(Path + "/proof")
	case Path + "/face", Path + "/face/check":
		return Path + "/face"
	case Path + "/enrol":
		return Path + "/enrol"
	case mePath + "/signin":
		return mePath
	}
	if strings.HasPrefix(r.URL.Path, mePath+"/") {
		return mePath
	}
	return withRequest(Path)
}

// fail renders the generic error page (never internal text).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, msgKey string) {
	p := h.newPage(w, r, "")
	p.Error = p.T[msgKey]
	h.render(w, r, status, "error.html", p)
}

// internal logs an unexpected error and shows the generic error page.
func (h *Handler) internal(w http.ResponseWriter, r *http.Request, what string, err error) {
	h.log.ErrorContext(r.Context(), "login: "+what, "err", err)
	h.fail(w, r, http.StatusInternalServerError, "error_title")
}

// Cookies. With SecureCookies the names carry the __Host- prefix, which
// browsers accept only with Secure, Path=/ and no Domain.
func (h *Handler) cookieName(base string) string {
	if h.cfg.SecureCookies {
		return "__Host-" + base
	}
	return base
}

func (h *Handler) setCookie(w http.ResponseWriter, base, value string, maxAge time.Duration, sameSite http.SameSite) {
	c := &http.Cookie{Name: h.cookieName(base), Value: value, Path: "/", Secure: h.cfg.SecureCookies, HttpOnly: true, SameSite: sameSite}
	if maxAge < 0 {
		c.MaxAge = -1
	} else if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, c)
}

func (h *Handler) cookie(r *http.Request, base string) string {
	c, err := r.Cookie(h.cookieName(base))
	if err != nil || len(c.Value) > 128 {
		return ""
	}
	return c.Value
}

// cookieValue is cookie for the one longer value, the sealed recovery codes.
func (h *Handler) cookieValue(r *http.Request, base string) string {
	c, err := r.Cookie(h.cookieName(base))
	if err != nil || len(c.Value) > 1024 {
		return ""
	}
	return c.Value
}

// csrfToken returns the double-submit token for forms, minting the cookie
// that holds it when absent.
func (h *Handler) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if v := h.cookie(r, "dopaid-csrf"); len(v) >= 43 {
		return v
	}
	v, err := keys.RandomToken(32)
	if err != nil {
		return ""
	}
	h.setCookie(w, "dopaid-csrf", v, 0, http.SameSiteStrictMode)
	// Make the token visible to the rest of this request's rendering.
	r.AddCookie(&http.Cookie{Name: h.cookieName("dopaid-csrf"), Value: v})
	return v
}

// checkForm parses a POSTed form and checks its CSRF token.
func (h *Handler) checkForm(r *http.Request) bool {
	if err := r.ParseMultipartForm(maxFormBytes); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		return false
	}
	want := h.cookie(r, "dopaid-csrf")
	got := r.PostFormValue("csrf")
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

func (h *Handler) setLang(w http.ResponseWriter, r *http.Request) {
	l := r.URL.Query().Get("l")
	if l != "th" && l != "en" {
		l = "th"
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600, SameSite: http.SameSiteLaxMode, Secure: h.cfg.SecureCookies})
	http.Redirect(w, r, localNext(r.URL.Query().Get("next")), http.StatusSeeOther)
}

// localNext returns next if it is a path inside the login pages, else
// Path: never an open redirect. The path is checked as the browser will
// read it — after cleaning, and with no backslash (browsers read "/\" as
// "//") — not as it was sent.
func localNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.IsAbs() || u.Host != "" || u.User != nil || strings.ContainsAny(next, "\\\x00\r\n") {
		return Path
	}
	clean := path.Clean(u.Path)
	if clean != Path && !strings.HasPrefix(clean, Path+"/") {
		return Path
	}
	u.Path = clean
	return u.String()
}

// clientAddr is the address failures are counted against: the TCP peer,
// or — when the peer is a trusted proxy — the right-most address in
// Forwarded or X-Forwarded-For that is not itself a trusted proxy
// (storage.ClientAddr); the proxy's own when that names none. An IPv6
// address counts by its /56: a subscriber often holds a whole /56 (or /48),
// and counting by /64 would give a guesser 256 allowances or more.
func (h *Handler) clientAddr(r *http.Request) string {
	a := storage.Proxies{Trusted: h.cfg.TrustedProxies, Header: h.cfg.ProxyHeader}.ClientAddr(r)
	if !a.IsValid() {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		if a, err = netip.ParseAddr(host); err != nil {
			return host
		}
		a = a.Unmap()
	}
	if a.Is6() {
		p, _ := a.Prefix(56)
		return p.String()
	}
	return a.String()
}

// mac returns a keyed hash, base64url.
func mac(key []byte, parts ...string) string {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func hashID(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
