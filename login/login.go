// Package login serves the citizen-facing pages that an authorization
// request passes through: identity proofing, authenticator enrolment,
// sign-in and consent. It may import storage and keys, never op: the provider
// hands it Config.Callback, which returns the URL that completes a request.
//
// Citizen identity proofing and sign-in are not built yet. Until they are,
// the page explains that sign-in is unavailable and offers the way back to
// the application: the server contains no way to sign in without real
// authentication.
package login

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// Path is where the provider sends the browser to sign in.
const Path = "/login"

//go:embed pages
var pagesFS embed.FS

var pages = template.Must(template.ParseFS(pagesFS, "pages/*.html"))

// Store is what the login pages read.
type Store interface {
	AuthRequest(ctx context.Context, id string, now time.Time) (storage.AuthRequest, error)
	Client(ctx context.Context, id string) (storage.Client, error)
}

// Config configures the login pages.
type Config struct {
	Store Store
	// Callback returns the provider URL that finishes a completed request.
	Callback func(ctx context.Context, authRequestID string) string
	Logger   *slog.Logger
	Now      func() time.Time
}

// Handler serves the login pages.
type Handler struct {
	cfg Config
	mux *http.ServeMux
}

// New returns the login pages' handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Store == nil || cfg.Callback == nil {
		return nil, errors.New("login: store and callback are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET "+Path, h.signIn)
	return h, nil
}

// URL returns the sign-in page for an authorization request, relative to
// the server root.
func URL(authRequestID string) string {
	return Path + "?authRequestID=" + url.QueryEscape(authRequestID)
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Content-Type-Options", "nosniff")
	h.mux.ServeHTTP(w, r)
}

type signInPage struct {
	ClientName string
}

func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, err := h.cfg.Store.AuthRequest(ctx, r.URL.Query().Get("authRequestID"), h.cfg.Now())
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			h.cfg.Logger.ErrorContext(ctx, "login: load request", "err", err)
		}
		h.render(w, r, http.StatusBadRequest, "expired.html", nil)
		return
	}
	c, err := h.cfg.Store.Client(ctx, ar.ClientID)
	if err != nil {
		h.cfg.Logger.ErrorContext(ctx, "login: load client", "err", err)
		h.render(w, r, http.StatusBadRequest, "expired.html", nil)
		return
	}
	h.render(w, r, http.StatusServiceUnavailable, "unavailable.html", signInPage{ClientName: c.Name})
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "login: render", "page", name, "err", err)
	}
}
