package storage

import (
	"context"
	"time"
)

// Agency categories, from clause 3 of the DOPA announcement.
const (
	// CategoryGovernmentDepartment: a government department (ส่วนราชการ).
	CategoryGovernmentDepartment = "government_department"
	// CategoryStateEnterprise: a state enterprise.
	CategoryStateEnterprise = "state_enterprise"
	// CategoryConstitutionalBody: an agency of Parliament, a court, an
	// independent constitutional organisation or the Office of the
	// Attorney General.
	CategoryConstitutionalBody = "constitutional_body"
	// CategoryOtherStateAgency: any other state agency that is a juristic
	// person by law.
	CategoryOtherStateAgency = "other_state_agency"
	// CategoryPrivate: a private juristic person (registration number required).
	CategoryPrivate = "private"
)

// Categories lists the agency categories in the announcement's order.
var Categories = []string{CategoryGovernmentDepartment, CategoryStateEnterprise, CategoryConstitutionalBody, CategoryOtherStateAgency, CategoryPrivate}

// Contact is a person at an agency.
type Contact struct {
	Name     string
	Position string
	Email    string
	Phone    string
}

// Agency is a state or private agency that applies to use DOPA-Digital ID.
type Agency struct {
	ID             string
	NameTH         string
	NameEN         string
	Category       string // Category* constant
	RegistrationNo string // juristic person registration number (private agencies)
	Contacts       []Contact
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Purpose is one purpose an agency uses the system for (clause 7), with the
// claims it needs.
type Purpose struct {
	Code          string // short identifier, sent by the client as the purpose parameter
	DescriptionTH string
	DescriptionEN string
	Claims        []string
	// ConsentFrom is the permit Version from which citizens' consents to
	// this purpose count (release.Covers): a renewal that neither adds the
	// purpose nor widens its claims keeps it, so consents carry over; one
	// that does sets it to the renewed version, so citizens are asked
	// again. 0 (every purpose before a renewal): only a consent to the
	// permit's current Version counts.
	ConsentFrom int
}

// System is a computer system to register under a permit (clause 10): the
// specification an OAuth client is made from.
type System struct {
	Name                   string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	AuthMethod             string // private_key_jwt, client_secret_basic, client_secret_post
	JWKS                   []byte // registered public keys (private_key_jwt)
	JWKSURI                string // or the https URL that publishes them (private_key_jwt)
	NetworkRanges          []string
	// AnyNetwork is an approver's explicit decision, at registration, that
	// a private_key_jwt system may call from any address: without it a
	// system must name its network ranges (clause 10).
	AnyNetwork bool
	SigningAlg string
	// Encryption of ID tokens and userinfo responses, as in Client.
	IDTokenEncryptedResponseAlg  string
	IDTokenEncryptedResponseEnc  string
	UserinfoEncryptedResponseAlg string
	UserinfoEncryptedResponseEnc string

	// RequirePAR and FAPI are set by the approver at registration (see
	// Client); an application does not carry them.
	RequirePAR bool
	FAPI       bool

	// BackchannelLogoutURI and BackchannelLogoutSessionRequired are the
	// client's (OpenID Connect Back-Channel Logout 1.0).
	BackchannelLogoutURI             string
	BackchannelLogoutSessionRequired bool
}

// Acceptance records who accepted the announcement's terms for the agency.
type Acceptance struct {
	Name         string
	Position     string
	At           time.Time
	TermsVersion string
}

// Application is an agency's written application (clause 4).
type Application struct {
	ID         string
	AgencyID   string
	Mission    string
	Reason     string
	Necessity  string
	Purposes   []Purpose
	Systems    []System
	Acceptance Acceptance
	// RecordedBy is the administrator who recorded it (the maker).
	RecordedBy string
	CreatedAt  time.Time
}

// Supervisor is an officer the agency appointed by written order to
// supervise its staff's access (clause 9).
type Supervisor struct {
	Name     string
	Position string
	Email    string
	Phone    string
	OrderRef string // reference of the written appointment order
}

// Permit states. Expiry is not a state: a permit is expired when now is
// past ValidUntil.
const (
	PermitPending   = "pending"
	PermitApproved  = "approved"
	PermitRejected  = "rejected"
	PermitSuspended = "suspended"
	PermitRevoked   = "revoked"
)

// Permit is DOPA's written permission for an agency (clause 5).
type Permit struct {
	ID            string
	Number        string // permit number, unique
	AgencyID      string
	ApplicationID string
	State         string // Permit* constant
	ValidFrom     time.Time
	ValidUntil    time.Time
	// Purposes are those granted: a subset of the application's, each with
	// a subset of the claims asked for.
	Purposes    []Purpose
	Conditions  string
	Supervisors []Supervisor
	// Version increases with every change; a consent names the version it
	// was given for.
	Version   int
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Active reports whether the permit lets its systems work at now.
func (p Permit) Active(now time.Time) bool {
	return p.State == PermitApproved && !now.Before(p.ValidFrom) && now.Before(p.ValidUntil)
}

// Purpose returns the granted purpose with that code.
func (p Permit) Purpose(code string) (Purpose, bool) {
	for _, pu := range p.Purposes {
		if pu.Code == code {
			return pu, true
		}
	}
	return Purpose{}, false
}

// Decision actions.
const (
	DecisionApprove   = "approve"
	DecisionReject    = "reject"
	DecisionSuspend   = "suspend"
	DecisionReinstate = "reinstate"
	DecisionRevoke    = "revoke"
	// DecisionRequestRenewal records an agency's request to renew or
	// extend a permit (clause 5), with the grant it asks for; it changes
	// nothing. DecisionRenew, by an approver other than the one who
	// recorded the request, gives the permit the requested validity
	// period, purposes and supervisors, keeping its number and systems.
	DecisionRequestRenewal = "request_renewal"
	DecisionRenew          = "renew"
	// DecisionRegisterSystem adds a system (client) under the permit;
	// DecisionChangeSystem changes one (clause 10: itself a decision).
	DecisionRegisterSystem = "register_system"
	DecisionChangeSystem   = "change_system"
)

// Decision is an administrator's decision on a permit, with its written
// notice or reason (clause 11). It takes effect at EffectiveAt: at once, or
// later after advance notice.
type Decision struct {
	ID          string
	PermitID    string
	Action      string // Decision* constant
	By          string // administrator ID
	Notice      string
	RecordedAt  time.Time
	EffectiveAt time.Time
	AppliedAt   time.Time // zero until applied
	// Payload carries what the action needs (JSON): the granted purposes
	// and validity for approve, the system for register/change.
	Payload []byte
}

// PermitStore holds agencies, applications, permits and decisions.
type PermitStore interface {
	CreateAgency(ctx context.Context, a Agency, rec Record) error
	Agency(ctx context.Context, id string) (Agency, error)
	Agencies(ctx context.Context) ([]Agency, error)
	UpdateAgency(ctx context.Context, id string, fn func(Agency) (Agency, error)) (Agency, error)

	CreateApplication(ctx context.Context, a Application, rec Record) error
	Application(ctx context.Context, id string) (Application, error)
	ApplicationsByAgency(ctx context.Context, agencyID string) ([]Application, error)

	// CreatePermit stores a permit; ErrAlreadyExists if its ID or Number is taken.
	CreatePermit(ctx context.Context, p Permit) error
	Permit(ctx context.Context, id string) (Permit, error)
	// Permits lists permits, of one agency when agencyID is not empty,
	// newest first.
	Permits(ctx context.Context, agencyID string) ([]Permit, error)
	// UpdatePermit applies fn atomically; the store increments Version.
	UpdatePermit(ctx context.Context, id string, fn func(Permit) (Permit, error)) (Permit, error)

	// CreateDecision stores a decision with rec in one transaction.
	CreateDecision(ctx context.Context, d Decision, rec Record) error
	// Decisions lists a permit's decisions in the order recorded.
	Decisions(ctx context.Context, permitID string) ([]Decision, error)
	// DueDecisions lists decisions not yet applied whose EffectiveAt is not
	// after now, oldest first.
	DueDecisions(ctx context.Context, now time.Time) ([]Decision, error)
	// ApplyDecision applies a due decision exactly once, in one
	// transaction: fn gets the permit and the decision and returns the new
	// permit (stored with Version+1) and the decision is marked applied at
	// now. ErrConflict if it was applied already (another replica won).
	// fn returns, with the permit, the Record of what it did, written in
	// the same transaction.
	ApplyDecision(ctx context.Context, decisionID string, now time.Time, fn func(Permit, Decision) (Permit, Record, error)) (Permit, error)

	// ClientsByPermit lists the systems registered under a permit.
	ClientsByPermit(ctx context.Context, permitID string) ([]Client, error)
}

// Administrator roles.
const (
	RoleOfficer    = "officer"    // records agencies and applications
	RoleApprover   = "approver"   // decides, registers systems, manages accounts
	RoleAuditor    = "auditor"    // reads everything, changes nothing
	RoleSupervisor = "supervisor" // an agency's supervisor (clause 9): reads its agency's accesses
)

// Admin is an account of the administrator console (DOPA staff, or an
// agency supervisor bound to one agency).
type Admin struct {
	ID       string
	Username string // unique
	Name     string
	Role     string // Role* constant
	AgencyID string // for supervisors
	// PasswordHash is an argon2id hash in PHC string format.
	PasswordHash string
	// TOTPSecret is sealed with keys.Envelope (associated data "admin-totp:"+ID).
	TOTPSecret []byte
	// InviteHash is the hash of the one-time invitation token of an account
	// whose holder has not yet enrolled (set their password and confirmed
	// their TOTP code); empty once they have. The token itself is never
	// stored.
	InviteHash string
	// InviteExpiresAt is when the invitation lapses (zero when enrolled).
	InviteExpiresAt time.Time
	// CreatedBy is the ID of the approver who created the account; empty
	// for the accounts made at bootstrap (clause 5: no one person both
	// creates an account and lets it act).
	CreatedBy string
	// ConfirmedBy is the ID of the approver, other than CreatedBy, who
	// confirmed the account after its holder enrolled; ConfirmedAt when.
	// An account with a CreatedBy acts only once confirmed.
	ConfirmedBy string
	ConfirmedAt time.Time
	Disabled    bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Admin account states, as Admin.State reports them.
const (
	AdminInvited  = "invited"  // the holder has not enrolled yet
	AdminPending  = "pending"  // enrolled, awaiting another approver's confirmation
	AdminActive   = "active"   // may sign in and act
	AdminDisabled = "disabled" // may do nothing
)

// Enrolled reports whether the account's holder has set their password and
// confirmed their TOTP code.
func (a Admin) Enrolled() bool { return a.InviteHash == "" && a.PasswordHash != "" }

// Confirmed reports whether the account may act as far as maker-checker
// goes: made at bootstrap, or confirmed by an approver other than its
// creator.
func (a Admin) Confirmed() bool { return a.CreatedBy == "" || !a.ConfirmedAt.IsZero() }

// State returns the account's Admin* state.
func (a Admin) State() string {
	switch {
	case a.Disabled:
		return AdminDisabled
	case a.InviteHash != "" || !a.InviteExpiresAt.IsZero():
		return AdminInvited
	case !a.Confirmed():
		return AdminPending
	}
	return AdminActive
}

// AdminToken is an API token issued to an administrator account, for
// scripts and the `dopaid admin` commands. Only its keyed hash is stored.
type AdminToken struct {
	ID        string
	AdminID   string
	Name      string // what the holder calls it ("nightly export")
	Hash      string // keyed hash of the token (keys.SecretHasher)
	CreatedAt time.Time
	ExpiresAt time.Time
	RevokedAt time.Time // zero while in force
	RevokedBy string    // administrator ID
}

// Live reports whether the token is in force at now.
func (t AdminToken) Live(now time.Time) bool { return t.RevokedAt.IsZero() && now.Before(t.ExpiresAt) }

// AdminStore holds administrator accounts. Their sessions are Sessions
// whose Subject is "admin:"+ID, under a cookie of their own.
type AdminStore interface {
	// CreateAdmin stores an account; ErrAlreadyExists if the ID or username is taken.
	// CreateAdmin stores a new account with rec in one transaction.
	CreateAdmin(ctx context.Context, a Admin, rec Record) error
	Admin(ctx context.Context, id string) (Admin, error)
	AdminByUsername(ctx context.Context, username string) (Admin, error)
	// AdminByInvite returns the account whose InviteHash is inviteHash;
	// ErrNotFound for an empty hash.
	AdminByInvite(ctx context.Context, inviteHash string) (Admin, error)
	Admins(ctx context.Context) ([]Admin, error)
	UpdateAdmin(ctx context.Context, id string, fn func(Admin) (Admin, error), rec Record) (Admin, error)
	// CountAdmins returns how many accounts exist (the first is made by CLI).
	CountAdmins(ctx context.Context) (int, error)

	// CreateAdminToken stores a token; ErrAlreadyExists if its ID or hash
	// is taken, ErrNotFound if its account does not exist.
	CreateAdminToken(ctx context.Context, t AdminToken, rec Record) error
	// AdminTokenByHash returns the token with that hash, revoked and
	// expired ones too; ErrNotFound for an empty hash.
	AdminTokenByHash(ctx context.Context, hash string) (AdminToken, error)
	// AdminTokens lists an account's tokens, newest first.
	AdminTokens(ctx context.Context, adminID string) ([]AdminToken, error)
	// RevokeAdminToken revokes a token of the account at now by by;
	// ErrNotFound if the account has no such token, ErrConflict if it is
	// revoked already.
	RevokeAdminToken(ctx context.Context, adminID, id, by string, now time.Time) (AdminToken, error)
}

// Consent is a citizen's consent to release claims to an agency under a
// permit, for one purpose (PDPA s.19; clause 8).
type Consent struct {
	ID            string
	CitizenID     string
	AgencyID      string
	PermitID      string
	PermitVersion int
	Purpose       string
	Claims        []string // sorted
	GivenAt       time.Time
	WithdrawnAt   time.Time // zero while in force
}

// ConsentStore holds consents.
type ConsentStore interface {
	// GiveConsent records a consent, replacing (withdrawing) any consent in
	// force for the same citizen, permit and purpose, with rec in one
	// transaction.
	GiveConsent(ctx context.Context, c Consent, rec Record) error
	// Consent returns the consent in force for citizen, permit and purpose.
	Consent(ctx context.Context, citizenID, permitID, purpose string) (Consent, error)
	// ConsentsByCitizen lists a citizen's consents in force, newest first.
	ConsentsByCitizen(ctx context.Context, citizenID string) ([]Consent, error)
	// WithdrawConsent ends a consent of the citizen; ErrNotFound if it is
	// not theirs or not in force. In the same transaction it revokes the
	// citizen's grants of every client registered under the consent's
	// permit (no token issued under the consent outlives it), and writes
	// rec.
	WithdrawConsent(ctx context.Context, citizenID, consentID string, now time.Time, rec Record) (Consent, error)
}

// PlatformStores is the DOPA side of the contract: agencies and permits,
// administrator accounts, consents and the audit trail.
type PlatformStores interface {
	PermitStore
	AdminStore
	ConsentStore
	AuditStore
}
