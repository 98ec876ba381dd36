package admin

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
)

// Path is where the administrator surface lives: the console at Path+"/",
// the JSON API under APIPath.
const (
	Path    = "/admin"
	APIPath = Path + "/api/v1"
	// OpenAPIPath serves the API's OpenAPI 3 document.
	OpenAPIPath = Path + "/api/openapi.json"
)

// Session lifetimes: an administrator's session ends after 15 minutes
// without use and 8 hours after sign-in, whichever comes first.
const (
	SessionIdle = 15 * time.Minute
	SessionMax  = 8 * time.Hour
)

// Channels an administrator session is bound to, kept in Session.ACR: a
// console cookie cannot be replayed as an API bearer token or the other
// way round.
const (
	channelConsole = "admin-console"
	channelAPI     = "admin-api"
)

// HandlerConfig configures the administrator surface. cmd builds it.
type HandlerConfig struct {
	Service *Service
	// Store keeps the administrators' sessions (Subject "admin:"+ID).
	Store storage.Store
	// SecureCookies marks cookies Secure and gives them the __Host- prefix
	// (set it whenever the issuer is https).
	SecureCookies bool
	Logger        *slog.Logger
	Now           func() time.Time
}

// Handler serves everything under Path: the web console (a browser
// surface: cookies, CSRF tokens, a strict CSP) and the JSON API (bearer
// tokens, none of the browser machinery).
type Handler struct {
	cfg     HandlerConfig
	svc     *Service
	store   storage.Store
	log     *slog.Logger
	now     func() time.Time
	api     *mux.Router
	console *mux.Router
	csrf    *http.CrossOriginProtection
}

// NewHandler returns the administrator surface's handler.
func NewHandler(cfg HandlerConfig) (*Handler, error) {
	var errs []error
	if cfg.Service == nil {
		errs = append(errs, errors.New("service is required"))
	}
	if cfg.Store == nil {
		errs = append(errs, errors.New("store is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{
		cfg: cfg, svc: cfg.Service, store: cfg.Store, log: cfg.Logger, now: cfg.Now,
		csrf: http.NewCrossOriginProtection(),
	}
	h.api = h.apiRouter()
	h.console = h.consoleRouter()
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	api := r.URL.Path == OpenAPIPath || strings.HasPrefix(r.URL.Path, Path+"/api/")
	// Text from outside is checked at the edge: a path or query that is not
	// valid UTF-8, or holds a NUL, would otherwise reach the store (which
	// PostgreSQL refuses with an internal error).
	if !validURLText(r) {
		if api {
			w.Header().Set("Cache-Control", "no-store")
			writeError(w, http.StatusBadRequest, apiError{Error: errInvalidRequest, Description: "the path or query is not valid UTF-8 text"})
		} else {
			h.serveConsole(w, r.WithContext(context.WithValue(r.Context(), badTextKey, true)))
		}
		return
	}
	if api {
		h.serveAPI(w, r)
		return
	}
	h.serveConsole(w, r)
}

// validURLText reports whether the request's path and query values are
// text a store may keep (storage.ValidText).
func validURLText(r *http.Request) bool {
	if !storage.ValidText(r.URL.Path) {
		return false
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return false
	}
	for k, vs := range q {
		if !storage.ValidText(k) {
			return false
		}
		for _, v := range vs {
			if !storage.ValidText(v) {
				return false
			}
		}
	}
	return true
}

// Admin sessions are storage.Sessions whose ID is the SHA-256 of a random
// value only the browser (cookie) or the API client (bearer token) holds.

type ctxKey int

const (
	adminKey ctxKey = iota
	sessionKey
	badTextKey // the console answers the request with a 400 page
)

func withAdmin(ctx context.Context, a storage.Admin, s storage.Session) context.Context {
	return context.WithValue(context.WithValue(ctx, adminKey, a), sessionKey, s)
}

// adminFrom returns the signed-in administrator of the request.
func adminFrom(ctx context.Context) (storage.Admin, bool) {
	a, ok := ctx.Value(adminKey).(storage.Admin)
	return a, ok
}

func currentSession(ctx context.Context) (storage.Session, bool) {
	s, ok := ctx.Value(sessionKey).(storage.Session)
	return s, ok
}

const adminSubject = "admin:"

// startSession signs an administrator in on a channel and returns the
// random value that names the session (cookie value or bearer token).
func (h *Handler) startSession(ctx context.Context, a storage.Admin, channel, userAgent string) (string, storage.Session, error) {
	v, err := keys.RandomToken(32)
	if err != nil {
		return "", storage.Session{}, err
	}
	now := h.now()
	s := storage.Session{
		ID: hashToken(v), Subject: adminSubject + a.ID, AuthTime: now, AMR: []string{"pwd", "otp"}, ACR: channel,
		IdleExpiresAt: now.Add(SessionIdle), ExpiresAt: now.Add(SessionMax),
		CreatedAt: now, LastSeenAt: now, UserAgent: storage.TruncateText(userAgent, 200),
	}
	// The sign-in's entry is the service's (SignIn); the session adds none.
	if err := h.store.CreateSession(ctx, s, nil); err != nil {
		return "", storage.Session{}, fmt.Errorf("create session: %w", err)
	}
	return v, s, nil
}

// errNoSession: no live session for the value, or not one of this channel,
// or its administrator is disabled or gone.
var errNoSession = errors.New("no administrator session")

// resume returns the live session named by v on channel and its
// administrator, moving the idle expiry forward.
func (h *Handler) resume(ctx context.Context, v, channel string) (storage.Admin, storage.Session, error) {
	if len(v) < 32 || len(v) > 128 {
		return storage.Admin{}, storage.Session{}, errNoSession
	}
	now := h.now()
	s, err := h.store.Session(ctx, hashToken(v), now)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.Admin{}, storage.Session{}, errNoSession
	}
	if err != nil {
		return storage.Admin{}, storage.Session{}, fmt.Errorf("load session: %w", err)
	}
	id, ok := strings.CutPrefix(s.Subject, adminSubject)
	if !ok || s.ACR != channel {
		return storage.Admin{}, storage.Session{}, errNoSession
	}
	a, err := h.svc.AdminByID(ctx, id)
	if errors.Is(err, ErrNotFound) || errors.Is(err, storage.ErrNotFound) || (err == nil && a.Disabled) {
		if err := h.store.DeleteSession(ctx, s.ID, nil); err != nil {
			h.log.ErrorContext(ctx, "admin: end session of a disabled administrator", "err", err)
		}
		return storage.Admin{}, storage.Session{}, errNoSession
	}
	if err != nil {
		return storage.Admin{}, storage.Session{}, fmt.Errorf("load administrator: %w", err)
	}
	idle := now.Add(SessionIdle)
	if idle.After(s.ExpiresAt) {
		idle = s.ExpiresAt
	}
	if err := h.store.TouchSession(ctx, s.ID, idle, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return storage.Admin{}, storage.Session{}, fmt.Errorf("touch session: %w", err)
	}
	s.IdleExpiresAt, s.LastSeenAt = idle, now
	return a, s, nil
}

// hashToken is the stored ID of a session value: SHA-256, base64url, as
// for the citizens' sessions.
func hashToken(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// allowedMethods lists the methods a router serves for the request's path
// (for the Allow header of a 405).
func allowedMethods(rt *mux.Router, r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		rr := r.Clone(r.Context())
		rr.Method = m
		var match mux.RouteMatch
		if rt.Match(rr, &match) && match.MatchErr == nil {
			out = append(out, m)
		}
	}
	return out
}
