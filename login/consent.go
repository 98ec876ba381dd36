package login

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/release"
)

// Consent (clause 8; PDPA s.19): before any release the citizen sees who
// receives what and why, and allows or denies it. A consent covers one
// citizen, one agency's permit (at one version), one purpose and one set of
// claims; it is asked again when any of them changes, and on prompt=consent.

// consentNeed is what a consent page shows.
type consentNeed struct {
	Agency  storage.Agency
	Permit  storage.Permit
	Purpose storage.Purpose
	Claims  []string
	// Offline: the request asks for offline_access, so the agency keeps
	// access (by refresh tokens) for Keep after the citizen allows it,
	// without the citizen present.
	Offline bool
	Keep    time.Duration
}

// consentFor works out, by the release policy (storage/release), which
// claims the request would release to whom, and whether the citizen must
// be asked. It checks the client's permit again first: one suspended,
// revoked or expired since the request arrived gives an error wrapping
// release.ErrNotInForce, and nothing is asked or recorded.
func (h *Handler) consentFor(ctx context.Context, ar storage.AuthRequest, citizenID string) (consentNeed, bool, error) {
	c, err := h.cfg.Store.Client(ctx, ar.ClientID)
	if err != nil {
		return consentNeed{}, false, err
	}
	if c.PermitID == "" {
		return consentNeed{}, false, fmt.Errorf("system without a permit: %w", release.ErrNotInForce)
	}
	pm, err := h.cfg.Store.Permit(ctx, c.PermitID)
	if errors.Is(err, storage.ErrNotFound) {
		return consentNeed{}, false, fmt.Errorf("permit gone: %w", release.ErrNotInForce)
	}
	if err != nil {
		return consentNeed{}, false, err
	}
	ds, err := h.cfg.Store.Decisions(ctx, pm.ID)
	if err != nil {
		return consentNeed{}, false, err
	}
	now := h.now()
	pm = pm.At(now, ds)
	need := consentNeed{Permit: pm, Offline: slices.Contains(ar.Scopes, "offline_access"), Keep: h.cfg.RefreshTokenTTL}
	if c.RefreshTokenTTL > 0 {
		need.Keep = c.RefreshTokenTTL
	}
	if err := release.InForce(pm, now); err != nil {
		return need, false, err
	}
	claims := release.Requested(pm, ar.Purpose, ar.Scopes, ar.Claims)
	if len(claims) == 0 {
		return need, false, nil // nothing but the pairwise sub
	}
	need.Purpose, _ = pm.Purpose(ar.Purpose)
	need.Claims = claims
	if need.Agency, err = h.cfg.Store.Agency(ctx, pm.AgencyID); err != nil {
		return consentNeed{}, false, err
	}
	if slices.Contains(ar.Prompt, "consent") {
		return need, true, nil
	}
	con, err := h.cfg.Store.Consent(ctx, citizenID, pm.ID, need.Purpose.Code)
	if errors.Is(err, storage.ErrNotFound) {
		return need, true, nil
	}
	if err != nil {
		return consentNeed{}, false, err
	}
	return need, !release.Covers(&con, pm, claims), nil
}

// refuseForPermit ends a request whose client's permit is no longer in
// force (consentFor's release.ErrNotInForce): the client gets
// unauthorized_client, the trail records the refusal, and no consent is
// asked or stored.
func (h *Handler) refuseForPermit(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, citizenID string, need consentNeed, err error) {
	ctx := r.Context()
	h.log.WarnContext(ctx, "login: sign-in for a permit not in force refused", "client_id", ar.ClientID, "err", err)
	if !h.audit(ctx, storage.AuditEntry{Type: storage.AuditConsentGiven, Actor: actor(citizenID), CitizenID: citizenID,
		AgencyID: need.Permit.AgencyID, PermitID: need.Permit.ID, ClientID: ar.ClientID, Purpose: ar.Purpose,
		Outcome: "failure", Detail: "permit_" + release.Standing(need.Permit, h.now())}) {
		h.fail(w, r, http.StatusInternalServerError, "error_title")
		return
	}
	h.failRequest(w, r, ar, "unauthorized_client")
}

type consentData struct {
	AgencyName string
	Category   string
	PermitNo   string
	Purpose    string
	// Access says how long the agency keeps access (PDPA s.23 notice:
	// retention). The legal basis is consent (s.19): nothing is released
	// to an agency without the consent this page asks for.
	Access string
	Claims []consentClaim
}

func (h *Handler) renderConsent(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, need consentNeed) {
	p := h.newPage(w, r, ar.ID)
	p.ReturnTo = formOrigin(ar.RedirectURI) // allow and deny both end at the client
	p.Next = consentURL(ar.ID)
	d := consentData{AgencyName: need.Agency.NameTH, Category: p.T["category_"+need.Agency.Category], PermitNo: need.Permit.Number, Purpose: need.Purpose.DescriptionTH}
	if p.Lang == "en" {
		d.AgencyName, d.Purpose = need.Agency.NameEN, need.Purpose.DescriptionEN
	}
	d.Access = p.T["consent_access_once"]
	if need.Offline {
		d.Access = fmt.Sprintf(p.T["consent_access_offline"], waitText(p.Lang, need.Keep))
	}
	purposes := claimPurposes(ar.Claims)
	for _, c := range need.Claims {
		d.Claims = append(d.Claims, consentClaim{Text: claimWords(p.T, c), Purpose: purposes[c]})
	}
	p.Data = d
	h.render(w, r, http.StatusOK, "consent.html", p)
}

// consentPage is the consent page a sign-in redirects to (complete). A
// session that did not sign in during this request goes through the entry
// instead, which applies single sign-on's rules (prompt, max_age) before it
// shows the page.
func (h *Handler) consentPage(w http.ResponseWriter, r *http.Request) {
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
		http.Redirect(w, r, URL(ar.ID), http.StatusSeeOther)
		return
	}
	h.complete(w, r, ar, s)
}

// consentSubmit takes the citizen's answer. The citizen is whoever the
// browser's session says, never a form field.
func (h *Handler) consentSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(r) {
		h.fail(w, r, http.StatusForbidden, "bad_input")
		return
	}
	ctx := r.Context()
	ar, _, ok := h.loadRequest(w, r, r.PostFormValue("authRequestID"))
	if !ok {
		return
	}
	s, ok, err := h.session(r)
	if err != nil {
		h.internal(w, r, "load session", err)
		return
	}
	if !ok {
		h.fail(w, r, http.StatusBadRequest, "expired")
		return
	}
	need, ask, err := h.consentFor(ctx, ar, s.Subject)
	if errors.Is(err, release.ErrNotInForce) {
		h.refuseForPermit(w, r, ar, s.Subject, need, err)
		return
	}
	if err != nil {
		h.internal(w, r, "consent", err)
		return
	}
	if !ask {
		h.finish(w, r, ar, s, storage.SignIn{}, nil)
		return
	}
	if r.PostFormValue("decision") != "allow" {
		// Unrecorded, the denial does not end the request: the citizen sees
		// the error page and may answer again; nothing is released.
		if !h.audit(ctx, storage.AuditEntry{Type: storage.AuditConsentGiven, Actor: "citizen:" + s.Subject, CitizenID: s.Subject,
			AgencyID: need.Agency.ID, PermitID: need.Permit.ID, ClientID: ar.ClientID, Purpose: need.Purpose.Code, Claims: need.Claims, Outcome: "failure", Detail: "denied"}) {
			h.fail(w, r, http.StatusInternalServerError, "error_title")
			return
		}
		h.failRequest(w, r, ar, "access_denied")
		return
	}
	id, err := keys.RandomToken(16)
	if err != nil {
		h.internal(w, r, "random", err)
		return
	}
	claims := slices.Clone(need.Claims)
	slices.Sort(claims)
	// The consent and its entry commit together: a consent the trail
	// cannot record is not stored, and nothing is released under it.
	e := storage.AuditEntry{At: h.now(), Type: storage.AuditConsentGiven, Actor: "citizen:" + s.Subject, CitizenID: s.Subject,
		AgencyID: need.Agency.ID, PermitID: need.Permit.ID, ClientID: ar.ClientID, Purpose: need.Purpose.Code, Claims: claims, Outcome: "success"}
	// One transaction gives the consent and completes the request.
	h.finish(w, r, ar, s, storage.SignIn{Consent: storage.Consent{ID: id, CitizenID: s.Subject, AgencyID: need.Agency.ID, PermitID: need.Permit.ID,
		PermitVersion: need.Permit.Version, Purpose: need.Purpose.Code, Claims: claims, GivenAt: h.now()}}, storage.Record{e})
}

// audit appends an entry; it reports whether that worked. Every caller
// fails closed on false: what the entry records does not happen, or a
// refusal becomes the generic error page.
//
// Actions that write (a session, a consent, a withdrawal, a sign-out, a
// proofing, an enrolment) pass their entry to the store method instead,
// which commits both in one transaction.
func (h *Handler) audit(ctx context.Context, e storage.AuditEntry) bool {
	e.At = h.now()
	if _, err := h.cfg.Store.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		h.log.ErrorContext(ctx, "login: audit", "type", e.Type, "err", err)
		return false
	}
	return true
}

// errUnrecorded: an entry could not be written, so the action was not done.
var errUnrecorded = errors.New("the audit trail could not be written")

// undo records that the action a success entry e announced was not done
// after all (its write failed), with a reason code.
func (h *Handler) undo(ctx context.Context, e storage.AuditEntry, why string) {
	e.Outcome, e.Detail = "failure", strings.TrimSpace(e.Detail+" "+why)
	h.audit(ctx, e)
}

// lockedOut records a refusal by the lock-out policy (ThrottlePolicy):
// Detail "lockout_<kind>_<lock>", the kind of attempt (signin, proof,
// enrol) and what refused it — the ID number's lock (id), proving identity
// again required (reproof), or this browser or address slowed down
// (delay). Only a known citizen's refusals are recorded, under their
// internal ID: anyone can type any ID number, and recording refusals for
// numbers nobody holds would let anyone fill the trail with noise that
// concerns no one. citizenID may be given ("" looks the ID number up).
// The error is errUnrecorded when the entry could not be written.
func (h *Handler) lockedOut(ctx context.Context, g gate, pid, citizenID string, wt wait) error {
	if citizenID == "" {
		c, err := h.cfg.Store.CitizenByPID(ctx, pid)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("load citizen: %w", err)
		}
		citizenID = c.ID
	}
	if !h.audit(ctx, lockoutEntry(g, citizenID, wt)) {
		return errUnrecorded
	}
	return nil
}

// lockoutEntry is the entry of lockedOut, for a known citizen.
func lockoutEntry(g gate, citizenID string, wt wait) storage.AuditEntry {
	lock := "delay"
	switch {
	case wt.proof:
		lock = "reproof"
	case wt.id:
		lock = "id"
	}
	typ := storage.AuditSignIn
	if g.kind == "proof" {
		typ = storage.AuditProofing
	}
	return storage.AuditEntry{Type: typ, Actor: actor(citizenID), CitizenID: citizenID, Outcome: "failure",
		Detail: "lockout_" + g.kind + "_" + lock}
}

// endSession signs a session out with rec, its entry, and then ends the
// grants the applications hold from its sign-ins, as the provider's
// end_session does: their back-channel logouts are owed from that
// revocation (an outbox row written with it).
func (h *Handler) endSession(ctx context.Context, id string, rec storage.Record) error {
	if err := h.cfg.Store.DeleteSession(ctx, id, rec); err != nil {
		return err
	}
	if _, err := h.cfg.Store.RevokeGrants(ctx, storage.GrantFilter{SessionID: id}, h.now()); err != nil {
		// Signed out all the same; the grants live on until they expire.
		h.log.ErrorContext(ctx, "login: revoke the session's grants", "err", err)
	}
	return nil
}

// signedOut is the record of the end of a citizen's sign-on session(s),
// written with the deletion: unrecorded, the session stays.
func (h *Handler) signedOut(citizenID, detail string) storage.Record {
	return storage.Record{{At: h.now(), Type: storage.AuditSignOut, Actor: actor(citizenID), CitizenID: citizenID, Outcome: "success", Detail: detail}}
}

// consentClaim is one line of the consent page: the claim in plain
// language and, when the application gave one, its own reason for asking.
type consentClaim struct {
	Text    string
	Purpose string
}

// claimPurposes reads the per-claim purposes an application may send in
// the claims request parameter (OpenID Connect for Identity Assurance 1.0
// §6.2: {"userinfo": {"given_name": {"purpose": "…"}}}, and inside
// verified_claims' claims), of 3 to 300 characters as that section
// requires (the provider refuses others at authorize). The agency's
// permitted purpose is what the page states in any case.
func claimPurposes(raw []byte) map[string]string {
	req, err := release.ParseClaimsRequest(raw)
	if err != nil {
		return map[string]string{}
	}
	return req.Purposes()
}
