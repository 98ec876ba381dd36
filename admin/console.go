package admin

// The web console: the same capabilities as the JSON API, in Thai and
// English, for DOPA staff and agency supervisors. It is a browser surface:
// a session cookie of its own (dopaid-admin, __Host-dopaid-admin with
// SecureCookies; SameSite=Strict), http.CrossOriginProtection plus a
// double-submit token on every form, a strict CSP without any script, and
// frame-ancestors 'none'. Pages show what the viewer's role may do; the
// Service decides.
//
// Stable element IDs, for browser tests and for people who script the
// console ({i} is a 0-based form slot, {n} a 0-based row, {id} a record's
// ID, {code} a purpose code, {claim} a claim name):
//
//	every page     #main, #lang-switch, #error (role=alert) with
//	               #field-errors (li #field-error-{n}), #notice (role=status);
//	               signed in: #whoami, #nav-home, #nav-agencies, #nav-admins,
//	               #signout-form / #signout; error page: #back-home
//	sign-in        #signin-form, #username, #password, #totp, #signin
//	home           #pending-permits, #other-permits, #permit-link-{id}
//	agencies       #agencies, #agency-link-{id}; #agency-form,
//	               #agency-name-th, #agency-name-en, #agency-category,
//	               #agency-registration-no, #contact-name,
//	               #contact-position, #contact-email, #contact-phone,
//	               #agency-create
//	agency         #agency-name, #agency-category-label, #agency-permits,
//	               #permit-link-{id}, #record-application, #accesses-link
//	application    #application-form, #app-agency, #app-mission,
//	               #app-reason, #app-necessity; per purpose #purpose-{i},
//	               #purpose-{i}-code, #purpose-{i}-description-th,
//	               #purpose-{i}-description-en, #purpose-{i}-claim-{claim};
//	               #add-purpose; per system #system-{i}, #system-{i}-name,
//	               #system-{i}-redirect-uris, #system-{i}-post-logout-uris,
//	               #system-{i}-auth-method, #system-{i}-jwks,
//	               #system-{i}-jwks-uri, #system-{i}-network-ranges,
//	               #system-{i}-signing-alg;
//	               #add-system, #acceptance-name, #acceptance-position,
//	               #terms-version, #accept-terms, #app-submit
//	permit         #permit-number, #permit-agency-link, #permit-state
//	               (data-state: pending, approved, …, expired),
//	               #permit-valid-from, #permit-valid-until,
//	               #permit-conditions, #permit-purposes,
//	               #permit-purpose-{code}, #permit-supervisors,
//	               #permit-supervisor-{n}, #permit-application,
//	               #permit-recorded-by, #permit-systems,
//	               #system-link-{client_id}, #register-system, #decisions,
//	               #decision-{n} (data-action); approvers: #own-application
//	               (when they recorded it), #decision-form, #decision-action,
//	               #decision-notice, #decision-effective-at; for a pending
//	               permit #grant, #grant-valid-from, #grant-valid-until,
//	               #grant-purpose-{i}, #grant-purpose-{i}-claim-{claim},
//	               #grant-conditions, #supervisor-{i}, #supervisor-{i}-name,
//	               #supervisor-{i}-position, #supervisor-{i}-email,
//	               #supervisor-{i}-phone, #supervisor-{i}-order-ref,
//	               #add-supervisor; #decision-submit
//	system form    #system-form, #system-name, #system-redirect-uris,
//	               #system-post-logout-uris, #system-auth-method,
//	               #system-jwks, #system-jwks-uri, #system-network-ranges,
//	               #system-signing-alg, #system-submit
//	system         #client-name, #client-id, #client-permit-link,
//	               #client-auth-method, #client-jwks-uri (when it has
//	               one); #client-secret and #secret-once only
//	               on the page right after registration or rotation,
//	               #secret-hidden otherwise; approvers: #rotate-form /
//	               #rotate-secret and the system form
//	accesses       #accesses-agency, #accesses, #access-{n}, #no-accesses
//	audit trail    #nav-audit; see auditconsole.go
//	administrators #admins, #admin-{username}; approvers: #admin-form,
//	               #admin-username, #admin-name, #admin-role, #admin-agency,
//	               #admin-create; once after creation #admin-created,
//	               #admin-invitation (the link to hand the new
//	               administrator), #admin-invitation-expires; a row of an
//	               account not yet enrolled has #admin-{username}-invited
//	enrolment      (by invitation, before sign-in) #enrol-form,
//	               #enrol-password, #enrol-submit; then #enrol-totp,
//	               #enrol-qr, #enrol-totp-secret, #enrol-otpauth,
//	               #enrol-confirm-form, #enrol-code, #enrol-confirm

import (
	"bytes"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"image/png"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/pquerna/otp"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
)

//go:embed pages static
var consoleAssets embed.FS

// consolePages holds one template set per page: each page defines its own
// "title" for the layout, which one shared set would overwrite with
// whichever page was parsed last.
var consolePages = parseConsolePages()

var consoleFuncs = template.FuncMap{
	"t":     func(m map[string]string, k string) string { return m[k] },
	"tk":    func(m map[string]string, prefix, k string) string { return labelOf(m, prefix, k) },
	"has":   func(list []string, v string) bool { return slices.Contains(list, v) },
	"time":  formatTime,
	"date":  formatDate,
	"lines": func(list []string) string { return strings.Join(list, "\n") },
	"plus1": func(i int) int { return i + 1 },
	// withData hands a sub-template the page with other data.
	"withData": func(p consolePage, data any) consolePage { p.Data = data; return p },
	// claim, raw, derived, ageOver: derived.go.
	"claim":   claimLabel,
	"raw":     rawClaims,
	"derived": derivedClaims,
	"ageOver": ageOverField,
}

// consoleShared are the templates every page may use; they define no title.
var consoleShared = []string{"pages/layout.html", "pages/systemfields.html"}

type consolePageSet map[string]*template.Template

func parseConsolePages() consolePageSet {
	names, err := fs.Glob(consoleAssets, "pages/*.html")
	if err != nil {
		panic(err)
	}
	set := consolePageSet{}
	for _, n := range names {
		if slices.Contains(consoleShared, n) {
			continue
		}
		base := n[len("pages/"):]
		set[base] = template.Must(template.New(base).Funcs(consoleFuncs).ParseFS(consoleAssets, append(slices.Clone(consoleShared), n)...))
	}
	return set
}

// ExecuteTemplate renders the named page.
func (ps consolePageSet) ExecuteTemplate(w io.Writer, name string, data any) error {
	t, ok := ps[name]
	if !ok {
		return fmt.Errorf("no page %q", name)
	}
	return t.ExecuteTemplate(w, name, data)
}

// labelOf returns the message for a domain value (prefix "state_" and
// "approved" → the state's name), or the value itself.
func labelOf(m map[string]string, prefix, k string) string {
	if v, ok := m[prefix+k]; ok {
		return v
	}
	return k
}

// consoleCSP allows no script at all, styles and images from the console
// itself (images also as data: URLs, for the QR code of a new
// administrator's authenticator), forms posting back to it only, and no
// framing.
const consoleCSP = "default-src 'none'; script-src 'none'; style-src 'self'; img-src 'self' data:; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// maxFormBytes bounds a console form (a JWKS is the largest field).
const maxFormBytes = 256 << 10

// Cookie names (the __Host- prefix is added with SecureCookies).
const (
	sessionCookie = "dopaid-admin"
	csrfCookie    = "dopaid-admin-csrf"
	// secretCookie carries a new client secret across the redirect that
	// follows its creation to the one page that shows it, and is deleted
	// there: the secret is never stored on the server, and a reload of
	// that page no longer shows it.
	secretCookie = "dopaid-admin-secret"
)

func (h *Handler) consoleRouter() *mux.Router {
	rt := mux.NewRouter()
	rt.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.consoleError(w, r, http.StatusNotFound, "not_found")
	})
	rt.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", strings.Join(allowedMethods(rt, r), ", "))
		h.consoleError(w, r, http.StatusMethodNotAllowed, "method")
	})
	static, _ := fs.Sub(consoleAssets, "static")
	files := http.StripPrefix(Path+"/static/", http.FileServerFS(static))
	rt.Handle(Path+"/static/{file}", files).Methods(http.MethodGet)
	rt.HandleFunc(Path+"/signin", h.signInForm).Methods(http.MethodGet)
	rt.HandleFunc(Path+"/signin", h.signIn).Methods(http.MethodPost)
	rt.HandleFunc(Path+"/lang", h.setLang).Methods(http.MethodGet)
	rt.HandleFunc(EnrolPath, h.enrolForm).Methods(http.MethodGet)
	rt.HandleFunc(EnrolPath, h.enrol).Methods(http.MethodPost)
	rt.HandleFunc(EnrolPath+"/confirm", h.confirmEnrolment).Methods(http.MethodPost)
	page := func(path string, fn http.HandlerFunc, method string) {
		rt.Handle(path, h.signedIn(fn)).Methods(method)
	}
	page(Path+"/", h.dashboard, http.MethodGet)
	page(Path+"/signout", h.signOut, http.MethodPost)
	page(Path+"/agencies", h.agencies, http.MethodGet)
	page(Path+"/agencies", h.createAgency, http.MethodPost)
	page(Path+"/agencies/{id}", h.agency, http.MethodGet)
	page(Path+"/agencies/{id}/accesses", h.accesses, http.MethodGet)
	page(Path+"/audit", h.auditTrail, http.MethodGet)
	page(Path+"/audit/export.csv", h.auditExport("csv"), http.MethodGet)
	page(Path+"/audit/export.json", h.auditExport("json"), http.MethodGet)
	page(Path+"/audit/citizen", h.lookupCitizen, http.MethodPost)
	page(Path+"/usage", h.usagePage, http.MethodGet)
	page(Path+"/usage/export.csv", h.usageExport("csv"), http.MethodGet)
	page(Path+"/usage/export.json", h.usageExport("json"), http.MethodGet)
	page(Path+"/agencies/{id}/applications/new", h.applicationForm, http.MethodGet)
	page(Path+"/agencies/{id}/applications", h.recordApplication, http.MethodPost)
	page(Path+"/permits/{id}", h.permit, http.MethodGet)
	page(Path+"/permits/{id}/decisions", h.decide, http.MethodPost)
	page(Path+"/permits/{id}/renewals", h.requestRenewal, http.MethodPost)
	page(Path+"/permits/{id}/systems/new", h.systemForm, http.MethodGet)
	page(Path+"/permits/{id}/systems", h.registerSystem, http.MethodPost)
	page(Path+"/systems/{client_id}", h.system, http.MethodGet)
	page(Path+"/systems/{client_id}", h.changeSystem, http.MethodPost)
	page(Path+"/systems/{client_id}/secret", h.rotateSecret, http.MethodPost)
	page(Path+"/systems/{client_id}/disable", h.setSystemDisabled(true), http.MethodPost)
	page(Path+"/systems/{client_id}/enable", h.setSystemDisabled(false), http.MethodPost)
	page(Path+"/admins", h.admins, http.MethodGet)
	page(Path+"/admins", h.createAdmin, http.MethodPost)
	page(Path+"/admins/{id}/confirm", h.confirmAdmin, http.MethodPost)
	page(Path+"/admins/{id}/disable", h.setAdminDisabled(true), http.MethodPost)
	page(Path+"/admins/{id}/enable", h.setAdminDisabled(false), http.MethodPost)
	page(Path+"/tokens", h.tokens, http.MethodGet)
	page(Path+"/tokens", h.issueToken, http.MethodPost)
	page(Path+"/tokens/{id}/revoke", h.revokeToken, http.MethodPost)
	return rt
}

func (h *Handler) serveConsole(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Security-Policy", consoleCSP)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if bad, _ := r.Context().Value(badTextKey).(bool); bad {
		h.consoleError(w, r, http.StatusBadRequest, "bad_text")
		return
	}
	// Cross-origin POSTs are refused from the browser's own headers
	// (Sec-Fetch-Site / Origin); every form also carries a token.
	h.csrf.Handler(h.console).ServeHTTP(w, r)
}

// capabilities say what the viewer's role may do, to show only the forms
// that can succeed. The Service enforces the same rules.
type capabilities struct {
	CreateAgency      bool // officer, approver
	RecordApplication bool // officer, approver
	Decide            bool // approver
	ManageSystems     bool // approver: register, change, rotate
	ReadAll           bool // DOPA staff (not an agency's supervisor)
	ViewAccesses      bool // supervisors (their agency) and auditors
	ManageAdmins      bool // approver
}

func capabilitiesOf(a storage.Admin) capabilities {
	return capabilities{
		CreateAgency:      slices.Contains(makers, a.Role),
		RecordApplication: slices.Contains(makers, a.Role),
		Decide:            a.Role == storage.RoleApprover,
		ManageSystems:     a.Role == storage.RoleApprover,
		ReadAll:           a.Role != storage.RoleSupervisor,
		ViewAccesses:      a.Role == storage.RoleSupervisor || a.Role == storage.RoleAuditor,
		ManageAdmins:      a.Role == storage.RoleApprover,
	}
}

// consolePage is what every template gets.
type consolePage struct {
	Lang   string
	T      map[string]string
	CSRF   string
	Admin  *storage.Admin
	Can    capabilities
	Nav    string
	Next   string // the page to return to after signing in / switching language
	Error  string
	Fields []fieldProblem
	Notice string
	Data   any
}

// fieldProblem is one field-level error, labelled for the reader.
type fieldProblem struct {
	Label   string
	Message string
}

func (h *Handler) newPage(w http.ResponseWriter, r *http.Request, nav string) consolePage {
	l := lang(r)
	p := consolePage{Lang: l, T: messages[l], CSRF: h.csrfToken(w, r), Nav: nav, Next: r.URL.RequestURI()}
	if a, ok := adminFrom(r.Context()); ok {
		p.Admin = &a
		p.Can = capabilitiesOf(a)
	}
	if k := r.URL.Query().Get("notice"); slices.Contains(noticeKeys, k) {
		p.Notice = p.T[k]
	}
	return p
}

// noticeKeys are the messages a redirect may ask the next page to show.
var noticeKeys = []string{"agency_created", "app_recorded", "decided", "decided_later", "system_registered", "secret_rotated", "system_changed", "signed_out", "enrolled",
	"system_disabled", "system_enabled", "admin_disabled_notice", "admin_enabled_notice", "renewal_requested"}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p consolePage) {
	var buf bytes.Buffer
	if err := consolePages.ExecuteTemplate(&buf, name, p); err != nil {
		h.log.ErrorContext(r.Context(), "admin: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// consoleError shows the error page with a generic message.
func (h *Handler) consoleError(w http.ResponseWriter, r *http.Request, status int, key string) {
	p := h.newPage(w, r, "")
	p.Error = p.T[key]
	h.render(w, r, status, "error.html", p)
}

// refusal maps a service error to the status and message a page shows;
// ok is false for an unexpected error, which the caller must treat as
// internal. Field errors go to p.Fields, labelled by label.
func refusal(p *consolePage, err error, label func(string) string) (status int, ok bool) {
	var ve *ValidationError
	switch {
	case errors.As(err, &ve):
		p.Error = p.T["invalid_fields"]
		keys := make([]string, 0, len(ve.Fields))
		for k := range ve.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p.Fields = append(p.Fields, fieldProblem{Label: label(k), Message: fieldMessage(p.Lang, ve.Fields[k])})
		}
		return http.StatusUnprocessableEntity, true
	case errors.Is(err, ErrMakerChecker):
		p.Error = p.T["maker_checker"]
		return http.StatusForbidden, true
	case errors.Is(err, ErrSameApprover):
		p.Error = p.T["same_approver"]
		return http.StatusForbidden, true
	case errors.Is(err, ErrPending):
		p.Error = p.T["pending_confirmation"]
		return http.StatusForbidden, true
	case errors.Is(err, ErrForbidden):
		p.Error = p.T["forbidden"]
		return http.StatusForbidden, true
	case errors.Is(err, ErrState):
		p.Error = p.T["bad_state"]
		return http.StatusConflict, true
	case errors.Is(err, ErrNotFound), errors.Is(err, storage.ErrNotFound):
		p.Error = p.T["not_found"]
		return http.StatusNotFound, true
	case errors.Is(err, storage.ErrAlreadyExists), errors.Is(err, storage.ErrConflict):
		p.Error = p.T["conflict"]
		return http.StatusConflict, true
	}
	return http.StatusInternalServerError, false
}

// fail shows the error page for a service error that leaves no form to
// show again (a page that could not be loaded).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	p := h.newPage(w, r, "")
	status, ok := refusal(&p, err, func(k string) string { return k })
	if !ok {
		h.internal(w, r, err)
		return
	}
	h.render(w, r, status, "error.html", p)
}

// internal logs an unexpected error and shows a generic page.
func (h *Handler) internal(w http.ResponseWriter, r *http.Request, err error) {
	h.log.ErrorContext(r.Context(), "admin console", "method", r.Method, "path", r.URL.Path, "err", err)
	h.consoleError(w, r, http.StatusInternalServerError, "server_error")
}

// Cookies. With SecureCookies the names carry the __Host- prefix, which
// browsers accept only with Secure, Path=/ and no Domain.
func (h *Handler) cookieName(base string) string {
	if h.cfg.SecureCookies {
		return "__Host-" + base
	}
	return base
}

func (h *Handler) setCookie(w http.ResponseWriter, base, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: h.cookieName(base), Value: value, Path: "/", Secure: h.cfg.SecureCookies, HttpOnly: true, SameSite: http.SameSiteStrictMode}
	if maxAge < 0 {
		c.MaxAge = -1
	} else if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, c)
}

func (h *Handler) cookie(r *http.Request, base string) string {
	c, err := r.Cookie(h.cookieName(base))
	if err != nil || len(c.Value) > 512 {
		return ""
	}
	return c.Value
}

// csrfToken returns the double-submit token for forms, minting the cookie
// that holds it when absent.
func (h *Handler) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if v := h.cookie(r, csrfCookie); len(v) >= 43 {
		return v
	}
	v, err := keys.RandomToken(32)
	if err != nil {
		return ""
	}
	h.setCookie(w, csrfCookie, v, 0)
	r.AddCookie(&http.Cookie{Name: h.cookieName(csrfCookie), Value: v})
	return v
}

// checkForm parses a POSTed form and checks its CSRF token.
func (h *Handler) checkForm(r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		return false
	}
	want := h.cookie(r, csrfCookie)
	got := r.PostFormValue("csrf")
	return len(want) >= 43 && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// signedIn admits requests of a live console session; others go to the
// sign-in page. POSTs are checked for the form token here, once.
func (h *Handler) signedIn(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := h.cookie(r, sessionCookie)
		a, s, err := h.resume(r.Context(), v, channelConsole)
		if errors.Is(err, errNoSession) {
			if v != "" {
				h.setCookie(w, sessionCookie, "", -1)
			}
			if r.Method == http.MethodGet {
				http.Redirect(w, r, Path+"/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			p := h.newPage(w, r, "")
			p.Error = p.T["session_ended"]
			p.Next = ""
			h.render(w, r, http.StatusUnauthorized, "signin.html", p)
			return
		}
		if err != nil {
			h.internal(w, r, err)
			return
		}
		r = r.WithContext(withAdmin(r.Context(), a, s))
		if r.Method == http.MethodPost && !h.checkForm(r) {
			h.consoleError(w, r, http.StatusBadRequest, "bad_input")
			return
		}
		next(w, r)
	})
}

// localNext returns next if it is a console page, else the home page:
// never an open redirect.
func localNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.IsAbs() || u.Host != "" || !strings.HasPrefix(u.Path, Path+"/") ||
		strings.HasPrefix(next, "//") || strings.Contains(next, "\\") || strings.HasPrefix(u.Path, Path+"/signin") {
		return Path + "/"
	}
	return u.RequestURI()
}

func (h *Handler) signInForm(w http.ResponseWriter, r *http.Request) {
	p := h.newPage(w, r, "")
	p.Next = localNext(r.URL.Query().Get("next"))
	h.render(w, r, http.StatusOK, "signin.html", p)
}

func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(r) {
		h.consoleError(w, r, http.StatusBadRequest, "bad_input")
		return
	}
	ctx := r.Context()
	next := localNext(r.PostFormValue("next"))
	a, err := h.svc.Authenticate(ctx, r.PostFormValue("username"), r.PostFormValue("password"), strings.TrimSpace(r.PostFormValue("totp")))
	if errors.Is(err, ErrAuthFailed) || errors.Is(err, ErrPending) {
		p := h.newPage(w, r, "")
		p.Error, p.Next = p.T["signin_failed"], next
		status := http.StatusUnauthorized
		if errors.Is(err, ErrPending) {
			p.Error, status = p.T["pending_confirmation"], http.StatusForbidden
		}
		p.Data = map[string]string{"Username": r.PostFormValue("username")}
		h.render(w, r, status, "signin.html", p)
		return
	}
	if err != nil {
		h.internal(w, r, err)
		return
	}
	if old := h.cookie(r, sessionCookie); old != "" {
		if err := h.store.DeleteSession(ctx, hashToken(old), nil); err != nil {
			h.internal(w, r, err)
			return
		}
	}
	v, _, err := h.startSession(ctx, a, channelConsole, r.UserAgent())
	if err != nil {
		h.internal(w, r, err)
		return
	}
	h.setCookie(w, sessionCookie, v, SessionMax)
	// A fresh form token for the signed-in session.
	if t, err := keys.RandomToken(32); err == nil {
		h.setCookie(w, csrfCookie, t, 0)
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	if s, ok := currentSession(r.Context()); ok {
		if err := h.store.DeleteSession(r.Context(), s.ID, nil); err != nil {
			h.internal(w, r, err)
			return
		}
	}
	h.setCookie(w, sessionCookie, "", -1)
	http.Redirect(w, r, Path+"/signin?notice=signed_out", http.StatusSeeOther)
}

func (h *Handler) setLang(w http.ResponseWriter, r *http.Request) {
	l := r.URL.Query().Get("l")
	if l != "th" && l != "en" {
		l = "th"
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600, SameSite: http.SameSiteLaxMode, Secure: h.cfg.SecureCookies})
	next := r.URL.Query().Get("next")
	if strings.HasPrefix(next, Path+"/signin") && !strings.HasPrefix(next, "//") {
		next = Path + "/signin"
	} else {
		next = localNext(next)
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// permitRow is a permit in a list.
type permitRow struct {
	Permit storage.Permit
	Status string
	Agency string
}

func (h *Handler) permitRows(r *http.Request, a storage.Admin, l string, ps []storage.Permit) ([]permitRow, error) {
	names := map[string]string{}
	if len(ps) > 0 {
		ags, err := h.svc.Agencies(r.Context(), a)
		if err != nil {
			return nil, err
		}
		for _, ag := range ags {
			names[ag.ID] = agencyName(l, ag)
		}
	}
	now := h.now()
	rows := make([]permitRow, 0, len(ps))
	for _, p := range ps {
		rows = append(rows, permitRow{Permit: p, Status: Status(p, now), Agency: names[p.AgencyID]})
	}
	return rows, nil
}

func agencyName(l string, a storage.Agency) string {
	if l == "en" && a.NameEN != "" {
		return a.NameEN
	}
	return a.NameTH
}

func (h *Handler) dashboard(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	if a.Role == storage.RoleSupervisor {
		http.Redirect(w, r, Path+"/agencies/"+url.PathEscape(a.AgencyID)+"/accesses", http.StatusSeeOther)
		return
	}
	p := h.newPage(w, r, "home")
	ps, err := h.svc.Permits(r.Context(), a, "")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rows, err := h.permitRows(r, a, p.Lang, ps)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var pending, others []permitRow
	for _, row := range rows {
		if row.Permit.State == storage.PermitPending {
			pending = append(pending, row)
		} else {
			others = append(others, row)
		}
	}
	p.Data = map[string]any{"Pending": pending, "Others": others}
	h.render(w, r, http.StatusOK, "dashboard.html", p)
}

// agencyForm holds the agency form's values.
type agencyForm struct {
	NameTH, NameEN, Category, RegistrationNo   string
	ContactName, ContactPosition, ContactEmail string
	ContactPhone                               string
}

func (h *Handler) agencies(w http.ResponseWriter, r *http.Request) {
	h.agenciesPage(w, r, agencyForm{}, nil)
}

func (h *Handler) agenciesPage(w http.ResponseWriter, r *http.Request, f agencyForm, err error) {
	a, _ := adminFrom(r.Context())
	p := h.newPage(w, r, "agencies")
	status := http.StatusOK
	if err != nil {
		var ok bool
		if status, ok = refusal(&p, err, fieldLabeller(p.T, agencyLabels, nil)); !ok {
			h.internal(w, r, err)
			return
		}
	}
	list, lerr := h.svc.Agencies(r.Context(), a)
	if lerr != nil {
		h.fail(w, r, lerr)
		return
	}
	p.Data = map[string]any{"Agencies": list, "Form": f, "Categories": storage.Categories}
	h.render(w, r, status, "agencies.html", p)
}

func (h *Handler) createAgency(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	f := agencyForm{
		NameTH: r.PostFormValue("name_th"), NameEN: r.PostFormValue("name_en"), Category: r.PostFormValue("category"),
		RegistrationNo: r.PostFormValue("registration_no"), ContactName: r.PostFormValue("contact_name"),
		ContactPosition: r.PostFormValue("contact_position"), ContactEmail: r.PostFormValue("contact_email"),
		ContactPhone: r.PostFormValue("contact_phone"),
	}
	ag := storage.Agency{NameTH: f.NameTH, NameEN: f.NameEN, Category: f.Category, RegistrationNo: f.RegistrationNo}
	if strings.TrimSpace(f.ContactName+f.ContactPosition+f.ContactEmail+f.ContactPhone) != "" {
		ag.Contacts = []storage.Contact{{Name: f.ContactName, Position: f.ContactPosition, Email: f.ContactEmail, Phone: f.ContactPhone}}
	}
	ag, err := h.svc.CreateAgency(r.Context(), a, ag)
	if err != nil {
		h.agenciesPage(w, r, f, err)
		return
	}
	http.Redirect(w, r, Path+"/agencies/"+url.PathEscape(ag.ID)+"?notice=agency_created", http.StatusSeeOther)
}

func (h *Handler) agency(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	id := mux.Vars(r)["id"]
	ag, err := h.svc.Agency(r.Context(), a, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p := h.newPage(w, r, "agencies")
	ps, err := h.svc.Permits(r.Context(), a, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rows, err := h.permitRows(r, a, p.Lang, ps)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p.Data = map[string]any{"Agency": ag, "Name": agencyName(p.Lang, ag), "Permits": rows}
	h.render(w, r, http.StatusOK, "agency.html", p)
}

// accessRow is an access as the accesses page shows it.
type accessRow struct {
	Access
	N int
}

func (h *Handler) accesses(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	id := mux.Vars(r)["id"]
	ag, err := h.svc.Agency(r.Context(), a, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	list, err := h.svc.AgencyAccesses(r.Context(), a, id, 500)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p := h.newPage(w, r, "accesses")
	rows := make([]accessRow, 0, len(list))
	for i, ac := range list {
		rows = append(rows, accessRow{Access: ac, N: i})
	}
	p.Data = map[string]any{"Agency": ag, "Name": agencyName(p.Lang, ag), "Accesses": rows}
	h.render(w, r, http.StatusOK, "accesses.html", p)
}

// Application form.

type applicationForm struct {
	AgencyID           string
	AgencyName         string
	Mission            string
	Reason             string
	Necessity          string
	Purposes           []purposeSlot
	Systems            []systemSlot
	AcceptanceName     string
	AcceptancePosition string
	TermsVersion       string
	Accepted           bool
	Claims             []string
}

type purposeSlot struct {
	Index                              int
	Code, DescriptionTH, DescriptionEN string
	Claims                             []string
}

func (s purposeSlot) blank() bool {
	return strings.TrimSpace(s.Code+s.DescriptionTH+s.DescriptionEN) == "" && len(s.Claims) == 0
}

// systemSlot is a system's form values (URIs and ranges one a line):
// a slot of the application form (InApplication) or the system form.
type systemSlot struct {
	Index                                                int
	InApplication                                        bool
	Name, RedirectURIs, PostLogoutURIs, AuthMethod, JWKS string
	JWKSURI, NetworkRanges, SigningAlg                   string
	// AnyNetwork is the approver's decision that a private_key_jwt
	// system may call from any address (the system form only).
	AnyNetwork bool
	// IDTokenEncryption and UserinfoEncryption are the key management
	// algorithms ("" for none); the content encryption is A256GCM.
	IDTokenEncryption, UserinfoEncryption string
	// RequirePAR and FAPI (the system form only): pushed requests only;
	// the FAPI 2.0 security profile.
	RequirePAR, FAPI bool

	BackchannelLogoutURI             string
	BackchannelLogoutSessionRequired bool
}

// IDPrefix and NamePrefix start the fields' element IDs and form names.
func (s systemSlot) IDPrefix() string {
	if s.InApplication {
		return "system-" + strconv.Itoa(s.Index) + "-"
	}
	return "system-"
}

func (s systemSlot) NamePrefix() string {
	if s.InApplication {
		return "system." + strconv.Itoa(s.Index) + "."
	}
	return ""
}

// AuthMethods and Algs are the choices the form offers.
func (systemSlot) AuthMethods() []string {
	return []string{storage.AuthMethodPrivateKeyJWT, storage.AuthMethodSecretBasic, storage.AuthMethodSecretPost}
}

func (systemSlot) Algs() []string { return []string{AlgES256, AlgRS256} }

func (systemSlot) EncryptionAlgs() []string {
	return []string{storage.EncryptionAlgRSAOAEP256, storage.EncryptionAlgECDHES}
}

func (s systemSlot) blank() bool {
	return strings.TrimSpace(s.Name+s.RedirectURIs+s.PostLogoutURIs+s.JWKS+s.JWKSURI+s.NetworkRanges+s.BackchannelLogoutURI) == ""
}

func (s systemSlot) system() storage.System {
	sys := storage.System{Name: s.Name, RedirectURIs: splitLines(s.RedirectURIs), PostLogoutRedirectURIs: splitLines(s.PostLogoutURIs),
		AuthMethod: s.AuthMethod, JWKSURI: strings.TrimSpace(s.JWKSURI), NetworkRanges: splitLines(s.NetworkRanges), SigningAlg: s.SigningAlg, AnyNetwork: s.AnyNetwork,
		RequirePAR: s.RequirePAR, FAPI: s.FAPI}
	if j := strings.TrimSpace(s.JWKS); j != "" {
		sys.JWKS = []byte(j)
	}
	sys.IDTokenEncryptedResponseAlg, sys.UserinfoEncryptedResponseAlg = s.IDTokenEncryption, s.UserinfoEncryption
	sys.BackchannelLogoutURI, sys.BackchannelLogoutSessionRequired = strings.TrimSpace(s.BackchannelLogoutURI), s.BackchannelLogoutSessionRequired
	return sys
}

func slotOf(c storage.Client) systemSlot {
	s := systemSlot{Name: c.Name, RedirectURIs: strings.Join(c.RedirectURIs, "\n"), PostLogoutURIs: strings.Join(c.PostLogoutRedirectURIs, "\n"),
		AuthMethod: c.AuthMethod, JWKS: string(c.JWKS), JWKSURI: c.JWKSURI, NetworkRanges: strings.Join(c.NetworkRanges, "\n"),
		SigningAlg: c.SigningAlg, IDTokenEncryption: c.IDTokenEncryptedResponseAlg, UserinfoEncryption: c.UserinfoEncryptedResponseAlg,
		RequirePAR: c.RequirePAR, FAPI: c.FAPI}
	s.BackchannelLogoutURI, s.BackchannelLogoutSessionRequired = c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired
	return s
}

// splitLines reads a textarea of one value a line.
func splitLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// DefaultTermsVersion names the announcement an application accepts.
const DefaultTermsVersion = "DOPA-Digital ID criteria, 2022"

// slotCount reads a form's number of slots, within bounds.
func slotCount(r *http.Request, name string, least int) int {
	n, err := strconv.Atoi(r.PostFormValue(name))
	if err != nil || n < least {
		return least
	}
	return min(n, maxItems)
}

func (h *Handler) applicationForm(w http.ResponseWriter, r *http.Request) {
	f := applicationForm{AgencyID: mux.Vars(r)["id"], Purposes: []purposeSlot{{}}, TermsVersion: DefaultTermsVersion}
	h.applicationPage(w, r, f, http.StatusOK, nil, nil)
}

// applicationPage shows the application form with f's values and, if
// err, why it was refused; purposeIdx and systemIdx map the service's
// indexes (of the non-blank slots) back to slots.
func (h *Handler) applicationPage(w http.ResponseWriter, r *http.Request, f applicationForm, status int, err error, idx map[string][]int) {
	a, _ := adminFrom(r.Context())
	ag, aerr := h.svc.Agency(r.Context(), a, f.AgencyID)
	if aerr != nil {
		h.fail(w, r, aerr)
		return
	}
	p := h.newPage(w, r, "agencies")
	if err != nil {
		var ok bool
		if status, ok = refusal(&p, err, fieldLabeller(p.T, applicationLabels, idx)); !ok {
			h.internal(w, r, err)
			return
		}
	}
	f.AgencyName = agencyName(p.Lang, ag)
	f.Claims = storage.GrantableClaims
	for i := range f.Purposes {
		f.Purposes[i].Index = i
	}
	for i := range f.Systems {
		f.Systems[i].Index, f.Systems[i].InApplication = i, true
	}
	p.Data = f
	h.render(w, r, status, "application.html", p)
}

func (h *Handler) recordApplication(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	f := applicationForm{
		AgencyID: mux.Vars(r)["id"], Mission: r.PostFormValue("mission"), Reason: r.PostFormValue("reason"),
		Necessity: r.PostFormValue("necessity"), AcceptanceName: r.PostFormValue("acceptance_name"),
		AcceptancePosition: r.PostFormValue("acceptance_position"), TermsVersion: r.PostFormValue("terms_version"),
		Accepted: r.PostFormValue("accept_terms") == "yes",
	}
	for i := range slotCount(r, "purpose_count", 1) {
		k := "purpose." + strconv.Itoa(i) + "."
		f.Purposes = append(f.Purposes, purposeSlot{Code: strings.TrimSpace(r.PostFormValue(k + "code")),
			DescriptionTH: r.PostFormValue(k + "description_th"), DescriptionEN: r.PostFormValue(k + "description_en"),
			Claims: append(r.PostForm[k+"claims"], ageOverClaims(r.PostFormValue(k+"age_over"))...)})
	}
	for i := range slotCount(r, "system_count", 0) {
		f.Systems = append(f.Systems, h.systemSlotFrom(r, "system."+strconv.Itoa(i)+"."))
	}
	switch r.PostFormValue("more") {
	case "purpose":
		f.Purposes = append(f.Purposes, purposeSlot{})
		h.applicationPage(w, r, f, http.StatusOK, nil, nil)
		return
	case "system":
		f.Systems = append(f.Systems, systemSlot{AuthMethod: storage.AuthMethodPrivateKeyJWT})
		h.applicationPage(w, r, f, http.StatusOK, nil, nil)
		return
	}
	app := storage.Application{AgencyID: f.AgencyID, Mission: f.Mission, Reason: f.Reason, Necessity: f.Necessity,
		Acceptance: storage.Acceptance{Name: f.AcceptanceName, Position: f.AcceptancePosition, At: h.now(), TermsVersion: f.TermsVersion}}
	idx := map[string][]int{}
	for i, s := range f.Purposes {
		if !s.blank() {
			idx["purposes"] = append(idx["purposes"], i)
			app.Purposes = append(app.Purposes, storage.Purpose{Code: s.Code, DescriptionTH: s.DescriptionTH, DescriptionEN: s.DescriptionEN, Claims: s.Claims})
		}
	}
	for i, s := range f.Systems {
		if !s.blank() {
			idx["systems"] = append(idx["systems"], i)
			app.Systems = append(app.Systems, s.system())
		}
	}
	if !f.Accepted {
		// The terms are the form's own question, asked before the service.
		p := problems{}
		p.add("accept_terms", "%s", messages[lang(r)]["terms_required"])
		h.applicationPage(w, r, f, 0, p.err(), idx)
		return
	}
	_, pm, err := h.svc.RecordApplication(r.Context(), a, app)
	if err != nil {
		h.applicationPage(w, r, f, 0, err, idx)
		return
	}
	http.Redirect(w, r, Path+"/permits/"+url.PathEscape(pm.ID)+"?notice=app_recorded", http.StatusSeeOther)
}

func (h *Handler) systemSlotFrom(r *http.Request, prefix string) systemSlot {
	return systemSlot{Name: r.PostFormValue(prefix + "name"), RedirectURIs: r.PostFormValue(prefix + "redirect_uris"),
		PostLogoutURIs: r.PostFormValue(prefix + "post_logout_uris"), AuthMethod: r.PostFormValue(prefix + "auth_method"),
		JWKS: r.PostFormValue(prefix + "jwks"), JWKSURI: r.PostFormValue(prefix + "jwks_uri"),
		NetworkRanges: r.PostFormValue(prefix + "network_ranges"), SigningAlg: r.PostFormValue(prefix + "signing_alg"),
		AnyNetwork:        prefix == "" && r.PostFormValue("any_network") == "yes",
		IDTokenEncryption: r.PostFormValue(prefix + "id_token_encrypted_response_alg"), UserinfoEncryption: r.PostFormValue(prefix + "userinfo_encrypted_response_alg"),
		RequirePAR:                       prefix == "" && r.PostFormValue("require_par") == "yes",
		FAPI:                             prefix == "" && r.PostFormValue("fapi") == "yes",
		BackchannelLogoutURI:             r.PostFormValue(prefix + "backchannel_logout_uri"),
		BackchannelLogoutSessionRequired: r.PostFormValue(prefix+"backchannel_logout_session_required") == "yes"}
}

// Permit page and decisions.

type decisionForm struct {
	Action      string
	Notice      string
	EffectiveAt string // datetime-local, Bangkok
	ValidFrom   string // date, Bangkok
	ValidUntil  string
	Conditions  string
	Purposes    []grantSlot
	Supervisors []supervisorSlot
}

// grantSlot is one purpose the application asked for, with what the
// approver grants of it.
type grantSlot struct {
	Index   int
	Purpose storage.Purpose // as asked
	Granted bool
	Claims  []string
}

type supervisorSlot struct {
	Index                                  int
	Name, Position, Email, Phone, OrderRef string
}

func (s supervisorSlot) blank() bool {
	return strings.TrimSpace(s.Name+s.Position+s.Email+s.Phone+s.OrderRef) == ""
}

// decisionRow is a decision in the permit's history.
type decisionRow struct {
	N         int
	Decision  storage.Decision
	By        string
	Scheduled bool
}

func defaultDecisionForm(v permitView, now time.Time) decisionForm {
	f := decisionForm{
		ValidFrom:   now.In(bangkok).Format("2006-01-02"),
		ValidUntil:  now.In(bangkok).AddDate(1, 0, 0).Format("2006-01-02"),
		Supervisors: []supervisorSlot{{}},
	}
	if v.Application != nil {
		for _, pu := range v.Application.Purposes {
			f.Purposes = append(f.Purposes, grantSlot{Purpose: pu, Granted: true, Claims: pu.Claims})
		}
	}
	if acts := permitActions(v.Permit, v.Decisions); len(acts) > 0 {
		f.Action = acts[0]
	}
	return f
}

// laterOf returns the later of two times.
func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// permitActions are the decisions a permit's state allows; renew only
// while a renewal request awaits a decision.
func permitActions(p storage.Permit, ds []storage.Decision) []string {
	_, pending := PendingRenewal(ds)
	var out []string
	for _, a := range Actions {
		if allowed(a, p.State) && (a != storage.DecisionRenew || pending) {
			out = append(out, a)
		}
	}
	return out
}

func (h *Handler) permit(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	v, err := h.permitView(r, a, mux.Vars(r)["id"])
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.permitPage(w, r, v, defaultDecisionForm(v, h.now()), http.StatusOK, nil, nil)
}

func (h *Handler) permitPage(w http.ResponseWriter, r *http.Request, v permitView, f decisionForm, status int, err error, idx map[string][]int) {
	a, _ := adminFrom(r.Context())
	ctx := r.Context()
	p := h.newPage(w, r, "permits")
	if err != nil {
		var ok bool
		if status, ok = refusal(&p, err, fieldLabeller(p.T, decisionLabels, idx)); !ok {
			h.internal(w, r, err)
			return
		}
	}
	ag, aerr := h.svc.Agency(ctx, a, v.Permit.AgencyID)
	if aerr != nil {
		h.fail(w, r, aerr)
		return
	}
	names := h.adminNames(r, a)
	now := h.now()
	var rows []decisionRow
	// The latest register/change decision of each system says whether an
	// approver let it call from any address (clause 10).
	anyNetwork := map[string]decisionRow{}
	for i, d := range v.Decisions {
		row := decisionRow{N: i, Decision: d, By: nameOr(names, d.By), Scheduled: d.AppliedAt.IsZero() && d.EffectiveAt.After(now)}
		rows = append(rows, row)
		if d.Action == storage.DecisionRegisterSystem || d.Action == storage.DecisionChangeSystem {
			if id, any := SystemPayload(d); any {
				anyNetwork[id] = row
			} else {
				delete(anyNetwork, id)
			}
		}
	}
	for i := range f.Purposes {
		f.Purposes[i].Index = i
	}
	for i := range f.Supervisors {
		f.Supervisors[i].Index = i
	}
	data := map[string]any{
		"Permit": v.Permit, "Status": Status(v.Permit, now), "Active": v.Permit.Active(now),
		"Application": v.Application, "Systems": v.Systems, "Decisions": rows, "AnyNetwork": anyNetwork,
		"Agency": ag, "AgencyName": agencyName(p.Lang, ag), "Actions": permitActions(v.Permit, v.Decisions), "Listed": listedSystems(v),
		"Form": f, "Claims": storage.ClaimNames,
		"Mine":            v.Application != nil && v.Application.RecordedBy == a.ID,
		"RecordedBy":      "",
		"CanRegister":     p.Can.ManageSystems && v.Permit.State == storage.PermitApproved && now.Before(v.Permit.ValidUntil),
		"DecisionVisible": p.Can.Decide && len(permitActions(v.Permit, v.Decisions)) > 0,
		"CanRenew":        p.Can.RecordApplication && v.Permit.State == storage.PermitApproved,
		"RenewFrom":       v.Permit.ValidFrom.In(bangkok).Format("2006-01-02"),
		"RenewUntil":      laterOf(v.Permit.ValidUntil, now).In(bangkok).AddDate(1, 0, 0).Format("2006-01-02"),
	}
	if req, ok := PendingRenewal(v.Decisions); ok {
		if g, err := decodeGrant(req.Payload); err == nil {
			data["PendingRenewal"] = map[string]any{"Until": g.ValidUntil, "By": nameOr(names, req.By)}
		}
	}
	if v.Application != nil {
		data["RecordedBy"] = nameOr(names, v.Application.RecordedBy)
	}
	p.Data = data
	h.render(w, r, status, "permit.html", p)
}

// adminNames maps administrators' IDs to names, where the viewer may list
// them; otherwise pages show IDs.
func (h *Handler) adminNames(r *http.Request, a storage.Admin) map[string]string {
	names := map[string]string{}
	list, err := h.svc.Admins(r.Context(), a)
	if err != nil {
		if !errors.Is(err, ErrForbidden) {
			h.log.ErrorContext(r.Context(), "admin console: list administrators", "err", err)
		}
		return names
	}
	for _, ad := range list {
		names[ad.ID] = ad.Name + " (" + ad.Username + ")"
	}
	return names
}

func nameOr(names map[string]string, id string) string {
	if n, ok := names[id]; ok {
		return n
	}
	return id
}

// parseLocal reads a date or datetime-local value as Bangkok time; end
// moves a date to the last second of its day.
func parseLocal(v string, end bool) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, true
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, v, bangkok); err == nil {
			return t, true
		}
	}
	t, err := time.ParseInLocation("2006-01-02", v, bangkok)
	if err != nil {
		return time.Time{}, false
	}
	if end {
		t = t.Add(24*time.Hour - time.Second)
	}
	return t, true
}

func (h *Handler) decide(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	v, err := h.permitView(r, a, mux.Vars(r)["id"])
	if err != nil {
		h.fail(w, r, err)
		return
	}
	f := decisionForm{
		Action: r.PostFormValue("action"), Notice: r.PostFormValue("notice"), EffectiveAt: r.PostFormValue("effective_at"),
		ValidFrom: r.PostFormValue("valid_from"), ValidUntil: r.PostFormValue("valid_until"), Conditions: r.PostFormValue("conditions"),
	}
	if v.Application != nil {
		for i, pu := range v.Application.Purposes {
			k := "grant." + strconv.Itoa(i) + "."
			f.Purposes = append(f.Purposes, grantSlot{Purpose: pu, Granted: r.PostFormValue(k+"granted") == "yes", Claims: r.PostForm[k+"claims"]})
		}
	}
	for i := range slotCount(r, "supervisor_count", 1) {
		k := "supervisor." + strconv.Itoa(i) + "."
		f.Supervisors = append(f.Supervisors, supervisorSlot{Name: r.PostFormValue(k + "name"), Position: r.PostFormValue(k + "position"),
			Email: r.PostFormValue(k + "email"), Phone: r.PostFormValue(k + "phone"), OrderRef: r.PostFormValue(k + "order_ref")})
	}
	if r.PostFormValue("more") == "supervisor" {
		f.Supervisors = append(f.Supervisors, supervisorSlot{})
		h.permitPage(w, r, v, f, http.StatusOK, nil, nil)
		return
	}
	bad := problems{}
	req := DecisionRequest{Action: f.Action, Notice: f.Notice}
	var ok bool
	if req.EffectiveAt, ok = parseLocal(f.EffectiveAt, false); !ok {
		bad.add("effective_at", "is not a date and time")
	}
	idx := map[string][]int{}
	if f.Action == storage.DecisionApprove {
		g := &Grant{Conditions: f.Conditions}
		if g.ValidFrom, ok = parseLocal(f.ValidFrom, false); !ok {
			bad.add("grant.valid_from", "is not a date")
		}
		if g.ValidUntil, ok = parseLocal(f.ValidUntil, true); !ok {
			bad.add("grant.valid_until", "is not a date")
		}
		for i, s := range f.Purposes {
			if s.Granted {
				idx["grant.purposes"] = append(idx["grant.purposes"], i)
				g.Purposes = append(g.Purposes, storage.Purpose{Code: s.Purpose.Code, Claims: s.Claims})
			}
		}
		for i, s := range f.Supervisors {
			if !s.blank() {
				idx["grant.supervisors"] = append(idx["grant.supervisors"], i)
				g.Supervisors = append(g.Supervisors, storage.Supervisor{Name: s.Name, Position: s.Position, Email: s.Email, Phone: s.Phone, OrderRef: s.OrderRef})
			}
		}
		req.Grant = g
	}
	if err := bad.err(); err != nil {
		h.permitPage(w, r, v, f, 0, err, idx)
		return
	}
	d, _, err := h.svc.Decide(r.Context(), a, v.Permit.ID, req)
	if err != nil {
		h.permitPage(w, r, v, f, 0, err, idx)
		return
	}
	notice := "decided"
	if d.AppliedAt.IsZero() {
		notice = "decided_later"
	}
	http.Redirect(w, r, Path+"/permits/"+url.PathEscape(v.Permit.ID)+"?notice="+notice, http.StatusSeeOther)
}

// requestRenewal records the agency's request to extend the permit: a new
// validity period, the purposes, claims, conditions and supervisors as
// they stand (the API takes a changed grant).
func (h *Handler) requestRenewal(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	v, err := h.permitView(r, a, mux.Vars(r)["id"])
	if err != nil {
		h.fail(w, r, err)
		return
	}
	pm := v.Permit
	g := Grant{Conditions: pm.Conditions, Supervisors: pm.Supervisors}
	for _, pu := range pm.Purposes {
		g.Purposes = append(g.Purposes, storage.Purpose{Code: pu.Code, Claims: pu.Claims})
	}
	bad := problems{}
	var ok bool
	if g.ValidFrom, ok = parseLocal(r.PostFormValue("renew_valid_from"), false); !ok || g.ValidFrom.IsZero() {
		bad.add("grant.valid_from", "is not a date")
	}
	if g.ValidUntil, ok = parseLocal(r.PostFormValue("renew_valid_until"), true); !ok || g.ValidUntil.IsZero() {
		bad.add("grant.valid_until", "is not a date")
	}
	err = bad.err()
	if err == nil {
		_, err = h.svc.RequestRenewal(r.Context(), a, pm.ID, g)
	}
	if err != nil {
		h.permitPage(w, r, v, defaultDecisionForm(v, h.now()), 0, err, nil)
		return
	}
	http.Redirect(w, r, Path+"/permits/"+url.PathEscape(pm.ID)+"?notice=renewal_requested", http.StatusSeeOther)
}

// Registered systems.

type systemPageData struct {
	Permit     storage.Permit
	Client     *storage.Client
	Form       systemSlot
	Secret     string
	UsesSecret bool
	// Listed are the systems the application lists (clause 10), to
	// register from; Chosen is the one the form was filled from (-1: none).
	Listed []listedSystem
	Chosen int
}

// listedSystem is a system an application lists, and whether a system
// registered under the permit covers it already.
type listedSystem struct {
	Index      int
	System     storage.System
	Registered bool
}

// listedSystems are the systems v's application lists, each marked
// registered when a registered system's redirect URIs are among its own.
func listedSystems(v permitView) []listedSystem {
	if v.Application == nil {
		return nil
	}
	var out []listedSystem
	for i, l := range v.Application.Systems {
		ls := listedSystem{Index: i, System: l}
		for _, c := range v.Systems {
			ls.Registered = ls.Registered || (len(c.RedirectURIs) > 0 && subset(c.RedirectURIs, l.RedirectURIs))
		}
		out = append(out, ls)
	}
	return out
}

// slotOfListed fills the system form from a system the application
// lists, so that the approver registers what was applied for rather
// than retyping it; unset method and algorithm take the form's defaults.
func slotOfListed(l storage.System) systemSlot {
	f := slotOf(storage.Client{Name: l.Name, RedirectURIs: l.RedirectURIs, PostLogoutRedirectURIs: l.PostLogoutRedirectURIs,
		AuthMethod: l.AuthMethod, JWKS: l.JWKS, JWKSURI: l.JWKSURI, NetworkRanges: l.NetworkRanges, SigningAlg: l.SigningAlg,
		IDTokenEncryptedResponseAlg: l.IDTokenEncryptedResponseAlg, UserinfoEncryptedResponseAlg: l.UserinfoEncryptedResponseAlg,
		BackchannelLogoutURI: l.BackchannelLogoutURI, BackchannelLogoutSessionRequired: l.BackchannelLogoutSessionRequired})
	if f.AuthMethod == "" {
		f.AuthMethod = storage.AuthMethodPrivateKeyJWT
	}
	if f.SigningAlg == "" {
		f.SigningAlg = AlgES256
	}
	return f
}

// systemForm shows the registration form, filled from the listed system
// ?listed=N, or else from the first listed system not registered yet.
func (h *Handler) systemForm(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	v, err := h.permitView(r, a, mux.Vars(r)["id"])
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d := systemPageData{Permit: v.Permit, Form: systemSlot{AuthMethod: storage.AuthMethodPrivateKeyJWT, SigningAlg: AlgES256},
		Listed: listedSystems(v), Chosen: -1}
	if q := r.URL.Query().Get("listed"); q != "" {
		if n, err := strconv.Atoi(q); err == nil && n >= 0 && n < len(d.Listed) {
			d.Chosen = n
		}
	} else {
		for _, l := range d.Listed {
			if !l.Registered {
				d.Chosen = l.Index
				break
			}
		}
	}
	if d.Chosen >= 0 {
		d.Form = slotOfListed(d.Listed[d.Chosen].System)
	}
	h.systemFormPage(w, r, d, http.StatusOK, nil)
}

func (h *Handler) systemFormPage(w http.ResponseWriter, r *http.Request, d systemPageData, status int, err error) {
	p := h.newPage(w, r, "permits")
	if err != nil {
		var ok bool
		if status, ok = refusal(&p, err, fieldLabeller(p.T, systemLabels, nil)); !ok {
			h.internal(w, r, err)
			return
		}
	}
	p.Data = d
	name := "system.html"
	if d.Client == nil {
		name = "systemnew.html"
	}
	h.render(w, r, status, name, p)
}

func (h *Handler) registerSystem(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	pm, err := h.svc.Permit(r.Context(), a, mux.Vars(r)["id"])
	if err != nil {
		h.fail(w, r, err)
		return
	}
	f := h.systemSlotFrom(r, "")
	c, secret, err := h.svc.RegisterSystem(r.Context(), a, pm.ID, f.system())
	if err != nil {
		d := systemPageData{Permit: pm, Form: f, Chosen: -1}
		if v, verr := h.permitView(r, a, pm.ID); verr == nil {
			d.Listed = listedSystems(v)
		}
		h.systemFormPage(w, r, d, 0, err)
		return
	}
	h.flashSecret(w, c.ID, secret)
	http.Redirect(w, r, Path+"/systems/"+url.PathEscape(c.ID)+"?notice=system_registered", http.StatusSeeOther)
}

// flashSecret hands a new client secret to the next page (see
// secretCookie). It lives a minute at most.
func (h *Handler) flashSecret(w http.ResponseWriter, clientID, secret string) {
	if secret == "" {
		return
	}
	h.setCookie(w, secretCookie, base64.RawURLEncoding.EncodeToString([]byte(clientID+"\n"+secret)), time.Minute)
}

// takeSecret returns the client secret handed to this page for clientID,
// and deletes it from the browser either way.
func (h *Handler) takeSecret(w http.ResponseWriter, r *http.Request, clientID string) string {
	v := h.cookie(r, secretCookie)
	if v == "" {
		return ""
	}
	h.setCookie(w, secretCookie, "", -1)
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return ""
	}
	id, secret, ok := strings.Cut(string(b), "\n")
	if !ok || id != clientID {
		return ""
	}
	return secret
}

func (h *Handler) system(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	id := mux.Vars(r)["client_id"]
	secret := h.takeSecret(w, r, id)
	c, err := h.svc.Client(r.Context(), a, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	pm, err := h.svc.Permit(r.Context(), a, c.PermitID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.systemFormPage(w, r, systemPageData{Permit: pm, Client: &c, Form: slotOf(c), Secret: secret, UsesSecret: usesSecret(c.AuthMethod)}, http.StatusOK, nil)
}

func (h *Handler) changeSystem(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	id := mux.Vars(r)["client_id"]
	old, err := h.svc.Client(r.Context(), a, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	pm, err := h.svc.Permit(r.Context(), a, old.PermitID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	f := h.systemSlotFrom(r, "")
	if _, err := h.svc.ChangeSystem(r.Context(), a, id, f.system()); err != nil {
		h.systemFormPage(w, r, systemPageData{Permit: pm, Client: &old, Form: f, UsesSecret: usesSecret(old.AuthMethod)}, 0, err)
		return
	}
	http.Redirect(w, r, Path+"/systems/"+url.PathEscape(id)+"?notice=system_changed", http.StatusSeeOther)
}

func (h *Handler) rotateSecret(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	id := mux.Vars(r)["client_id"]
	secret, err := h.svc.RotateClientSecret(r.Context(), a, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.flashSecret(w, id, secret)
	http.Redirect(w, r, Path+"/systems/"+url.PathEscape(id)+"?notice=secret_rotated", http.StatusSeeOther)
}

// setSystemDisabled disables or enables one system and returns to its page.
func (h *Handler) setSystemDisabled(disabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, _ := adminFrom(r.Context())
		id := mux.Vars(r)["client_id"]
		if _, err := h.svc.SetSystemDisabled(r.Context(), a, id, disabled); err != nil {
			h.fail(w, r, err)
			return
		}
		notice := "system_enabled"
		if disabled {
			notice = "system_disabled"
		}
		http.Redirect(w, r, Path+"/systems/"+url.PathEscape(id)+"?notice="+notice, http.StatusSeeOther)
	}
}

// Administrators.

type adminForm struct {
	Username, Name, Role, AgencyID string
}

type createdAdmin struct {
	Admin     storage.Admin
	Link      string // the invitation's absolute address
	ExpiresAt time.Time
}

func (h *Handler) admins(w http.ResponseWriter, r *http.Request) {
	h.adminsPage(w, r, adminForm{Role: storage.RoleOfficer}, nil, http.StatusOK, nil)
}

func (h *Handler) adminsPage(w http.ResponseWriter, r *http.Request, f adminForm, created *createdAdmin, status int, err error) {
	a, _ := adminFrom(r.Context())
	p := h.newPage(w, r, "admins")
	if err != nil {
		var ok bool
		if status, ok = refusal(&p, err, fieldLabeller(p.T, adminLabels, nil)); !ok {
			h.internal(w, r, err)
			return
		}
	}
	list, lerr := h.svc.Admins(r.Context(), a)
	if lerr != nil {
		h.fail(w, r, lerr)
		return
	}
	ags, lerr := h.svc.Agencies(r.Context(), a)
	if lerr != nil {
		h.fail(w, r, lerr)
		return
	}
	names := map[string]string{}
	for _, ag := range ags {
		names[ag.ID] = agencyName(p.Lang, ag)
	}
	byID := map[string]string{}
	for _, ad := range list {
		byID[ad.ID] = ad.Username
	}
	p.Data = map[string]any{"Admins": list, "Form": f, "Created": created, "Agencies": ags, "AgencyNames": names,
		"Roles": Roles, "Usernames": byID, "Me": a.ID}
	h.render(w, r, status, "admins.html", p)
}

func (h *Handler) createAdmin(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	f := adminForm{Username: r.PostFormValue("username"), Name: r.PostFormValue("name"), Role: r.PostFormValue("role"), AgencyID: r.PostFormValue("agency_id")}
	created, inv, err := h.svc.CreateAdmin(r.Context(), a, f.Username, f.Name, f.Role, f.AgencyID)
	if err != nil {
		h.adminsPage(w, r, f, nil, 0, err)
		return
	}
	origin := "http://" + r.Host
	if h.cfg.SecureCookies || r.TLS != nil {
		origin = "https://" + r.Host
	}
	// Shown in this answer only (a reload resubmits and is refused as a
	// duplicate): only the invitation's hash is kept.
	c := &createdAdmin{Admin: created, Link: inv.Link(origin), ExpiresAt: inv.ExpiresAt}
	h.adminsPage(w, r, adminForm{Role: storage.RoleOfficer}, c, http.StatusCreated, nil)
}

// confirmAdmin is the checker's step of an account's creation: an
// approver other than its creator lets the enrolled account act.
func (h *Handler) confirmAdmin(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	if _, err := h.svc.ConfirmAdmin(r.Context(), a, mux.Vars(r)["id"]); err != nil {
		h.adminsPage(w, r, adminForm{Role: storage.RoleOfficer}, nil, 0, err)
		return
	}
	http.Redirect(w, r, Path+"/admins", http.StatusSeeOther)
}

// setAdminDisabled disables or enables another administrator's account.
func (h *Handler) setAdminDisabled(disabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, _ := adminFrom(r.Context())
		if _, err := h.svc.SetAdminDisabled(r.Context(), a, mux.Vars(r)["id"], disabled); err != nil {
			h.adminsPage(w, r, adminForm{Role: storage.RoleOfficer}, nil, 0, err)
			return
		}
		notice := "admin_enabled_notice"
		if disabled {
			notice = "admin_disabled_notice"
		}
		http.Redirect(w, r, Path+"/admins?notice="+notice, http.StatusSeeOther)
	}
}

// API tokens of the signed-in administrator: for `dopaid admin` and
// scripts. The token is shown once, in the answer that issues it.

func (h *Handler) tokens(w http.ResponseWriter, r *http.Request) {
	h.tokensPage(w, r, "", http.StatusOK, nil)
}

func (h *Handler) tokensPage(w http.ResponseWriter, r *http.Request, issued string, status int, err error) {
	a, _ := adminFrom(r.Context())
	p := h.newPage(w, r, "tokens")
	if err != nil {
		var ok bool
		if status, ok = refusal(&p, err, fieldLabeller(p.T, map[string]string{"name": "token_name", "expires_in": "token_days"}, nil)); !ok {
			h.internal(w, r, err)
			return
		}
	}
	list, lerr := h.svc.Tokens(r.Context(), a, "")
	if lerr != nil {
		h.fail(w, r, lerr)
		return
	}
	p.Data = map[string]any{"Tokens": list, "Issued": issued, "Now": h.now()}
	h.render(w, r, status, "tokens.html", p)
}

func (h *Handler) issueToken(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	days, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue("days")))
	if err != nil || days < 1 || days > 365 {
		h.tokensPage(w, r, "", 0, &ValidationError{Fields: map[string]string{"expires_in": "must be a number of days from 1 to 365"}})
		return
	}
	_, secret, err := h.svc.IssueToken(r.Context(), a, r.PostFormValue("name"), time.Duration(days)*24*time.Hour)
	if err != nil {
		h.tokensPage(w, r, "", 0, err)
		return
	}
	h.tokensPage(w, r, secret, http.StatusCreated, nil)
}

func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	if _, err := h.svc.RevokeToken(r.Context(), a, "", mux.Vars(r)["id"]); err != nil {
		h.tokensPage(w, r, "", 0, err)
		return
	}
	http.Redirect(w, r, Path+"/tokens", http.StatusSeeOther)
}

// Enrolment by invitation, before sign-in: the holder sets their password,
// is shown their TOTP secret, and confirms it with a code.

type enrolView struct {
	Token      string
	Confirm    bool // the second step: the code
	OTPAuthURL string
	Secret     string
	QR         template.URL
}

var enrolLabels = map[string]string{"password": "password", "code": "totp"}

func (h *Handler) enrolForm(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	if _, _, err := h.svc.invitation(r.Context(), token, h.now()); err != nil {
		h.enrolPage(w, r, nil, 0, err)
		return
	}
	h.enrolPage(w, r, &enrolView{Token: token}, http.StatusOK, nil)
}

func (h *Handler) enrol(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(r) {
		h.consoleError(w, r, http.StatusBadRequest, "bad_input")
		return
	}
	token := r.PostFormValue("token")
	otpURL, err := h.svc.Enrol(r.Context(), token, r.PostFormValue("password"))
	if err != nil {
		h.enrolPage(w, r, &enrolView{Token: token}, 0, err)
		return
	}
	v := &enrolView{Token: token, Confirm: true, OTPAuthURL: otpURL}
	if key, err := otp.NewKeyFromURL(otpURL); err == nil {
		v.Secret = key.Secret()
		if img, err := key.Image(240, 240); err == nil {
			var buf bytes.Buffer
			if png.Encode(&buf, img) == nil {
				v.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()))
			}
		}
	}
	h.enrolPage(w, r, v, http.StatusOK, nil)
}

func (h *Handler) confirmEnrolment(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(r) {
		h.consoleError(w, r, http.StatusBadRequest, "bad_input")
		return
	}
	token := r.PostFormValue("token")
	if _, err := h.svc.ConfirmEnrolment(r.Context(), token, r.PostFormValue("code")); err != nil {
		h.enrolPage(w, r, &enrolView{Token: token, Confirm: true}, 0, err)
		return
	}
	http.Redirect(w, r, Path+"/signin?notice=enrolled", http.StatusSeeOther)
}

// enrolPage shows a step of enrolment (v nil: none, only the refusal).
func (h *Handler) enrolPage(w http.ResponseWriter, r *http.Request, v *enrolView, status int, err error) {
	p := h.newPage(w, r, "")
	// The language switch returns to the sign-in page, not to an address
	// that holds the invitation token.
	p.Next = Path + "/signin"
	switch {
	case err == nil:
	case errors.Is(err, ErrInvitation):
		p.Error, status, v = p.T["invitation_invalid"], http.StatusGone, nil
	case errors.Is(err, ErrInvitationExpired):
		p.Error, status, v = p.T["invitation_expired"], http.StatusGone, nil
	case errors.Is(err, ErrThrottled):
		p.Error, status, v = p.T["too_many_attempts"], http.StatusTooManyRequests, nil
	default:
		var ok bool
		if status, ok = refusal(&p, err, fieldLabeller(p.T, enrolLabels, nil)); !ok {
			h.internal(w, r, err)
			return
		}
	}
	if v != nil {
		p.Data = v
	}
	h.render(w, r, status, "enrol.html", p)
}

// Field labels: the service names fields by their API path
// ("purposes[1].claims"); pages name them by their labels, with slot
// numbers as the form shows them.

var (
	agencyLabels = map[string]string{"name_th": "agency_name_th", "name_en": "agency_name_en", "category": "agency_category",
		"registration_no": "registration_no", "contacts": "contact", "name": "name", "position": "position", "email": "email", "phone": "phone"}
	applicationLabels = map[string]string{"agency_id": "agency", "mission": "mission", "reason": "reason", "necessity": "necessity",
		"purposes": "purpose", "code": "purpose_code", "description_th": "description_th", "description_en": "description_en",
		"claims": "claims", "systems": "system", "name": "name", "acceptance": "acceptance", "position": "position",
		"terms_version": "terms_version", "at": "at", "accept_terms": "accept_terms",
		"redirect_uris": "redirect_uris", "post_logout_redirect_uris": "post_logout_uris", "auth_method": "auth_method",
		"jwks": "jwks", "jwks_uri": "jwks_uri", "network_ranges": "network_ranges", "signing_alg": "signing_alg",
		"id_token_encrypted_response_alg": "id_token_encryption", "id_token_encrypted_response_enc": "id_token_encryption",
		"userinfo_encrypted_response_alg": "userinfo_encryption", "userinfo_encrypted_response_enc": "userinfo_encryption",
		"backchannel_logout_uri": "backchannel_logout_uri", "backchannel_logout_session_required": "backchannel_sid"}
	decisionLabels = map[string]string{"action": "action", "notice": "notice", "effective_at": "effective_at", "grant": "grant",
		"purposes": "purpose", "code": "purpose_code", "claims": "claims", "valid_from": "valid_from", "valid_until": "valid_until",
		"conditions": "conditions", "supervisors": "supervisor", "name": "name", "position": "position", "email": "email",
		"phone": "phone", "order_ref": "order_ref"}
	systemLabels = map[string]string{"name": "system_name", "redirect_uris": "redirect_uris", "post_logout_redirect_uris": "post_logout_uris",
		"auth_method": "auth_method", "jwks": "jwks", "jwks_uri": "jwks_uri", "network_ranges": "network_ranges",
		"signing_alg": "signing_alg", "id_token_encrypted_response_alg": "id_token_encryption",
		"id_token_encrypted_response_enc": "id_token_encryption",
		"userinfo_encrypted_response_alg": "userinfo_encryption", "userinfo_encrypted_response_enc": "userinfo_encryption",
		"backchannel_logout_uri": "backchannel_logout_uri", "backchannel_logout_session_required": "backchannel_sid"}
	adminLabels = map[string]string{"username": "username", "name": "name", "role": "role", "agency_id": "agency"}
)

var fieldSegment = regexp.MustCompile(`^([a-z_]+)(?:\[(\d+)\])?$`)

// fieldLabeller returns a func that labels a field path for the reader.
// idx maps a collection's path ("purposes", "grant.supervisors") to the
// slot each of its submitted entries came from.
func fieldLabeller(m map[string]string, labels map[string]string, idx map[string][]int) func(string) string {
	return func(path string) string {
		var parts []string
		prefix := ""
		segs := strings.Split(path, ".")
		for i, seg := range segs {
			sm := fieldSegment.FindStringSubmatch(seg)
			if sm == nil {
				return path
			}
			name := sm[1]
			coll := prefix + name
			prefix = coll + "."
			label := name
			k, ok := labels[name]
			if ok {
				label = m[k]
			}
			if name == "grant" && i < len(segs)-1 {
				continue // the grant's fields are labelled by themselves
			}
			if sm[2] != "" {
				n, _ := strconv.Atoi(sm[2])
				if slots, ok := idx[coll]; ok && n < len(slots) {
					n = slots[n]
				}
				// A label meant for numbering ("วัตถุประสงค์ที่") only with its number.
				if v, ok := m[k+"_n"]; ok {
					label = v
				}
				label += " " + strconv.Itoa(n+1)
			}
			parts = append(parts, label)
		}
		if len(parts) == 0 {
			return path
		}
		return strings.Join(parts, " — ")
	}
}
