package op

import (
	"context"
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	oidcop "github.com/zitadel/oidc/v3/pkg/op"

	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/release"
)

// Auditor records releases of personal data (storage.AuditStore).
type Auditor interface {
	AppendAudit(ctx context.Context, e storage.AuditEntry) (storage.AuditEntry, error)
}

// releasable returns the claims a grant may release now, by the one rule
// (release.Claims): what its scopes ask for ∩ what the permit grants for
// its purpose ∩ what the citizen consented to.
func (p *Provider) releasable(ctx context.Context, pm storage.Permit, g storage.Grant) ([]string, error) {
	if len(release.Asked(pm, g.Purpose, g.Scopes)) == 0 {
		return nil, nil
	}
	con, err := p.store.Consent(ctx, g.Subject, pm.ID, g.Purpose)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return release.Claims(pm, g.Purpose, g.Scopes, &con), nil
}

// record appends a release to the audit trail. It fails closed: a release
// that cannot be recorded is not made.
func (p *Provider) record(ctx context.Context, typ string, c storage.Client, pm storage.Permit, g storage.Grant, claims []string) error {
	_, err := p.cfg.Audit.AppendAudit(ctx, storage.AuditEntry{
		At: p.now(), Type: typ, Actor: "client:" + c.ID, CitizenID: g.Subject,
		AgencyID: pm.AgencyID, PermitID: pm.ID, ClientID: c.ID, Purpose: g.Purpose,
		Claims: claims, IAL: g.IAL, Outcome: "success",
	})
	return err
}

// backChannel checks a client calling a back-channel endpoint: from one of
// its registered networks (clause 10), under a permit in force (clause 11).
func (p *Provider) backChannelAllowed(ctx context.Context, c storage.Client) (storage.Permit, error) {
	if !fromRegisteredNetwork(ctx, c) {
		p.log.WarnContext(ctx, "call from an unregistered network refused", "client_id", c.ID)
		return storage.Permit{}, invalidClient()
	}
	pm, err := p.activePermit(ctx, c)
	if err == errNoPermit {
		return pm, oidcop.NewStatusError(oidc.ErrUnauthorizedClient().WithDescription("the agency's permit is not in force"), http.StatusBadRequest)
	}
	if err != nil {
		return pm, p.internal(ctx, "load permit", err)
	}
	return pm, nil
}
