// Package storagetest is the executable specification of storage.Store: a
// conformance suite that every backend runs from its own test file with
//
//	func TestStore(t *testing.T) { storagetest.Run(t, newStore) }
//
// It may import only the standard library and storage.
//
// Beyond what storage.go says in words, the suite pins down:
//   - A record is live while now is before its ExpiresAt; at ExpiresAt or
//     later it is expired. Only the now argument decides, never a clock of
//     the backend's own (the suite's times lie far from the real clock).
//   - Times round-trip to at least millisecond precision and come back in
//     UTC; a zero time comes back zero. Nil and empty slices are equal.
//   - A used refresh token presented again gives ErrConflict (and revokes the
//     grant) even when the grant was revoked already, so that of N
//     concurrent rotations one wins and N-1 see ErrConflict.
//   - TouchSession of a missing or expired session gives ErrNotFound.
//   - SignIn applies a counter's updates in the order given, each seeing
//     the one before, and leaves everything as it was (the one-time values
//     unspent too) when any part fails.
//   - Duplicate token and session IDs give ErrAlreadyExists.
//
// For the citizen side of the contract it pins down:
//   - Citizen and CitizenByPID of an unknown record give ErrNotFound.
//   - BEDates round-trip exactly, including an unknown day or month,
//     Lifetime() and the zero BEDate; float64 scores round-trip exactly.
//   - UpsertCitizens is all or nothing. A PID given twice in one call, or a
//     new record whose ID another PID holds, gives ErrAlreadyExists and
//     stores nothing. A record whose ContentHash is the stored one is not
//     written at all, even if other fields differ; an updated record takes
//     every field from the given one except ID and CreatedAt.
//   - CreateAuthenticator with an ID that another citizen's authenticator
//     holds gives ErrAlreadyExists. UseRecoveryCode sets LastUsedAt to now
//     (remaining codes may come back in any order). TouchAuthenticator and
//     UseRecoveryCode of a missing authenticator give ErrNotFound.
//   - LatestProofing is the one with the latest CreatedAt; ErrNotFound if
//     the citizen has none. Duplicate proofing IDs give ErrAlreadyExists.
//   - A flow is live while now is before its ExpiresAt. A non-empty Nonce is
//     unique among stored flows (ErrAlreadyExists from CreateFlow and
//     UpdateFlow); FlowByNonce("") gives ErrNotFound. UpdateFlow keeps the
//     ID whatever fn returns, returns fn's error as is, and gives ErrNotFound
//     without calling fn for a flow that is not live. DeleteFlow of a
//     missing flow is not an error.
//   - A throttle counter whose window (WindowStart+ThrottleWindow) and lock
//     (LockedUntil) are both over at now is expired: Throttle returns, and
//     RecordFailure hands fn, Throttle{Key: key} as if there were none. The
//     stored counter keeps its key whatever fn returns.
//   - FailAuthRequest with an empty error code is refused and leaves the
//     request pending.
//
// For the DOPA side (storage.PlatformStores) it pins down:
//   - The suite stores what a record names (its agency, application,
//     permit or citizen) before the record, so a backend may enforce those
//     references; it need not. Clients and audit entries name permits,
//     agencies and citizens that may not exist.
//   - Create* of a taken ID gives ErrAlreadyExists and stores nothing; so
//     do a taken permit Number and a taken admin Username, on create and on
//     update. An empty Number is not a number: any number of permits may
//     lack one. Usernames compare exactly (case folding is the caller's).
//   - Update* (agency, permit, admin) return fn's error as is and store
//     nothing then, give ErrNotFound without calling fn for a missing
//     record, and keep the ID whatever fn returns. UpdatePermit and
//     ApplyDecision set Version to the stored Version plus one whatever fn
//     returns; CreatePermit stores Version as given.
//   - Agencies are listed by ID, admins by Username, clients of a permit by
//     ID; ApplicationsByAgency and Permits newest CreatedAt first. A list
//     for an unknown agency, permit or citizen is empty, not an error.
//   - Decisions come by RecordedAt, and decisions recorded at the same
//     instant in the order they were created. DueDecisions orders by
//     EffectiveAt, then as Decisions does. CreateDecision stores AppliedAt
//     as given.
//   - ApplyDecision: ErrNotFound for an unknown decision; ErrConflict,
//     without calling fn, for a decision applied before or not yet due
//     (EffectiveAt after now). fn gets the stored permit and decision;
//     the decision's AppliedAt becomes now.
//   - GiveConsent of a taken ID gives ErrAlreadyExists and withdraws
//     nothing. Concurrent consents for one citizen, permit and purpose all
//     succeed and leave exactly one in force. ConsentsByCitizen lists
//     newest GivenAt first. WithdrawConsent sets WithdrawnAt to now and
//     returns the consent; a replaced consent counts as withdrawn.
//   - AppendAudit stores an entry of the verifiable log, not yet
//     integrated: an ID (its own if the caller gave none; ErrAlreadyExists
//     for a taken one), At in milliseconds UTC (now if zero), claims in the
//     caller's order; ErrPersonalData, storing nothing, for a national ID
//     number.
//     It returns the entry with Seq 0; AuditEntries shows it at once, and
//     with Seq = leaf index + 1 once IntegrateLog has placed it.
//   - AuditEntries lists in log order: integrated entries by Seq, then the
//     others as written; Newest the reverse. It applies Limit after
//     ordering; Types matches any of them, an empty Types matches all.
//     FromSeq keeps the entries not yet integrated, ToSeq leaves them out.
//   - A method that takes a storage.Record writes its entries, not yet
//     integrated and as given, exactly when its action commits: an entry
//     PrepareLogEntry refuses (ErrUnrecorded and ErrPersonalData) or one
//     that cannot be inserted (a taken ID: ErrUnrecorded, and not
//     ErrAlreadyExists) leaves the action undone and no entry written; an action that fails (ErrConflict, ErrNotFound,
//     ErrAlreadyExists) writes no entry. WithdrawConsent revokes the
//     citizen's grants of the permit's clients in the same transaction.
package storagetest

import (
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// Run runs the conformance suite. newStore must return a new, empty,
// migrated store each time it is called; Run closes every store it gets, so
// newStore's own cleanup (if any) must tolerate a store already closed.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	t.Helper()
	s := suite{newStore: newStore}
	tests := []struct {
		name string
		run  func(t *testing.T, s suite)
	}{
		{"Clients", testClients},
		{"UpdateClient", testUpdateClient},
		{"AuthRequests", testAuthRequests},
		{"CompleteAuthRequest", testCompleteAuthRequest},
		{"SaveAuthCode", testSaveAuthCode},
		{"ConsumeAuthCode", testConsumeAuthCode},
		{"AuthRequestByCode", testAuthRequestByCode},
		{"Recorded", testRecorded},
		{"IssueTokens", testIssueTokens},
		{"TokenExpiry", testTokenExpiry},
		{"RevokeAccessToken", testRevokeAccessToken},
		{"RevokeGrant", testRevokeGrant},
		{"RevokeGrants", testRevokeGrants},
		{"RotateRefreshToken", testRotateRefreshToken},
		{"RedeemAuthCode", testRedeemAuthCode},
		{"Revocations", testRevocations},
		{"Logouts", testLogouts},
		{"Sessions", testSessions},
		{"SignIn", testSignIn},
		{"AttemptSignIn", testAttemptSignIn},
		{"TouchSession", testTouchSession},
		{"SessionsBySubject", testSessionsBySubject},
		{"SigningKeys", testSigningKeys},
		{"UseOnce", testUseOnce},
		{"FailAuthRequest", testFailAuthRequest},
		{"Citizens", testCitizens},
		{"UpsertCitizens", testUpsertCitizens},
		{"UpsertCitizensLarge", testUpsertCitizensLarge},
		{"Authenticators", testAuthenticators},
		{"UseRecoveryCode", testUseRecoveryCode},
		{"Proofings", testProofings},
		{"Flows", testFlows},
		{"UpdateFlow", testUpdateFlow},
		{"Throttles", testThrottles},
		{"RecordFailure", testRecordFailure},
		{"Agencies", testAgencies},
		{"Applications", testApplications},
		{"Permits", testPermits},
		{"UpdatePermit", testUpdatePermit},
		{"Decisions", testDecisions},
		{"DueDecisions", testDueDecisions},
		{"ApplyDecision", testApplyDecision},
		{"ClientsByPermit", testClientsByPermit},
		{"DerivedClaims", testDerivedClaims},
		{"Admins", testAdmins},
		{"UpdateAdmin", testUpdateAdmin},
		{"AdminConfirmation", testAdminConfirmation},
		{"AdminTokens", testAdminTokens},
		{"Consents", testConsents},
		{"WithdrawConsent", testWithdrawConsent},
		{"AppendAudit", testAppendAudit},
		{"AppendAuditConcurrent", testAppendAuditConcurrent},
		{"AppendAuditTakenIDs", testAppendAuditTakenIDs},
		{"AuditEntries", testAuditEntries},
		{"AuditReaderFilters", testAuditReaderFilters},
		{"AuditPaging", testAuditPaging},
		{"LogEntries", testLogEntries},
		{"IntegrateLog", testIntegrateLog},
		{"IntegrateLogConcurrent", testIntegrateLogConcurrent},
		{"LogLeaves", testLogLeaves},
		{"RedactLogEntries", testRedactLogEntries},
		{"LogKeys", testLogKeys},
		{"DeleteExpired", testDeleteExpired},
		{"DeleteExpiredMany", testDeleteExpiredMany},
		{"Times", testTimes},
		{"PingClose", testPingClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, s) })
	}
}

type suite struct {
	newStore func(t *testing.T) storage.Store
}

// store returns a fresh store that is closed when t ends.
func (su suite) store(t *testing.T) storage.Store {
	t.Helper()
	s := su.newStore(t)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return s
}

// base is "now" for the suite. It lies in the past, far from the real clock,
// so that a backend deciding expiry by its own clock fails.
var base = time.Date(2024, time.February, 29, 10, 20, 30, 456_000_000, time.UTC)

// at returns base moved by d.
func at(d time.Duration) time.Time { return base.Add(d) }

var errTest = errors.New("storagetest: injected error")

// wantErr fails t unless err matches want: nil for nil, errors.Is otherwise.
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s: error %v, want none", what, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

// check fails t unless got and want are equal after normalization.
func check[T any](t *testing.T, what string, got, want T, norm func(T) T) {
	t.Helper()
	if g, w := norm(got), norm(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

// normTime truncates to milliseconds in UTC; the zero time stays zero.
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Truncate(time.Millisecond).UTC()
}

// normStrings and normBytes make nil and empty equal.
func normStrings(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func normBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func normClient(c storage.Client) storage.Client {
	c.JWKS = normBytes(c.JWKS)
	c.RedirectURIs = normStrings(c.RedirectURIs)
	c.PostLogoutRedirectURIs = normStrings(c.PostLogoutRedirectURIs)
	c.Scopes = normStrings(c.Scopes)
	c.NetworkRanges = normStrings(c.NetworkRanges)
	c.CreatedAt = normTime(c.CreatedAt)
	c.UpdatedAt = normTime(c.UpdatedAt)
	return c
}

func normClients(cs []storage.Client) []storage.Client {
	if len(cs) == 0 {
		return nil
	}
	out := make([]storage.Client, len(cs))
	for i, c := range cs {
		out[i] = normClient(c)
	}
	return out
}

func normAuthRequest(r storage.AuthRequest) storage.AuthRequest {
	r.Scopes = normStrings(r.Scopes)
	r.Prompt = normStrings(r.Prompt)
	r.UILocales = normStrings(r.UILocales)
	r.ACRValues = normStrings(r.ACRValues)
	r.Claims = normBytes(r.Claims)
	r.AMR = normStrings(r.AMR)
	r.AuthTime = normTime(r.AuthTime)
	r.CodeExpiresAt = normTime(r.CodeExpiresAt)
	r.CodeUsedAt = normTime(r.CodeUsedAt)
	r.CreatedAt = normTime(r.CreatedAt)
	r.ExpiresAt = normTime(r.ExpiresAt)
	return r
}

func normGrant(g storage.Grant) storage.Grant {
	g.Scopes = normStrings(g.Scopes)
	g.AMR = normStrings(g.AMR)
	g.Claims = normBytes(g.Claims)
	g.AuthTime = normTime(g.AuthTime)
	g.CreatedAt = normTime(g.CreatedAt)
	g.ExpiresAt = normTime(g.ExpiresAt)
	g.RevokedAt = normTime(g.RevokedAt)
	return g
}

func normAccess(a storage.AccessToken) storage.AccessToken {
	a.ExpiresAt = normTime(a.ExpiresAt)
	a.CreatedAt = normTime(a.CreatedAt)
	a.RevokedAt = normTime(a.RevokedAt)
	return a
}

func normRefresh(r storage.RefreshToken) storage.RefreshToken {
	r.ExpiresAt = normTime(r.ExpiresAt)
	r.CreatedAt = normTime(r.CreatedAt)
	r.UsedAt = normTime(r.UsedAt)
	return r
}

func normSession(s storage.Session) storage.Session {
	s.AMR = normStrings(s.AMR)
	s.AuthTime = normTime(s.AuthTime)
	s.IdleExpiresAt = normTime(s.IdleExpiresAt)
	s.ExpiresAt = normTime(s.ExpiresAt)
	s.CreatedAt = normTime(s.CreatedAt)
	s.LastSeenAt = normTime(s.LastSeenAt)
	return s
}

func normKey(k storage.SigningKey) storage.SigningKey {
	k.PrivateKey = normBytes(k.PrivateKey)
	k.PublicKey = normBytes(k.PublicKey)
	k.CreatedAt = normTime(k.CreatedAt)
	k.ActivatesAt = normTime(k.ActivatesAt)
	k.RetiresAt = normTime(k.RetiresAt)
	k.ExpiresAt = normTime(k.ExpiresAt)
	return k
}

func normKeys(ks []storage.SigningKey) []storage.SigningKey {
	if len(ks) == 0 {
		return nil
	}
	out := make([]storage.SigningKey, len(ks))
	for i, k := range ks {
		out[i] = normKey(k)
	}
	return out
}

func normSessions(ss []storage.Session) []storage.Session {
	if len(ss) == 0 {
		return nil
	}
	out := make([]storage.Session, len(ss))
	for i, s := range ss {
		out[i] = normSession(s)
	}
	return out
}

func normCitizen(c storage.Citizen) storage.Citizen {
	c.LaserCode = normBytes(c.LaserCode)
	c.CreatedAt = normTime(c.CreatedAt)
	c.UpdatedAt = normTime(c.UpdatedAt)
	return c
}

func normAuthenticator(a storage.Authenticator) storage.Authenticator {
	a.Secret = normBytes(a.Secret)
	a.RecoveryCodes = normStrings(a.RecoveryCodes)
	a.CreatedAt = normTime(a.CreatedAt)
	a.LastUsedAt = normTime(a.LastUsedAt)
	return a
}

func normFace(f *storage.FaceResult) *storage.FaceResult {
	if f == nil {
		return nil
	}
	g := *f
	g.At = normTime(g.At)
	return &g
}

func normProofing(p storage.Proofing) storage.Proofing {
	p.Matched = normStrings(p.Matched)
	p.Face = normFace(p.Face)
	p.CreatedAt = normTime(p.CreatedAt)
	return p
}

func normFlow(f storage.Flow) storage.Flow {
	f.Matched = normStrings(f.Matched)
	f.Face = normFace(f.Face)
	f.PendingSecret = normBytes(f.PendingSecret)
	f.CreatedAt = normTime(f.CreatedAt)
	f.ExpiresAt = normTime(f.ExpiresAt)
	return f
}

func normThrottle(th storage.Throttle) storage.Throttle {
	th.WindowStart = normTime(th.WindowStart)
	th.LockedUntil = normTime(th.LockedUntil)
	return th
}

func identity[T any](v T) T { return v }

// race calls fn(0) … fn(n-1) from n goroutines released at once and returns
// their errors by index.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// winners counts the nil errors and fails t for every non-nil error that
// is not loser.
func winners(t *testing.T, what string, errs []error, loser error) int {
	t.Helper()
	n := 0
	for i, err := range errs {
		switch {
		case err == nil:
			n++
		case !errors.Is(err, loser):
			t.Errorf("%s #%d: error %v, want nil or %v", what, i, err, loser)
		}
	}
	return n
}

// sameSet reports whether a and b hold the same strings, ignoring order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func ptr[T any](v T) *T { return &v }
