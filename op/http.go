package op

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gorilla/mux"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	oidcop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/dopaid/dopaid/storage"
)

//go:embed pages
var pagesFS embed.FS

var pages = template.Must(template.ParseFS(pagesFS, "pages/*.html"))

// maxFormBytes bounds every request body the provider parses.
const maxFormBytes = 64 << 10

// routes builds the provider's handler: gorilla/mux matches paths and
// methods; zitadel's router parses the OAuth requests and calls server's
// methods; the authorize endpoint and its callback are ours entirely, so
// that every authorization response carries iss (RFC 9207) and a refused
// request is rendered as a page, never reflected to an unverified URI.
func (p *Provider) routes() http.Handler {
	ep := oidcop.Endpoints{
		Authorization: oidcop.NewEndpoint(PathAuthorize),
		Token:         oidcop.NewEndpoint(PathToken),
		Introspection: oidcop.NewEndpoint(PathIntrospect),
		Userinfo:      oidcop.NewEndpoint(PathUserinfo),
		Revocation:    oidcop.NewEndpoint(PathRevoke),
		EndSession:    oidcop.NewEndpoint(PathEndSession),
		JwksURI:       oidcop.NewEndpoint(PathJWKS),
	}
	lib := oidcop.RegisterServer(&server{p: p}, ep,
		// No CORS from the library: we add it only where the specs allow it.
		oidcop.WithServerCORSOptions(nil),
	)
	if p.issuerPath != "" {
		lib = http.StripPrefix(p.issuerPath, lib)
	}
	lib = withAuthChallenge(lib)

	m := mux.NewRouter()
	m.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSONError(w, http.StatusNotFound, oidc.ErrInvalidRequest().WithDescription("no such endpoint"))
	})
	handle := func(path string, h http.Handler, methods ...string) {
		m.Handle(p.issuerPath+path, only(h, methods...))
	}
	get := []string{http.MethodGet, http.MethodHead}
	handle(PathDiscovery, publicJSON(lib), get...)
	handle(PathASMetadata, publicJSON(http.HandlerFunc(p.asMetadata)), get...)
	handle(PathJWKS, publicJSON(lib), get...)
	handle(PathAuthorize, browser(http.HandlerFunc(p.authorize)), http.MethodGet, http.MethodPost)
	handle(PathCallback, browser(http.HandlerFunc(p.callback)), http.MethodGet)
	handle(PathToken, backChannel(offeredGrants(clientAuth(p.withDPoP(PathToken, lib), false))), http.MethodPost)
	handle(PathIntrospect, backChannel(clientAuth(lib, true)), http.MethodPost)
	handle(PathRevoke, backChannel(clientAuth(lib, false)), http.MethodPost)
	handle(PathPAR, withAuthChallenge(backChannel(clientAuth(p.withDPoP(PathPAR, http.HandlerFunc(p.pushAuthorization)), false))), http.MethodPost)
	handle(PathUserinfo, noStore(limitBody(p.withDPoPToken(PathUserinfo, withJWTAnswer(userinfoForm(lib))))), http.MethodGet, http.MethodPost)
	handle(PathEndSession, browser(http.HandlerFunc(p.endSession)), http.MethodGet, http.MethodPost)
	return withClientAddr(storage.Proxies{Trusted: p.cfg.TrustedProxies, Header: p.cfg.ProxyHeader}, m)
}

// only answers 405 with an Allow header to any other method.
func only(h http.Handler, methods ...string) http.Handler {
	allow := strings.Join(methods, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains(methods, r.Method) {
			w.Header().Set("Allow", allow)
			writeJSONError(w, http.StatusMethodNotAllowed, oidc.ErrInvalidRequest().WithDescription("method not allowed"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

func limitBody(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		h.ServeHTTP(w, r)
	})
}

func noStore(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

// backChannel wraps the server-to-server endpoints: POST bodies only (a
// credential or token in the URL would end up in logs), never cached. It
// parses the body, so the handlers after it can read r.PostForm.
func backChannel(h http.Handler) http.Handler {
	return noStore(limitBody(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "" {
			writeJSONError(w, http.StatusBadRequest, oidc.ErrInvalidRequest().WithDescription("parameters must be sent in the request body"))
			return
		}
		if err := r.ParseForm(); err != nil {
			writeJSONError(w, http.StatusBadRequest, oidc.ErrInvalidRequest().WithDescription("the request body could not be read"))
			return
		}
		if !singleValued(w, r.PostForm) {
			return
		}
		h.ServeHTTP(w, r)
	})))
}

// singleValued refuses a request that repeats a parameter (RFC 6749 §3.2:
// "Request and response parameters MUST NOT be included more than once"),
// with invalid_request (§5.2). The library reads the last value and our
// own checks the first: a repeated parameter would be read two ways, as in
// token=bogus&token=<live> at revocation.
//
// It also refuses parameters that are not text (invalid UTF-8, NUL): the
// database would, with an internal error.
func singleValued(w http.ResponseWriter, form url.Values) bool {
	for k, v := range form {
		if !storage.ValidText(k) {
			writeJSONError(w, http.StatusBadRequest, oidc.ErrInvalidRequest().WithDescription("a parameter name is not valid UTF-8 text"))
			return false
		}
		if len(v) > 1 {
			writeJSONError(w, http.StatusBadRequest, oidc.ErrInvalidRequest().WithDescription("the parameter %q is repeated", k))
			return false
		}
		if !storage.ValidText(v[0]) {
			writeJSONError(w, http.StatusBadRequest, oidc.ErrInvalidRequest().WithDescription("the parameter %q is not valid UTF-8 text", k))
			return false
		}
	}
	return true
}

// userinfoForm refuses repeated parameters on userinfo, whose token may
// come in a POST body (RFC 6750 §2.2) or, refused later, in the query.
func userinfoForm(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			writeJSONError(w, http.StatusBadRequest, oidc.ErrInvalidRequest().WithDescription("the request could not be read"))
			return
		}
		if !singleValued(w, r.Form) {
			return
		}
		h.ServeHTTP(w, r)
	})
}

// grantTypes are the grants the token endpoint offers.
var grantTypes = []string{"authorization_code", "refresh_token"}

// offeredGrants answers unsupported_grant_type (RFC 6749 §5.2) to any other
// grant, before client authentication, where the library would answer some
// of them (client credentials, token exchange, device code) with
// unauthorized_client, as if another client might use them.
func offeredGrants(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if gt := r.PostForm.Get("grant_type"); gt != "" && !slices.Contains(grantTypes, gt) {
			writeJSONError(w, http.StatusBadRequest, oidc.ErrUnsupportedGrantType().WithDescription("grant type not supported"))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// clientAuth answers 401 invalid_client (RFC 6749 §5.2) to a request that
// brings no usable client credential, which the library would answer with a
// 400: an Authorization header that is not well-formed Basic (an attempt to
// authenticate that must get a 401 and a challenge), or no credential at
// all. With confidential set, a bare client_id is not enough. Credentials
// that are present are checked by server.VerifyClient and Introspect.
func clientAuth(h http.Handler, confidential bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		basic := false
		if r.Header.Get("Authorization") != "" {
			id, secret, ok := r.BasicAuth()
			id, err1 := url.QueryUnescape(id)
			_, err2 := url.QueryUnescape(secret)
			if !ok || id == "" || err1 != nil || err2 != nil || !storage.ValidText(id) {
				writeInvalidClient(w)
				return
			}
			basic = true
		}
		f := r.PostForm
		switch {
		case basic, f.Get("client_assertion") != "", f.Get("client_id") != "" && f.Get("client_secret") != "":
		case f.Get("client_id") != "" && !confidential:
		default:
			writeInvalidClient(w)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// writeInvalidClient writes the same answer as invalidClient.
func writeInvalidClient(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="dopaid"`)
	writeJSONError(w, http.StatusUnauthorized, oidc.ErrInvalidClient().WithDescription("client authentication failed"))
}

// publicJSON wraps discovery and JWKS: public, cacheable, readable from any
// origin (no credentials involved).
func publicJSON(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

// browser wraps the endpoints a browser visits: no caching, no framing, no
// referrer, a strict content security policy, no CORS.
func browser(h http.Handler) http.Handler {
	return limitBody(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Cache-Control", "no-store")
		hd.Set("Pragma", "no-cache")
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	}))
}

// withAuthChallenge adds the WWW-Authenticate header that a 401 must carry
// (RFC 9110): Bearer on userinfo (RFC 6750 §3), Basic elsewhere (RFC 6749 §5.2).
func withAuthChallenge(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&challengeWriter{ResponseWriter: w, r: r}, r)
	})
}

type challengeWriter struct {
	http.ResponseWriter
	r     *http.Request
	wrote bool
}

func (cw *challengeWriter) WriteHeader(code int) {
	if !cw.wrote && code == http.StatusUnauthorized && cw.Header().Get("WWW-Authenticate") == "" {
		if strings.HasSuffix(cw.r.URL.Path, PathUserinfo) {
			if hasBearer(cw.r) {
				cw.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="the access token is invalid or expired"`)
			} else {
				cw.Header().Set("WWW-Authenticate", `Bearer`)
			}
		} else {
			cw.Header().Set("WWW-Authenticate", `Basic realm="dopaid"`)
		}
	}
	cw.wrote = true
	cw.ResponseWriter.WriteHeader(code)
}

func (cw *challengeWriter) Write(b []byte) (int, error) {
	if !cw.wrote {
		cw.WriteHeader(http.StatusOK)
	}
	return cw.ResponseWriter.Write(b)
}

func hasBearer(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	return len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ")
}

func writeJSONError(w http.ResponseWriter, status int, e *oidc.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(e)
}

// errorPage renders a refusal that must not be sent to the client's
// redirect URI (unknown client, unregistered redirect URI, a request from
// another browser). It never shows internal error text.
func (p *Provider) errorPage(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	p.renderError(w, r, status, errorView{Code: code, Message: message})
}

// errorView is the error page: the refusal in Thai and English, what the
// citizen can do, and — where the request named a registered client and
// redirect URI — Return, the client's redirect URI with the OAuth error,
// so that the application learns of the refusal and the citizen is not
// left at a dead end.
type errorView struct {
	Code, Message string
	MessageTH     string
	Return        string
}

func (p *Provider) renderError(w http.ResponseWriter, r *http.Request, status int, v errorView) {
	if v.MessageTH == "" {
		v.MessageTH = messagesTH[v.Message]
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, "error.html", v); err != nil {
		p.log.ErrorContext(r.Context(), "render error page", "err", err)
	}
}

// messagesTH are the error page's messages in Thai, by their English text.
var messagesTH = map[string]string{
	"The request does not name an application (client_id).":                     "คำขอนี้ไม่ได้ระบุแอปพลิเคชัน (client_id)",
	"The request's application (client_id) is not valid text.":                  "รหัสแอปพลิเคชัน (client_id) ในคำขอไม่ถูกต้อง",
	"The application is not allowed to use this service.":                       "แอปพลิเคชันนี้ไม่ได้รับอนุญาตให้ใช้บริการนี้",
	"The return address (redirect_uri) is not registered for this application.": "ที่อยู่สำหรับส่งกลับ (redirect_uri) ไม่ได้ลงทะเบียนไว้สำหรับแอปพลิเคชันนี้",
	"The request's state is not valid text.":                                    "ค่า state ในคำขอไม่ถูกต้อง",
	"The agency's permit to use DOPA-Digital ID is not in force.":               "หนังสืออนุญาตให้หน่วยงานนี้ใช้ DOPA-Digital ID ถูกระงับหรือสิ้นสุดแล้ว ข้อมูลของท่านไม่ได้ถูกส่งให้หน่วยงาน",
	"The service is temporarily unavailable.":                                   "บริการขัดข้องชั่วคราว กรุณาลองใหม่ภายหลัง",
	"The request could not be read.":                                            "ไม่สามารถอ่านคำขอนี้ได้",
	"The request has a parameter whose name is not valid text.":                 "คำขอมีชื่อพารามิเตอร์ที่ไม่ถูกต้อง",
	"The application is not registered.":                                        "แอปพลิเคชันนี้ไม่ได้ลงทะเบียนไว้",
	"This sign-in request has expired or does not exist.":                       "คำขอเข้าสู่ระบบนี้หมดอายุหรือไม่มีอยู่",
	"This sign-in request was started in another browser.":                      "คำขอเข้าสู่ระบบนี้เริ่มจากเบราว์เซอร์อื่น",
	"Sign-in has not been completed for this request.":                          "การเข้าสู่ระบบสำหรับคำขอนี้ยังไม่เสร็จสิ้น",
	"This sign-in request has already been answered.":                           "คำขอเข้าสู่ระบบนี้ได้รับคำตอบไปแล้ว",
	"The sign-out request is not valid text.":                                   "คำขอออกจากระบบไม่ถูกต้อง",
	"The sign-out request is not valid (id_token_hint).":                        "คำขอออกจากระบบไม่ถูกต้อง (id_token_hint)",
	"The return address after sign-out is not registered for this application.": "ที่อยู่สำหรับกลับหลังออกจากระบบไม่ได้ลงทะเบียนไว้สำหรับแอปพลิเคชันนี้",
}

// refusedPage records the refusal of a registered client's authorization
// request (see refused) and renders it as errorPage; an entry that cannot
// be written turns it into the generic server_error page.
func (p *Provider) refusedPage(w http.ResponseWriter, r *http.Request, c storage.Client, pm storage.Permit, detail string, status int, code, message string) {
	p.refusedPageReturn(w, r, c, pm, detail, status, errorView{Code: code, Message: message})
}

// refusedPageReturn is refusedPage for a view that may carry a way back
// to the client (errorView.Return).
func (p *Provider) refusedPageReturn(w http.ResponseWriter, r *http.Request, c storage.Client, pm storage.Permit, detail string, status int, v errorView) {
	if err := p.refused(r.Context(), storage.AuditAuthorization, c, pm, nil, detail, nil); err != nil {
		p.errorPage(w, r, http.StatusInternalServerError, "server_error", "The service is temporarily unavailable.")
		return
	}
	p.renderError(w, r, status, v)
}

// internal logs an unexpected error and returns the generic server_error
// that clients see, without any of the cause's text.
func (p *Provider) internal(ctx context.Context, what string, err error) error {
	p.log.ErrorContext(ctx, what, "err", err)
	return oidcop.NewStatusError(oidc.ErrServerError(), http.StatusInternalServerError)
}

func isNotFound(err error) bool { return errors.Is(err, storage.ErrNotFound) }
