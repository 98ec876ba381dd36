package op

import (
	"context"
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	oidcop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/dopaid/dopaid/storage"
)

// Auditor records releases of personal data (storage.AuditStore).
type Auditor interface {
	AppendAudit(ctx context.Context, e storage.AuditEntry) (storage.AuditEntry, error)
}

// consentStore is where the citizens' consents are.
type consentStore interface {
	Consent(ctx context.Context, citizenID, permitID, purpose string) (storage.Consent, error)
}

// releasable returns the claims a grant may release now: what its scopes
// ask for ∩ what the permit grants for its purpose ∩ what the citizen
// consented to (DESIGN.md: claim release). Without a permit (tests of the
// bare provider only) the scopes decide.
func (p *Provider) releasable(ctx context.Context, pm storage.Permit, hasPermit bool, g storage.Grant) ([]string, error) {
	names := storage.ScopeClaims(g.Scopes)
	if !hasPermit || len(names) == 0 {
		return names, nil
	}
	pu, ok := pm.Purpose(g.Purpose)
	if !ok {
		return nil, nil
	}
	names = storage.Intersect(names, pu.Claims)
	cs, ok := p.store.(consentStore)
	if !ok || len(names) == 0 {
		return nil, nil
	}
	con, err := cs.Consent(ctx, g.Subject, pm.ID, g.Purpose)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return storage.Intersect(names, con.Claims), nil
}

// record appends a release to the audit trail. It fails closed: a release
// that cannot be recorded is not made.
func (p *Provider) record(ctx context.Context, typ string, c storage.Client, pm storage.Permit, g storage.Grant, claims []string) error {
	if p.cfg.Audit == nil {
		return nil
	}
	_, err := p.cfg.Audit.AppendAudit(ctx, storage.AuditEntry{
		At: p.now(), Type: typ, Actor: "client:" + c.ID, CitizenID: g.Subject,
		AgencyID: pm.AgencyID, PermitID: pm.ID, ClientID: c.ID, Purpose: g.Purpose,
		Claims: claims, IAL: g.IAL, Outcome: "success",
	})
	return err
}

// backChannel checks a client calling a back-channel endpoint: from one of
// its registered networks (clause 10), under a permit in force (clause 11).
func (p *Provider) backChannelAllowed(ctx context.Context, c storage.Client) (storage.Permit, bool, error) {
	if !fromRegisteredNetwork(ctx, c) {
		p.log.WarnContext(ctx, "call from an unregistered network refused", "client_id", c.ID)
		return storage.Permit{}, false, invalidClient()
	}
	pm, has, err := p.activePermit(ctx, c)
	if err == errNoPermit {
		return pm, has, oidcop.NewStatusError(oidc.ErrUnauthorizedClient().WithDescription("the agency's permit is not in force"), http.StatusBadRequest)
	}
	if err != nil {
		return pm, has, p.internal(ctx, "load permit", err)
	}
	return pm, has, nil
}
