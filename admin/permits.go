package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// makers may record agencies and applications.
var makers = []string{storage.RoleOfficer, storage.RoleApprover}

// maxSkew is how far in the past an "effective at" may lie and still mean
// "now", and how far in the future an acceptance time may lie.
const maxSkew = time.Minute

// CreateAgency registers an agency (officer or approver).
func (s *Service) CreateAgency(ctx context.Context, actor storage.Admin, a storage.Agency) (out storage.Agency, err error) {
	ev := event{detail: "create_agency"}
	defer func() { err = s.record(ctx, actor, ev, err) }()
	if _, err = s.authorize(ctx, actor, makers...); err != nil {
		return storage.Agency{}, err
	}
	a.Contacts = slices.Clone(a.Contacts)
	if a, err = checkAgency(a); err != nil {
		return storage.Agency{}, err
	}
	if a.RegistrationNo != "" {
		all, err := s.ps.Agencies(ctx)
		if err != nil {
			return storage.Agency{}, fmt.Errorf("list agencies: %w", err)
		}
		for _, o := range all {
			if o.RegistrationNo == a.RegistrationNo {
				return storage.Agency{}, &ValidationError{Fields: map[string]string{"registration_no": "an agency with this registration number is registered already"}}
			}
		}
	}
	if a.ID, err = newID(); err != nil {
		return storage.Agency{}, err
	}
	now := s.now()
	a.CreatedAt, a.UpdatedAt = now, now
	ev.agencyID = a.ID
	if err = s.ps.CreateAgency(ctx, a, s.recordOf(actor, ev)); err != nil {
		return storage.Agency{}, fmt.Errorf("store agency: %w", err)
	}
	ev.recorded = true
	return a, nil
}

// RecordApplication records an agency's written application (officer or
// approver: an approver who records one cannot decide it) and opens a
// pending permit for it, with a new permit number.
func (s *Service) RecordApplication(ctx context.Context, actor storage.Admin, app storage.Application) (_ storage.Application, _ storage.Permit, err error) {
	ev := event{detail: "record_application", agencyID: app.AgencyID}
	defer func() { err = s.record(ctx, actor, ev, err) }()
	a, err := s.authorize(ctx, actor, makers...)
	if err != nil {
		return storage.Application{}, storage.Permit{}, err
	}
	app.Purposes = slices.Clone(app.Purposes)
	app.Systems = slices.Clone(app.Systems)
	app, p := s.checkApplication(app)
	if _, ok := p["agency_id"]; !ok {
		if _, err := s.ps.Agency(ctx, app.AgencyID); errors.Is(err, storage.ErrNotFound) {
			p.add("agency_id", "no agency has this ID")
		} else if err != nil {
			return storage.Application{}, storage.Permit{}, fmt.Errorf("load agency: %w", err)
		}
	}
	if err = p.err(); err != nil {
		return storage.Application{}, storage.Permit{}, err
	}
	now := s.now()
	if app.ID, err = newID(); err != nil {
		return storage.Application{}, storage.Permit{}, err
	}
	app.RecordedBy = a.ID
	app.CreatedAt = now
	// The application is recorded with its entry, which names the permit
	// it opens; if the permit then cannot be opened, the deferred record
	// says so (… after_recorded).
	permitID, err := newID()
	if err != nil {
		return storage.Application{}, storage.Permit{}, err
	}
	ev.permitID = permitID
	if err = s.ps.CreateApplication(ctx, app, s.recordOf(actor, ev)); err != nil {
		return storage.Application{}, storage.Permit{}, fmt.Errorf("store application: %w", err)
	}
	ev.recorded = true
	pm, err := s.openPermit(ctx, app, permitID, now)
	if err != nil {
		return storage.Application{}, storage.Permit{}, err
	}
	return app, pm, nil
}

// openPermit creates the pending permit of an application. Its number is
// PREFIX-<Buddhist Era year>-<sequence within the year>; two replicas
// numbering at once collide on the store's unique number and the loser
// takes the next.
func (s *Service) openPermit(ctx context.Context, app storage.Application, id string, now time.Time) (storage.Permit, error) {
	pm := storage.Permit{
		ID: id, AgencyID: app.AgencyID, ApplicationID: app.ID, State: storage.PermitPending,
		Version: 1, CreatedAt: now, UpdatedAt: now,
	}
	prefix := fmt.Sprintf("%s-%d-", s.cfg.PermitNumberPrefix, now.In(bangkok).Year()+543)
	for range 20 {
		all, err := s.ps.Permits(ctx, "")
		if err != nil {
			return storage.Permit{}, fmt.Errorf("list permits: %w", err)
		}
		seq := 0
		for _, o := range all {
			if n, err := strconv.Atoi(strings.TrimPrefix(o.Number, prefix)); err == nil && strings.HasPrefix(o.Number, prefix) {
				seq = max(seq, n)
			}
		}
		pm.Number = fmt.Sprintf("%s%04d", prefix, seq+1)
		err = s.ps.CreatePermit(ctx, pm)
		if err == nil {
			return pm, nil
		}
		if !errors.Is(err, storage.ErrAlreadyExists) {
			return storage.Permit{}, fmt.Errorf("store permit: %w", err)
		}
	}
	return storage.Permit{}, errors.New("store permit: no free permit number after 20 attempts")
}

// bangkok is Thailand's time zone (no daylight saving), which decides the
// year in a permit number.
var bangkok = time.FixedZone("ICT", 7*60*60)

// Grant is what an approval grants: purposes (each a subset of what the
// application asked for), the validity period, conditions and the
// supervisors the agency appointed.
type Grant struct {
	Purposes    []storage.Purpose
	ValidFrom   time.Time
	ValidUntil  time.Time
	Conditions  string
	Supervisors []storage.Supervisor
}

// DecisionRequest is an approver's decision on a permit.
type DecisionRequest struct {
	// Action is approve, reject, suspend, reinstate or revoke.
	Action string
	// Notice is the written notice or reason (clause 11); required to
	// reject, suspend or revoke.
	Notice string
	// EffectiveAt schedules the decision (advance notice); zero means now.
	EffectiveAt time.Time
	// Grant is required to approve, and refused otherwise.
	Grant *Grant
}

// transitions are the permit state machine: which states an action
// applies to and the state it leads to. Rejected and revoked are final;
// expiry is by date (Permit.Active), not a state.
var transitions = map[string]struct {
	from []string
	to   string
}{
	storage.DecisionApprove:   {[]string{storage.PermitPending}, storage.PermitApproved},
	storage.DecisionReject:    {[]string{storage.PermitPending}, storage.PermitRejected},
	storage.DecisionSuspend:   {[]string{storage.PermitApproved}, storage.PermitSuspended},
	storage.DecisionReinstate: {[]string{storage.PermitSuspended}, storage.PermitApproved},
	storage.DecisionRevoke:    {[]string{storage.PermitApproved, storage.PermitSuspended}, storage.PermitRevoked},
	// A renewal gives an approved permit (in force or expired by date) a
	// new validity period; see RequestRenewal.
	storage.DecisionRenew: {[]string{storage.PermitApproved}, storage.PermitApproved},
}

// Actions lists the decisions Decide takes, in the order of a permit's life.
var Actions = []string{storage.DecisionApprove, storage.DecisionReject, storage.DecisionSuspend, storage.DecisionReinstate, storage.DecisionRevoke, storage.DecisionRenew}

// noticeRequired: the actions that need a written notice (clause 11).
var noticeRequired = []string{storage.DecisionReject, storage.DecisionSuspend, storage.DecisionRevoke}

// allowed reports whether action may be taken on a permit in state.
func allowed(action, state string) bool {
	t, ok := transitions[action]
	return ok && slices.Contains(t.from, state)
}

// grantPayload is an approval's Decision.Payload.
type grantPayload struct {
	Purposes    []purposeJSON    `json:"purposes"`
	ValidFrom   time.Time        `json:"valid_from"`
	ValidUntil  time.Time        `json:"valid_until"`
	Conditions  string           `json:"conditions,omitempty"`
	Supervisors []supervisorJSON `json:"supervisors"`
}

type purposeJSON struct {
	Code          string   `json:"code"`
	DescriptionTH string   `json:"description_th"`
	DescriptionEN string   `json:"description_en"`
	Claims        []string `json:"claims"`
}

type supervisorJSON struct {
	Name     string `json:"name"`
	Position string `json:"position"`
	Email    string `json:"email,omitempty"`
	Phone    string `json:"phone,omitempty"`
	OrderRef string `json:"order_ref"`
}

func encodeGrant(g Grant) ([]byte, error) {
	gp := grantPayload{ValidFrom: g.ValidFrom.UTC(), ValidUntil: g.ValidUntil.UTC(), Conditions: g.Conditions}
	for _, p := range g.Purposes {
		gp.Purposes = append(gp.Purposes, purposeJSON{Code: p.Code, DescriptionTH: p.DescriptionTH, DescriptionEN: p.DescriptionEN, Claims: p.Claims})
	}
	for _, sv := range g.Supervisors {
		gp.Supervisors = append(gp.Supervisors, supervisorJSON(sv))
	}
	return json.Marshal(gp)
}

func decodeGrant(b []byte) (Grant, error) {
	var gp grantPayload
	if err := json.Unmarshal(b, &gp); err != nil {
		return Grant{}, err
	}
	g := Grant{ValidFrom: gp.ValidFrom, ValidUntil: gp.ValidUntil, Conditions: gp.Conditions}
	for _, p := range gp.Purposes {
		g.Purposes = append(g.Purposes, storage.Purpose{Code: p.Code, DescriptionTH: p.DescriptionTH, DescriptionEN: p.DescriptionEN, Claims: p.Claims})
	}
	for _, sv := range gp.Supervisors {
		g.Supervisors = append(g.Supervisors, storage.Supervisor(sv))
	}
	if len(g.Purposes) == 0 || len(g.Supervisors) == 0 || !g.ValidUntil.After(g.ValidFrom) {
		return Grant{}, errors.New("incomplete grant")
	}
	return g, nil
}

// Decide records an approver's decision on a permit. A decision effective
// now is applied at once; one effective later is stored, and ApplyDue
// applies it when it falls due, checking the state machine again then.
// It returns the decision and the permit as it stands afterwards.
func (s *Service) Decide(ctx context.Context, actor storage.Admin, permitID string, req DecisionRequest) (_ storage.Decision, _ storage.Permit, err error) {
	ev := event{typ: storage.AuditPermitDecision, detail: req.Action, permitID: permitID}
	if !slices.Contains(Actions, req.Action) {
		ev.detail = "decide"
	}
	defer func() { err = s.record(ctx, actor, ev, err) }()
	a, err := s.authorize(ctx, actor, storage.RoleApprover)
	if err != nil {
		return storage.Decision{}, storage.Permit{}, err
	}
	now := s.now()
	p := problems{}
	if !slices.Contains(Actions, req.Action) {
		p.add("action", "must be one of %s", strings.Join(Actions, ", "))
	}
	notice := p.text("notice", req.Notice, slices.Contains(noticeRequired, req.Action), maxText)
	if _, bad := p["notice"]; bad && notice == "" {
		p["notice"] = fmt.Sprintf("a written notice is required to %s a permit (clause 11)", req.Action)
	}
	eff := req.EffectiveAt
	switch {
	case eff.IsZero():
		eff = now
	case eff.Before(now.Add(-maxSkew)):
		p.add("effective_at", "is in the past; leave it empty for now")
	case eff.Before(now):
		eff = now
	}
	switch {
	case req.Grant == nil && req.Action == storage.DecisionApprove:
		p.add("grant", "an approval needs the grant: purposes, validity period and supervisors")
	case req.Grant != nil && req.Action == storage.DecisionRenew:
		p.add("grant", "a renewal decides the grant its request recorded; record a new request to change it")
	case req.Grant != nil && req.Action != storage.DecisionApprove:
		p.add("grant", "only an approval grants purposes")
	}
	if req.Action == storage.DecisionRenew && eff.After(now) {
		p.add("effective_at", "a renewal takes effect when decided; its validity period says from when")
	}
	if err = p.err(); err != nil {
		return storage.Decision{}, storage.Permit{}, err
	}
	pm, err := s.ps.Permit(ctx, permitID)
	if err != nil {
		return storage.Decision{}, storage.Permit{}, notFound(err, "permit", permitID)
	}
	ev.agencyID = pm.AgencyID
	if !allowed(req.Action, pm.State) {
		return storage.Decision{}, pm, fmt.Errorf("%s a permit that is %s: %w", req.Action, pm.State, ErrState)
	}
	d := storage.Decision{PermitID: pm.ID, Action: req.Action, By: a.ID, Notice: notice, RecordedAt: now, EffectiveAt: eff}
	if req.Action == storage.DecisionApprove || req.Action == storage.DecisionReject {
		app, err := s.ps.Application(ctx, pm.ApplicationID)
		if err != nil {
			return storage.Decision{}, pm, notFound(err, "application", pm.ApplicationID)
		}
		if app.RecordedBy == a.ID {
			return storage.Decision{}, pm, ErrMakerChecker
		}
		if req.Action == storage.DecisionApprove {
			g := checkGrant(p, app, *req.Grant)
			if !g.ValidUntil.After(eff) && p["grant.valid_until"] == "" {
				p.add("grant.valid_until", "must be after the decision takes effect")
			}
			if err = p.err(); err != nil {
				return storage.Decision{}, pm, err
			}
			if d.Payload, err = encodeGrant(g); err != nil {
				return storage.Decision{}, pm, err
			}
		}
	}
	if req.Action == storage.DecisionRenew {
		if d.Payload, err = s.checkRenewal(ctx, a, pm, now); err != nil {
			return storage.Decision{}, pm, err
		}
	}
	if d.ID, err = newID(); err != nil {
		return storage.Decision{}, pm, err
	}
	if eff.After(now) {
		ev.detail += " scheduled"
	}
	// The decision and its entry commit together: a decision the trail
	// cannot record is not made.
	if err = s.ps.CreateDecision(ctx, d, s.recordOf(a, ev)); err != nil {
		return storage.Decision{}, pm, fmt.Errorf("store decision: %w", err)
	}
	ev.recorded = true
	if eff.After(now) {
		// Every replica's provider learns of it now, and enforces it at
		// its time (storage.Permit.At), before ApplyDue applies it.
		s.notify(ctx, pm.ID)
		return d, pm, nil
	}
	after, lapsed, err := s.apply(ctx, d, now, false)
	switch {
	case errors.Is(err, storage.ErrConflict):
		// Another replica's ApplyDue applied it first.
		after, err = s.ps.Permit(ctx, pm.ID)
		if err != nil {
			return d, pm, fmt.Errorf("load permit: %w", err)
		}
	case err != nil:
		return d, after, err
	case lapsed:
		// The state changed between the check above and the transaction.
		return d, after, fmt.Errorf("%s a permit that is %s: %w", req.Action, after.State, ErrState)
	}
	d.AppliedAt = now
	return d, after, nil
}

// ApplyDue applies the scheduled decisions that have fallen due and
// returns how many this call applied. Replicas may call it at once: the
// store lets exactly one apply each decision. A decision that the permit's
// state no longer allows (a permit revoked before a scheduled suspension)
// lapses: it is marked applied without changing the permit, and the audit
// trail says so.
func (s *Service) ApplyDue(ctx context.Context) (int, error) {
	now := s.now()
	ds, err := s.ps.DueDecisions(ctx, now)
	if err != nil {
		return 0, fmt.Errorf("list due decisions: %w", err)
	}
	n := 0
	var errs []error
	for _, d := range ds {
		_, _, err := s.apply(ctx, d, now, true)
		switch {
		case errors.Is(err, storage.ErrConflict):
			// Another replica applied it.
		case err != nil:
			errs = append(errs, fmt.Errorf("decision %s: %w", d.ID, err))
		default:
			n++
		}
	}
	return n, errors.Join(errs...)
}

// apply applies a recorded decision in one store transaction and then
// does what the new state requires: a suspended or revoked permit's
// tokens are revoked, and every replica is told. scheduled records the
// application in the audit trail, in the application's transaction (an
// immediate decision's entry is its caller's, written with the decision).
func (s *Service) apply(ctx context.Context, d storage.Decision, now time.Time, scheduled bool) (storage.Permit, bool, error) {
	lapsed := false
	// rec records a scheduled application, or its lapse.
	rec := func(p storage.Permit) storage.Record {
		if !scheduled {
			return nil
		}
		detail := d.Action + " applied"
		outcome := error(nil)
		if lapsed {
			detail = d.Action + " lapsed"
			outcome = ErrState
		}
		return storage.Record{s.entry(storage.Admin{}, event{typ: storage.AuditPermitDecision, actor: "system", detail: detail, agencyID: p.AgencyID, permitID: p.ID}, outcome)}
	}
	pm, err := s.ps.ApplyDecision(ctx, d.ID, now, func(p storage.Permit, d storage.Decision) (storage.Permit, storage.Record, error) {
		lapsed = false
		t, ok := transitions[d.Action]
		if !ok {
			// register_system and change_system are recorded applied;
			// nothing to do should one reach here.
			return p, rec(p), nil
		}
		if !slices.Contains(t.from, p.State) {
			lapsed = true
			return p, rec(p), nil
		}
		if d.Action == storage.DecisionApprove || d.Action == storage.DecisionRenew {
			g, err := decodeGrant(d.Payload)
			if err != nil {
				lapsed = true
				return p, rec(p), nil
			}
			if d.Action == storage.DecisionRenew {
				g.Purposes = renewedPurposes(p, g.Purposes)
			}
			p.Purposes, p.ValidFrom, p.ValidUntil = g.Purposes, g.ValidFrom, g.ValidUntil
			p.Conditions, p.Supervisors = g.Conditions, g.Supervisors
		}
		p.State = t.to
		p.UpdatedAt = now
		return p, rec(p), nil
	})
	if err != nil {
		return pm, false, err
	}
	if lapsed {
		return pm, true, nil
	}
	if d.Action == storage.DecisionRenew {
		// The systems keep their client IDs; what they may ask for follows
		// the renewed purposes.
		if err := s.rescope(ctx, pm, now); err != nil {
			s.log.ErrorContext(ctx, "admin: rescope the systems of a renewed permit", "permit", pm.ID, "err", err)
			s.record(ctx, storage.Admin{}, event{actor: "system", detail: "rescope_systems", agencyID: pm.AgencyID, permitID: pm.ID}, err)
		}
	}
	if d.Action == storage.DecisionSuspend || d.Action == storage.DecisionRevoke {
		// The decision stands either way: the provider refuses every token
		// of a permit not in force, so a failure here leaves dead rows, not
		// live tokens. It is logged and audited for an operator to retry.
		if err := s.revokeTokens(ctx, pm.ID, now); err != nil {
			s.log.ErrorContext(ctx, "admin: revoke the tokens of a permit", "permit", pm.ID, "state", pm.State, "err", err)
			s.record(ctx, storage.Admin{}, event{actor: "system", detail: "revoke_tokens", agencyID: pm.AgencyID, permitID: pm.ID}, err)
		}
	}
	s.notify(ctx, pm.ID)
	return pm, false, nil
}

// revokeTokens revokes every grant of every system of a permit.
func (s *Service) revokeTokens(ctx context.Context, permitID string, now time.Time) error {
	cs, err := s.ps.ClientsByPermit(ctx, permitID)
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range cs {
		if _, err := s.store.RevokeGrants(ctx, storage.GrantFilter{ClientID: c.ID}, now); err != nil {
			errs = append(errs, fmt.Errorf("client %s: %w", c.ID, err))
		}
	}
	return errors.Join(errs...)
}

// Status is how a permit reads to a person at now: its state, or expired
// / not_yet_valid for an approved permit outside its validity period.
func Status(p storage.Permit, now time.Time) string {
	if p.State == storage.PermitApproved {
		switch {
		case !now.Before(p.ValidUntil):
			return "expired"
		case now.Before(p.ValidFrom):
			return "not_yet_valid"
		}
	}
	return p.State
}
