package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/release"
)

// The read methods serve the views. DOPA staff (officers, approvers,
// auditors) read everything; an agency's supervisors read only their own
// agency's records. A refused read is audited; reads that succeed are not,
// except the view of an agency's accesses, which shows whose data went where.

// reader authorizes a read by any role, auditing a refusal.
func (s *Service) reader(ctx context.Context, actor storage.Admin, what string) (storage.Admin, error) {
	a, err := s.authorize(ctx, actor, readers...)
	if err != nil {
		s.record(ctx, actor, event{detail: "read_" + what}, err)
	}
	return a, err
}

// refuse audits a read of another agency's records and returns ErrForbidden.
func (s *Service) refuse(ctx context.Context, a storage.Admin, ev event) error {
	ev.detail = "read_" + ev.detail
	s.record(ctx, a, ev, ErrForbidden)
	return ErrForbidden
}

// Agencies lists the agencies the administrator may read.
func (s *Service) Agencies(ctx context.Context, actor storage.Admin) ([]storage.Agency, error) {
	a, err := s.reader(ctx, actor, "agencies")
	if err != nil {
		return nil, err
	}
	all, err := s.ps.Agencies(ctx)
	if err != nil {
		return nil, fmt.Errorf("list agencies: %w", err)
	}
	return slices.DeleteFunc(all, func(ag storage.Agency) bool { return !mayReadAgency(a, ag.ID) }), nil
}

// Agency returns one agency.
func (s *Service) Agency(ctx context.Context, actor storage.Admin, id string) (storage.Agency, error) {
	a, err := s.reader(ctx, actor, "agency")
	if err != nil {
		return storage.Agency{}, err
	}
	if !mayReadAgency(a, id) {
		return storage.Agency{}, s.refuse(ctx, a, event{detail: "agency", agencyID: id})
	}
	ag, err := s.ps.Agency(ctx, id)
	if err != nil {
		return storage.Agency{}, notFound(err, "agency", id)
	}
	return ag, nil
}

// Applications lists an agency's applications; agencyID "" lists every
// agency's (for a supervisor: their own agency's).
func (s *Service) Applications(ctx context.Context, actor storage.Admin, agencyID string) ([]storage.Application, error) {
	a, err := s.reader(ctx, actor, "applications")
	if err != nil {
		return nil, err
	}
	if agencyID == "" && a.Role == storage.RoleSupervisor {
		agencyID = a.AgencyID
	}
	if !mayReadAgency(a, agencyID) {
		return nil, s.refuse(ctx, a, event{detail: "applications", agencyID: agencyID})
	}
	ids := []string{agencyID}
	if agencyID == "" {
		all, err := s.ps.Agencies(ctx)
		if err != nil {
			return nil, fmt.Errorf("list agencies: %w", err)
		}
		ids = ids[:0]
		for _, ag := range all {
			ids = append(ids, ag.ID)
		}
	}
	var out []storage.Application
	for _, id := range ids {
		apps, err := s.ps.ApplicationsByAgency(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("list applications: %w", err)
		}
		out = append(out, apps...)
	}
	return out, nil
}

// Application returns one application.
func (s *Service) Application(ctx context.Context, actor storage.Admin, id string) (storage.Application, error) {
	a, err := s.reader(ctx, actor, "application")
	if err != nil {
		return storage.Application{}, err
	}
	app, err := s.ps.Application(ctx, id)
	if err != nil {
		return storage.Application{}, notFound(err, "application", id)
	}
	if !mayReadAgency(a, app.AgencyID) {
		return storage.Application{}, s.refuse(ctx, a, event{detail: "application", agencyID: app.AgencyID})
	}
	return app, nil
}

// Permits lists the permits of an agency, newest first; agencyID "" lists
// every agency's (for a supervisor: their own agency's).
func (s *Service) Permits(ctx context.Context, actor storage.Admin, agencyID string) ([]storage.Permit, error) {
	a, err := s.reader(ctx, actor, "permits")
	if err != nil {
		return nil, err
	}
	if agencyID == "" && a.Role == storage.RoleSupervisor {
		agencyID = a.AgencyID
	}
	if !mayReadAgency(a, agencyID) {
		return nil, s.refuse(ctx, a, event{detail: "permits", agencyID: agencyID})
	}
	ps, err := s.ps.Permits(ctx, agencyID)
	if err != nil {
		return nil, fmt.Errorf("list permits: %w", err)
	}
	return ps, nil
}

// Permit returns one permit.
func (s *Service) Permit(ctx context.Context, actor storage.Admin, id string) (storage.Permit, error) {
	pm, err := s.permitFor(ctx, actor, id, "permit")
	return pm, err
}

// permitFor loads a permit the administrator may read.
func (s *Service) permitFor(ctx context.Context, actor storage.Admin, id, what string) (storage.Permit, error) {
	a, err := s.reader(ctx, actor, what)
	if err != nil {
		return storage.Permit{}, err
	}
	pm, err := s.ps.Permit(ctx, id)
	if err != nil {
		return storage.Permit{}, notFound(err, "permit", id)
	}
	if !mayReadAgency(a, pm.AgencyID) {
		return storage.Permit{}, s.refuse(ctx, a, event{detail: what, agencyID: pm.AgencyID, permitID: pm.ID})
	}
	return pm, nil
}

// Decisions lists a permit's decisions in the order recorded.
func (s *Service) Decisions(ctx context.Context, actor storage.Admin, permitID string) ([]storage.Decision, error) {
	if _, err := s.permitFor(ctx, actor, permitID, "decisions"); err != nil {
		return nil, err
	}
	ds, err := s.ps.Decisions(ctx, permitID)
	if err != nil {
		return nil, fmt.Errorf("list decisions: %w", err)
	}
	return ds, nil
}

// Clients lists the systems registered under a permit, without their
// secret hashes.
func (s *Service) Clients(ctx context.Context, actor storage.Admin, permitID string) ([]storage.Client, error) {
	if _, err := s.permitFor(ctx, actor, permitID, "systems"); err != nil {
		return nil, err
	}
	cs, err := s.ps.ClientsByPermit(ctx, permitID)
	if err != nil {
		return nil, fmt.Errorf("list systems: %w", err)
	}
	for i := range cs {
		cs[i].SecretHash = ""
	}
	return cs, nil
}

// Client returns one registered system, without its secret hash.
func (s *Service) Client(ctx context.Context, actor storage.Admin, clientID string) (storage.Client, error) {
	a, err := s.reader(ctx, actor, "system")
	if err != nil {
		return storage.Client{}, err
	}
	c, err := s.store.Client(ctx, clientID)
	if err != nil {
		return storage.Client{}, notFound(err, "system", clientID)
	}
	if a.Role == storage.RoleSupervisor {
		pm, err := s.ps.Permit(ctx, c.PermitID)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return storage.Client{}, fmt.Errorf("load permit: %w", err)
		}
		if err != nil || !mayReadAgency(a, pm.AgencyID) {
			return storage.Client{}, s.refuse(ctx, a, event{detail: "system", agencyID: pm.AgencyID, clientID: c.ID})
		}
	}
	c.SecretHash = ""
	return c, nil
}

// Admins lists the administrator accounts, without their secrets (DOPA
// staff only).
func (s *Service) Admins(ctx context.Context, actor storage.Admin) ([]storage.Admin, error) {
	if _, err := s.authorize(ctx, actor, staff...); err != nil {
		s.record(ctx, actor, event{detail: "read_admins"}, err)
		return nil, err
	}
	all, err := s.ps.Admins(ctx)
	if err != nil {
		return nil, fmt.Errorf("list administrators: %w", err)
	}
	for i := range all {
		all[i] = public(all[i])
	}
	return all, nil
}

// AuditTrail lists audit entries (DOPA staff only; supervisors have
// AgencyAccesses).
func (s *Service) AuditTrail(ctx context.Context, actor storage.Admin, f storage.AuditFilter) ([]storage.AuditEntry, error) {
	if _, err := s.authorize(ctx, actor, staff...); err != nil {
		s.record(ctx, actor, event{detail: "read_audit"}, err)
		return nil, err
	}
	es, err := s.ps.AuditEntries(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list audit entries: %w", err)
	}
	return es, nil
}

// Access is one release of a citizen's data to an agency's system, as the
// agency's supervisors see it (clause 9): the citizen by the pairwise sub
// the agency received, never the national ID number unless the permit
// grants the pid claim for the purpose.
type Access struct {
	At         time.Time
	Type       string // storage.AuditTokenIssued, AuditUserinfo or AuditIntrospection
	ClientID   string
	ClientName string
	Purpose    string
	Claims     []string // names, never values
	Subject    string   // the agency's pairwise sub
	PID        string   // only where the permit grants pid for the purpose
	IAL        string
	// Outcome is "success" for a release, "failure" for a refused
	// attempt, whose Detail is the reason code (permit_suspended,
	// unregistered_network, client_secret_invalid, …).
	Outcome string
	Detail  string
}

// releaseTypes are the audit entries that record a release of data.
var releaseTypes = []string{storage.AuditTokenIssued, storage.AuditUserinfo, storage.AuditIntrospection}

// accessTypes are the entries of the accesses view: releases and the
// agency's refused attempts — at these endpoints, at authorization and
// revocation, and at the consent page (a permit no longer in force).
var accessTypes = append(slices.Clone(releaseTypes), storage.AuditAuthorization, storage.AuditRevocation, storage.AuditConsentGiven)

// AgencyAccesses lists the releases to an agency's systems and the
// agency's refused attempts (Outcome failure), newest first, at most limit
// (default and cap 1000): for the agency's supervisors and DOPA's
// auditors. The view itself is audited.
func (s *Service) AgencyAccesses(ctx context.Context, actor storage.Admin, agencyID string, limit int) (_ []Access, err error) {
	ev := event{detail: "view_accesses", agencyID: agencyID}
	defer func() { err = s.record(ctx, actor, ev, err) }()
	a, err := s.authorize(ctx, actor, storage.RoleSupervisor, storage.RoleAuditor)
	if err != nil {
		return nil, err
	}
	if !mayReadAgency(a, agencyID) {
		return nil, ErrForbidden
	}
	if _, err := s.ps.Agency(ctx, agencyID); err != nil {
		return nil, notFound(err, "agency", agencyID)
	}
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	es, err := s.ps.AuditEntries(ctx, storage.AuditFilter{AgencyID: agencyID, Types: accessTypes, Limit: limit, Newest: true})
	if err != nil {
		return nil, fmt.Errorf("list audit entries: %w", err)
	}
	sector := "agency:" + agencyID
	clients := map[string]string{}
	permits := map[string]storage.Permit{}
	pids := map[string]string{}
	out := make([]Access, 0, len(es))
	for _, e := range es {
		if e.Type == storage.AuditConsentGiven && (e.Outcome != "failure" || e.Detail == "denied") {
			// A consent the citizen gave or denied is theirs, not an
			// attempt of the agency: only the consent page's refusals of
			// the agency's permit are shown.
			continue
		}
		outcome := e.Outcome
		if outcome == "" {
			outcome = "success"
		}
		acc := Access{At: e.At, Type: e.Type, ClientID: e.ClientID, Purpose: e.Purpose, Claims: e.Claims, IAL: e.IAL, Outcome: outcome, Detail: e.Detail}
		if e.CitizenID != "" {
			acc.Subject = keys.PairwiseSubject(s.cfg.PairwiseKey, sector, e.CitizenID)
		}
		if name, ok := clients[e.ClientID]; ok {
			acc.ClientName = name
		} else if e.ClientID != "" {
			c, err := s.store.Client(ctx, e.ClientID)
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return nil, fmt.Errorf("load system: %w", err)
			}
			clients[e.ClientID], acc.ClientName = c.Name, c.Name
		}
		pm, ok := permits[e.PermitID]
		if !ok && e.PermitID != "" {
			pm, err = s.ps.Permit(ctx, e.PermitID)
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return nil, fmt.Errorf("load permit: %w", err)
			}
			permits[e.PermitID] = pm
		}
		// The ID number only where it was actually released in this entry
		// (granted, asked for and consented to), never merely grantable.
		if e.CitizenID != "" && pm.AgencyID == agencyID && grantsPID(pm, e.Purpose) &&
			(slices.Contains(e.Claims, "pid") || slices.Contains(e.Claims, release.VerifiedClaimName("pid"))) {
			pid, ok := pids[e.CitizenID]
			if !ok {
				c, err := s.store.Citizen(ctx, e.CitizenID)
				if err != nil && !errors.Is(err, storage.ErrNotFound) {
					return nil, fmt.Errorf("load citizen: %w", err)
				}
				pid, pids[e.CitizenID] = c.PID, c.PID
			}
			acc.PID = pid
		}
		out = append(out, acc)
	}
	return out, nil
}

// grantsPID reports whether the permit grants the pid claim for the
// purpose (or, for an entry without one, for its only purpose).
func grantsPID(pm storage.Permit, purpose string) bool {
	if purpose == "" && len(pm.Purposes) == 1 {
		purpose = pm.Purposes[0].Code
	}
	pu, ok := pm.Purpose(purpose)
	return ok && slices.Contains(pu.Claims, "pid")
}
