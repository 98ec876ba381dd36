package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/dopaid/dopaid/admin"
	"github.com/dopaid/dopaid/login"
	"github.com/dopaid/dopaid/storage"
)

// failingAuditStore is the real store (SQLite or PostgreSQL) whose audit
// trail cannot be written while fail is set: a fault injected under the
// running server, every other method the real one.
type failingAuditStore struct {
	storage.Store
	fail *atomic.Bool
}

// errAuditDown is the injected fault; its text must reach no page or client.
var errAuditDown = errors.New("audit volume unavailable")

func (s failingAuditStore) AppendAudit(ctx context.Context, e storage.AuditEntry) (storage.AuditEntry, error) {
	if s.fail.Load() {
		return storage.AuditEntry{}, errAuditDown
	}
	return s.Store.AppendAudit(ctx, e)
}

// broken makes rec fail to be written inside the action's transaction
// while fail is set: its first entry is written twice under one ID, so
// that the store's insert of the entries, beside the action's own rows,
// violates the log's unique key and the whole transaction rolls back.
func (s failingAuditStore) broken(rec storage.Record) storage.Record {
	if !s.fail.Load() || len(rec) == 0 {
		return rec
	}
	rec = slices.Clone(rec)
	if rec[0].ID == "" {
		rec[0].ID = "failing-audit-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	return append(rec, rec[0])
}

func (s failingAuditStore) IssueTokens(ctx context.Context, g storage.Grant, a storage.AccessToken, r *storage.RefreshToken, rec storage.Record) error {
	return s.Store.IssueTokens(ctx, g, a, r, s.broken(rec))
}

func (s failingAuditStore) RedeemAuthCode(ctx context.Context, code, client string, now time.Time, issue func(storage.AuthRequest) (storage.Issuance, error)) (storage.AuthRequest, error) {
	return s.Store.RedeemAuthCode(ctx, code, client, now, func(ar storage.AuthRequest) (storage.Issuance, error) {
		is, err := issue(ar)
		is.Record = s.broken(is.Record)
		return is, err
	})
}

func (s failingAuditStore) SignIn(ctx context.Context, in storage.SignIn, now time.Time, rec storage.Record) error {
	return s.Store.SignIn(ctx, in, now, s.broken(rec))
}

func (s failingAuditStore) AttemptSignIn(ctx context.Context, att storage.SignInAttempt, now time.Time) error {
	check := att.Check
	att.Check = func(cs []storage.Throttle, spent []storage.OnceValue) (storage.SignIn, storage.Record, error) {
		in, rec, err := check(cs, spent)
		return in, s.broken(rec), err
	}
	return s.Store.AttemptSignIn(ctx, att, now)
}

func (s failingAuditStore) RotateRefreshToken(ctx context.Context, old string, a storage.AccessToken, r storage.RefreshToken, now time.Time, rec storage.Record) (storage.Grant, error) {
	return s.Store.RotateRefreshToken(ctx, old, a, r, now, s.broken(rec))
}

func (s failingAuditStore) CreateSession(ctx context.Context, ss storage.Session, rec storage.Record) error {
	return s.Store.CreateSession(ctx, ss, s.broken(rec))
}

func (s failingAuditStore) DeleteSession(ctx context.Context, id string, rec storage.Record) error {
	return s.Store.DeleteSession(ctx, id, s.broken(rec))
}

func (s failingAuditStore) GiveConsent(ctx context.Context, c storage.Consent, rec storage.Record) error {
	return s.Store.GiveConsent(ctx, c, s.broken(rec))
}

func (s failingAuditStore) WithdrawConsent(ctx context.Context, citizenID, consentID string, now time.Time, rec storage.Record) (storage.Consent, error) {
	return s.Store.WithdrawConsent(ctx, citizenID, consentID, now, s.broken(rec))
}

func (s failingAuditStore) CreateProofing(ctx context.Context, p storage.Proofing, rec storage.Record) error {
	return s.Store.CreateProofing(ctx, p, s.broken(rec))
}

func (s failingAuditStore) CreateAuthenticator(ctx context.Context, a storage.Authenticator, rec storage.Record) error {
	return s.Store.CreateAuthenticator(ctx, a, s.broken(rec))
}

func (s failingAuditStore) CreateClient(ctx context.Context, c storage.Client, rec storage.Record) error {
	return s.Store.CreateClient(ctx, c, s.broken(rec))
}

func (s failingAuditStore) UpdateClient(ctx context.Context, id string, fn func(storage.Client) (storage.Client, error), rec storage.Record) (storage.Client, error) {
	return s.Store.UpdateClient(ctx, id, fn, s.broken(rec))
}

func (s failingAuditStore) DeleteClient(ctx context.Context, id string, rec storage.Record) error {
	return s.Store.DeleteClient(ctx, id, s.broken(rec))
}

func (s failingAuditStore) CreateAdmin(ctx context.Context, a storage.Admin, rec storage.Record) error {
	return s.Store.CreateAdmin(ctx, a, s.broken(rec))
}

func (s failingAuditStore) UpdateAdmin(ctx context.Context, id string, fn func(storage.Admin) (storage.Admin, error), rec storage.Record) (storage.Admin, error) {
	return s.Store.UpdateAdmin(ctx, id, fn, s.broken(rec))
}

func (s failingAuditStore) CreateAdminToken(ctx context.Context, t storage.AdminToken, rec storage.Record) error {
	return s.Store.CreateAdminToken(ctx, t, s.broken(rec))
}

func (s failingAuditStore) CreateDecision(ctx context.Context, d storage.Decision, rec storage.Record) error {
	return s.Store.CreateDecision(ctx, d, s.broken(rec))
}

func (s failingAuditStore) ApplyDecision(ctx context.Context, id string, now time.Time, fn func(storage.Permit, storage.Decision) (storage.Permit, storage.Record, error)) (storage.Permit, error) {
	return s.Store.ApplyDecision(ctx, id, now, func(p storage.Permit, d storage.Decision) (storage.Permit, storage.Record, error) {
		p, rec, err := fn(p, d)
		return p, s.broken(rec), err
	})
}

// withFailingAudit is a boot option: the server's store fails its audit
// appends while fail is set.
func withFailingAudit(fail *atomic.Bool) func(*Main) {
	return func(m *Main) {
		m.wrapStore = func(s storage.Store) storage.Store { return failingAuditStore{Store: s, fail: fail} }
	}
}

// faceVendor is an HTTP face service that matches every selfie.
func faceVendor(t *testing.T) string {
	t.Helper()
	v := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"match":true,"score":0.97,"threshold":0.8,"liveness":"bona_fide","liveness_score":0.99,"vendor":"test-vendor","model_version":"1"}`)
	}))
	t.Cleanup(v.Close)
	return v.URL
}

// noInternalText fails if a page or answer shows the injected fault.
func noInternalText(t *testing.T, what string, body []byte) {
	t.Helper()
	assertNoInternals(t, body)
	if strings.Contains(string(body), errAuditDown.Error()) {
		t.Errorf("%s shows the store's error text", what)
	}
}

// TestAuditFailureRefusesActions: with the audit trail failing under the
// running server, a sign-in, a consent, an administrator's suspension and a
// client secret rotation are refused with the generic error and leave no
// trace — no session cookie, no consent, the permit still approved, the old
// secret still good — and each works once the trail does again.
func TestAuditFailureRefusesActions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ctx := context.Background()
		clk := &testClock{t: time.Now()}
		fail := &atomic.Bool{}
		ts := boot(t, database, func(m *Main) { m.Now = clk.now; m.Config.FaceURL = faceVendor(t) }, withFailingAudit(fail))
		seedCitizens(t, ts, somchai)
		app := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic, Scopes: []string{"openid", "offline_access"}})
		secret := newBrowser(t).prove(ts, app, clk, detailsOf(somchai, false))
		citizen, err := ts.Store.CitizenByPID(ctx, somchai.PID)
		if err != nil {
			t.Fatal(err)
		}
		code := func() string {
			clk.add(30 * time.Second) // a code works once: each sign-in takes the next step
			s, _ := totp.GenerateCode(secret, clk.now())
			return s
		}
		sessions := func(t *testing.T) int {
			t.Helper()
			ss, err := ts.Store.SessionsBySubject(ctx, citizen.ID, clk.now())
			if err != nil {
				t.Fatal(err)
			}
			return len(ss)
		}

		t.Run("sign-in", func(t *testing.T) {
			before := sessions(t)
			b := newBrowser(t)
			fail.Store(true)
			p := b.signInWith(ts, app, somchai.PID, code())
			fail.Store(false)
			if p.status != http.StatusInternalServerError || p.loc != "" {
				t.Fatalf("sign-in without a trail: status %d, Location %q, want the 500 error page", p.status, p.loc)
			}
			noInternalText(t, "the sign-in page", []byte(p.body))
			if v := b.cookie(ts, login.SessionCookie(false)); v != "" {
				t.Error("a session cookie was issued for an unrecorded sign-in")
			}
			if got := sessions(t); got != before {
				t.Errorf("sessions = %d, want %d: a session was started for an unrecorded sign-in", got, before)
			}
			signedIn(t, "sign-in with the trail back", b.signInWith(ts, app, somchai.PID, code()))
		})

		pm := permitFor(t, ts, "failclosed-agency", namesOnly)
		names := newTestClient(t, ts, storage.Client{ID: "names", AuthMethod: storage.AuthMethodSecretBasic, PermitID: pm.ID,
			Scopes: []string{"openid", "given_name", "family_name"}})

		t.Run("consent", func(t *testing.T) {
			b := signedInBrowser(t, ts, citizen.ID)
			u, _ := names.authorizeURL(t, ts, func(q url.Values) { q.Set("scope", "openid given_name family_name") })
			id := b.toLogin(ts, u)
			if r := b.reply(ts.URL + login.URL(id)); r.status != http.StatusOK || !strings.Contains(string(r.body), `name="decision"`) {
				t.Fatalf("consent page: status %d", r.status)
			}
			consented := func() bool {
				_, err := ts.Store.Consent(ctx, citizen.ID, pm.ID, namesOnly.Code)
				if err != nil && !errors.Is(err, storage.ErrNotFound) {
					t.Fatal(err)
				}
				return err == nil
			}
			fail.Store(true)
			for _, decision := range []string{"allow", "deny"} {
				resp := b.answerConsent(ts, id, decision)
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusInternalServerError {
					t.Errorf("%s without a trail: status %d to %q, want the 500 error page", decision, resp.StatusCode, resp.Header.Get("Location"))
				}
				noInternalText(t, "the consent page", body)
			}
			fail.Store(false)
			if consented() {
				t.Fatal("a consent was stored that the trail does not record")
			}
			// Neither answer ended the request: the citizen answers again.
			resp := b.answerConsent(ts, id, "allow")
			if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, names.Redirect+"?code=") {
				t.Fatalf("allow with the trail back: status %d to %q, want the answer to the client with a code", resp.StatusCode, loc)
			}
			if !consented() {
				t.Error("no consent stored with the trail back")
			}
		})

		// The first approver signs in to the JSON API, as an administrator's
		// tools do.
		boss, otpURL, err := ts.Admin.Bootstrap(ctx, "approver1", "Approver One", storage.RoleApprover, "a long enough password")
		if err != nil {
			t.Fatal(err)
		}
		key, err := otp.NewKeyFromURL(otpURL)
		if err != nil {
			t.Fatal(err)
		}
		ts.secret(key.Secret())
		totpNow, _ := totp.GenerateCode(key.Secret(), clk.now())
		req, _ := http.NewRequest(http.MethodPost, ts.URL+admin.APIPath+"/session",
			strings.NewReader(`{"username":"approver1","password":"a long enough password","totp":"`+totpNow+`"}`))
		req.Header.Set("Content-Type", "application/json")
		var session struct{ Token string }
		if r := do(t, req); r.status != http.StatusCreated || json.Unmarshal(r.body, &session) != nil || session.Token == "" {
			t.Fatalf("API sign-in: status %d: %.300s", r.status, r.body)
		}
		ts.secret(session.Token)
		api := func(t *testing.T, path, body string) reply {
			t.Helper()
			req, _ := http.NewRequest(http.MethodPost, ts.URL+admin.APIPath+path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+session.Token)
			req.Header.Set("Content-Type", "application/json")
			return do(t, req)
		}

		t.Run("suspend", func(t *testing.T) {
			ds, err := ts.Store.Decisions(ctx, pm.ID)
			if err != nil {
				t.Fatal(err)
			}
			fail.Store(true)
			r := api(t, "/permits/"+pm.ID+"/decisions", `{"action":"suspend","notice":"หนังสือแจ้งเลขที่ 9/2569"}`)
			_, _, derr := ts.Admin.Decide(ctx, boss, pm.ID, admin.DecisionRequest{Action: storage.DecisionSuspend, Notice: "หนังสือแจ้งเลขที่ 9/2569"})
			fail.Store(false)
			r.wantOAuthError(t, http.StatusInternalServerError, "server_error")
			noInternalText(t, "the API's answer", r.body)
			if derr == nil {
				t.Fatal("Decide suspended a permit without recording it")
			}
			got, err := ts.Store.Permit(ctx, pm.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != storage.PermitApproved {
				t.Errorf("permit is %s, want still approved", got.State)
			}
			if after, _ := ts.Store.Decisions(ctx, pm.ID); len(after) != len(ds) {
				t.Errorf("decisions = %d, want %d: an unrecorded decision was stored", len(after), len(ds))
			}
			// The system still works for citizens.
			names.scoped(t, ts, citizen.ID, "openid")
			decide(t, ts, boss, pm.ID, storage.DecisionSuspend)
			if got, _ := ts.Store.Permit(ctx, pm.ID); got.State != storage.PermitSuspended {
				t.Errorf("with the trail back: permit is %s, want suspended", got.State)
			}
		})

		t.Run("rotate client secret", func(t *testing.T) {
			fail.Store(true)
			r := api(t, "/systems/"+app.ID+"/secret", `{}`)
			newSecret, rerr := ts.Admin.RotateClientSecret(ctx, boss, app.ID)
			fail.Store(false)
			r.wantOAuthError(t, http.StatusInternalServerError, "server_error")
			noInternalText(t, "the API's answer", r.body)
			if rerr == nil || newSecret != "" {
				t.Fatalf("RotateClientSecret = %q, %v; want no secret and an error", newSecret, rerr)
			}
			// The old secret still authenticates the system.
			if r := app.introspect(t, ts, "no-such-token"); r.status != http.StatusOK {
				t.Errorf("introspection with the old secret: status %d, want 200", r.status)
			}
			if _, err := ts.Admin.RotateClientSecret(ctx, boss, app.ID); err != nil {
				t.Fatalf("rotate with the trail back: %v", err)
			}
			app.introspect(t, ts, "no-such-token").wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
		})
	})
}
