package main

import (
	"context"
	"errors"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// Sealed access tokens (op.Config.AccessTokenKey) are checked against the
// set of revoked grants and tokens, which the provider reads from the
// store's revocation feed at most RevocationMaxAge late. revokingStore
// makes a revocation in this process, by any package (op's revocation
// endpoint, login's consent withdrawal, admin's suspension), take effect
// at once: it tells the provider, and on PostgreSQL every other replica
// (NOTIFY on revocationChannel), that the feed has news.

// revocationChannel is the PostgreSQL NOTIFY channel on which replicas
// announce that they revoked grants or tokens (no payload).
const revocationChannel = "dopaid_revocations"

// consentChannel is the PostgreSQL NOTIFY channel on which replicas
// announce that a citizen's consents changed (payload: the citizen's
// internal ID), for the provider's consent cache.
const consentChannel = "dopaid_consents"

// citizenChannel is the PostgreSQL NOTIFY channel on which replicas, and a
// registry import in a process of its own, announce that registry records
// changed (payload: the citizen's internal ID, or "" for any), for the
// provider's cache of the records claims are read from.
const citizenChannel = "dopaid_citizens"

// revokingStore is a storage.Store that calls changed after every call
// that revoked, or may have revoked, a grant or an access token, and
// consentChanged after every call that gave or withdrew a consent, and
// citizenChanged after every call that changed registry records.
type revokingStore struct {
	storage.Store
	changed        func()
	consentChanged func(citizenID string)
	citizenChanged func(citizenID string)
}

func (s revokingStore) UpsertCitizens(ctx context.Context, cs []storage.Citizen) (storage.UpsertResult, error) {
	res, err := s.Store.UpsertCitizens(ctx, cs)
	// An updated record keeps its stored ID, which cs does not carry, so
	// every cached record goes; created records have new IDs that no
	// cache holds. After an error, what committed is unknown.
	if res.Updated > 0 || err != nil {
		s.citizenChanged("")
	}
	return res, err
}

func (s revokingStore) GiveConsent(ctx context.Context, c storage.Consent, rec storage.Record) error {
	err := s.Store.GiveConsent(ctx, c, rec)
	s.consentChanged(c.CitizenID)
	return err
}

func (s revokingStore) SignIn(ctx context.Context, in storage.SignIn, now time.Time, rec storage.Record) error {
	err := s.Store.SignIn(ctx, in, now, rec)
	if in.Consent.ID != "" {
		s.consentChanged(in.Consent.CitizenID)
	}
	return err
}

func (s revokingStore) AttemptSignIn(ctx context.Context, a storage.SignInAttempt, now time.Time) error {
	var in storage.SignIn
	check := a.Check
	a.Check = func(cs []storage.Throttle, spent []storage.OnceValue) (storage.SignIn, storage.Record, error) {
		var rec storage.Record
		var err error
		in, rec, err = check(cs, spent)
		return in, rec, err
	}
	err := s.Store.AttemptSignIn(ctx, a, now)
	if in.Consent.ID != "" {
		s.consentChanged(in.Consent.CitizenID)
	}
	return err
}

func (s revokingStore) WithdrawConsent(ctx context.Context, citizenID, consentID string, now time.Time, rec storage.Record) (storage.Consent, error) {
	c, err := s.Store.WithdrawConsent(ctx, citizenID, consentID, now, rec)
	s.consentChanged(citizenID)
	if err == nil {
		s.changed() // the withdrawal revoked the grants it covered
	}
	return c, err
}

func (s revokingStore) RevokeAccessToken(ctx context.Context, id string, now time.Time) error {
	err := s.Store.RevokeAccessToken(ctx, id, now)
	s.changed()
	return err
}

func (s revokingStore) RevokeGrant(ctx context.Context, grantID string, now time.Time) error {
	err := s.Store.RevokeGrant(ctx, grantID, now)
	s.changed()
	return err
}

func (s revokingStore) RevokeGrants(ctx context.Context, f storage.GrantFilter, now time.Time) (int64, error) {
	n, err := s.Store.RevokeGrants(ctx, f, now)
	if n > 0 || err != nil {
		s.changed()
	}
	return n, err
}

func (s revokingStore) RotateRefreshToken(ctx context.Context, oldID string, access storage.AccessToken, refresh storage.RefreshToken, now time.Time, rec storage.Record) (storage.Grant, error) {
	g, err := s.Store.RotateRefreshToken(ctx, oldID, access, refresh, now, rec)
	if errors.Is(err, storage.ErrConflict) {
		s.changed() // reuse: the grant was revoked
	}
	return g, err
}

// revocationsChanged tells this replica's provider, and every other
// replica, that grants or tokens were revoked.
func (m *Main) revocationsChanged() {
	if m.Provider != nil {
		m.Provider.RevocationsChanged()
	}
	if m.logouts != nil {
		m.logouts.Wake() // a revoked grant may owe a logout
	}
	if m.notifier != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := m.notifier.Notify(ctx, revocationChannel, ""); err != nil {
			// The others read the feed within RevocationMaxAge anyway.
			m.Logger.Error("notify revocation", "err", err)
		}
	}
}

// consentChanged tells this replica's provider, and every other replica,
// that a citizen's consents changed.
func (m *Main) consentChanged(citizenID string) {
	if m.Provider != nil {
		m.Provider.ConsentChanged(citizenID)
	}
	// The others' entries expire within ConsentCacheTTL anyway.
	m.notifyCitizen(consentChannel, citizenID)
}

// citizenChanged tells this replica's provider, if this process serves,
// and every replica that registry records changed.
func (m *Main) citizenChanged(citizenID string) {
	if m.Provider != nil {
		m.Provider.CitizenChanged(citizenID)
	}
	// The others' entries expire within CitizenCacheTTL anyway.
	m.notifyCitizen(citizenChannel, citizenID)
}

// notifyCitizen sends a citizen's change on channel, on PostgreSQL.
func (m *Main) notifyCitizen(channel, citizenID string) {
	if m.notifier == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := m.notifier.Notify(ctx, channel, citizenID); err != nil {
		m.Logger.Error("notify change", "channel", channel, "err", err)
	}
}
