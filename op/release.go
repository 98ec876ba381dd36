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
	con, err := p.consents.get(ctx, consentKey{g.Subject, pm.ID, g.Purpose})
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return release.Claims(pm, g.Purpose, g.Scopes, &con), nil
}

// record appends a release that writes nothing else (userinfo,
// introspection) to the audit trail. It fails closed: a release that
// cannot be recorded is not made. Releases that store tokens write their
// entry in the tokens' transaction instead (releaseEntry).
func (p *Provider) record(ctx context.Context, typ string, c storage.Client, pm storage.Permit, g storage.Grant, claims []string) error {
	_, err := p.cfg.Audit.AppendAudit(ctx, p.releaseEntry(typ, c, pm, g, claims))
	return err
}

// releaseEntry is the audit entry of a release of claims to c.
func (p *Provider) releaseEntry(typ string, c storage.Client, pm storage.Permit, g storage.Grant, claims []string) storage.AuditEntry {
	return storage.AuditEntry{
		At: p.now(), Type: typ, Actor: "client:" + c.ID, CitizenID: g.Subject,
		AgencyID: pm.AgencyID, PermitID: pm.ID, ClientID: c.ID, Purpose: g.Purpose,
		Claims: claims, IAL: g.IAL, Outcome: "success",
	}
}

// refused records a refusal of a request that concerns a registered
// client, c (Outcome failure, Detail a reason code, typ the endpoint's
// audit type), and returns answer, the refusal the client gets; or
// server_error when the entry cannot be written (fail closed: nothing was
// going to be released either way, but no refusal goes unrecorded). g is
// the grant a presented token or code belongs to, if known: its citizen is
// named by internal ID, as in every entry, never by a value of their data.
//
// What is not recorded, on purpose: requests that name no registered
// client (an unknown client_id, a token or code that matches nothing, a
// malformed request). Anyone can send those, and recording them would let
// anyone fill the trail with entries that concern no agency and no
// citizen; they are answered and logged only. The store cannot tell a code
// issued to another client from an unknown one (it will not even look at
// another client's code, so that it cannot be burnt): both are recorded as
// "invalid_code" for the client that presented it.
func (p *Provider) refused(ctx context.Context, typ string, c storage.Client, pm storage.Permit, g *storage.Grant, detail string, answer error) error {
	if pm.ID == "" && c.PermitID != "" {
		// The supervisors of the client's agency see its refusals: name the
		// agency even when the permit was not needed to refuse.
		pm, _ = p.permits.get(ctx, c.PermitID)
		if pm.ID == "" {
			pm.ID = c.PermitID
		}
	}
	e := storage.AuditEntry{
		At: p.now(), Type: typ, Actor: "client:" + c.ID, AgencyID: pm.AgencyID, PermitID: pm.ID, ClientID: c.ID,
		Outcome: "failure", Detail: detail,
	}
	if g != nil {
		e.CitizenID, e.Purpose = g.Subject, g.Purpose
	}
	if _, err := p.cfg.Audit.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		return p.internal(ctx, "audit refusal", err)
	}
	return answer
}

// permitRefusal is the reason code of a permit not in force:
// permit_suspended, permit_revoked, permit_expired, permit_not_yet_valid,
// permit_not_approved (pending, rejected, or none at all).
func (p *Provider) permitRefusal(pm storage.Permit) string {
	return "permit_" + release.Standing(pm, p.now())
}

// backChannel checks a client calling a back-channel endpoint: from one of
// its registered networks (clause 10), under a permit in force (clause 11).
// A refusal is recorded under typ, the endpoint's audit type.
func (p *Provider) backChannelAllowed(ctx context.Context, typ string, c storage.Client) (storage.Permit, error) {
	if !fromRegisteredNetwork(ctx, c) {
		p.log.WarnContext(ctx, "call from an unregistered network refused", "client_id", c.ID)
		return storage.Permit{}, p.refused(ctx, typ, c, storage.Permit{}, nil, "unregistered_network", invalidClient())
	}
	pm, err := p.activePermit(ctx, c)
	if err == errNoPermit {
		return pm, p.refused(ctx, typ, c, pm, nil, p.permitRefusal(pm),
			oidcop.NewStatusError(oidc.ErrUnauthorizedClient().WithDescription("the agency's permit is not in force"), http.StatusBadRequest))
	}
	if err != nil {
		return pm, p.internal(ctx, "load permit", err)
	}
	return pm, nil
}
