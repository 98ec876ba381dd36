package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/release"
)

// usesSecret reports whether an authentication method needs a client secret.
func usesSecret(method string) bool {
	return method == storage.AuthMethodSecretBasic || method == storage.AuthMethodSecretPost
}

// systemPayload is a register_system or change_system Decision.Payload:
// the system as registered, never its secret.
type systemPayload struct {
	ClientID               string          `json:"client_id"`
	Name                   string          `json:"name"`
	RedirectURIs           []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs []string        `json:"post_logout_redirect_uris,omitempty"`
	AuthMethod             string          `json:"auth_method"`
	JWKS                   json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                string          `json:"jwks_uri,omitempty"`
	NetworkRanges          []string        `json:"network_ranges,omitempty"`
	// AnyNetwork records the approver's decision that the system may call
	// from any address (private_key_jwt only; clause 10).
	AnyNetwork bool   `json:"any_network,omitempty"`
	SigningAlg string `json:"signing_alg"`

	IDTokenEncryptedResponseAlg      string `json:"id_token_encrypted_response_alg,omitempty"`
	IDTokenEncryptedResponseEnc      string `json:"id_token_encrypted_response_enc,omitempty"`
	UserinfoEncryptedResponseAlg     string `json:"userinfo_encrypted_response_alg,omitempty"`
	UserinfoEncryptedResponseEnc     string `json:"userinfo_encrypted_response_enc,omitempty"`
	RequirePAR                       bool   `json:"require_par,omitempty"`
	FAPI                             bool   `json:"fapi,omitempty"`
	BackchannelLogoutURI             string `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired bool   `json:"backchannel_logout_session_required,omitempty"`
}

// SystemPayload reads a register_system or change_system decision's
// payload: the client it concerns and whether it recorded the decision
// that the system may call from any address.
func SystemPayload(d storage.Decision) (clientID string, anyNetwork bool) {
	var sp systemPayload
	if json.Unmarshal(d.Payload, &sp) != nil {
		return "", false
	}
	return sp.ClientID, sp.AnyNetwork
}

// recordSystemDecision stores the decision that registered or changed a
// system. It takes effect with the client write that precedes it, so it is
// stored applied and leaves the permit (and its version, which consents
// name) as it is.
func (s *Service) recordSystemDecision(ctx context.Context, by storage.Admin, action string, c storage.Client, anyNetwork bool, now time.Time) (storage.Decision, error) {
	payload, err := json.Marshal(systemPayload{
		ClientID: c.ID, Name: c.Name, RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		AuthMethod: c.AuthMethod, JWKS: json.RawMessage(c.JWKS), JWKSURI: c.JWKSURI, NetworkRanges: c.NetworkRanges,
		AnyNetwork: anyNetwork, SigningAlg: c.SigningAlg,
		IDTokenEncryptedResponseAlg: c.IDTokenEncryptedResponseAlg, IDTokenEncryptedResponseEnc: c.IDTokenEncryptedResponseEnc,
		UserinfoEncryptedResponseAlg: c.UserinfoEncryptedResponseAlg, UserinfoEncryptedResponseEnc: c.UserinfoEncryptedResponseEnc,
		RequirePAR: c.RequirePAR, FAPI: c.FAPI,
		BackchannelLogoutURI: c.BackchannelLogoutURI, BackchannelLogoutSessionRequired: c.BackchannelLogoutSessionRequired,
	})
	if err != nil {
		return storage.Decision{}, err
	}
	id, err := newID()
	if err != nil {
		return storage.Decision{}, err
	}
	d := storage.Decision{
		ID: id, PermitID: c.PermitID, Action: action, By: by.ID,
		RecordedAt: now, EffectiveAt: now, AppliedAt: now, Payload: payload,
	}
	// The action's own entry (register or change the system) was written
	// with the client write; the decision adds none.
	if err := s.ps.CreateDecision(ctx, d, nil); err != nil {
		return storage.Decision{}, fmt.Errorf("store decision: %w", err)
	}
	return d, nil
}

// RegisterSystem registers a computer system of the agency under an
// approved permit (clause 10) as an OAuth client with a generated ID
// (approver). For the client-secret methods it returns the secret, which
// is shown this once: only its keyed hash is stored.
func (s *Service) RegisterSystem(ctx context.Context, actor storage.Admin, permitID string, sys storage.System) (_ storage.Client, secret string, err error) {
	ev := event{typ: storage.AuditPermitDecision, detail: storage.DecisionRegisterSystem, permitID: permitID}
	defer func() { err = s.record(ctx, actor, ev, err) }()
	a, err := s.authorize(ctx, actor, storage.RoleApprover)
	if err != nil {
		return storage.Client{}, "", err
	}
	pm, err := s.ps.Permit(ctx, permitID)
	if err != nil {
		return storage.Client{}, "", notFound(err, "permit", permitID)
	}
	ev.agencyID = pm.AgencyID
	now := s.now()
	if pm.State != storage.PermitApproved || !now.Before(pm.ValidUntil) {
		return storage.Client{}, "", fmt.Errorf("register a system under a permit that is %s: %w", Status(pm, now), ErrState)
	}
	p := problems{}
	given := len(sys.NetworkRanges)
	sys = s.checkSystem(p, "", cloneSystem(sys))
	checkRegistered(p, sys, given)
	if err = p.err(); err != nil {
		return storage.Client{}, "", err
	}
	if sys.AnyNetwork {
		ev.detail += " any_network"
	}
	if err = s.checkApplied(ctx, pm, sys); err != nil {
		return storage.Client{}, "", err
	}
	c := storage.Client{
		Name: sys.Name, AuthMethod: sys.AuthMethod, JWKS: sys.JWKS, JWKSURI: sys.JWKSURI, RedirectURIs: sys.RedirectURIs,
		PostLogoutRedirectURIs: sys.PostLogoutRedirectURIs, Scopes: release.ClientScopes(pm), SigningAlg: sys.SigningAlg,
		PermitID: pm.ID, NetworkRanges: sys.NetworkRanges, CreatedAt: now, UpdatedAt: now,
		RequirePAR: sys.RequirePAR, FAPI: sys.FAPI,
		BackchannelLogoutURI: sys.BackchannelLogoutURI, BackchannelLogoutSessionRequired: sys.BackchannelLogoutSessionRequired,
	}
	setEncryption(&c, sys)
	if c.ID, err = newID(); err != nil {
		return storage.Client{}, "", err
	}
	if usesSecret(c.AuthMethod) {
		if secret, err = keys.RandomToken(32); err != nil {
			return storage.Client{}, "", err
		}
		c.SecretHash = s.cfg.Secrets.Hash(secret)
	}
	ev.clientID = c.ID
	// The system and its entry commit together: a system the trail cannot
	// record is not registered.
	if err = s.store.CreateClient(ctx, c, s.recordOf(a, ev)); err != nil {
		return storage.Client{}, "", fmt.Errorf("store client: %w", err)
	}
	ev.recorded = true
	if _, err = s.recordSystemDecision(ctx, a, storage.DecisionRegisterSystem, c, sys.AnyNetwork, now); err != nil {
		return storage.Client{}, "", err
	}
	s.notify(ctx, pm.ID)
	c.SecretHash = ""
	return c, secret, nil
}

// ChangeSystem replaces a registered system's specification (approver);
// the change is itself a decision on the permit. The client keeps its ID
// and, between the two secret methods, its secret. A system that moves to a
// secret method from private_key_jwt has none until RotateClientSecret
// gives it one; one that moves to private_key_jwt loses its secret.
func (s *Service) ChangeSystem(ctx context.Context, actor storage.Admin, clientID string, sys storage.System) (_ storage.Client, err error) {
	ev := event{typ: storage.AuditPermitDecision, detail: storage.DecisionChangeSystem, clientID: clientID}
	defer func() { err = s.record(ctx, actor, ev, err) }()
	a, err := s.authorize(ctx, actor, storage.RoleApprover)
	if err != nil {
		return storage.Client{}, err
	}
	old, pm, err := s.systemAndPermit(ctx, clientID, &ev)
	if err != nil {
		return storage.Client{}, err
	}
	now := s.now()
	if pm.State != storage.PermitApproved && pm.State != storage.PermitSuspended {
		return storage.Client{}, fmt.Errorf("change a system under a permit that is %s: %w", pm.State, ErrState)
	}
	p := problems{}
	given := len(sys.NetworkRanges)
	sys = s.checkSystem(p, "", cloneSystem(sys))
	checkRegistered(p, sys, given)
	if err = p.err(); err != nil {
		return storage.Client{}, err
	}
	if sys.AnyNetwork {
		ev.detail += " any_network"
	}
	if err = s.checkApplied(ctx, pm, sys); err != nil {
		return storage.Client{}, err
	}
	// The change and its entry commit together: a change the trail cannot
	// record is not made.
	c, err := s.store.UpdateClient(ctx, old.ID, func(c storage.Client) (storage.Client, error) {
		if !usesSecret(sys.AuthMethod) || !usesSecret(c.AuthMethod) {
			c.SecretHash = ""
		}
		c.Name, c.AuthMethod, c.JWKS, c.JWKSURI = sys.Name, sys.AuthMethod, sys.JWKS, sys.JWKSURI
		c.RedirectURIs, c.PostLogoutRedirectURIs = sys.RedirectURIs, sys.PostLogoutRedirectURIs
		c.NetworkRanges, c.SigningAlg = sys.NetworkRanges, sys.SigningAlg
		setEncryption(&c, sys)
		c.RequirePAR, c.FAPI = sys.RequirePAR, sys.FAPI
		c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired = sys.BackchannelLogoutURI, sys.BackchannelLogoutSessionRequired
		c.Scopes = release.ClientScopes(pm)
		c.UpdatedAt = now
		return c, nil
	}, s.recordOf(a, ev))
	if err != nil {
		return storage.Client{}, notFound(err, "system", clientID)
	}
	ev.recorded = true
	if _, err = s.recordSystemDecision(ctx, a, storage.DecisionChangeSystem, c, sys.AnyNetwork, now); err != nil {
		return storage.Client{}, err
	}
	s.notify(ctx, pm.ID)
	c.SecretHash = ""
	return c, nil
}

// RotateClientSecret gives a system that authenticates with a client
// secret a new one and returns it, shown this once (approver). The old
// secret stops working at once.
func (s *Service) RotateClientSecret(ctx context.Context, actor storage.Admin, clientID string) (secret string, err error) {
	ev := event{detail: "rotate_client_secret", clientID: clientID}
	defer func() { err = s.record(ctx, actor, ev, err) }()
	a, err := s.authorize(ctx, actor, storage.RoleApprover)
	if err != nil {
		return "", err
	}
	c, pm, err := s.systemAndPermit(ctx, clientID, &ev)
	if err != nil {
		return "", err
	}
	if pm.State != storage.PermitApproved && pm.State != storage.PermitSuspended {
		return "", fmt.Errorf("rotate the secret of a system under a permit that is %s: %w", pm.State, ErrState)
	}
	if !usesSecret(c.AuthMethod) {
		return "", fmt.Errorf("the system authenticates with %s, not a secret: %w", c.AuthMethod, ErrState)
	}
	if secret, err = keys.RandomToken(32); err != nil {
		return "", err
	}
	hash := s.cfg.Secrets.Hash(secret)
	now := s.now()
	// The rotation and its entry commit together: the old secret keeps
	// working unless the trail records the rotation.
	_, err = s.store.UpdateClient(ctx, c.ID, func(c storage.Client) (storage.Client, error) {
		if !usesSecret(c.AuthMethod) {
			return c, fmt.Errorf("the system authenticates with %s, not a secret: %w", c.AuthMethod, ErrState)
		}
		c.SecretHash, c.UpdatedAt = hash, now
		return c, nil
	}, s.recordOf(a, ev))
	if err != nil {
		if !errors.Is(err, ErrState) {
			err = notFound(err, "system", clientID)
		}
		return "", err
	}
	ev.recorded = true
	s.notify(ctx, pm.ID)
	return secret, nil
}

// notApplied is the refusal of a system the agency did not apply for.
const notApplied = "not among the systems the agency applied for: a new application is needed"

// checkApplied refuses a system that the permit's application does not
// list (clause 10: an agency uses the service only from the computer
// systems it specified). Registering or changing a system is one
// approver's act; tying it to the application, which an officer recorded
// and another administrator approved with the permit (maker-checker),
// means that where citizens are sent back to has passed two people.
//
// A system matches a listed one whose redirect and post-logout URIs
// include all of its own and, if the listed system names one, whose
// authentication method is the same. Its name, keys (jwks or jwks_uri),
// signing algorithm and network ranges are operational details that the
// approver may set or change at registration: keys are rotated, and
// ranges only narrow who may call the token endpoint.
func (s *Service) checkApplied(ctx context.Context, pm storage.Permit, sys storage.System) error {
	var listed []storage.System
	if pm.ApplicationID != "" {
		app, err := s.ps.Application(ctx, pm.ApplicationID)
		if err != nil {
			return notFound(err, "application", pm.ApplicationID)
		}
		listed = app.Systems
	}
	// Report the field of the nearest listed system that differs.
	redirects, logouts := false, false
	for _, l := range listed {
		if !subset(sys.RedirectURIs, l.RedirectURIs) {
			continue
		}
		redirects = true
		if !subset(sys.PostLogoutRedirectURIs, l.PostLogoutRedirectURIs) {
			continue
		}
		logouts = true
		if l.AuthMethod == "" || l.AuthMethod == sys.AuthMethod {
			return nil
		}
	}
	switch {
	case logouts:
		return &ValidationError{Fields: map[string]string{"auth_method": "differs from the system the agency applied for: a new application is needed"}}
	case redirects:
		return &ValidationError{Fields: map[string]string{"post_logout_redirect_uris": notApplied}}
	}
	return &ValidationError{Fields: map[string]string{"redirect_uris": notApplied}}
}

// subset reports whether every element of a is in b.
func subset(a, b []string) bool {
	for _, v := range a {
		if !slices.Contains(b, v) {
			return false
		}
	}
	return true
}

// systemAndPermit loads a registered system and its permit.
func (s *Service) systemAndPermit(ctx context.Context, clientID string, ev *event) (storage.Client, storage.Permit, error) {
	c, err := s.store.Client(ctx, clientID)
	if err != nil {
		return storage.Client{}, storage.Permit{}, notFound(err, "system", clientID)
	}
	ev.permitID = c.PermitID
	if c.PermitID == "" {
		return storage.Client{}, storage.Permit{}, fmt.Errorf("system %q is not registered under a permit: %w", clientID, ErrState)
	}
	pm, err := s.ps.Permit(ctx, c.PermitID)
	if err != nil {
		return storage.Client{}, storage.Permit{}, notFound(err, "permit", c.PermitID)
	}
	ev.agencyID = pm.AgencyID
	return c, pm, nil
}

// setEncryption gives a client the system's encryption of ID tokens and
// userinfo responses.
func setEncryption(c *storage.Client, sys storage.System) {
	c.IDTokenEncryptedResponseAlg, c.IDTokenEncryptedResponseEnc = sys.IDTokenEncryptedResponseAlg, sys.IDTokenEncryptedResponseEnc
	c.UserinfoEncryptedResponseAlg, c.UserinfoEncryptedResponseEnc = sys.UserinfoEncryptedResponseAlg, sys.UserinfoEncryptedResponseEnc
}

func cloneSystem(s storage.System) storage.System {
	s.RedirectURIs = slices.Clone(s.RedirectURIs)
	s.PostLogoutRedirectURIs = slices.Clone(s.PostLogoutRedirectURIs)
	s.NetworkRanges = slices.Clone(s.NetworkRanges)
	s.JWKS = slices.Clone(s.JWKS)
	return s
}
