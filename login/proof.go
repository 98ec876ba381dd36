package login

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/release"
)

// Flow steps.
const (
	stepFace   = "face"   // registry matched; face verification next
	stepStepUp = "stepup" // signed in; a fresh face verification raises the level
	stepEnrol  = "enrol"  // proofed; authenticator enrolment next
)

// startFlow stores a new flow and gives the browser its cookie.
func (h *Handler) startFlow(w http.ResponseWriter, r *http.Request, f storage.Flow) error {
	v, err := keys.RandomToken(32)
	if err != nil {
		return err
	}
	now := h.now()
	f.ID, f.CreatedAt, f.ExpiresAt = hashID(v), now, now.Add(h.cfg.FlowTTL)
	// A kiosk code is short: two live flows may, very rarely, draw the
	// same one, which the store refuses.
	for try := 0; ; try++ {
		if f.Nonce, err = newKioskCode(); err != nil {
			return err
		}
		err = h.cfg.Store.CreateFlow(r.Context(), f)
		if err == nil {
			break
		}
		if !errors.Is(err, storage.ErrAlreadyExists) || try == 2 {
			return err
		}
	}
	h.setCookie(w, "dopaid-flow", v, h.cfg.FlowTTL, http.SameSiteLaxMode)
	return nil
}

// flow returns the browser's live flow if it is at one of the steps.
func (h *Handler) flow(w http.ResponseWriter, r *http.Request, steps ...string) (storage.Flow, bool) {
	v := h.cookie(r, "dopaid-flow")
	if v != "" {
		f, err := h.cfg.Store.Flow(r.Context(), hashID(v), h.now())
		if err == nil {
			for _, s := range steps {
				if f.Step == s {
					return f, true
				}
			}
		} else if !errors.Is(err, storage.ErrNotFound) {
			h.internal(w, r, "load flow", err)
			return f, false
		}
	}
	h.fail(w, r, http.StatusBadRequest, "expired")
	return storage.Flow{}, false
}

type proofData struct {
	PID, FirstName, LastName, Day, Month, Year, Laser string
}

// proofRequest loads the request a proofing continues; a proofing without
// one (authRequestID empty) is a citizen proving their identity again from
// the portal to replace a lost authenticator, and ends at the portal.
func (h *Handler) proofRequest(w http.ResponseWriter, r *http.Request, id string) (storage.AuthRequest, bool) {
	if id == "" {
		return storage.AuthRequest{}, true
	}
	ar, _, ok := h.loadRequest(w, r, id)
	return ar, ok
}

func (h *Handler) proofForm(w http.ResponseWriter, r *http.Request) {
	ar, ok := h.proofRequest(w, r, r.URL.Query().Get("authRequestID"))
	if !ok {
		return
	}
	h.device(w, r)
	p := h.newPage(w, r, ar.ID)
	if ar.ID == "" {
		p.Next = Path + "/proof"
	}
	p.Data = proofData{}
	h.render(w, r, http.StatusOK, "proof.html", p)
}

// proofRegistry is step 1: the citizen's details against the registry.
// Any mismatch, an unknown ID number, or a record that is not alive get
// the same answer.
func (h *Handler) proofRegistry(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(r) {
		h.fail(w, r, http.StatusForbidden, "bad_input")
		return
	}
	ctx := r.Context()
	ar, ok := h.proofRequest(w, r, r.PostFormValue("authRequestID"))
	if !ok {
		return
	}
	in := proofData{
		PID: r.PostFormValue("pid"), FirstName: r.PostFormValue("first_name"), LastName: r.PostFormValue("last_name"),
		Day: r.PostFormValue("birth_day"), Month: r.PostFormValue("birth_month"), Year: r.PostFormValue("birth_year"),
		Laser: r.PostFormValue("laser"),
	}
	// What the citizen typed is shown again with any answer (the laser
	// code too: the page is not stored, and retyping it helps no one).
	again := func(status int, msg string, wt wait, fields map[string]string) {
		p := h.newPage(w, r, ar.ID)
		p.Error = refusal{msg: msg, wait: wt}.text(w, p)
		p.Fields = translated(p.T, fields)
		p.Data = in
		h.render(w, r, status, "proof.html", p)
	}
	pid, first, last, typed, laser, fields := proofFields(in)
	if len(fields) > 0 {
		again(http.StatusBadRequest, "form_invalid", wait{}, fields)
		return
	}
	// Counted before the comparison (see admit); a match gives it back, so
	// that only failures — registry or face — add up for this citizen.
	g := h.gate(w, r, "proof", pid)
	if wt, err := h.admit(ctx, &g); err != nil {
		h.internal(w, r, "throttle", err)
		return
	} else if wt.refused() {
		if err := h.lockedOut(ctx, g, pid, "", wt); err != nil {
			h.internal(w, r, "lock-out", err)
			return
		}
		again(http.StatusTooManyRequests, "locked", wt, nil)
		return
	}
	m, err := h.cfg.Registry.Match(ctx, RegistryQuery{PID: pid, First: first, Last: last, Birthdate: typed, Laser: laser})
	if errors.Is(err, ErrRegistryUnavailable) {
		// Fail closed, and not as a mismatch: the attempt is given back.
		if err := h.matched(ctx, g); err != nil {
			h.internal(w, r, "throttle", err)
			return
		}
		again(http.StatusServiceUnavailable, "registry_unavailable", wait{}, nil)
		return
	} else if err != nil {
		h.internal(w, r, "registry match", err)
		return
	}
	c, matched, ok := m.Citizen, m.Matched, m.OK
	if ok && !c.CardValid(storage.BEDateOf(h.now())) {
		// An expired or cancelled card's laser code earns no assurance.
		matched = slices.DeleteFunc(matched, func(f string) bool { return f == "laser_code" })
	}
	if !ok {
		// The attempt was counted by the throttle (admit), so recording it
		// — under the citizen's internal ID when the ID number is
		// someone's, never the number — cannot flood the trail.
		if !h.audit(ctx, storage.AuditEntry{Type: storage.AuditProofing, Actor: actor(c.ID), CitizenID: c.ID, ClientID: ar.ClientID, Outcome: "failure", Detail: "registry_mismatch"}) {
			h.internal(w, r, "audit", errUnrecorded)
			return
		}
		if err := h.failed(ctx, g); err != nil {
			h.internal(w, r, "throttle", err)
			return
		}
		again(http.StatusUnauthorized, "proof_failed", wait{}, nil)
		return
	}
	if err := h.matched(ctx, g); err != nil {
		h.internal(w, r, "throttle", err)
		return
	}
	if !h.audit(ctx, storage.AuditEntry{Type: storage.AuditProofing, Actor: actor(c.ID), CitizenID: c.ID, ClientID: ar.ClientID, Claims: matched, Outcome: "success", Detail: "registry_match",
		IAL: AssuranceLevel(matched, nil, h.cfg.Assurance)}) {
		h.internal(w, r, "audit", errUnrecorded)
		return
	}
	if err := h.startFlow(w, r, storage.Flow{AuthRequestID: ar.ID, CitizenID: c.ID, Step: stepFace, Matched: matched,
		IAL: AssuranceLevel(matched, nil, h.cfg.Assurance)}); err != nil {
		h.internal(w, r, "start flow", err)
		return
	}
	http.Redirect(w, r, Path+"/face", http.StatusSeeOther)
}

// proofFields reads the proofing form. Each format error — one that needs
// no registry and says nothing about anyone's record — is named at its
// field (by the input's id, a key of messages as the value): a check digit
// that does not match, a Common-Era year, a laser code of the wrong shape.
func proofFields(in proofData) (pid, first, last string, typed storage.BEDate, laser string, fields map[string]string) {
	fields = map[string]string{}
	var err error
	if pid, err = storage.ParsePID(in.PID); err != nil {
		fields["pid"] = pidError(err)
	}
	first, last = storage.FoldName(in.FirstName), storage.FoldName(in.LastName)
	if first == "" || len(first) > 200 {
		fields["first_name"] = "err_first_name"
	}
	if last == "" || len(last) > 200 {
		fields["last_name"] = "err_last_name"
	}
	var field, key string
	typed, field, key = birthdateFields(in.Day, in.Month, in.Year)
	if field != "" {
		fields[field] = key
	}
	if strings.TrimSpace(in.Laser) != "" {
		if laser, err = storage.NormalizeLaserCode(in.Laser); err != nil {
			fields["laser"] = "err_laser"
		}
	}
	return pid, first, last, typed, laser, fields
}

// pidError is the message key for an ID number storage.ParsePID refused.
func pidError(err error) string {
	switch {
	case errors.Is(err, storage.ErrPIDCheckDigit):
		return "err_pid_check"
	case errors.Is(err, storage.ErrPIDCategory):
		return "err_pid_category"
	}
	return "err_pid_format"
}

// birthdateFields reads the birthdate fields (typedBirthdate) and names the
// field that is wrong and why: a year that reads as Common Era (a citizen
// born in 1987 who typed 1987, not 2530) gets its own answer.
func birthdateFields(day, month, year string) (storage.BEDate, string, string) {
	y, err := strconv.Atoi(storage.NormalizeInput(year))
	switch {
	case err != nil:
		return storage.BEDate{}, "birth_year", "err_year"
	case y >= 1800 && y < 2400:
		return storage.BEDate{}, "birth_year", "err_year_ce"
	case y < 2400 || y > 2700:
		return storage.BEDate{}, "birth_year", "err_year"
	}
	b, err := typedBirthdate(day, month, year)
	if err == nil {
		return b, "", ""
	}
	if m, merr := strconv.Atoi(storage.NormalizeInput(month)); (merr != nil && strings.TrimSpace(month) != "") || m < 0 || m > 12 {
		return storage.BEDate{}, "birth_month", "err_month"
	}
	return storage.BEDate{}, "birth_day", "err_day"
}

// translated turns message keys by field into the page's language.
func translated(t map[string]string, keys map[string]string) map[string]string {
	if len(keys) == 0 {
		return nil
	}
	out := make(map[string]string, len(keys))
	for f, k := range keys {
		out[f] = t[k]
	}
	return out
}

// typedBirthdate reads the birthdate fields, in Thai or full-width digits
// too (storage.NormalizeInput); day and month may be left "unknown" (0)
// when the card itself shows none.
func typedBirthdate(day, month, year string) (storage.BEDate, error) {
	y, err := strconv.Atoi(storage.NormalizeInput(year))
	if err != nil {
		return storage.BEDate{}, err
	}
	m, _ := strconv.Atoi(storage.NormalizeInput(month))
	d, _ := strconv.Atoi(storage.NormalizeInput(day))
	b := storage.BEDate{Year: y, Month: m, Day: d}
	return b, b.Validate()
}

type faceData struct {
	Nonce  string
	StepUp bool
	Notice string
}

func (h *Handler) faceForm(w http.ResponseWriter, r *http.Request) {
	f, ok := h.flow(w, r, stepFace, stepStepUp)
	if !ok {
		return
	}
	h.renderFace(w, r, f, http.StatusOK, "")
}

func (h *Handler) renderFace(w http.ResponseWriter, r *http.Request, f storage.Flow, status int, msg string) {
	h.renderFaceRefusal(w, r, f, status, refusal{msg: msg})
}

func (h *Handler) renderFaceRefusal(w http.ResponseWriter, r *http.Request, f storage.Flow, status int, no refusal) {
	p := h.newPage(w, r, f.AuthRequestID)
	if no.msg != "" {
		p.Error = no.text(w, p)
	}
	if f.Step == stepStepUp {
		// A step-up ends at the client.
		if ar, err := h.cfg.Store.AuthRequest(r.Context(), f.AuthRequestID, h.now()); err == nil {
			p.ReturnTo = formOrigin(ar.RedirectURI)
		}
	}
	p.Data = faceData{Nonce: kioskDisplay(f.Nonce), StepUp: f.Step == stepStepUp}
	h.render(w, r, status, "face.html", p)
}

// faceSubmit is step 2: the selfie (or, in development, the simulator's
// choice) goes to the face verifier once and is not kept.
func (h *Handler) faceSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(r) {
		h.fail(w, r, http.StatusForbidden, "bad_input")
		return
	}
	ctx := r.Context()
	f, ok := h.flow(w, r, stepFace, stepStepUp)
	if !ok {
		return
	}
	if h.cfg.Face == nil {
		h.renderFace(w, r, f, http.StatusServiceUnavailable, "face_unavailable")
		return
	}
	c, err := h.cfg.Store.Citizen(ctx, f.CitizenID)
	if err != nil {
		h.internal(w, r, "load citizen", err)
		return
	}
	// Failed face attempts count like failed registry matches: no unlimited
	// selfies against one citizen's registry photo.
	g := h.gate(w, r, "proof", c.PID)
	if wt, err := h.locked(ctx, g); err != nil {
		h.internal(w, r, "throttle", err)
		return
	} else if wt.refused() {
		if err := h.lockedOut(ctx, g, "", c.ID, wt); err != nil {
			h.internal(w, r, "lock-out", err)
			return
		}
		h.renderFaceRefusal(w, r, f, http.StatusTooManyRequests, refusal{msg: "locked", wait: wt})
		return
	}
	req := FaceRequest{PhotoRef: c.PhotoRef, Nonce: f.Nonce}
	if h.cfg.Simulator {
		req.Simulate = r.PostFormValue("simulate")
	}
	if file, hdr, err := r.FormFile("selfie"); err == nil {
		req.Selfie, err = io.ReadAll(io.LimitReader(file, maxFormBytes))
		file.Close()
		if err != nil {
			h.renderFace(w, r, f, http.StatusBadRequest, "face_failed")
			return
		}
		req.ContentType = hdr.Header.Get("Content-Type")
	}
	res, err := h.cfg.Face.Verify(ctx, req)
	req.Selfie = nil
	switch {
	case errors.Is(err, ErrBadSelfie):
		h.renderFace(w, r, f, http.StatusBadRequest, "face_failed")
		return
	case errors.Is(err, ErrFaceUnavailable):
		h.log.WarnContext(ctx, "login: face verifier unavailable", "err", err)
		h.renderFace(w, r, f, http.StatusServiceUnavailable, "face_unavailable")
		return
	case err != nil:
		h.internal(w, r, "face verify", err)
		return
	}
	h.faceDone(w, r, f, c, res)
}

// faceCheck continues after a verification at a service point, whose
// signed result arrived through the API (signedResult).
func (h *Handler) faceCheck(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(r) {
		h.fail(w, r, http.StatusForbidden, "bad_input")
		return
	}
	f, ok := h.flow(w, r, stepFace, stepStepUp)
	if !ok {
		return
	}
	if f.Face == nil {
		h.renderFace(w, r, f, http.StatusOK, "kiosk_pending")
		return
	}
	c, err := h.cfg.Store.Citizen(r.Context(), f.CitizenID)
	if err != nil {
		h.internal(w, r, "load citizen", err)
		return
	}
	g := h.gate(w, r, "proof", c.PID)
	if wt, err := h.locked(r.Context(), g); err != nil {
		h.internal(w, r, "throttle", err)
		return
	} else if wt.refused() {
		if err := h.lockedOut(r.Context(), g, "", c.ID, wt); err != nil {
			h.internal(w, r, "lock-out", err)
			return
		}
		h.renderFaceRefusal(w, r, f, http.StatusTooManyRequests, refusal{msg: "locked", wait: wt})
		return
	}
	h.faceDone(w, r, f, c, *f.Face)
}

// requester is the system whose sign-in a flow's proofing is for, which
// the proofing's entries name: clause 6's usage statements count proofing
// checks against that system's agency. "" for a proofing no system asked
// for (from the citizen's page) or whose request is gone.
func (h *Handler) requester(ctx context.Context, f storage.Flow) string {
	if f.AuthRequestID == "" {
		return ""
	}
	ar, err := h.cfg.Store.AuthRequest(ctx, f.AuthRequestID, h.now())
	if err != nil {
		return ""
	}
	return ar.ClientID
}

// faceDone acts on a face result: a mismatch or a presentation attack is a
// failed attempt; a match is kept as evidence and raises the level.
func (h *Handler) faceDone(w http.ResponseWriter, r *http.Request, f storage.Flow, c storage.Citizen, res storage.FaceResult) {
	ctx := r.Context()
	passed := res.Match && res.Score >= res.Threshold && res.Liveness != LivenessAttack
	if !passed {
		detail := "face_mismatch"
		if res.Liveness == LivenessAttack {
			detail = "presentation_attack"
		}
		if !h.audit(ctx, storage.AuditEntry{Type: storage.AuditProofing, Actor: actor(c.ID), CitizenID: c.ID, ClientID: h.requester(ctx, f), Outcome: "failure", Detail: detail}) {
			h.internal(w, r, "audit", errUnrecorded)
			return
		}
		if err := h.recordFailure(ctx, h.gate(w, r, "proof", c.PID)); err != nil {
			h.internal(w, r, "throttle", err)
			return
		}
		_, _ = h.cfg.Store.UpdateFlow(ctx, f.ID, h.now(), func(f storage.Flow) (storage.Flow, error) { f.Face = nil; return f, nil })
		h.renderFace(w, r, f, http.StatusUnauthorized, "face_failed")
		return
	}
	ial := AssuranceLevel(f.Matched, &res, h.cfg.Assurance)
	id, err := keys.RandomToken(16)
	if err != nil {
		h.internal(w, r, "random", err)
		return
	}
	// The proofing and its entry commit together: no proofing (and no
	// level it raises) exists that the trail has not recorded.
	e := storage.AuditEntry{At: h.now(), Type: storage.AuditProofing, Actor: actor(c.ID), CitizenID: c.ID, ClientID: h.requester(ctx, f),
		Claims: f.Matched, IAL: ial, Outcome: "success", Detail: "face_match"}
	if err := h.cfg.Store.CreateProofing(ctx, storage.Proofing{ID: id, CitizenID: c.ID, IAL: ial, Matched: f.Matched, Face: &res, CreatedAt: h.now()}, storage.Record{e}); err != nil {
		h.internal(w, r, "store proofing", err)
		return
	}
	// Proving identity again is the way back in: this browser passes the
	// ID number's sign-in lock, whoever caused it.
	if err := h.cfg.Store.ClearThrottle(ctx, h.gate(w, r, "proof", c.PID).browser); err != nil {
		h.log.ErrorContext(ctx, "login: clear throttle", "err", err)
	}
	if err := h.proven(ctx, w, r, c.PID); err != nil {
		h.internal(w, r, "throttle", err)
		return
	}
	if f.Step == stepStepUp {
		ar, _, ok := h.loadRequest(w, r, f.AuthRequestID)
		if !ok {
			return
		}
		// The proofing's entry above records this sign-in too.
		s, err := h.startSession(w, r, c.ID, []string{"face", "otp"}, ial, storage.SignIn{}, nil, nil)
		if err != nil {
			h.internal(w, r, "start session", err)
			return
		}
		_ = h.cfg.Store.DeleteFlow(ctx, f.ID)
		h.setCookie(w, "dopaid-flow", "", -1, http.SameSiteLaxMode)
		if !release.Satisfies(ial, ar.ACRValues) {
			h.failRequest(w, r, ar, "access_denied")
			return
		}
		h.complete(w, r, ar, s)
		return
	}
	_, err = h.cfg.Store.UpdateFlow(ctx, f.ID, h.now(), func(f storage.Flow) (storage.Flow, error) {
		f.Step, f.Face, f.IAL = stepEnrol, &res, ial
		return f, nil
	})
	if err != nil {
		h.internal(w, r, "update flow", err)
		return
	}
	http.Redirect(w, r, Path+"/enrol", http.StatusSeeOther)
}

// signedResult receives a face result signed by a registered external
// verifier, bound to a flow by its nonce. JSON answers; no cookies.
func (h *Handler) signedResult(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	answer := func(status int, code string) {
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		answer(http.StatusMethodNotAllowed, "method_not_allowed")
		return
	}
	if h.cfg.Signed == nil {
		answer(http.StatusNotFound, "not_enabled")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
	if err != nil || len(body) > 64<<10 {
		answer(http.StatusBadRequest, "invalid_request")
		return
	}
	ctx := r.Context()
	sr, err := h.cfg.Signed.VerifyResult(ctx, strings.TrimSpace(string(body)))
	nonce, res := sr.Nonce, sr.Result
	switch {
	case errors.Is(err, ErrResultReplayed):
		answer(http.StatusConflict, "replayed")
		return
	case errors.Is(err, ErrResultExpired):
		answer(http.StatusBadRequest, "expired")
		return
	case errors.Is(err, ErrResultSignature):
		answer(http.StatusUnauthorized, "invalid_signature")
		return
	case errors.Is(err, ErrResultInvalid):
		answer(http.StatusBadRequest, "invalid_result")
		return
	case err != nil:
		h.log.ErrorContext(ctx, "login: verify signed face result", "err", err)
		answer(http.StatusInternalServerError, "server_error")
		return
	}
	now := h.now()
	// A verifier that keeps presenting codes of no live flow, or of another
	// person's flow, is slowed down (see kioskAlphabet for the bound).
	vkey := "kiosk:verifier:" + mac(h.cfg.ThrottleKey, sr.Issuer)
	if wt, err := h.delayed(ctx, now, vkey); err != nil {
		h.log.ErrorContext(ctx, "login: kiosk throttle", "err", err)
		answer(http.StatusInternalServerError, "server_error")
		return
	} else if wt.refused() {
		w.Header().Set("Retry-After", strconv.Itoa(int(wt.d.Round(time.Second)/time.Second)+1))
		answer(http.StatusTooManyRequests, "slow_down")
		return
	}
	kioskFailed := func() bool {
		_, err := h.cfg.Store.RecordFailure(ctx, vkey, now, func(t storage.Throttle) storage.Throttle {
			return h.countFailure(t, now, kioskFreeTries)
		})
		if err != nil {
			h.log.ErrorContext(ctx, "login: kiosk throttle", "err", err)
			answer(http.StatusInternalServerError, "server_error")
		}
		return err == nil
	}
	code, ok := normalizeKioskCode(nonce)
	f, err := storage.Flow{}, storage.ErrNotFound
	if ok {
		f, err = h.cfg.Store.FlowByNonce(ctx, code, now)
	}
	if errors.Is(err, storage.ErrNotFound) {
		if kioskFailed() {
			answer(http.StatusNotFound, "unknown_nonce")
		}
		return
	} else if err != nil {
		h.log.ErrorContext(ctx, "login: flow by nonce", "err", err)
		answer(http.StatusInternalServerError, "server_error")
		return
	}
	// The face verified must be the flow's citizen: the verifier names the
	// ID number on the card it checked.
	c, err := h.cfg.Store.Citizen(ctx, f.CitizenID)
	if err != nil {
		h.log.ErrorContext(ctx, "login: load citizen for signed result", "err", err)
		answer(http.StatusInternalServerError, "server_error")
		return
	}
	if subtle.ConstantTimeCompare([]byte(c.PID), []byte(sr.PID)) != 1 {
		if !kioskFailed() {
			return
		}
		if !h.audit(ctx, storage.AuditEntry{Type: storage.AuditProofing, Actor: actor(c.ID), CitizenID: c.ID, ClientID: h.requester(ctx, f), Outcome: "failure", Detail: "face_result_other_person"}) {
			answer(http.StatusInternalServerError, "server_error")
			return
		}
		answer(http.StatusConflict, "subject_mismatch")
		return
	}
	_, err = h.cfg.Store.UpdateFlow(ctx, f.ID, now, func(f storage.Flow) (storage.Flow, error) {
		// One result per code: a second one waits until the first has
		// been acted on (faceCheck clears a failed one).
		if (f.Step != stepFace && f.Step != stepStepUp) || f.Face != nil {
			return f, storage.ErrConflict
		}
		f.Face = &res
		return f, nil
	})
	if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
		answer(http.StatusConflict, "flow_not_waiting")
		return
	} else if err != nil {
		h.log.ErrorContext(ctx, "login: attach face result", "err", err)
		answer(http.StatusInternalServerError, "server_error")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type enrolData struct {
	// QR is a data: URI of the QR code PNG, marked safe because the
	// provider encodes every byte of it: html/template would otherwise
	// replace it with #ZgotmplZ and the page would show no QR code.
	QR     template.URL
	Secret string // the key, grouped for typing
	// Replaces: the citizen has an authenticator, which this one replaces
	// (its codes and recovery codes stop working).
	Replaces bool
}

// enrolForm shows a new TOTP secret as a QR code. The secret waits, sealed,
// in the flow until the citizen proves the app has it.
func (h *Handler) enrolForm(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f, ok := h.flow(w, r, stepEnrol)
	if !ok {
		return
	}
	c, err := h.cfg.Store.Citizen(ctx, f.CitizenID)
	if err != nil {
		h.internal(w, r, "load citizen", err)
		return
	}
	account := accountName(c)
	var secret string
	if len(f.PendingSecret) > 0 {
		b, err := h.cfg.Envelope.Open(f.PendingSecret, []byte("totp-pending:"+f.ID))
		if err != nil {
			h.internal(w, r, "open pending secret", err)
			return
		}
		secret = string(b)
	} else {
		k, err := newTOTPKey(h.issuerLabel(), account)
		if err != nil {
			h.internal(w, r, "new totp key", err)
			return
		}
		secret = k.Secret()
		sealed, err := h.cfg.Envelope.Seal([]byte(secret), []byte("totp-pending:"+f.ID))
		if err != nil {
			h.internal(w, r, "seal secret", err)
			return
		}
		if _, err := h.cfg.Store.UpdateFlow(ctx, f.ID, h.now(), func(f storage.Flow) (storage.Flow, error) {
			f.PendingSecret = sealed
			return f, nil
		}); err != nil {
			h.internal(w, r, "update flow", err)
			return
		}
	}
	h.renderEnrol(w, r, f, secret, account, http.StatusOK, "")
}

func (h *Handler) renderEnrol(w http.ResponseWriter, r *http.Request, f storage.Flow, secret, account string, status int, msg string) {
	h.renderEnrolRefusal(w, r, f, secret, account, status, refusal{msg: msg})
}

func (h *Handler) renderEnrolRefusal(w http.ResponseWriter, r *http.Request, f storage.Flow, secret, account string, status int, no refusal) {
	k, err := totpKeyFor(h.issuerLabel(), account, secret)
	if err != nil {
		h.internal(w, r, "totp key", err)
		return
	}
	img, err := k.Image(240, 240)
	if err != nil {
		h.internal(w, r, "qr image", err)
		return
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		h.internal(w, r, "qr png", err)
		return
	}
	p := h.newPage(w, r, f.AuthRequestID)
	if no.msg != "" {
		p.Error = no.text(w, p)
	}
	_, err = h.cfg.Store.Authenticator(r.Context(), f.CitizenID, "totp")
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.internal(w, r, "load authenticator", err)
		return
	}
	p.Data = enrolData{QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())), Secret: group(secret, 4),
		Replaces: err == nil}
	h.render(w, r, status, "enrol.html", p)
}

// enrolSubmit finishes enrolment with a first valid code, signs the
// citizen in, and shows the recovery codes once.
func (h *Handler) enrolSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(r) {
		h.fail(w, r, http.StatusForbidden, "bad_input")
		return
	}
	ctx := r.Context()
	f, ok := h.flow(w, r, stepEnrol)
	if !ok {
		return
	}
	if len(f.PendingSecret) == 0 {
		http.Redirect(w, r, Path+"/enrol", http.StatusSeeOther)
		return
	}
	c, err := h.cfg.Store.Citizen(ctx, f.CitizenID)
	if err != nil {
		h.internal(w, r, "load citizen", err)
		return
	}
	b, err := h.cfg.Envelope.Open(f.PendingSecret, []byte("totp-pending:"+f.ID))
	if err != nil {
		h.internal(w, r, "open pending secret", err)
		return
	}
	secret := string(b)
	g := h.gate(w, r, "enrol", c.PID)
	if wt, err := h.locked(ctx, g); err != nil {
		h.internal(w, r, "throttle", err)
		return
	} else if wt.refused() {
		if err := h.lockedOut(ctx, g, "", c.ID, wt); err != nil {
			h.internal(w, r, "lock-out", err)
			return
		}
		h.renderEnrolRefusal(w, r, f, secret, accountName(c), http.StatusTooManyRequests, refusal{msg: "locked", wait: wt})
		return
	}
	step, ok := matchTOTP(secret, storage.NormalizeInput(r.PostFormValue("code")), h.now())
	if !ok {
		if err := h.recordFailure(ctx, g); err != nil {
			h.internal(w, r, "throttle", err)
			return
		}
		h.renderEnrol(w, r, f, secret, accountName(c), http.StatusUnauthorized, "enrol_failed")
		return
	}
	authID, err := keys.RandomToken(16)
	if err != nil {
		h.internal(w, r, "random", err)
		return
	}
	sealed, err := h.cfg.Envelope.Seal([]byte(secret), []byte("totp:"+authID))
	if err != nil {
		h.internal(w, r, "seal secret", err)
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
	now := h.now()
	// The authenticator and its entry commit together: an authenticator
	// (and the session it starts) the trail cannot record is not created.
	e := storage.AuditEntry{At: now, Type: storage.AuditSignIn, Actor: "citizen:" + c.ID, CitizenID: c.ID, IAL: f.IAL, Outcome: "success", Detail: "enrolled"}
	if err := h.cfg.Store.CreateAuthenticator(ctx, storage.Authenticator{ID: authID, CitizenID: c.ID, Type: "totp", Secret: sealed, RecoveryCodes: hashes, CreatedAt: now}, storage.Record{e}); err != nil {
		h.internal(w, r, "store authenticator", err)
		return
	}
	// The enrolment code is spent: it cannot sign in afterwards.
	if err := h.cfg.Store.UseOnce(ctx, "totp:"+authID, itoa(step), now.Add(2*totpPeriod*time.Second), now); err != nil {
		h.internal(w, r, "spend code", err)
		return
	}
	if err := h.cfg.Store.ClearThrottle(ctx, g.browser); err != nil {
		h.log.ErrorContext(ctx, "login: clear throttle", "err", err)
	}
	amr := []string{"otp"}
	if f.Face != nil {
		amr = []string{"face", "otp"}
	}
	// The enrolment's entry above records this sign-in too; should the
	// session not start, a second entry says so.
	s, err := h.startSession(w, r, c.ID, amr, f.IAL, storage.SignIn{}, nil, nil)
	if err != nil {
		h.undo(ctx, e, "session_not_started")
		h.internal(w, r, "start session", err)
		return
	}
	_ = h.cfg.Store.DeleteFlow(ctx, f.ID)
	h.setCookie(w, "dopaid-flow", "", -1, http.SameSiteLaxMode)
	// The codes are shown by a GET (recoveryCodes), so that a reload or the
	// language switch shows them again instead of losing them: until the
	// citizen continues they wait in the browser, sealed to this session,
	// and nowhere on the server.
	sealedCodes, err := h.cfg.Envelope.Seal([]byte(strings.Join(codes, " ")), []byte(recoveryAD+s.ID))
	if err != nil {
		h.internal(w, r, "seal recovery codes", err)
		return
	}
	h.setCookie(w, recoveryCookie, base64.RawURLEncoding.EncodeToString(sealedCodes), h.cfg.FlowTTL, http.SameSiteStrictMode)
	http.Redirect(w, r, recoveryURL(f.AuthRequestID), http.StatusSeeOther)
}

const (
	recoveryCookie = "dopaid-recovery"
	recoveryAD     = "recovery-codes:"
)

func recoveryURL(authRequestID string) string {
	if authRequestID == "" {
		return Path + "/recovery"
	}
	return Path + "/recovery?authRequestID=" + url.QueryEscape(authRequestID)
}

// recoveryCodes shows the recovery codes of the enrolment just finished,
// to the session it started only. The request is completed by /continue,
// after the citizen has kept the codes (and consented, if the request
// releases claims); /continue forgets them.
func (h *Handler) recoveryCodes(w http.ResponseWriter, r *http.Request) {
	s, ok, err := h.session(r)
	if err != nil {
		h.internal(w, r, "load session", err)
		return
	}
	v := h.cookieValue(r, recoveryCookie)
	if !ok || v == "" {
		h.fail(w, r, http.StatusBadRequest, "expired")
		return
	}
	sealed, err := base64.RawURLEncoding.DecodeString(v)
	var b []byte
	if err == nil {
		b, err = h.cfg.Envelope.Open(sealed, []byte(recoveryAD+s.ID))
	}
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, "expired")
		return
	}
	id := r.URL.Query().Get("authRequestID")
	if !storage.ValidText(id) || len(id) > 200 {
		id = ""
	}
	p := h.newPage(w, r, id)
	p.Data = struct {
		Codes    []string
		Continue string
	}{strings.Fields(string(b)), continueAfterCodes(id)}
	h.render(w, r, http.StatusOK, "recovery.html", p)
}

// continueAfterCodes is where the recovery codes page continues: the
// request the enrolment was part of, or the portal.
func continueAfterCodes(authRequestID string) string {
	if authRequestID == "" {
		return mePath
	}
	return Path + "/continue?authRequestID=" + url.QueryEscape(authRequestID)
}

func (h *Handler) issuerLabel() string { return "DOPA-Digital ID" }

// accountName labels the key in the authenticator app without the ID number.
func accountName(c storage.Citizen) string {
	if c.NameEN.First != "" {
		return c.NameEN.First
	}
	return "citizen"
}

func group(s string, n int) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && i%n == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}
