package admin

import (
	"context"
	"errors"
	"fmt"

	"github.com/dopaid/dopaid/storage"
)

// SetSystemDisabled disables or enables one registered system (approver)
// without touching its permit or the permit's other systems: a disabled
// client is refused at every endpoint of the provider, and its grants are
// revoked. The change and its audit entry commit together.
func (s *Service) SetSystemDisabled(ctx context.Context, actor storage.Admin, clientID string, disabled bool) (_ storage.Client, err error) {
	ev := event{detail: "enable_system", clientID: clientID}
	if disabled {
		ev.detail = "disable_system"
	}
	defer func() { err = s.record(ctx, actor, ev, err) }()
	a, err := s.authorize(ctx, actor, storage.RoleApprover)
	if err != nil {
		return storage.Client{}, err
	}
	if _, _, err = s.systemAndPermit(ctx, clientID, &ev); err != nil {
		return storage.Client{}, err
	}
	now := s.now()
	c, err := s.store.UpdateClient(ctx, clientID, func(c storage.Client) (storage.Client, error) {
		if c.Disabled == disabled {
			return c, fmt.Errorf("the system is %s already: %w", map[bool]string{true: "disabled", false: "enabled"}[disabled], ErrState)
		}
		c.Disabled, c.UpdatedAt = disabled, now
		return c, nil
	}, s.recordOf(a, ev))
	if err != nil {
		if !errors.Is(err, ErrState) {
			err = notFound(err, "system", clientID)
		}
		return storage.Client{}, err
	}
	ev.recorded = true
	if disabled {
		// The provider refuses every token of a disabled client; revoking
		// them as well keeps them dead should it be enabled again.
		if _, err := s.store.RevokeGrants(ctx, storage.GrantFilter{ClientID: c.ID}, now); err != nil {
			s.log.ErrorContext(ctx, "admin: revoke the grants of a disabled system", "client", c.ID, "err", err)
			s.record(ctx, storage.Admin{}, event{actor: "system", detail: "revoke_tokens", agencyID: ev.agencyID, permitID: c.PermitID, clientID: c.ID}, err)
		}
	}
	s.notify(ctx, c.PermitID)
	c.SecretHash = ""
	return c, nil
}

// SetAdminDisabled disables or enables one administrator account
// (approver; not one's own). A disabled account cannot sign in, and its
// console and API sessions end and its API tokens are revoked at once, so
// that enabling it again does not revive them. The change and its audit
// entry commit together.
func (s *Service) SetAdminDisabled(ctx context.Context, actor storage.Admin, id string, disabled bool) (_ storage.Admin, err error) {
	ev := event{detail: "enable_admin admin:" + id}
	if disabled {
		ev.detail = "disable_admin admin:" + id
	}
	defer func() { err = s.record(ctx, actor, ev, err) }()
	by, err := s.authorize(ctx, actor, storage.RoleApprover)
	if err != nil {
		return storage.Admin{}, err
	}
	if id == by.ID {
		return storage.Admin{}, fmt.Errorf("disable or enable one's own account: %w", ErrForbidden)
	}
	cur, err := s.ps.Admin(ctx, id)
	if err != nil {
		return storage.Admin{}, notFound(err, "administrator", id)
	}
	ev.agencyID = cur.AgencyID
	now := s.now()
	out, err := s.ps.UpdateAdmin(ctx, id, func(cur storage.Admin) (storage.Admin, error) {
		if cur.Disabled == disabled {
			return cur, fmt.Errorf("the account is %s already: %w", map[bool]string{true: "disabled", false: "enabled"}[disabled], ErrState)
		}
		cur.Disabled, cur.UpdatedAt = disabled, now
		return cur, nil
	}, s.recordOf(by, ev))
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			err = notFound(err, "administrator", id)
		}
		return storage.Admin{}, err
	}
	ev.recorded = true
	if disabled {
		if err := s.endAccess(ctx, by, id); err != nil {
			// Every session and token of a disabled account is refused
			// anyway (resume, AuthenticateToken); this leaves dead rows.
			s.log.ErrorContext(ctx, "admin: end the sessions of a disabled administrator", "admin", id, "err", err)
		}
	}
	return public(out), nil
}

// endAccess ends every session of an account and revokes its API tokens.
func (s *Service) endAccess(ctx context.Context, by storage.Admin, id string) error {
	now := s.now()
	var errs []error
	ss, err := s.store.SessionsBySubject(ctx, adminSubject+id, now)
	if err != nil {
		errs = append(errs, err)
	}
	for _, se := range ss {
		if err := s.store.DeleteSession(ctx, se.ID, nil); err != nil && !errors.Is(err, storage.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	ts, err := s.ps.AdminTokens(ctx, id)
	if err != nil {
		errs = append(errs, err)
	}
	for _, t := range ts {
		if !t.Live(now) {
			continue
		}
		if _, err := s.ps.RevokeAdminToken(ctx, id, t.ID, by.ID, now); err != nil && !errors.Is(err, storage.ErrConflict) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
