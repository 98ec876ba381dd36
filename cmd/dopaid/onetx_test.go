package main

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/dopaid/dopaid/login"
	"github.com/dopaid/dopaid/storage"
)

// writeCounter counts the calls of every Store method that opens a write
// transaction, by method name, so that a test can see how many a request
// costs. The background work (the audit integrator, the janitor, key
// rotation) is left out: it is no request's.
type writeCounter struct {
	storage.Store
	mu    sync.Mutex
	calls []string
	// reads counts reads, by method, of what the pages and endpoints keep
	// in the provider's caches: clients, permits and their decisions,
	// agencies.
	reads map[string]int
}

func (s *writeCounter) read(m string) {
	s.mu.Lock()
	if s.reads == nil {
		s.reads = map[string]int{}
	}
	s.reads[m]++
	s.mu.Unlock()
}

func (s *writeCounter) Client(ctx context.Context, id string) (storage.Client, error) {
	s.read("Client")
	return s.Store.Client(ctx, id)
}

func (s *writeCounter) Permit(ctx context.Context, id string) (storage.Permit, error) {
	s.read("Permit")
	return s.Store.Permit(ctx, id)
}

func (s *writeCounter) Decisions(ctx context.Context, permitID string) ([]storage.Decision, error) {
	s.read("Decisions")
	return s.Store.Decisions(ctx, permitID)
}

func (s *writeCounter) Agency(ctx context.Context, id string) (storage.Agency, error) {
	s.read("Agency")
	return s.Store.Agency(ctx, id)
}

// takeReads returns the reads counted since the last take.
func (s *writeCounter) takeReads() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.reads
	s.reads = nil
	return n
}

func (s *writeCounter) count(m string) {
	s.mu.Lock()
	s.calls = append(s.calls, m)
	s.mu.Unlock()
}

// take returns the calls counted since the last take.
func (s *writeCounter) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = nil
	return c
}

func (s *writeCounter) CreateAuthRequest(ctx context.Context, r storage.AuthRequest) error {
	s.count("CreateAuthRequest")
	return s.Store.CreateAuthRequest(ctx, r)
}
func (s *writeCounter) CompleteAuthRequest(ctx context.Context, id string, res storage.AuthResult, now time.Time) error {
	s.count("CompleteAuthRequest")
	return s.Store.CompleteAuthRequest(ctx, id, res, now)
}
func (s *writeCounter) SaveAuthCode(ctx context.Context, id, codeHash string, expiresAt, now time.Time) error {
	s.count("SaveAuthCode")
	return s.Store.SaveAuthCode(ctx, id, codeHash, expiresAt, now)
}
func (s *writeCounter) ConsumeAuthCode(ctx context.Context, codeHash, clientID string, now time.Time) (storage.AuthRequest, error) {
	s.count("ConsumeAuthCode")
	return s.Store.ConsumeAuthCode(ctx, codeHash, clientID, now)
}
func (s *writeCounter) DeleteAuthRequest(ctx context.Context, id string) error {
	s.count("DeleteAuthRequest")
	return s.Store.DeleteAuthRequest(ctx, id)
}
func (s *writeCounter) FailAuthRequest(ctx context.Context, id, code string, now time.Time) error {
	s.count("FailAuthRequest")
	return s.Store.FailAuthRequest(ctx, id, code, now)
}
func (s *writeCounter) IssueTokens(ctx context.Context, g storage.Grant, a storage.AccessToken, r *storage.RefreshToken, rec storage.Record) error {
	s.count("IssueTokens")
	return s.Store.IssueTokens(ctx, g, a, r, rec)
}
func (s *writeCounter) RedeemAuthCode(ctx context.Context, code, client string, now time.Time, issue func(storage.AuthRequest) (storage.Issuance, error)) (storage.AuthRequest, error) {
	s.count("RedeemAuthCode")
	return s.Store.RedeemAuthCode(ctx, code, client, now, issue)
}
func (s *writeCounter) RotateRefreshToken(ctx context.Context, old string, a storage.AccessToken, r storage.RefreshToken, now time.Time, rec storage.Record) (storage.Grant, error) {
	s.count("RotateRefreshToken")
	return s.Store.RotateRefreshToken(ctx, old, a, r, now, rec)
}
func (s *writeCounter) RevokeAccessToken(ctx context.Context, id string, now time.Time) error {
	s.count("RevokeAccessToken")
	return s.Store.RevokeAccessToken(ctx, id, now)
}
func (s *writeCounter) RevokeGrant(ctx context.Context, id string, now time.Time) error {
	s.count("RevokeGrant")
	return s.Store.RevokeGrant(ctx, id, now)
}
func (s *writeCounter) RevokeGrants(ctx context.Context, f storage.GrantFilter, now time.Time) (int64, error) {
	s.count("RevokeGrants")
	return s.Store.RevokeGrants(ctx, f, now)
}
func (s *writeCounter) CreateSession(ctx context.Context, ss storage.Session, rec storage.Record) error {
	s.count("CreateSession")
	return s.Store.CreateSession(ctx, ss, rec)
}
func (s *writeCounter) TouchSession(ctx context.Context, id string, idle, now time.Time) error {
	s.count("TouchSession")
	return s.Store.TouchSession(ctx, id, idle, now)
}
func (s *writeCounter) DeleteSession(ctx context.Context, id string, rec storage.Record) error {
	s.count("DeleteSession")
	return s.Store.DeleteSession(ctx, id, rec)
}
func (s *writeCounter) UseOnce(ctx context.Context, scope, value string, exp, now time.Time) error {
	s.count("UseOnce")
	return s.Store.UseOnce(ctx, scope, value, exp, now)
}
func (s *writeCounter) CreateAuthenticator(ctx context.Context, a storage.Authenticator, rec storage.Record) error {
	s.count("CreateAuthenticator")
	return s.Store.CreateAuthenticator(ctx, a, rec)
}
func (s *writeCounter) UseRecoveryCode(ctx context.Context, citizenID, typ, codeHash string, now time.Time) error {
	s.count("UseRecoveryCode")
	return s.Store.UseRecoveryCode(ctx, citizenID, typ, codeHash, now)
}
func (s *writeCounter) TouchAuthenticator(ctx context.Context, id string, now time.Time) error {
	s.count("TouchAuthenticator")
	return s.Store.TouchAuthenticator(ctx, id, now)
}
func (s *writeCounter) ReplaceRecoveryCodes(ctx context.Context, citizenID, id string, hashes []string, rec storage.Record) error {
	s.count("ReplaceRecoveryCodes")
	return s.Store.ReplaceRecoveryCodes(ctx, citizenID, id, hashes, rec)
}
func (s *writeCounter) CreateProofing(ctx context.Context, p storage.Proofing, rec storage.Record) error {
	s.count("CreateProofing")
	return s.Store.CreateProofing(ctx, p, rec)
}
func (s *writeCounter) CreateFlow(ctx context.Context, f storage.Flow) error {
	s.count("CreateFlow")
	return s.Store.CreateFlow(ctx, f)
}
func (s *writeCounter) UpdateFlow(ctx context.Context, id string, now time.Time, fn func(storage.Flow) (storage.Flow, error)) (storage.Flow, error) {
	s.count("UpdateFlow")
	return s.Store.UpdateFlow(ctx, id, now, fn)
}
func (s *writeCounter) DeleteFlow(ctx context.Context, id string) error {
	s.count("DeleteFlow")
	return s.Store.DeleteFlow(ctx, id)
}
func (s *writeCounter) RecordFailure(ctx context.Context, key string, now time.Time, fn func(storage.Throttle) storage.Throttle) (storage.Throttle, error) {
	s.count("RecordFailure")
	return s.Store.RecordFailure(ctx, key, now, fn)
}
func (s *writeCounter) ClearThrottle(ctx context.Context, key string) error {
	s.count("ClearThrottle")
	return s.Store.ClearThrottle(ctx, key)
}
func (s *writeCounter) SignIn(ctx context.Context, in storage.SignIn, now time.Time, rec storage.Record) error {
	s.count("SignIn")
	return s.Store.SignIn(ctx, in, now, rec)
}
func (s *writeCounter) AttemptSignIn(ctx context.Context, a storage.SignInAttempt, now time.Time) error {
	s.count("AttemptSignIn")
	return s.Store.AttemptSignIn(ctx, a, now)
}
func (s *writeCounter) GiveConsent(ctx context.Context, c storage.Consent, rec storage.Record) error {
	s.count("GiveConsent")
	return s.Store.GiveConsent(ctx, c, rec)
}
func (s *writeCounter) WithdrawConsent(ctx context.Context, citizenID, id string, now time.Time, rec storage.Record) (storage.Consent, error) {
	s.count("WithdrawConsent")
	return s.Store.WithdrawConsent(ctx, citizenID, id, now, rec)
}
func (s *writeCounter) AppendAudit(ctx context.Context, e storage.AuditEntry) (storage.AuditEntry, error) {
	s.count("AppendAudit")
	return s.Store.AppendAudit(ctx, e)
}
func (s *writeCounter) AppendLogEntries(ctx context.Context, es []storage.LogEntry) error {
	s.count("AppendLogEntries")
	return s.Store.AppendLogEntries(ctx, es)
}

// TestOneWriteTransactionPerRequest drives a returning citizen's code flows
// through the real pages (ID number + TOTP, consent given on the first and
// remembered on the second), the code exchange and a refresh, counting the
// store's write transactions of each request: at most one each, a wrong
// code's sign-in post included.
func TestOneWriteTransactionPerRequest(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"match":true,"score":0.97,"threshold":0.8,"liveness":"bona_fide","liveness_score":0.99,"vendor":"test-vendor","model_version":"1"}`)
		}))
		t.Cleanup(vendor.Close)
		clk := &testClock{t: time.Now()}
		wc := &writeCounter{}
		ts := boot(t, database, func(m *Main) {
			m.Now = clk.now
			m.Config.FaceURL = vendor.URL
			m.wrapStore = func(s storage.Store) storage.Store { wc.Store = s; return wc }
		})
		seedCitizens(t, ts, somchai)
		c := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic, Scopes: []string{"openid", "profile", "offline_access"}})
		secret := newBrowser(t).prove(ts, c, clk, detailsOf(somchai, false))

		counts := map[string][]string{} // request → the writes of its worst run
		note := func(req string) {
			got := wc.take()
			if len(got) > len(counts[req]) {
				counts[req] = got
			}
		}
		for run, consent := range []bool{true, false} {
			clk.add(30 * time.Second) // a TOTP code works once
			code, _ := totp.GenerateCode(secret, clk.now())
			b := newBrowser(t) // a new device: no sign-on session, ID number + code
			u, verifier := c.authorizeURL(t, ts, func(q url.Values) { q.Set("scope", "openid profile offline_access") })
			wc.take()
			wc.takeReads()
			id := b.toLogin(ts, u)
			note("GET authorize")
			p := b.page(http.MethodGet, ts.URL+login.URL(id), nil, "")
			note("GET sign-in page")
			m := csrfField.FindStringSubmatch(p.body)
			if m == nil {
				t.Fatalf("run %d: sign-in page without a CSRF token (status %d)", run, p.status)
			}
			csrf := html.UnescapeString(m[1])
			// A wrong code first: counted, refused and recorded, in one.
			wrong := code[:5] + string('0'+(code[5]-'0'+1)%10)
			p = b.postForm(ts.URL+login.Path+"/signin", url.Values{"csrf": {csrf}, "authRequestID": {id}, "pid": {somchai.PID}, "code": {wrong}})
			note("POST sign-in (wrong code)")
			if p.status != http.StatusUnauthorized {
				t.Fatalf("run %d: a wrong code answered %d, want 401", run, p.status)
			}
			p = b.postForm(ts.URL+login.Path+"/signin", url.Values{"csrf": {csrf}, "authRequestID": {id}, "pid": {somchai.PID}, "code": {code}})
			note("POST sign-in")
			if consent {
				if p.status != http.StatusSeeOther || !strings.HasPrefix(p.loc, login.Path+"/consent?") {
					t.Fatalf("run %d: sign-in answered %d %q, want the consent page", run, p.status, p.loc)
				}
				p = b.page(http.MethodGet, ts.URL+p.loc, nil, "")
				note("GET consent page")
				p = b.postForm(ts.URL+login.Path+"/consent", url.Values{"csrf": {csrf}, "authRequestID": {id}, "decision": {"allow"}})
				note("POST consent")
			}
			// The last page answers the client: its code committed with
			// the sign-in's (or the consent's) transaction.
			codeValue := signedIn(t, fmt.Sprintf("run %d", run), p).Query().Get("code")
			tok := c.exchange(t, ts, codeValue, verifier).tokens(t)
			note("POST token (code)")
			if tok.RefreshToken == "" {
				t.Fatalf("run %d: no refresh token", run)
			}
			if r := c.refresh(t, ts, tok.RefreshToken); r.status != http.StatusOK {
				t.Fatalf("run %d: refresh status %d", run, r.status)
			}
			note("POST token (refresh)")
			// Nothing changed: one read fills each cache for the whole flow
			// (the clock moved 30 s since the last), however many pages and
			// endpoints look at it — the client, its permit and decisions,
			// its agency.
			reads := wc.takeReads()
			for _, m := range []string{"Client", "Permit", "Decisions", "Agency"} {
				if reads[m] > 1 {
					t.Errorf("run %d: the flow called the store's %s %d times, want at most 1 (the provider's caches)", run, m, reads[m])
				}
			}
		}
		reqs := make([]string, 0, len(counts))
		for r := range counts {
			reqs = append(reqs, r)
		}
		slices.Sort(reqs)
		for _, r := range reqs {
			t.Logf("%-22s %d write transactions %v", r, len(counts[r]), counts[r])
		}
		// The sign-in post admits (counts) the attempt before its code is
		// checked in the transaction that settles it (AttemptSignIn).
		for _, r := range []string{"POST sign-in", "POST sign-in (wrong code)", "POST consent", "POST token (code)", "POST token (refresh)"} {
			if n := len(counts[r]); n > 1 {
				t.Errorf("%s: %d write transactions %v, want at most 1", r, n, counts[r])
			}
		}
	})
}
