// Package admin is the DOPA administrator's side of dopaid: it registers
// agencies (clause 3 of the DOPA announcement), records their written
// applications (clause 4), decides on permits with maker-checker and a
// written notice (clauses 5 and 11), registers the agencies' computer
// systems as OAuth clients (clause 10), keeps the administrator accounts
// (argon2id password and TOTP) and gives an agency's supervisors the view of
// every access their agency made (clause 9). Every action, done or refused,
// is appended to the audit trail.
//
// The scopes a registered system may request come from storage/release,
// the release policy the provider and the login pages follow too.
//
// Service holds the rules; the JSON API, the web console and the `dopaid
// admin` commands are thin layers over it. admin may import storage, audit (receipts) and
// keys of dopaid (and the standard library, go-jose, golang.org/x/crypto and
// pquerna/otp; gorilla/mux for the API routes), never op, login or cmd: the
// provider enforces permits by reading the same store.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/dopaid/dopaid/audit"
	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
)

// Errors. A refusal by a rule is one of these (or a *ValidationError), so
// that the API can map it to a status without reading messages.
var (
	// ErrForbidden: the administrator's role, or their agency, does not
	// allow the action.
	ErrForbidden = errors.New("not allowed for this administrator")
	// ErrMakerChecker: the administrator who recorded an application cannot
	// decide it.
	ErrMakerChecker = errors.New("the administrator who recorded the application cannot decide it")
	// ErrState: the action is not allowed in the current state (of the
	// permit, or of the system).
	ErrState = errors.New("not allowed in the current state")
	// ErrNotFound: no such record. It wraps storage.ErrNotFound.
	ErrNotFound = fmt.Errorf("%w", storage.ErrNotFound)
	// ErrAuthFailed is every failed sign-in, whatever was wrong.
	ErrAuthFailed = errors.New("authentication failed")
	// ErrInvitation: no account awaits enrolment with this invitation
	// token — it never existed, or its holder has enrolled already.
	ErrInvitation = errors.New("the invitation is not valid or has been used already")
	// ErrInvitationExpired: the invitation lapsed before its holder
	// enrolled; an approver must create the account again.
	ErrInvitationExpired = errors.New("the invitation has expired")
	// ErrThrottled: too many failed attempts; try again later.
	ErrThrottled = errors.New("too many failed attempts")
	// ErrPending: the account's holder has enrolled, but an approver
	// other than its creator has not confirmed it yet (clause 5). It is an
	// ErrForbidden.
	ErrPending = fmt.Errorf("%w: the account awaits confirmation by an approver other than the one who created it", ErrForbidden)
	// ErrSameApprover: the approver who created an account (or the account
	// itself) cannot confirm it.
	ErrSameApprover = errors.New("the approver who created an account cannot confirm it, nor can the account itself")
)

// DefaultPermitNumberPrefix starts every permit number.
const DefaultPermitNumberPrefix = "DOPA-DID"

// Store is what the administrators' service needs of the store: agencies,
// applications, permits and their decisions, the systems registered under
// them, administrator accounts with their sessions and failure counters,
// and the audit trail every action is recorded in. The compiler checks
// every method; none is optional at run time. storage.Store has them all.
type Store interface {
	storage.PermitStore
	storage.AdminStore
	storage.AuditStore
	storage.ClientStore
	storage.SessionStore
	storage.ThrottleStore
	storage.ReplayStore
	// RevokeGrants ends the tokens of a system whose registration changes.
	RevokeGrants(ctx context.Context, f storage.GrantFilter, now time.Time) (int64, error)
	// Citizen is read to show a supervisor whose data their agency received.
	Citizen(ctx context.Context, id string) (storage.Citizen, error)
	// CitizenByPID finds the pseudonym of a citizen named by ID number in
	// a complaint (DOPA staff only, audited).
	CitizenByPID(ctx context.Context, pid string) (storage.Citizen, error)
	// LogHead and LogNodes give the exports of the trail their receipts.
	LogHead(ctx context.Context) (storage.LogHead, error)
	audit.NodeReader
}

// ServiceConfig configures a Service. cmd builds it.
type ServiceConfig struct {
	// Store holds everything the service reads and changes (required).
	Store Store
	// Secrets computes the keyed hash stored in place of a client secret
	// (keys.SecretHasher).
	Secrets interface{ Hash(string) string }
	// Envelope seals administrators' TOTP secrets (associated data
	// "admin-totp:"+ID).
	Envelope *keys.Envelope
	// PairwiseKey is the provider's pairwise-subject key, so that a
	// supervisor sees the sub their agency's systems received.
	PairwiseKey []byte
	// Notify, if set, tells every replica that a permit or one of its
	// clients changed, so their caches drop it at once.
	Notify func(ctx context.Context, permitID string)
	// DevLoopbackHTTP allows http redirect URIs on localhost and 127.0.0.1
	// (development mode only).
	DevLoopbackHTTP bool
	// PermitNumberPrefix starts permit numbers (default DOPA-DID).
	PermitNumberPrefix string
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Service is the administrator's domain service. It is safe for concurrent
// use, and any number of replicas may run one on the same store.
type Service struct {
	cfg    ServiceConfig
	store  Store
	tokens *keys.SecretHasher
	// ps is store, named for the platform side (agencies, permits,
	// administrators, the trail) at the call sites.
	ps  Store
	log *slog.Logger
	now func() time.Time
}

// NewService checks the configuration and returns a Service.
func NewService(cfg ServiceConfig) (*Service, error) {
	var errs []error
	if cfg.Store == nil {
		errs = append(errs, errors.New("store is required"))
	}
	if cfg.Secrets == nil {
		errs = append(errs, errors.New("client secret hasher is required"))
	}
	if cfg.Envelope == nil {
		errs = append(errs, errors.New("envelope is required"))
	}
	if len(cfg.PairwiseKey) < 32 {
		errs = append(errs, errors.New("pairwise key must be at least 32 bytes"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	if cfg.PermitNumberPrefix == "" {
		cfg.PermitNumberPrefix = DefaultPermitNumberPrefix
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Service{cfg: cfg, store: cfg.Store, ps: cfg.Store, log: cfg.Logger, now: cfg.Now, tokens: newTokenHasher(cfg.Envelope)}, nil
}

// authorize reloads the acting administrator, so that a disabled account
// or a changed role counts at once, and checks their role.
func (s *Service) authorize(ctx context.Context, actor storage.Admin, roles ...string) (storage.Admin, error) {
	if actor.ID == "" {
		return storage.Admin{}, ErrForbidden
	}
	a, err := s.ps.Admin(ctx, actor.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.Admin{}, ErrForbidden
	}
	if err != nil {
		return storage.Admin{}, fmt.Errorf("load administrator: %w", err)
	}
	if a.Disabled || !slices.Contains(roles, a.Role) {
		return storage.Admin{}, ErrForbidden
	}
	if !a.Confirmed() {
		return storage.Admin{}, ErrPending
	}
	return a, nil
}

// mayReadAgency reports whether the (authorized) administrator may read
// an agency's records: DOPA staff read all, supervisors their own.
func mayReadAgency(a storage.Admin, agencyID string) bool {
	return a.Role != storage.RoleSupervisor || (a.AgencyID != "" && a.AgencyID == agencyID)
}

// staff are the DOPA roles; readers add agency supervisors.
var (
	staff   = []string{storage.RoleOfficer, storage.RoleApprover, storage.RoleAuditor}
	readers = []string{storage.RoleOfficer, storage.RoleApprover, storage.RoleAuditor, storage.RoleSupervisor}
)

// event is the audit entry an action leaves, filled in as the action
// learns what it touched.
type event struct {
	typ      string // storage.AuditAdmin or storage.AuditPermitDecision
	actor    string // "admin:ID"; empty for the acting administrator
	detail   string // the action
	agencyID string
	permitID string
	clientID string
	// recorded: the entry was committed with the action's write
	// (recordOf).
	recorded bool
}

// errUnrecorded refuses an action whose audit entry could not be written.
// It is no rule's refusal: the API and the console answer it with their
// generic server error, and only the log says why.
var errUnrecorded = errors.New("the audit trail could not be written")

// entry is ev's audit entry with the outcome err implies.
func (s *Service) entry(actor storage.Admin, ev event, err error) storage.AuditEntry {
	e := storage.AuditEntry{
		At: s.now(), Type: ev.typ, Actor: ev.actor, AgencyID: ev.agencyID, PermitID: ev.permitID,
		ClientID: ev.clientID, Outcome: "success", Detail: ev.detail,
	}
	if e.Type == "" {
		e.Type = storage.AuditAdmin
	}
	if e.Actor == "" {
		e.Actor = "admin:" + actor.ID
	}
	if err != nil {
		e.Outcome = "failure"
		e.Detail += ": " + reason(err)
	}
	return e
}

// record appends ev to the audit trail with the outcome err implies, and
// returns the error the action's caller gets. The detail names the action
// and, on failure, a reason code — never input values or secrets.
//
// It fails closed: an action that succeeded but whose entry cannot be
// written is reported as failed (errUnrecorded, a generic server error).
// Used alone (deferred), that guarantees only "never reported as done
// without its entry": the change itself is already written. Actions whose
// change must not exist without its entry (decisions, systems, secrets,
// accounts, tokens) give the store their entry with the write (recordOf),
// which commits both or neither; record then writes nothing more on
// success, and should a later step of the action fail, an entry saying
// that it failed after the recorded write ("… after_recorded"). A refusal
// whose entry cannot be written stays the refusal it was.
func (s *Service) record(ctx context.Context, actor storage.Admin, ev event, err error) error {
	if ev.recorded && err == nil {
		return nil
	}
	e := s.entry(actor, ev, err)
	if ev.recorded {
		// The recorded write stands; what came after it did not.
		e.Detail += " after_recorded"
	}
	if _, aerr := s.ps.AppendAudit(context.WithoutCancel(ctx), e); aerr != nil {
		s.log.ErrorContext(ctx, "admin: append audit entry", "action", ev.detail, "err", aerr)
		if err == nil {
			return errUnrecorded
		}
	}
	return err
}

// recordOf is ev's entry, as a success, for the store method that does
// the action: the action and its entry commit in one transaction, so the
// action does not happen unless the trail records it. Once that store
// call succeeded, the caller sets ev.recorded, and its deferred record
// writes nothing more on success.
func (s *Service) recordOf(actor storage.Admin, ev event) storage.Record {
	return storage.Record{s.entry(actor, ev, nil)}
}

// reason is the audit trail's code for why an action failed.
func reason(err error) string {
	var ve *ValidationError
	switch {
	case errors.As(err, &ve):
		return "invalid"
	case errors.Is(err, ErrPending):
		return "pending_confirmation"
	case errors.Is(err, ErrSameApprover):
		return "maker_checker"
	case errors.Is(err, ErrForbidden):
		return "forbidden"
	case errors.Is(err, ErrMakerChecker):
		return "maker_checker"
	case errors.Is(err, ErrState):
		return "state"
	case errors.Is(err, ErrNotFound), errors.Is(err, storage.ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrAuthFailed):
		return "auth_failed"
	case errors.Is(err, ErrInvitation):
		return "invitation_invalid"
	case errors.Is(err, ErrInvitationExpired):
		return "invitation_expired"
	case errors.Is(err, ErrThrottled):
		return "throttled"
	case errors.Is(err, errUnrecorded):
		return "unrecorded"
	}
	return "error"
}

// notFound translates a store's ErrNotFound into ErrNotFound with what was
// looked for; other errors are wrapped with the same context.
func notFound(err error, what, id string) error {
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%s %q: %w", what, id, ErrNotFound)
	}
	return fmt.Errorf("load %s: %w", what, err)
}

func (s *Service) notify(ctx context.Context, permitID string) {
	if s.cfg.Notify != nil && permitID != "" {
		s.cfg.Notify(ctx, permitID)
	}
}

// newID returns a random identifier for a new record.
func newID() (string, error) { return keys.RandomToken(16) }
