package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/release"
)

// Renewal (clause 5: an agency uses the service only under an approved,
// unexpired permit). A permit is renewed or extended in two steps by two
// people, as an application is approved: an officer or approver records
// the agency's request with the grant it asks for (RequestRenewal), and
// another approver decides it (Decide with action renew). The permit keeps
// its ID, number and registered systems (client IDs); its validity period,
// purposes, conditions and supervisors become the requested ones.
//
// Citizens' consents: a consent names the permit Version it was given
// for, and every change of the permit asks again — except that a renewed
// purpose which is neither new nor wider (no claim it did not grant
// before) keeps Purpose.ConsentFrom, so the consents given since carry
// over (release.Covers). A purpose that is new or widened gets
// ConsentFrom = the renewed version: its citizens are asked again.

// RequestRenewal records an agency's request to renew or extend an
// approved permit (officer or approver), with the grant it asks for: the
// purposes and claims (within what the application asked for), a new
// validity period that ends after the current one, conditions and the
// appointed supervisors. It changes nothing until another approver
// decides it; a later request replaces an earlier one not yet decided.
func (s *Service) RequestRenewal(ctx context.Context, actor storage.Admin, permitID string, g Grant) (_ storage.Decision, err error) {
	ev := event{typ: storage.AuditPermitDecision, detail: storage.DecisionRequestRenewal, permitID: permitID}
	defer func() { err = s.record(ctx, actor, ev, err) }()
	a, err := s.authorize(ctx, actor, makers...)
	if err != nil {
		return storage.Decision{}, err
	}
	pm, err := s.ps.Permit(ctx, permitID)
	if err != nil {
		return storage.Decision{}, notFound(err, "permit", permitID)
	}
	ev.agencyID = pm.AgencyID
	if pm.State != storage.PermitApproved {
		return storage.Decision{}, fmt.Errorf("renew a permit that is %s: %w", pm.State, ErrState)
	}
	now := s.now()
	payload, err := s.checkRenewalGrant(ctx, pm, g, now)
	if err != nil {
		return storage.Decision{}, err
	}
	id, err := newID()
	if err != nil {
		return storage.Decision{}, err
	}
	// Recorded applied: it changes nothing, and is never due.
	d := storage.Decision{ID: id, PermitID: pm.ID, Action: storage.DecisionRequestRenewal, By: a.ID,
		RecordedAt: now, EffectiveAt: now, AppliedAt: now, Payload: payload}
	if err = s.ps.CreateDecision(ctx, d, s.recordOf(a, ev)); err != nil {
		return storage.Decision{}, fmt.Errorf("store renewal request: %w", err)
	}
	ev.recorded = true
	return d, nil
}

// checkRenewalGrant validates a requested renewal's grant against the
// permit's application and current period, and returns it encoded.
func (s *Service) checkRenewalGrant(ctx context.Context, pm storage.Permit, g Grant, now time.Time) ([]byte, error) {
	app, err := s.ps.Application(ctx, pm.ApplicationID)
	if err != nil {
		return nil, notFound(err, "application", pm.ApplicationID)
	}
	p := problems{}
	g.Purposes = slices.Clone(g.Purposes)
	g.Supervisors = slices.Clone(g.Supervisors)
	out := checkGrant(p, app, g)
	if p["grant.valid_until"] == "" && !out.ValidUntil.IsZero() {
		switch {
		case !out.ValidUntil.After(pm.ValidUntil):
			p.add("grant.valid_until", "must be after the permit's current end: a renewal extends it")
		case !out.ValidUntil.After(now):
			p.add("grant.valid_until", "must be in the future")
		}
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return encodeGrant(out)
}

// PendingRenewal returns the renewal request of the permit that awaits a
// decision: the latest one recorded after the latest renewal.
func PendingRenewal(ds []storage.Decision) (storage.Decision, bool) {
	var req storage.Decision
	found := false
	for _, d := range ds {
		switch d.Action {
		case storage.DecisionRequestRenewal:
			req, found = d, true
		case storage.DecisionRenew:
			found = false
		}
	}
	return req, found
}

// checkRenewal is Decide's check of a renewal by approver a: a request
// awaits, recorded by someone else, and its grant still extends the
// permit. It returns the grant to apply.
func (s *Service) checkRenewal(ctx context.Context, a storage.Admin, pm storage.Permit, now time.Time) ([]byte, error) {
	ds, err := s.ps.Decisions(ctx, pm.ID)
	if err != nil {
		return nil, fmt.Errorf("list decisions: %w", err)
	}
	req, ok := PendingRenewal(ds)
	if !ok {
		return nil, fmt.Errorf("renew a permit with no renewal request: %w", ErrState)
	}
	if req.By == a.ID {
		return nil, ErrMakerChecker
	}
	g, err := decodeGrant(req.Payload)
	if err != nil {
		return nil, fmt.Errorf("renewal request %s: %w", req.ID, err)
	}
	// Checked again: the permit or the clock may have moved since.
	return s.checkRenewalGrant(ctx, pm, g, now)
}

// renewedPurposes are the purposes a renewal grants, each with the
// version from which consents to it count: kept where the purpose was
// granted before with at least these claims, else the renewed version
// (old.Version+1, as the store writes it).
func renewedPurposes(old storage.Permit, ps []storage.Purpose) []storage.Purpose {
	out := slices.Clone(ps)
	for i, np := range out {
		op, ok := old.Purpose(np.Code)
		switch {
		case ok && subset(np.Claims, op.Claims) && op.ConsentFrom > 0:
			out[i].ConsentFrom = op.ConsentFrom
		case ok && subset(np.Claims, op.Claims):
			out[i].ConsentFrom = old.Version
		default:
			out[i].ConsentFrom = old.Version + 1
		}
	}
	return out
}

// rescope gives every system of a renewed permit the scopes its purposes
// now allow; the client IDs, secrets and keys stay.
func (s *Service) rescope(ctx context.Context, pm storage.Permit, now time.Time) error {
	cs, err := s.ps.ClientsByPermit(ctx, pm.ID)
	if err != nil {
		return err
	}
	scopes := release.ClientScopes(pm)
	var errs []error
	for _, c := range cs {
		if slices.Equal(c.Scopes, scopes) {
			continue
		}
		// The renewal's entry, committed with it, records the change.
		if _, err := s.store.UpdateClient(ctx, c.ID, func(c storage.Client) (storage.Client, error) {
			c.Scopes, c.UpdatedAt = scopes, now
			return c, nil
		}, nil); err != nil {
			errs = append(errs, fmt.Errorf("client %s: %w", c.ID, err))
		}
	}
	return errors.Join(errs...)
}
