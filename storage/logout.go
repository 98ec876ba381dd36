package storage

import (
	"context"
	"time"
)

// Outcomes of a back-channel logout delivery.
const (
	// LogoutDelivered: the system answered 200 or 204.
	LogoutDelivered = "delivered"
	// LogoutAbandoned: the logout token expired before the system took it.
	LogoutAbandoned = "abandoned"
)

// LogoutDelivery is a logout token owed to a system (OpenID Connect
// Back-Channel Logout 1.0). The store writes one, whatever revokes the
// grant, in the transaction that revokes a grant of a client with a
// BackchannelLogoutURI: signing out, withdrawing consent, suspending or
// revoking the permit and disabling the system all end the system's session
// by revoking its grants. The token itself is signed at delivery.
type LogoutDelivery struct {
	// GrantID is the revoked grant: the sid of its ID tokens.
	GrantID  string
	ClientID string
	// Subject is the citizen (internal subject, not the pairwise one).
	Subject string
	// CreatedAt is when the grant was revoked: the logout token's iat.
	CreatedAt time.Time
	// Attempts counts the claims, the one that returned it included.
	Attempts int
}

// LogoutStore is the outbox of back-channel logouts. Any number of workers,
// on any replica, may claim from it: a claimed delivery is leased to its
// claimer, so that each attempt is made by one of them.
type LogoutStore interface {
	// ClaimLogouts claims up to n deliveries that are not finished and are
	// due at now, oldest due first, leasing each until now+lease: no
	// other claim returns it before then unless RetryLogout reschedules it
	// earlier. Attempts grows by one with each claim.
	ClaimLogouts(ctx context.Context, now time.Time, lease time.Duration, n int) ([]LogoutDelivery, error)
	// RetryLogout makes a claimed delivery due again at next, with rec;
	// ErrNotFound if there is none, ErrConflict if it is finished.
	RetryLogout(ctx context.Context, grantID string, next time.Time, rec Record) error
	// FinishLogout ends a delivery for good with outcome (LogoutDelivered
	// or LogoutAbandoned) at now, with rec: it is never claimed again.
	// ErrNotFound if there is none, ErrConflict if it was finished before.
	FinishLogout(ctx context.Context, grantID, outcome string, now time.Time, rec Record) error
	// LogoutOutcome returns a delivery's outcome: "" while it is owed.
	// ErrNotFound if there is none.
	LogoutOutcome(ctx context.Context, grantID string) (string, error)
}
