package login

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/release"
)

// SessionCookie is the name of the sign-on session cookie. Its value is a
// random token whose SHA-256 (base64url) is the stored session ID.
func SessionCookie(secure bool) string {
	if secure {
		return "__Host-dopaid-session"
	}
	return "dopaid-session"
}

// BrowserCookie is the name of the cookie that binds an authorization
// request to the browser that started it; the provider sets it and stores
// its SHA-256 as AuthRequest.BrowserBinding.
func BrowserCookie(secure bool) string {
	if secure {
		return "__Host-dopaid-browser"
	}
	return "dopaid-browser"
}

// loadRequest loads the authorization request named by the form or query,
// rendering the expired page when there is none.
func (h *Handler) loadRequest(w http.ResponseWriter, r *http.Request, id string) (storage.AuthRequest, storage.Client, bool) {
	ctx := r.Context()
	if !storage.ValidText(id) {
		h.fail(w, r, http.StatusBadRequest, "expired")
		return storage.AuthRequest{}, storage.Client{}, false
	}
	ar, err := h.cfg.Store.AuthRequest(ctx, id, h.now())
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.internal(w, r, "load request", err)
		return ar, storage.Client{}, false
	}
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, "expired")
		return ar, storage.Client{}, false
	}
	if ar.Done {
		h.fail(w, r, http.StatusBadRequest, "expired")
		return ar, storage.Client{}, false
	}
	// Only the browser that started the request may sign in to it: a
	// request ID sent to someone else's browser (a link, an image) must not
	// be completed with their session.
	ck, err := r.Cookie(BrowserCookie(h.cfg.SecureCookies))
	if err != nil || subtle.ConstantTimeCompare([]byte(hashID(ck.Value)), []byte(ar.BrowserBinding)) != 1 {
		h.fail(w, r, http.StatusForbidden, "other_browser")
		return ar, storage.Client{}, false
	}
	c, err := h.cfg.Store.Client(ctx, ar.ClientID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		// The database, not the request: the browser may try again.
		h.internal(w, r, "load client", err)
		return ar, storage.Client{}, false
	}
	if err != nil {
		h.log.WarnContext(ctx, "login: the request's client is gone", "client_id", ar.ClientID)
		h.fail(w, r, http.StatusBadRequest, "expired")
		return ar, storage.Client{}, false
	}
	return ar, c, true
}

// entry is where the provider sends the browser. A live session that
// satisfies the request signs in at once (single sign-on); prompt=none
// never shows a page; prompt=login and max_age force a fresh sign-in; a
// request for a higher identity level than the session has steps up with a
// fresh face verification.
func (h *Handler) entry(w http.ResponseWriter, r *http.Request) {
	ar, c, ok := h.loadRequest(w, r, r.URL.Query().Get("authRequestID"))
	if !ok {
		return
	}
	now := h.now()
	sess, hasSession, err := h.session(r)
	if err != nil {
		h.internal(w, r, "load session", err)
		return
	}
	fresh := hasSession && (ar.MaxAge == nil || now.Sub(sess.AuthTime) <= *ar.MaxAge)
	enough := release.Satisfies(sess.IAL, ar.ACRValues) // no session: no level

	if slices.Contains(ar.Prompt, "none") {
		switch {
		case !fresh:
			h.failRequest(w, r, ar, "login_required")
		case !enough:
			h.failRequest(w, r, ar, "interaction_required")
		default:
			h.complete(w, r, ar, sess)
		}
		return
	}
	if fresh && !slices.Contains(ar.Prompt, "login") {
		if enough {
			h.complete(w, r, ar, sess)
			return
		}
		h.startStepUp(w, r, ar, sess)
		return
	}
	h.device(w, r)
	p := h.newPage(w, r, ar.ID)
	p.ClientName = c.Name
	p.ReturnTo = formOrigin(ar.RedirectURI)
	h.render(w, r, http.StatusOK, "signin.html", p)
}

// complete finishes the request with the session's sign-in and sends the
// browser back to the provider.
// It asks for consent first when the request would release claims the
// citizen has not consented to.
func (h *Handler) complete(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, s storage.Session) {
	need, ask, err := h.consentFor(r.Context(), ar, s.Subject)
	if errors.Is(err, release.ErrNotInForce) {
		h.refuseForPermit(w, r, ar, s.Subject, need, err)
		return
	}
	if err != nil {
		h.internal(w, r, "consent", err)
		return
	}
	if ask {
		if slices.Contains(ar.Prompt, "none") {
			h.failRequest(w, r, ar, "consent_required")
			return
		}
		if r.Method != http.MethodGet {
			// Post-redirect-get: the consent page is a page of its own, so
			// that reloading it does not submit the sign-in form again.
			http.Redirect(w, r, consentURL(ar.ID), http.StatusSeeOther)
			return
		}
		h.renderConsent(w, r, ar, need)
		return
	}
	h.finish(w, r, ar, s, storage.SignIn{}, nil)
}

func consentURL(authRequestID string) string {
	return Path + "/consent?authRequestID=" + url.QueryEscape(authRequestID)
}

// finish completes the request with the session's sign-in, and moves the
// session's idle expiry, in one transaction with in's other writes (a
// consent) and rec.
func (h *Handler) finish(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, s storage.Session, in storage.SignIn, rec storage.Record) {
	ctx := r.Context()
	now := h.now()
	next := h.completion(ctx, &in, ar, s)
	idle := now.Add(h.cfg.SessionIdle)
	if idle.After(s.ExpiresAt) {
		idle = s.ExpiresAt
	}
	in.TouchSession, in.IdleExpiresAt = s.ID, idle
	if err := h.cfg.Store.SignIn(ctx, in, now, rec); err != nil {
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrConflict) {
			h.fail(w, r, http.StatusBadRequest, "expired")
			return
		}
		h.internal(w, r, "complete request", err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// completion adds to in the completion of ar with the session's sign-in,
// and returns where the browser goes once in has committed: to the
// client, with the code the completion issues (Config.Answer), or else to
// the provider's callback.
func (h *Handler) completion(ctx context.Context, in *storage.SignIn, ar storage.AuthRequest, s storage.Session) string {
	in.AuthRequestID = ar.ID
	in.Result = storage.AuthResult{
		// acr by the release policy's one rule: what the client asked
		// about (or the default), never more; the level itself is the ial
		// claim, released only where the permit grants it.
		Subject: s.Subject, AuthTime: s.AuthTime, AMR: s.AMR, ACR: release.ACR(ar.ACRValues, s.IAL), IAL: s.IAL, SessionID: s.ID,
	}
	if h.cfg.Answer != nil {
		if code, response, ok := h.cfg.Answer(ctx, ar); ok {
			in.Result.Code = code
			return response
		}
	}
	return h.cfg.Callback(ctx, ar.ID)
}

// continueAfterEnrolment completes a request for the session that signed
// in during it (after enrolment).
func (h *Handler) continueAfterEnrolment(w http.ResponseWriter, r *http.Request) {
	ar, _, ok := h.loadRequest(w, r, r.URL.Query().Get("authRequestID"))
	if !ok {
		return
	}
	s, ok, err := h.session(r)
	if err != nil {
		h.internal(w, r, "load session", err)
		return
	}
	if !ok || s.AuthTime.Before(ar.CreatedAt) {
		h.fail(w, r, http.StatusBadRequest, "expired")
		return
	}
	h.setCookie(w, recoveryCookie, "", -1, http.SameSiteStrictMode) // kept: shown no more
	h.complete(w, r, ar, s)
}

// failRequest ends the request with an OAuth error for the client.
func (h *Handler) failRequest(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, code string) {
	ctx := r.Context()
	if err := h.cfg.Store.FailAuthRequest(ctx, ar.ID, code, h.now()); err != nil {
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrConflict) {
			h.fail(w, r, http.StatusBadRequest, "expired")
			return
		}
		h.internal(w, r, "fail request", err)
		return
	}
	http.Redirect(w, r, h.cfg.Callback(ctx, ar.ID), http.StatusSeeOther)
}

// session returns the browser's live sign-on session.
func (h *Handler) session(r *http.Request) (storage.Session, bool, error) {
	v := h.cookie(r, "dopaid-session")
	if v == "" {
		return storage.Session{}, false, nil
	}
	s, err := h.cfg.Store.Session(r.Context(), hashID(v), h.now())
	if errors.Is(err, storage.ErrNotFound) {
		return storage.Session{}, false, nil
	}
	if err != nil {
		// Not "signed out": a store that cannot answer is an error the
		// handler reports, or the citizen would be asked to sign in again
		// (or told a request expired) during a database outage.
		return storage.Session{}, false, err
	}
	if strings.HasPrefix(s.Subject, "admin:") {
		// An administrator's console session is no citizen's.
		return storage.Session{}, false, nil
	}
	return s, true, nil
}

// startSession signs the browser in: a new server-side session whose
// random ID only the cookie holds (the store keeps its hash), stored with
// in's other writes and rec, the entries that record the sign-in, in one
// transaction. Any earlier session of this browser ends (replaced by this
// one: that is no sign-out). then, if not nil, may add to in what the
// request writes with the new session (the authorization request's
// completion).
func (h *Handler) startSession(w http.ResponseWriter, r *http.Request, citizenID string, amr []string, ial string, in storage.SignIn, rec storage.Record, then func(storage.Session, *storage.SignIn)) (storage.Session, error) {
	s, v, in, err := h.newSession(r, citizenID, amr, ial, in, then)
	if err != nil {
		return storage.Session{}, err
	}
	if err := h.cfg.Store.SignIn(r.Context(), in, s.CreatedAt, rec); err != nil {
		return storage.Session{}, err
	}
	h.setSessionCookie(w, v)
	return s, nil
}

// newSession is startSession without its writes: the new session, the
// cookie value that names it, and in with the session and then's writes.
func (h *Handler) newSession(r *http.Request, citizenID string, amr []string, ial string, in storage.SignIn, then func(storage.Session, *storage.SignIn)) (storage.Session, string, storage.SignIn, error) {
	if old := h.cookie(r, "dopaid-session"); old != "" {
		in.EndSession = hashID(old)
	}
	v, err := keys.RandomToken(32)
	if err != nil {
		return storage.Session{}, "", in, err
	}
	now := h.now()
	s := storage.Session{
		ID: hashID(v), Subject: citizenID, AuthTime: now, AMR: amr, ACR: release.ACRFor(ial), IAL: ial,
		IdleExpiresAt: now.Add(h.cfg.SessionIdle), ExpiresAt: now.Add(h.cfg.SessionMax),
		CreatedAt: now, LastSeenAt: now, UserAgent: storage.TruncateText(r.UserAgent(), 200),
	}
	in.Session = s
	if then != nil {
		then(s, &in)
	}
	return s, v, in, nil
}

// setSessionCookie hands the browser the session that v names, once it is
// stored.
func (h *Handler) setSessionCookie(w http.ResponseWriter, v string) {
	// Lax, not Strict: the cookie must come along when an agency's app
	// sends the browser here by a top-level redirect.
	h.setCookie(w, "dopaid-session", v, h.cfg.SessionMax, http.SameSiteLaxMode)
}

// signIn is the returning citizen's sign-in: ID number and a TOTP code (or
// a recovery code). Every failure gets the same answer.
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(r) {
		h.fail(w, r, http.StatusForbidden, "bad_input")
		return
	}
	ar, c, ok := h.loadRequest(w, r, r.PostFormValue("authRequestID"))
	if !ok {
		return
	}
	// A sign-in whose request needs neither a step up nor a consent
	// completes the request in the transaction that starts the session.
	next := ""
	s, no, err := h.signInCitizen(w, r, func(s storage.Session, in *storage.SignIn) {
		if !release.Satisfies(s.IAL, ar.ACRValues) {
			return
		}
		if _, ask, err := h.consentFor(r.Context(), ar, s.Subject); err != nil || ask {
			return // asked, refused or failed: complete says so after the sign-in
		}
		next = h.completion(r.Context(), in, ar, s)
	})
	completed := next != ""
	if completed && (errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrConflict)) {
		h.fail(w, r, http.StatusBadRequest, "expired")
		return
	}
	if err != nil {
		h.internal(w, r, "sign in", err)
		return
	}
	if no.msg != "" {
		p := h.newPage(w, r, ar.ID)
		p.ClientName = c.Name
		p.ReturnTo = formOrigin(ar.RedirectURI)
		p.Error = no.text(w, p)
		p.Fields = translated(p.T, no.fields)
		// The ID number stays; the code, spent or wrong, is typed afresh.
		p.Form = map[string]string{"pid": storage.TruncateText(r.PostFormValue("pid"), 40)}
		h.render(w, r, no.status, "signin.html", p)
		return
	}
	if completed {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	if !release.Satisfies(s.IAL, ar.ACRValues) {
		h.startStepUp(w, r, ar, s)
		return
	}
	h.complete(w, r, ar, s)
}

// refusal is a sign-in turned down: the status and message (a key of
// messages) to show with the form again, or the wait of a throttled attempt.
type refusal struct {
	status int
	msg    string
	wait   wait
	// fields are format errors by field (message keys), see proofFields.
	fields map[string]string
}

// text is the refusal's message in the page's language (a throttled attempt
// says how long to wait, and sets Retry-After).
func (no refusal) text(w http.ResponseWriter, p page) string {
	if no.wait.refused() {
		return waitMessage(w, p.Lang, no.wait)
	}
	return p.T[no.msg]
}

// signInCitizen checks the posted ID number and code under the sign-in
// throttle (ThrottlePolicy) and, when they match, signs the browser in. The
// sign-in page and the portal share it, and so share the failure counters. A
// zero refusal means success; err is a failure of the provider, not of the
// citizen. Once the code matched, everything the sign-in writes (the code
// spent, the counters, the session and its entry, and what then adds)
// commits in one transaction.
func (h *Handler) signInCitizen(w http.ResponseWriter, r *http.Request, then func(storage.Session, *storage.SignIn)) (storage.Session, refusal, error) {
	ctx := r.Context()
	pid, err := storage.ParsePID(r.PostFormValue("pid"))
	code := storage.NormalizeInput(r.PostFormValue("code"))
	// A mistyped ID number or a missing code is said at its field: that
	// needs no registry and tells nothing about anyone.
	fields := map[string]string{}
	if err != nil {
		fields["pid"] = pidError(err)
	}
	if code == "" {
		fields["code"] = "err_code"
	}
	if len(fields) > 0 {
		return storage.Session{}, refusal{status: http.StatusBadRequest, msg: "form_invalid", fields: fields}, nil
	}
	if len(code) > 32 {
		return storage.Session{}, refusal{status: http.StatusBadRequest, msg: "signin_failed"}, nil
	}
	g := h.gate(w, r, "signin", pid)
	if isTOTPCode(code) {
		return h.signInTOTP(w, r, g, pid, code, then)
	}
	// A recovery code is checked by the store (UseRecoveryCode), so it is
	// admitted in a transaction of its own before.
	if wt, err := h.admit(ctx, &g); err != nil {
		return storage.Session{}, refusal{}, fmt.Errorf("throttle: %w", err)
	} else if wt.refused() {
		if err := h.lockedOut(ctx, g, pid, "", wt); err != nil {
			return storage.Session{}, refusal{}, err
		}
		return storage.Session{}, refusal{status: http.StatusTooManyRequests, msg: "locked", wait: wt}, nil
	}
	citizen, amr, in, err := h.matchCode(ctx, pid, code)
	var s storage.Session
	if err == nil {
		in.Throttles = h.succeededUpdates(g)
		s, err = h.startCitizenSession(w, r, citizen, amr, in, then)
		if errors.Is(err, storage.ErrAlreadyExists) {
			err = errNoMatch // the code's time step was spent meanwhile
		}
	}
	if err != nil {
		if !errors.Is(err, errNoMatch) {
			return storage.Session{}, refusal{}, err
		}
		if err := h.failed(ctx, g); err != nil {
			return storage.Session{}, refusal{}, fmt.Errorf("throttle: %w", err)
		}
		// A failed attempt on a known citizen is theirs to see; an unknown
		// ID number is recorded without it (the attempt was counted by the
		// throttle, so this cannot flood the trail). Unrecorded, the refusal
		// becomes the generic error.
		if !h.audit(ctx, storage.AuditEntry{Type: storage.AuditSignIn, Actor: actor(citizen.ID), CitizenID: citizen.ID, Outcome: "failure", Detail: "signin_failed"}) {
			return storage.Session{}, refusal{}, errUnrecorded
		}
		return storage.Session{}, refusal{status: http.StatusUnauthorized, msg: "signin_failed"}, nil
	}
	return s, refusal{}, nil
}

// Outcomes of a sign-in attempt (signInTOTP).
const (
	attemptRefused = iota + 1
	attemptFailed
	attemptSignedIn
)

// signInTOTP is signInCitizen for a TOTP code, in one write transaction
// (storage.AttemptSignIn): the attempt is counted on the ID number and the
// browser before the code is checked, as admit does, and then either the
// failure is counted on the address too, or the code's time step is spent,
// the counts given back and the session started, as succeeded and
// startSession do — with the entry of whichever outcome, a lock-out, a
// failure or the sign-in. What the check needs is read before, since
// nothing inside the transaction may do I/O; the session is prepared before
// too (then runs whatever the code turns out to be).
func (h *Handler) signInTOTP(w http.ResponseWriter, r *http.Request, g gate, pid, code string, then func(storage.Session, *storage.SignIn)) (storage.Session, refusal, error) {
	ctx := r.Context()
	now := h.now()
	exempt, delay, err := h.screen(ctx, now, g)
	if err != nil {
		return storage.Session{}, refusal{}, fmt.Errorf("throttle: %w", err)
	}
	if delay.refused() {
		if err := h.lockedOut(ctx, g, pid, "", delay); err != nil {
			return storage.Session{}, refusal{}, err
		}
		return storage.Session{}, refusal{status: http.StatusTooManyRequests, msg: "locked", wait: delay}, nil
	}

	citizen, err := h.cfg.Store.CitizenByPID(ctx, pid)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return storage.Session{}, refusal{}, err
	}
	var a storage.Authenticator
	var secret string
	if citizen.ID != "" && citizen.Alive() {
		a, err = h.cfg.Store.Authenticator(ctx, citizen.ID, "totp")
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return storage.Session{}, refusal{}, err
		}
		if err == nil {
			sec, err := h.cfg.Envelope.Open(a.Secret, []byte("totp:"+a.ID))
			if err != nil {
				return storage.Session{}, refusal{}, err
			}
			secret = string(sec)
		}
	}
	var s storage.Session
	var cookie string
	var in storage.SignIn
	var signedIn storage.AuditEntry
	if secret != "" {
		ial := ""
		if pr, err := h.cfg.Store.LatestProofing(ctx, citizen.ID); err == nil {
			ial = pr.IAL
		} else if !errors.Is(err, storage.ErrNotFound) {
			return storage.Session{}, refusal{}, fmt.Errorf("load proofing: %w", err)
		}
		if s, cookie, in, err = h.newSession(r, citizen.ID, []string{"otp"}, ial, storage.SignIn{}, then); err != nil {
			return storage.Session{}, refusal{}, fmt.Errorf("start session: %w", err)
		}
		signedIn = storage.AuditEntry{At: now, Type: storage.AuditSignIn, Actor: actor(citizen.ID), CitizenID: citizen.ID, IAL: ial, Outcome: "success"}
	}

	att := storage.SignInAttempt{Counters: []string{g.id, g.total, g.browser}}
	if g.known != "" {
		att.Counters = append(att.Counters, g.known)
	}
	if a.ID != "" {
		att.Scopes = []string{"totp:" + a.ID}
	}
	var outcome int
	var wt wait
	att.Check = func(cs []storage.Throttle, spent []storage.OnceValue) (storage.SignIn, storage.Record, error) {
		byKey := make(map[string]storage.Throttle, len(cs))
		for _, t := range cs {
			byKey[t.Key] = t
		}
		gg := g
		us := settle(byKey, h.admission(&gg, exempt, now, &wt))
		if wt.refused() {
			outcome = attemptRefused
			var rec storage.Record
			if citizen.ID != "" { // see lockedOut
				e := lockoutEntry(gg, citizen.ID, wt)
				e.At = now
				rec = storage.Record{e}
			}
			return storage.SignIn{Throttles: us}, rec, nil
		}
		if secret != "" {
			if o, err := h.useTOTP(a.ID, secret, code); err == nil && !slices.ContainsFunc(spent, func(v storage.OnceValue) bool {
				return v.Scope == o.Scope && v.Value == o.Value
			}) {
				outcome = attemptSignedIn
				out := in
				out.Once, out.Authenticator = []storage.OnceValue{o}, a.ID
				out.Throttles = append(us, settle(byKey, h.succeededUpdates(gg))...)
				return out, storage.Record{signedIn}, nil
			}
		}
		// A failed attempt on a known citizen is theirs to see; an unknown
		// ID number is recorded without it (the attempt is counted, so
		// this cannot flood the trail).
		outcome = attemptFailed
		us = append(us, storage.ThrottleUpdate{Key: g.addr, Update: func(t storage.Throttle) storage.Throttle {
			return h.countFailure(t, now, h.cfg.Throttle.PerAddr)
		}})
		return storage.SignIn{Throttles: us}, storage.Record{{At: now, Type: storage.AuditSignIn, Actor: actor(citizen.ID),
			CitizenID: citizen.ID, Outcome: "failure", Detail: "signin_failed"}}, nil
	}
	err = h.cfg.Store.AttemptSignIn(ctx, att, now)
	if errors.Is(err, storage.ErrAlreadyExists) && outcome == attemptSignedIn {
		// The code's time step was spent meanwhile, by a request that does
		// not share the counters: again, the attempt sees it spent.
		err = h.cfg.Store.AttemptSignIn(ctx, att, now)
	}
	if err != nil {
		return storage.Session{}, refusal{}, fmt.Errorf("sign in: %w", err)
	}
	switch outcome {
	case attemptRefused:
		return storage.Session{}, refusal{status: http.StatusTooManyRequests, msg: "locked", wait: wt}, nil
	case attemptFailed:
		return storage.Session{}, refusal{status: http.StatusUnauthorized, msg: "signin_failed"}, nil
	}
	h.setSessionCookie(w, cookie)
	return s, refusal{}, nil
}

// startCitizenSession starts the session of a citizen whose code matched,
// with in's writes (see signInCitizen). An ErrAlreadyExists is a code spent
// meanwhile; a store error is wrapped.
func (h *Handler) startCitizenSession(w http.ResponseWriter, r *http.Request, citizen storage.Citizen, amr []string, in storage.SignIn, then func(storage.Session, *storage.SignIn)) (storage.Session, error) {
	ial := ""
	if pr, err := h.cfg.Store.LatestProofing(r.Context(), citizen.ID); err == nil {
		ial = pr.IAL
	} else if !errors.Is(err, storage.ErrNotFound) {
		return storage.Session{}, fmt.Errorf("load proofing: %w", err)
	}
	// The session and its entry commit together: a sign-in the trail
	// cannot record starts no session and sets no cookie.
	e := storage.AuditEntry{At: h.now(), Type: storage.AuditSignIn, Actor: actor(citizen.ID), CitizenID: citizen.ID, IAL: ial, Outcome: "success"}
	s, err := h.startSession(w, r, citizen.ID, amr, ial, in, storage.Record{e}, then)
	if errors.Is(err, storage.ErrAlreadyExists) && len(in.Once) > 0 {
		return storage.Session{}, err
	}
	if err != nil {
		return storage.Session{}, fmt.Errorf("start session: %w", err)
	}
	return s, nil
}

// actor names a citizen in the audit trail ("anonymous" when unknown).
func actor(citizenID string) string {
	if citizenID == "" {
		return "anonymous"
	}
	return "citizen:" + citizenID
}

var errNoMatch = errors.New("no match")

// checkTOTP finds the citizen and checks the code: a TOTP code of the
// current, previous or next 30-second step, usable once, or an unused
// recovery code. Any mismatch is errNoMatch.
func (h *Handler) checkTOTP(ctx context.Context, pid, code string) (storage.Citizen, []string, error) {
	c, amr, in, err := h.matchCode(ctx, pid, code)
	if err != nil {
		return c, nil, err
	}
	err = h.cfg.Store.SignIn(ctx, in, h.now(), nil)
	if errors.Is(err, storage.ErrAlreadyExists) {
		return c, nil, errNoMatch
	}
	return c, amr, err
}

// matchCode is checkTOTP that leaves a TOTP code's writes (its time step
// spent, the authenticator's use) to the caller, in the SignIn it returns;
// a recovery code is spent at once. A SignIn of in failing with
// ErrAlreadyExists means the code was used meanwhile.
func (h *Handler) matchCode(ctx context.Context, pid, code string) (storage.Citizen, []string, storage.SignIn, error) {
	var in storage.SignIn
	c, err := h.cfg.Store.CitizenByPID(ctx, pid)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return c, nil, in, errNoMatch
		}
		return c, nil, in, err
	}
	if !c.Alive() {
		return c, nil, in, errNoMatch
	}
	a, err := h.cfg.Store.Authenticator(ctx, c.ID, "totp")
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return c, nil, in, errNoMatch
		}
		return c, nil, in, err
	}
	if isTOTPCode(code) {
		secret, err := h.cfg.Envelope.Open(a.Secret, []byte("totp:"+a.ID))
		if err != nil {
			return c, nil, in, err
		}
		o, err := h.useTOTP(a.ID, string(secret), code)
		if err != nil {
			return c, nil, in, err
		}
		in.Once, in.Authenticator = []storage.OnceValue{o}, a.ID
		return c, []string{"otp"}, in, nil
	}
	rc := normalizeRecoveryCode(code)
	if rc == "" {
		return c, nil, in, errNoMatch
	}
	err = h.cfg.Store.UseRecoveryCode(ctx, c.ID, "totp", mac(h.cfg.RecoveryKey, rc), h.now())
	if errors.Is(err, storage.ErrNotFound) {
		return c, nil, in, errNoMatch
	}
	if err != nil {
		return c, nil, in, err
	}
	return c, []string{"otp"}, in, nil
}

// useTOTP checks code against the secret and returns its time step to
// spend (storage.SignIn.Once), so a code seen once (shoulder-surfed,
// phished) cannot be used again.
func (h *Handler) useTOTP(authID, secret, code string) (storage.OnceValue, error) {
	step, ok := matchTOTP(secret, code, h.now())
	if !ok {
		return storage.OnceValue{}, errNoMatch
	}
	return storage.OnceValue{Scope: "totp:" + authID, Value: itoa(step), ExpiresAt: time.Unix((step+2)*totpPeriod, 0)}, nil
}

// startStepUp sends a signed-in citizen through a fresh face verification
// to reach the level the request asks for.
func (h *Handler) startStepUp(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, s storage.Session) {
	ctx := r.Context()
	pr, err := h.cfg.Store.LatestProofing(ctx, s.Subject)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.internal(w, r, "load proofing", err)
		return
	}
	matched := pr.Matched
	if len(matched) == 0 {
		matched = []string{"pid"}
	}
	if err := h.startFlow(w, r, storage.Flow{AuthRequestID: ar.ID, CitizenID: s.Subject, Step: stepStepUp, Matched: matched, IAL: s.IAL}); err != nil {
		h.internal(w, r, "start step-up", err)
		return
	}
	http.Redirect(w, r, Path+"/face", http.StatusSeeOther)
}

// signOut ends the browser's session.
func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(r) {
		h.fail(w, r, http.StatusForbidden, "bad_input")
		return
	}
	if v := h.cookie(r, "dopaid-session"); v != "" {
		// A live session ends with its entry, or stays; a dead one's row
		// goes unrecorded (nobody was signed in).
		var rec storage.Record
		s, ok, err := h.session(r)
		if err != nil {
			h.internal(w, r, "load session", err)
			return
		}
		if ok {
			rec = h.signedOut(s.Subject, "this_browser")
		}
		if err := h.endSession(r.Context(), hashID(v), rec); err != nil {
			h.internal(w, r, "sign out", err)
			return
		}
	}
	h.setCookie(w, "dopaid-session", "", -1, http.SameSiteLaxMode)
	p := h.newPage(w, r, "")
	h.render(w, r, http.StatusOK, "signedout.html", p)
}
