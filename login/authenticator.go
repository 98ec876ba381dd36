package login

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/dopaid/dopaid/storage"
)

// My authenticator, from the portal: new recovery codes (the old ones stop
// working) and a new authenticator (the old one stops working), each after
// the citizen proves again that they hold the authenticator — its current
// code or one of its recovery codes — under the sign-in throttle, so that a
// session left open on a shared computer is not enough to take the account
// over. A citizen who has lost both proves their identity again
// (/login/proof without a request), which also ends in a new authenticator.

type authenticatorData struct {
	Enrolled      when
	LastUsed      *when
	RecoveryLeft  int
	Notice, Error string
}

// authenticatorPage shows the citizen's authenticator and what they can do.
func (h *Handler) authenticatorPage(w http.ResponseWriter, r *http.Request) {
	s, ok := h.mine(w, r)
	if !ok {
		return
	}
	h.renderAuthenticator(w, r, s, http.StatusOK, refusal{})
}

func (h *Handler) renderAuthenticator(w http.ResponseWriter, r *http.Request, s storage.Session, status int, no refusal) {
	a, err := h.cfg.Store.Authenticator(r.Context(), s.Subject, "totp")
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.internal(w, r, "load authenticator", err)
		return
	}
	p := h.newPage(w, r, "")
	p.Next = mePath + "/authenticator"
	if no.msg != "" {
		p.Error = no.text(w, p)
	}
	d := authenticatorData{Enrolled: newWhen(p.Lang, a.CreatedAt, true), RecoveryLeft: len(a.RecoveryCodes)}
	if !a.LastUsedAt.IsZero() {
		lu := newWhen(p.Lang, a.LastUsedAt, true)
		d.LastUsed = &lu
	}
	p.Data = d
	h.render(w, r, status, "authenticator.html", p)
}

// holdsAuthenticator checks the posted code — the authenticator's current
// code or a recovery code, spent either way — for the session's citizen,
// under the sign-in throttle. A zero refusal means it matched.
func (h *Handler) holdsAuthenticator(w http.ResponseWriter, r *http.Request, s storage.Session) (storage.Citizen, refusal, error) {
	ctx := r.Context()
	c, err := h.cfg.Store.Citizen(ctx, s.Subject)
	if err != nil {
		return c, refusal{}, fmt.Errorf("load citizen: %w", err)
	}
	code := storage.NormalizeInput(r.PostFormValue("code"))
	if code == "" || len(code) > 32 {
		return c, refusal{status: http.StatusBadRequest, msg: "me_code_failed"}, nil
	}
	g := h.gate(w, r, "signin", c.PID)
	if wt, err := h.admit(ctx, &g); err != nil {
		return c, refusal{}, fmt.Errorf("throttle: %w", err)
	} else if wt.refused() {
		if err := h.lockedOut(ctx, g, c.PID, c.ID, wt); err != nil {
			return c, refusal{}, err
		}
		return c, refusal{status: http.StatusTooManyRequests, msg: "locked", wait: wt}, nil
	}
	if _, _, err := h.checkTOTP(ctx, c.PID, code); err != nil {
		if !errors.Is(err, errNoMatch) {
			return c, refusal{}, err
		}
		if err := h.failed(ctx, g); err != nil {
			return c, refusal{}, fmt.Errorf("throttle: %w", err)
		}
		if !h.audit(ctx, storage.AuditEntry{Type: storage.AuditSignIn, Actor: actor(c.ID), CitizenID: c.ID, Outcome: "failure", Detail: "authenticator_check_failed"}) {
			return c, refusal{}, errUnrecorded
		}
		return c, refusal{status: http.StatusUnauthorized, msg: "me_code_failed"}, nil
	}
	if err := h.succeeded(ctx, g); err != nil {
		h.log.ErrorContext(ctx, "login: clear throttle", "err", err)
	}
	return c, refusal{}, nil
}

// renewRecoveryCodes replaces the citizen's recovery codes and shows the
// new ones once.
func (h *Handler) renewRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	s, ok := h.portalSession(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	c, no, err := h.holdsAuthenticator(w, r, s)
	if err != nil {
		h.internal(w, r, "check authenticator", err)
		return
	}
	if no.msg != "" {
		h.renderAuthenticator(w, r, s, no.status, no)
		return
	}
	a, err := h.cfg.Store.Authenticator(ctx, c.ID, "totp")
	if err != nil {
		h.internal(w, r, "load authenticator", err)
		return
	}
	codes, err := newRecoveryCodes(8)
	if err != nil {
		h.internal(w, r, "recovery codes", err)
		return
	}
	hashes := make([]string, len(codes))
	for i, rc := range codes {
		hashes[i] = mac(h.cfg.RecoveryKey, normalizeRecoveryCode(rc))
	}
	// The new codes and their entry commit together.
	e := storage.AuditEntry{At: h.now(), Type: storage.AuditSignIn, Actor: actor(c.ID), CitizenID: c.ID, Outcome: "success", Detail: "recovery_codes_renewed"}
	if err := h.cfg.Store.ReplaceRecoveryCodes(ctx, c.ID, a.ID, hashes, storage.Record{e}); err != nil {
		h.internal(w, r, "replace recovery codes", err)
		return
	}
	p := h.newPage(w, r, "")
	p.Next = mePath + "/authenticator"
	p.Data = struct {
		Codes    []string
		Continue string
	}{codes, mePath}
	h.render(w, r, http.StatusOK, "recovery.html", p)
}

// replaceAuthenticator starts the enrolment of a new authenticator, which
// replaces the old one when the citizen confirms its first code.
func (h *Handler) replaceAuthenticator(w http.ResponseWriter, r *http.Request) {
	s, ok := h.portalSession(w, r)
	if !ok {
		return
	}
	c, no, err := h.holdsAuthenticator(w, r, s)
	if err != nil {
		h.internal(w, r, "check authenticator", err)
		return
	}
	if no.msg != "" {
		h.renderAuthenticator(w, r, s, no.status, no)
		return
	}
	if err := h.startFlow(w, r, storage.Flow{CitizenID: c.ID, Step: stepEnrol, IAL: s.IAL}); err != nil {
		h.internal(w, r, "start flow", err)
		return
	}
	http.Redirect(w, r, Path+"/enrol", http.StatusSeeOther)
}
