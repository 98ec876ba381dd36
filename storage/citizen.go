package storage

import (
	"context"
	"log/slog"
	"time"
)

// Registry status codes of a citizen record (DOMAIN.md: a code with a
// description and an as-of date, not a boolean).
const (
	StatusAlive     = "alive"
	StatusDeceased  = "deceased"
	StatusMoved     = "moved"      // moved out, not yet registered elsewhere
	StatusStruckOff = "struck_off" // removed from the house register
)

// Card status codes of a citizen's current ID card. A card the registry
// has voided (lost, stolen, replaced, withdrawn) is cancelled; an empty
// status is one the registry extract did not state, and counts as active.
const (
	CardActive    = "active"
	CardCancelled = "cancelled"
)

// Sex codes as on the card.
const (
	SexUnknown = 0
	SexMale    = 1
	SexFemale  = 2
)

// Name is a personal name in one script. Titles are open-ended text (a
// code table in the registry), not an enum.
type Name struct {
	Title  string
	First  string
	Middle string
	Last   string
}

// Address is a Thai registered address. Bangkok uses khwaeng/khet where the
// provinces use tambon/amphoe; both go in Subdistrict/District.
type Address struct {
	HouseNo     string
	Moo         string // village number
	Trok        string
	Soi         string
	Road        string
	Subdistrict string // tambon / khwaeng
	District    string // amphoe / khet
	Province    string // changwat
	PostalCode  string
}

// Citizen is one civil registry record. ID is an internal random subject
// identifier, so that grants, sessions and audit rows never carry the
// national ID number.
type Citizen struct {
	ID        string
	PID       string // 13-digit national ID number, check digit valid
	NameTH    Name
	NameEN    Name
	Birthdate BEDate
	Sex       int
	Address   Address
	// LaserCode is the card's laser code sealed with keys.Envelope;
	// LaserCodeMAC a keyed hash of the normalised code, for matching and for
	// telling whether a re-import changed it. Both empty when unknown.
	LaserCode    []byte
	LaserCodeMAC string
	CardIssued   BEDate
	CardExpires  BEDate // Lifetime() for a card that never expires
	CardStatus   string // Card* constant, or "" when not stated
	PhotoRef     string // reference to the registry photo (never the photo)
	Status       string // Status* constant
	StatusDesc   string
	StatusAsOf   BEDate
	// ContentHash is computed by the importer over every field but ID,
	// LaserCode (randomised by sealing) and the timestamps, so that a
	// re-import of the same data changes nothing.
	ContentHash string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Alive reports whether the citizen may sign in.
func (c Citizen) Alive() bool { return c.Status == StatusAlive }

// CardValid reports whether the citizen's card was in force on the
// Buddhist-Era day today: not cancelled, and not past its expiry date. A
// card whose expiry the registry does not state is judged by its status
// alone.
func (c Citizen) CardValid(today BEDate) bool {
	if c.CardStatus == CardCancelled {
		return false
	}
	e := c.CardExpires
	if e.IsZero() || e.IsLifetime() {
		return true
	}
	if e.Year != today.Year {
		return e.Year > today.Year
	}
	if e.Month != today.Month {
		return e.Month > today.Month
	}
	return e.Day >= today.Day
}

// BEDateOf returns the Buddhist-Era calendar day of t in Thailand (UTC+7,
// no daylight saving), the day a card's expiry is judged by.
func BEDateOf(t time.Time) BEDate {
	y, m, d := t.In(time.FixedZone("ICT", 7*60*60)).Date()
	return BEDate{Year: y + 543, Month: int(m), Day: d}
}

// LogValue keeps personal data out of logs: only the internal ID.
func (c Citizen) LogValue() slog.Value { return slog.GroupValue(slog.String("id", c.ID)) }

// UpsertResult counts what UpsertCitizens did.
type UpsertResult struct {
	Created, Updated, Unchanged int
}

// CitizenStore holds the civil registry.
type CitizenStore interface {
	// UpsertCitizens stores the records in one transaction, matched by PID:
	// new PIDs are created (with the given ID), existing ones updated only
	// when ContentHash differs (keeping their ID and CreatedAt).
	UpsertCitizens(ctx context.Context, cs []Citizen) (UpsertResult, error)
	// Citizen returns the record with that internal ID.
	Citizen(ctx context.Context, id string) (Citizen, error)
	// CitizenByPID returns the record with that national ID number.
	CitizenByPID(ctx context.Context, pid string) (Citizen, error)
	// CountCitizens returns how many records the registry holds.
	CountCitizens(ctx context.Context) (int, error)
}

// Authenticator is a citizen's enrolled second factor (TOTP).
type Authenticator struct {
	ID        string
	CitizenID string
	Type      string // "totp"
	// Secret is the TOTP secret sealed with keys.Envelope (associated data:
	// the authenticator ID).
	Secret []byte
	// RecoveryCodes are keyed hashes of the one-time recovery codes not yet used.
	RecoveryCodes []string
	CreatedAt     time.Time
	LastUsedAt    time.Time
}

// AuthenticatorStore holds authenticators.
type AuthenticatorStore interface {
	// CreateAuthenticator stores a new authenticator, replacing any earlier
	// one of the same type for the citizen (re-enrolment after proofing),
	// with rec in one transaction.
	CreateAuthenticator(ctx context.Context, a Authenticator, rec Record) error
	// Authenticator returns the citizen's authenticator of that type.
	Authenticator(ctx context.Context, citizenID, typ string) (Authenticator, error)
	// UseRecoveryCode removes one recovery code hash from the citizen's
	// authenticator atomically; ErrNotFound if it is not (or no longer) there.
	UseRecoveryCode(ctx context.Context, citizenID, typ, codeHash string, now time.Time) error
	// TouchAuthenticator records a successful use.
	TouchAuthenticator(ctx context.Context, id string, now time.Time) error
	// ReplaceRecoveryCodes replaces every recovery code hash of the
	// citizen's authenticator id (the old codes stop working), with rec in
	// one transaction; ErrNotFound if the citizen has no authenticator with
	// that ID (it was replaced meanwhile).
	ReplaceRecoveryCodes(ctx context.Context, citizenID, id string, codeHashes []string, rec Record) error
}

// FaceResult is a face-verification outcome kept as evidence (the selfie
// itself is never stored).
type FaceResult struct {
	Vendor        string
	ModelVersion  string
	Score         float64 // raw, vendor-specific scale
	Threshold     float64
	Match         bool   // the vendor's decision
	Liveness      string // ISO/IEC 30107-3 outcome: bona_fide, attack, inconclusive, or "" if not assessed
	LivenessScore float64
	Simulated     bool // produced by the development simulator
	At            time.Time
}

// Proofing is the evidence of one identity proofing of a citizen.
type Proofing struct {
	ID        string
	CitizenID string
	// IAL is the identity assurance level reached, e.g. "1.3", "2.2", "2.3".
	IAL string
	// Matched lists the registry fields that matched (pid, name_th|name_en,
	// birthdate, laser_code).
	Matched   []string
	Face      *FaceResult
	CreatedAt time.Time
}

// ProofingStore holds proofing evidence.
type ProofingStore interface {
	// CreateProofing stores proofing evidence with rec (the proofing's
	// outcome) in one transaction; ErrAlreadyExists if the ID is taken.
	CreateProofing(ctx context.Context, p Proofing, rec Record) error
	// LatestProofing returns the citizen's most recent proofing.
	LatestProofing(ctx context.Context, citizenID string) (Proofing, error)
}

// Flow is a citizen's progress through the login pages (proofing steps,
// enrolment, step-up), kept server side; the browser holds only a random
// cookie whose hash is Flow.ID.
type Flow struct {
	ID            string
	AuthRequestID string
	CitizenID     string
	Step          string
	// Nonce binds an externally signed face result to this flow.
	Nonce   string
	Matched []string
	Face    *FaceResult
	IAL     string
	// PendingSecret is a sealed TOTP secret awaiting its first code.
	PendingSecret []byte
	CreatedAt     time.Time
	ExpiresAt     time.Time
}

// FlowStore holds login flows.
type FlowStore interface {
	CreateFlow(ctx context.Context, f Flow) error
	// Flow returns a live flow.
	Flow(ctx context.Context, id string, now time.Time) (Flow, error)
	// FlowByNonce returns the live flow with that nonce.
	FlowByNonce(ctx context.Context, nonce string, now time.Time) (Flow, error)
	// UpdateFlow applies fn to a live flow atomically.
	UpdateFlow(ctx context.Context, id string, now time.Time, fn func(Flow) (Flow, error)) (Flow, error)
	DeleteFlow(ctx context.Context, id string) error
}

// Throttle is the state of a failure counter.
type Throttle struct {
	Key         string
	Failures    int
	WindowStart time.Time
	LockedUntil time.Time
}

// ThrottleStore counts failed attempts per key (an ID number's keyed hash,
// a client address) in the shared store, so every replica sees them.
type ThrottleStore interface {
	// Throttle returns the counter for key (a zero Throttle with the key set
	// if there is none).
	Throttle(ctx context.Context, key string, now time.Time) (Throttle, error)
	// Throttles returns the counters for keys, in their order, as Throttle
	// would each, in one read; a key named twice is answered twice.
	Throttles(ctx context.Context, keys []string, now time.Time) ([]Throttle, error)
	// RecordFailure atomically applies fn to the counter (starting from the
	// zero Throttle if none) and stores the result.
	RecordFailure(ctx context.Context, key string, now time.Time, fn func(Throttle) Throttle) (Throttle, error)
	// ClearThrottle removes the counter.
	ClearThrottle(ctx context.Context, key string) error
}

// CitizenStores is the citizen side of the contract, embedded in Store: the
// civil registry, authenticators, proofing evidence, login flows and
// throttles, plus FailAuthRequest.
type CitizenStores interface {
	CitizenStore
	AuthenticatorStore
	ProofingStore
	FlowStore
	ThrottleStore
	// FailAuthRequest ends the request with an OAuth error code instead of
	// a sign-in; it counts as done. ErrNotFound if missing or expired,
	// ErrConflict if it was completed or failed already.
	FailAuthRequest(ctx context.Context, id, errorCode string, now time.Time) error
}
