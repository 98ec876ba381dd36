// Package storage holds dopaid's domain types and the Store contract that every
// backend implements, with the parsers of the registry's own formats (ID
// numbers, laser codes, Buddhist-Era dates, names, the registry CSV) so that
// the importer, the login pages and the backends read them alike. It may
// import only the standard library, go-jose and golang.org/x/text (for the
// Unicode normalisation that comparing Thai names needs).
//
// The contract is grouped by aggregate (clients, auth requests, grants and
// tokens, sessions, signing keys, replay caches). Every method takes ctx first.
// Secrets are never stored in the clear: the callers hash codes, tokens and
// client secrets, and encrypt private keys, before they reach a Store.
//
// Expiry is decided by the caller's clock: records carry ExpiresAt and methods
// that must not return expired records take now as an argument, so that every
// replica agrees with the others regardless of the database server's clock.
package storage

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Backends wrap them with %w; callers test with errors.Is.
var (
	// ErrNotFound: no such record, or it has expired.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a record with that key exists already.
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict: the record exists but is in a state that forbids the
	// operation (a code or refresh token used before, a request completed
	// twice, a concurrent update lost).
	ErrConflict = errors.New("conflict")
)

// Store is the whole contract. Backends: storage/sqlite, storage/postgres.
type Store interface {
	ClientStore
	AuthRequestStore
	TokenStore
	SessionStore
	KeyStore
	ReplayStore
	CitizenStores
	PlatformStores
	LogStore
	LogoutStore

	// DeleteExpired removes every record whose lifetime ended before now
	// (auth requests, grants whose tokens are all expired, sessions, replay
	// entries, signing keys past their ExpiresAt, flows, throttles whose
	// window and lock are both over, using ThrottleWindow). It returns how
	// many rows went. A backend may delete in several transactions so as
	// not to hold writers up; on an error, the rows counted went and the
	// rest are left for the next call.
	DeleteExpired(ctx context.Context, now time.Time) (int64, error)
	// Ping reports whether the store can be reached.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}

// Client authentication methods (OAuth token endpoint auth methods).
const (
	AuthMethodSecretBasic   = "client_secret_basic"
	AuthMethodSecretPost    = "client_secret_post"
	AuthMethodPrivateKeyJWT = "private_key_jwt"
	AuthMethodNone          = "none"
)

// Client is a registered system: an OAuth client. Under the permits issue
// every client belongs to exactly one permit.
type Client struct {
	ID   string
	Name string
	// SecretHash is a keyed hash (HMAC-SHA-256 under a key derived from the
	// master key) of the client secret; empty unless AuthMethod is
	// client_secret_basic or client_secret_post.
	SecretHash string
	// AuthMethod is one of the AuthMethod* constants.
	AuthMethod string
	// JWKS is the client's registered public key set (JSON), for private_key_jwt.
	JWKS []byte
	// JWKSURI is where a private_key_jwt client publishes its public key
	// set instead (https), so that it can rotate its keys without a change
	// of registration. The provider uses it only when JWKS is empty.
	JWKSURI string
	// RedirectURIs are matched exactly, byte for byte.
	RedirectURIs []string
	// PostLogoutRedirectURIs are matched exactly, byte for byte.
	PostLogoutRedirectURIs []string
	// Scopes the client may request; the permits issue narrows this further.
	Scopes []string
	// SigningAlg is the ID token signing algorithm (ES256 or RS256).
	SigningAlg string
	// PermitID is the permit the system is registered under ("" until the
	// permits issue lands).
	PermitID string
	// NetworkRanges are the CIDR ranges back-channel calls must come from
	// (empty: any).
	NetworkRanges []string
	// AccessTokenTTL and RefreshTokenTTL override the provider defaults when
	// non-zero.
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	// RequirePAR makes the system push every authorization request first
	// (RFC 9126 §5): the authorization endpoint then accepts only a
	// request_uri from the pushed authorization request endpoint.
	RequirePAR bool
	Disabled   bool
	CreatedAt  time.Time
	UpdatedAt  time.Time

	// The encryption of what the system receives (OIDC Core §10.2; the
	// names are OIDC Dynamic Client Registration's): "" for none, or
	// EncryptionAlg* and EncryptionEnc*. The signed ID token, and the
	// userinfo response signed as a JWT, are encrypted to the system's
	// public encryption key (its JWKS or jwks_uri).
	IDTokenEncryptedResponseAlg  string
	IDTokenEncryptedResponseEnc  string
	UserinfoEncryptedResponseAlg string
	UserinfoEncryptedResponseEnc string
	// FAPI puts the system under the FAPI 2.0 security profile: pushed
	// requests only (as RequirePAR), private_key_jwt, DPoP-bound tokens,
	// ES256 or PS256 signatures, codes that live at most 60 seconds.
	FAPI bool
	// BackchannelLogoutURI is where the system takes logout tokens
	// (OpenID Connect Back-Channel Logout 1.0): https, or http on a
	// loopback address in development. Empty: it takes none.
	BackchannelLogoutURI string
	// BackchannelLogoutSessionRequired: the system needs sid in its ID
	// tokens and logout tokens.
	BackchannelLogoutSessionRequired bool
}

// Key management (alg) and content encryption (enc) algorithms a system
// may ask its ID tokens and userinfo responses to be encrypted with.
const (
	EncryptionAlgRSAOAEP256 = "RSA-OAEP-256"
	EncryptionAlgECDHES     = "ECDH-ES"
	EncryptionEncA256GCM    = "A256GCM"
)

// Public reports whether the client has no credential of its own.
func (c Client) Public() bool { return c.AuthMethod == AuthMethodNone }

// ClientStore holds registered systems.
type ClientStore interface {
	// CreateClient stores a new client with rec in one transaction;
	// ErrAlreadyExists if the ID is taken.
	CreateClient(ctx context.Context, c Client, rec Record) error
	// Client returns the client with that ID, or ErrNotFound.
	Client(ctx context.Context, id string) (Client, error)
	// Clients lists every client ordered by ID.
	Clients(ctx context.Context) ([]Client, error)
	// UpdateClient applies fn to the stored client inside one transaction and
	// stores its result with rec; fn's error aborts the update and is
	// returned as is.
	UpdateClient(ctx context.Context, id string, fn func(Client) (Client, error), rec Record) (Client, error)
	// DeleteClient removes the client with rec; ErrNotFound if there is none.
	DeleteClient(ctx context.Context, id string, rec Record) error
}

// AuthRequest is an authorization request from its arrival at the authorize
// endpoint until its code is exchanged (or it expires).
type AuthRequest struct {
	ID                  string
	ClientID            string
	RedirectURI         string
	Scopes              []string
	State               string
	Nonce               string
	ResponseType        string
	ResponseMode        string
	CodeChallenge       string
	CodeChallengeMethod string
	Prompt              []string
	// MaxAge is nil when the request carried no max_age.
	MaxAge    *time.Duration
	LoginHint string
	UILocales []string
	ACRValues []string
	// Claims is the raw JSON of the OIDC claims request parameter, if any.
	Claims []byte
	// Purpose is the permit purpose the request names (permits issue).
	Purpose string
	// BrowserBinding is a hash of the cookie value that binds the request to
	// the browser that started it.
	BrowserBinding string
	// GrantID is assigned at creation and names the token family the request's
	// code will start.
	GrantID string
	// DPoPJKT, if set, is the JWK SHA-256 thumbprint (RFC 7638) of the key
	// the code must be redeemed with (RFC 9449 §10: dpop_jkt, or the
	// proof of a pushed request).
	DPoPJKT string

	// Set by CompleteAuthRequest when the user has authenticated.
	Subject   string
	AuthTime  time.Time
	AMR       []string
	ACR       string
	IAL       string
	SessionID string
	Done      bool
	// Error is set by FailAuthRequest: the OAuth error code (login_required,
	// access_denied, …) the provider returns to the client instead of a code.
	Error string

	// CodeHash is the hash of the authorization code once one was issued.
	CodeHash      string
	CodeExpiresAt time.Time
	CodeUsedAt    time.Time

	CreatedAt time.Time
	ExpiresAt time.Time
}

// AuthResult is what a successful sign-in adds to an AuthRequest.
type AuthResult struct {
	Subject   string
	AuthTime  time.Time
	AMR       []string
	ACR       string
	IAL       string
	SessionID string
	// Code, if its Hash is set, is the authorization code issued with the
	// completion, as SaveAuthCode would attach it afterwards: the
	// provider's answer made while the request completes, so that the
	// browser goes from the login pages straight to the client.
	Code AuthCode
}

// AuthCode is an authorization code as stored: its hash and expiry.
type AuthCode struct {
	Hash      string
	ExpiresAt time.Time
}

// AuthRequestStore holds authorization requests and their codes.
type AuthRequestStore interface {
	// CreateAuthRequest stores a new request; ErrAlreadyExists if the ID is taken.
	CreateAuthRequest(ctx context.Context, r AuthRequest) error
	// AuthRequest returns the request if it exists and has not expired at now.
	AuthRequest(ctx context.Context, id string, now time.Time) (AuthRequest, error)
	// CompleteAuthRequest records the sign-in result, and its code if
	// res.Code has a hash. ErrNotFound if missing or expired, ErrConflict
	// if it was completed already.
	CompleteAuthRequest(ctx context.Context, id string, res AuthResult, now time.Time) error
	// SaveAuthCode attaches a code (by its hash) to a completed request.
	// ErrConflict if the request is not completed or already has a code.
	SaveAuthCode(ctx context.Context, id, codeHash string, expiresAt, now time.Time) error
	// ConsumeAuthCode marks the code used and returns its request, atomically:
	// of any number of concurrent calls for one code exactly one succeeds.
	// The code counts only for clientID, the authenticated client: for any
	// other client it is ErrNotFound and stays as it was, so that a client
	// holding another's leaked code cannot burn it. A code used before
	// returns the request together with ErrConflict, so the caller can revoke
	// the grant it started; an unknown or expired code returns ErrNotFound.
	ConsumeAuthCode(ctx context.Context, codeHash, clientID string, now time.Time) (AuthRequest, error)
	// AuthRequestByCode returns the request whose code has the hash
	// codeHash, if its client is clientID and the code is neither used nor
	// expired at now; ErrNotFound otherwise. It changes nothing: only
	// ConsumeAuthCode and RedeemAuthCode use a code, and the code this read
	// found may be used by the time the caller acts on it. A request whose
	// code was issued changes no more but for the code's use
	// (CompleteAuthRequest and SaveAuthCode refuse it), so what the read
	// returned is what consuming the code returns, CodeUsedAt aside.
	AuthRequestByCode(ctx context.Context, codeHash, clientID string, now time.Time) (AuthRequest, error)
	// DeleteAuthRequest removes a request; deleting a missing one is not an error.
	DeleteAuthRequest(ctx context.Context, id string) error
}

// Grant is a token family: everything issued from one authorization code and
// its refresh chain. Revoking the grant kills every token in it.
type Grant struct {
	ID        string
	ClientID  string
	Subject   string
	Scopes    []string
	AuthTime  time.Time
	AMR       []string
	ACR       string
	IAL       string
	SessionID string
	// Claims is the raw JSON of the claims request parameter, carried to userinfo.
	Claims  []byte
	Purpose string
	// DPoPJKT, if set, binds every token of the grant to the key with that
	// JWK SHA-256 thumbprint (RFC 9449 cnf.jkt): each use needs a DPoP
	// proof signed by it.
	DPoPJKT   string
	CreatedAt time.Time
	// ExpiresAt bounds the whole family (the longest refresh token lifetime).
	ExpiresAt time.Time
	RevokedAt time.Time
}

// AccessToken is an issued access token, stored by the hash of its ID.
type AccessToken struct {
	ID        string // hash of the token's secret part
	GrantID   string
	ExpiresAt time.Time
	CreatedAt time.Time
	RevokedAt time.Time
}

// RefreshToken is an issued refresh token, stored by hash. A refresh token is
// used exactly once: using it rotates it to a new one.
type RefreshToken struct {
	ID        string // hash of the token
	GrantID   string
	ExpiresAt time.Time
	CreatedAt time.Time
	UsedAt    time.Time
}

// TokenInfo is a live token together with its grant.
type TokenInfo struct {
	Grant   Grant
	Access  AccessToken  // set by AccessToken
	Refresh RefreshToken // set by RefreshToken
}

// TokenStore holds grants and the tokens issued under them.
type TokenStore interface {
	// IssueTokens stores the grant (created if new, ErrConflict if it exists
	// and is revoked) with an access token and, if refresh is non-nil, a
	// refresh token, and rec, in one transaction.
	IssueTokens(ctx context.Context, g Grant, access AccessToken, refresh *RefreshToken, rec Record) error
	// RotateRefreshToken uses the refresh token oldID and stores its
	// successors, atomically. If oldID was used before, the whole grant is
	// revoked and ErrConflict returned (reuse detection). Unknown, expired or
	// revoked tokens give ErrNotFound. It returns the grant the token belongs to.
	// The caller cannot know the grant before the call: the backend sets the
	// successors' GrantID to the old token's grant, and caps refresh.ExpiresAt
	// (and access.ExpiresAt) at the grant's ExpiresAt. rec is written only
	// with a rotation: never with the revocation that reuse causes.
	RotateRefreshToken(ctx context.Context, oldID string, access AccessToken, refresh RefreshToken, now time.Time, rec Record) (Grant, error)
	// RedeemAuthCode is ConsumeAuthCode and then IssueTokens in one
	// transaction: issue is called with the request once its code is
	// marked used, and the tokens it returns are stored with its Record.
	// An error from issue keeps the code used (a failed attempt of the
	// rightful client burns it), stores nothing else, and is returned as
	// is. Otherwise the errors are ConsumeAuthCode's (issue is not called;
	// ErrConflict comes with the request) and then IssueTokens'.
	RedeemAuthCode(ctx context.Context, codeHash, clientID string, now time.Time, issue func(AuthRequest) (Issuance, error)) (AuthRequest, error)
	// AccessToken returns a live access token (not expired, not revoked, grant
	// not revoked) with its grant, or ErrNotFound.
	AccessToken(ctx context.Context, id string, now time.Time) (TokenInfo, error)
	// RefreshToken returns a live, unused refresh token with its grant, or ErrNotFound.
	RefreshToken(ctx context.Context, id string, now time.Time) (TokenInfo, error)
	// RevokeAccessToken revokes one access token; a missing one is not an error.
	RevokeAccessToken(ctx context.Context, id string, now time.Time) error
	// RevokeGrant revokes a grant and so every token in it; a missing or
	// already revoked grant is not an error.
	RevokeGrant(ctx context.Context, grantID string, now time.Time) error
	// RevokeGrants revokes every live grant matching the filter and returns
	// how many it revoked. An empty filter is refused with an error.
	RevokeGrants(ctx context.Context, f GrantFilter, now time.Time) (int64, error)
	// Revocations reads the revocation feed: the grants and access tokens
	// revoked, by whatever method, in
	// transactions that the cursor has not covered yet, and the cursor to
	// pass next time. Cursor 0 reads the whole feed. A revocation may be
	// reported again on a later read; one that commits is never skipped,
	// however late it commits. Entries leave the feed with DeleteExpired
	// once their ExpiresAt has passed.
	Revocations(ctx context.Context, cursor int64) ([]Revocation, int64, error)
}

// Issuance is what RedeemAuthCode stores: IssueTokens' arguments.
type Issuance struct {
	Grant   Grant
	Access  AccessToken
	Refresh *RefreshToken
	Record  Record
}

// Revocation is an entry of the revocation feed (TokenStore.Revocations).
type Revocation struct {
	// Grant is true for a grant (ID is the grant's), false for an access
	// token (ID is the token's, its hash).
	Grant     bool
	ID        string
	ExpiresAt time.Time
}

// GrantFilter selects grants. Empty fields match anything, but at least one
// must be set.
type GrantFilter struct {
	ClientID  string
	Subject   string
	SessionID string
}

// Session is a signed-in browser session (server side; the cookie holds only
// a random ID whose hash is Session.ID).
type Session struct {
	ID       string
	Subject  string
	AuthTime time.Time
	AMR      []string
	ACR      string
	IAL      string
	// IdleExpiresAt moves forward with use; ExpiresAt never does.
	IdleExpiresAt time.Time
	ExpiresAt     time.Time
	CreatedAt     time.Time
	LastSeenAt    time.Time
	UserAgent     string
}

// SessionStore holds browser sessions.
type SessionStore interface {
	// CreateSession stores a new session with rec (a sign-in) in one
	// transaction; ErrAlreadyExists if the ID is taken.
	CreateSession(ctx context.Context, s Session, rec Record) error
	// Session returns a live session (neither idle- nor absolutely expired).
	Session(ctx context.Context, id string, now time.Time) (Session, error)
	// TouchSession moves the idle expiry (never past ExpiresAt) and LastSeenAt.
	TouchSession(ctx context.Context, id string, idleExpiresAt, now time.Time) error
	// SessionsBySubject lists a subject's live sessions, newest first.
	SessionsBySubject(ctx context.Context, subject string, now time.Time) ([]Session, error)
	// DeleteSession ends a session, with rec (a sign-out) in one
	// transaction; a missing one is not an error, and rec is then written
	// all the same (the citizen asked to sign out).
	DeleteSession(ctx context.Context, id string, rec Record) error
	// SignIn makes every write of one sign-in request in one transaction
	// with rec, all or none, in the order of SignIn's fields. Its errors are
	// those of the methods it stands for: ErrAlreadyExists for a one-time
	// value used before (or a taken session ID), and CompleteAuthRequest's
	// ErrNotFound and ErrConflict.
	SignIn(ctx context.Context, in SignIn, now time.Time, rec Record) error
	// AttemptSignIn admits, checks and settles one sign-in attempt in one
	// transaction: it reads the counters named by a.Counters, locked so
	// that concurrent attempts naming one of them (on any replica) go one
	// after the other, and the one-time values of a.Scopes not expired at
	// now; hands them to a.Check; and writes what Check returns as SignIn
	// does, with its Record — all or none. A counter that Check's SignIn
	// updates without having named it is read and locked after Check.
	// Check runs once (again only if this method is called again), inside
	// the transaction: on SQLite on the single writer, so it must do no
	// I/O — no store call, no network. Its error aborts the attempt and is
	// returned as is; the other errors are SignIn's.
	AttemptSignIn(ctx context.Context, a SignInAttempt, now time.Time) error
}

// SignInAttempt is a sign-in attempt decided under its failure counters
// (SessionStore.AttemptSignIn): every attempt is counted before its code is
// checked, so parallel guesses cannot all be checked before any counts.
type SignInAttempt struct {
	// Counters are the keys of the failure counters that decide whether the
	// attempt may be checked; each is read once even if named twice.
	Counters []string
	// Scopes are the one-time value scopes (e.g. "totp:<authenticator>")
	// whose live values Check sees: a value spent before is no match.
	Scopes []string
	// Check gets the counters, in the order of Counters (a zero Throttle
	// with the key set for one that is missing or over), and the values of
	// Scopes spent and not expired, and returns the attempt's writes — the
	// failure counted, or the sign-in — with the entries that record them.
	Check func(counters []Throttle, spent []OnceValue) (SignIn, Record, error)
}

// SignIn is what a request of the sign-in pages writes once the citizen is
// known (SessionStore.SignIn): what would otherwise be a UseOnce,
// TouchAuthenticator, RecordFailure / ClearThrottle per counter,
// DeleteSession, CreateSession, GiveConsent, CompleteAuthRequest and
// TouchSession, each a commit of its own. Every part is optional.
type SignIn struct {
	// Once are one-time values spent first (UseOnce), e.g. a TOTP code's
	// time step.
	Once []OnceValue
	// Authenticator, if set, is the ID of an authenticator used now (as
	// TouchAuthenticator; a missing one is not an error).
	Authenticator string
	// Throttles are failure counters updated (Update non-nil, as with
	// RecordFailure) or removed (Update nil, as with ClearThrottle).
	Throttles []ThrottleUpdate
	// EndSession, if set, is a session removed: the browser's earlier one,
	// which the new one replaces (no sign-out: rec does not say so). A
	// missing one is not an error.
	EndSession string
	// Session, if its ID is set, is created.
	Session Session
	// Consent, if its ID is set, is given (as GiveConsent).
	Consent Consent
	// AuthRequestID, if set, is the request completed with Result.
	AuthRequestID string
	Result        AuthResult
	// TouchSession, if set, is a session whose idle expiry moves to
	// IdleExpiresAt (as TouchSession; a session no longer live is not an
	// error).
	TouchSession  string
	IdleExpiresAt time.Time
}

// OnceValue is a one-time value for ReplayStore.UseOnce or SignIn.Once.
type OnceValue struct {
	Scope, Value string
	ExpiresAt    time.Time
}

// ThrottleUpdate is a change of a failure counter in SignIn.Throttles.
type ThrottleUpdate struct {
	Key string
	// Update is applied as with ThrottleStore.RecordFailure; nil removes
	// the counter.
	Update func(Throttle) Throttle
}

// SigningKey is one of the provider's token signing keys. The private key is
// stored only encrypted (keys.Envelope).
type SigningKey struct {
	ID        string // the JWK kid
	Algorithm string // ES256 or RS256
	// Generation increases by one with each rotation per algorithm; it is
	// unique per algorithm so that two replicas rotating at once cannot both win.
	Generation int64
	// PrivateKey is the encrypted private key.
	PrivateKey []byte
	// PublicKey is the public JWK (JSON).
	PublicKey []byte
	CreatedAt time.Time
	// ActivatesAt: published from CreatedAt, signs from ActivatesAt.
	ActivatesAt time.Time
	// RetiresAt: signs until RetiresAt; zero while it is the newest key.
	RetiresAt time.Time
	// ExpiresAt: published until ExpiresAt (RetiresAt plus the longest token
	// lifetime); zero while not retired.
	ExpiresAt time.Time
}

// KeyStore holds signing keys.
type KeyStore interface {
	// CreateSigningKey stores a key; ErrAlreadyExists if its ID, or its
	// (Algorithm, Generation) pair, is taken.
	CreateSigningKey(ctx context.Context, k SigningKey) error
	// SigningKeys lists the keys not expired at now, newest generation first.
	SigningKeys(ctx context.Context, now time.Time) ([]SigningKey, error)
	// RetireSigningKey sets RetiresAt and ExpiresAt of a key that has none yet;
	// ErrConflict if it was retired before, ErrNotFound if missing.
	RetireSigningKey(ctx context.Context, id string, retiresAt, expiresAt time.Time) error
}

// ThrottleWindow is how long a failure counter lasts after its window
// started; DeleteExpired drops counters older than that and not locked.
const ThrottleWindow = 24 * time.Hour

// ReplayStore remembers one-time values (JWT IDs of client assertions) until
// they expire.
type ReplayStore interface {
	// UseOnce records (scope, value) until expiresAt. ErrAlreadyExists if it
	// was recorded before and has not expired.
	UseOnce(ctx context.Context, scope, value string, expiresAt, now time.Time) error
}
