package admin_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/dopaid/dopaid/admin"
	"github.com/dopaid/dopaid/storage"
)

const password = "correct horse battery staple"

// code returns the TOTP code of the otpauth URL's secret at t.
func code(t *testing.T, otpURL string, at time.Time) string {
	t.Helper()
	k, err := otp.NewKeyFromURL(otpURL)
	if err != nil {
		t.Fatalf("otpauth URL: %v", err)
	}
	c, err := totp.GenerateCode(k.Secret(), at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCreateAdmin(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		full := newBareEnv(t, open)

		t.Run("bootstrap", func(t *testing.T) {
			// The first account must be an approver, and made without an actor.
			_, _, err := full.svc.CreateAdmin(ctx, nil, "first", "First", storage.RoleOfficer, "", password)
			wantFields(t, err, map[string]string{"role": "first administrator must be an approver"})
			a, otpURL, err := full.svc.CreateAdmin(ctx, nil, "first", "First Approver", storage.RoleApprover, "", password)
			if err != nil {
				t.Fatalf("bootstrap: %v", err)
			}
			if a.PasswordHash != "" || a.TOTPSecret != nil || a.Role != storage.RoleApprover {
				t.Errorf("returned account = %+v, want no secrets", a)
			}
			if !strings.HasPrefix(otpURL, "otpauth://totp/") || !strings.Contains(otpURL, "secret=") {
				t.Errorf("otpauth URL = %q", otpURL)
			}
			stored, err := full.ps.Admin(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(stored.PasswordHash, "$argon2id$v=19$m=65536,t=3,p=2$") || len(stored.TOTPSecret) == 0 {
				t.Errorf("stored hash %q, sealed secret of %d bytes", stored.PasswordHash, len(stored.TOTPSecret))
			}
			if au := full.lastAudit(t); au.Actor != "admin:"+a.ID || au.Detail != "bootstrap_admin" || au.Outcome != "success" {
				t.Errorf("audit entry = %+v", au)
			}
			// Once an account exists, bootstrap is closed.
			if _, _, err := full.svc.CreateAdmin(ctx, nil, "second", "Second", storage.RoleApprover, "", password); !errors.Is(err, admin.ErrForbidden) {
				t.Errorf("second bootstrap: %v, want ErrForbidden", err)
			}
			if au := full.lastAudit(t); au.Actor != "system" || au.Detail != "bootstrap_admin: forbidden" {
				t.Errorf("audit entry = %+v", au)
			}
			full.approver = a
		})
		if full.approver.ID == "" {
			t.FailNow()
		}
		full.officer = full.account(storage.RoleOfficer, "")
		full.auditor = full.account(storage.RoleAuditor, "")

		ag := full.agency(t)
		for _, tt := range []struct {
			name                                   string
			actor                                  storage.Admin
			user, fullName, role, agency, password string
			err                                    error
			fields                                 map[string]string
		}{
			{"officer may not", full.officer, "o2", "O", storage.RoleOfficer, "", password, admin.ErrForbidden, nil},
			{"auditor may not", full.auditor, "o3", "O", storage.RoleOfficer, "", password, admin.ErrForbidden, nil},
			{"supervisor without agency", full.approver, "sup1", "S", storage.RoleSupervisor, "", password, nil, map[string]string{"agency_id": "bound"}},
			{"supervisor of unknown agency", full.approver, "sup1", "S", storage.RoleSupervisor, "nope", password, nil, map[string]string{"agency_id": "no agency"}},
			{"officer with agency", full.approver, "off1", "O", storage.RoleOfficer, ag.ID, password, nil, map[string]string{"agency_id": "only supervisors"}},
			{"bad everything", full.approver, "A", "", "root", "", "short", nil, map[string]string{
				"username": "lower-case", "name": "required", "role": "officer, approver, auditor, supervisor", "password": "at least 12"}},
			{"password with username", full.approver, "somchai", "S", storage.RoleAuditor, "", "somchai-2569-dopa", nil, map[string]string{"password": "username"}},
			{"username taken", full.approver, full.officer.Username, "S", storage.RoleAuditor, "", password, nil, map[string]string{"username": "taken"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, _, err := full.svc.CreateAdmin(ctx, &tt.actor, tt.user, tt.fullName, tt.role, tt.agency, tt.password)
				if tt.fields != nil {
					wantFields(t, err, tt.fields)
				} else if !errors.Is(err, tt.err) {
					t.Errorf("CreateAdmin: %v, want %v", err, tt.err)
				}
				if au := full.lastAudit(t); au.Actor != "admin:"+tt.actor.ID || !strings.HasPrefix(au.Detail, "create_admin: ") || au.Outcome != "failure" {
					t.Errorf("audit entry = %+v", au)
				}
			})
		}
		sup, _, err := full.svc.CreateAdmin(ctx, &full.approver, "lands-dpo", "สมหญิง", storage.RoleSupervisor, ag.ID, password)
		if err != nil || sup.AgencyID != ag.ID {
			t.Fatalf("create supervisor: %+v, %v", sup, err)
		}
	})
}

func TestAuthenticate(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		ctx := context.Background()
		a, otpURL, err := e.svc.CreateAdmin(ctx, &e.approver, "somsri", "สมศรี", storage.RoleOfficer, "", password)
		if err != nil {
			t.Fatal(err)
		}
		wantFailed := func(t *testing.T, user, pw, c, reason string) {
			t.Helper()
			if _, err := e.svc.Authenticate(ctx, user, pw, c); err != admin.ErrAuthFailed {
				t.Errorf("Authenticate: %v, want exactly ErrAuthFailed", err)
			}
			if au := e.lastAudit(t); au.Detail != "sign_in ("+reason+"): auth_failed" || au.Outcome != "failure" {
				t.Errorf("audit entry = %s %q %s, want the reason %s", au.Actor, au.Detail, au.Outcome, reason)
			}
		}

		t.Run("good", func(t *testing.T) {
			got, err := e.svc.Authenticate(ctx, "SomSri ", password, code(t, otpURL, e.clock.Now()))
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if got.ID != a.ID || got.PasswordHash != "" || got.TOTPSecret != nil {
				t.Errorf("account = %+v", got)
			}
			if au := e.lastAudit(t); au.Actor != "admin:"+a.ID || au.Detail != "sign_in" || au.Outcome != "success" {
				t.Errorf("audit entry = %+v", au)
			}
		})
		t.Run("replayed code", func(t *testing.T) {
			wantFailed(t, "somsri", password, code(t, otpURL, e.clock.Now()), "totp_replayed")
		})
		e.clock.Add(30 * time.Second)
		t.Run("previous step", func(t *testing.T) {
			// One step of clock drift is allowed, but the code of the step
			// used above is still spent.
			wantFailed(t, "somsri", password, code(t, otpURL, e.clock.Now().Add(-30*time.Second)), "totp_replayed")
			e.clock.Add(30 * time.Second)
			if _, err := e.svc.Authenticate(ctx, "somsri", password, code(t, otpURL, e.clock.Now().Add(30*time.Second))); err != nil {
				t.Errorf("next step's code: %v", err)
			}
		})
		e.clock.Add(30 * time.Second)
		t.Run("bad password", func(t *testing.T) {
			wantFailed(t, "somsri", password+"!", code(t, otpURL, e.clock.Now()), "password")
		})
		t.Run("bad code", func(t *testing.T) {
			wantFailed(t, "somsri", password, code(t, otpURL, e.clock.Now().Add(5*time.Minute)), "totp")
			wantFailed(t, "somsri", password, "12345", "totp")
		})
		t.Run("unknown user", func(t *testing.T) {
			wantFailed(t, "nobody", password, "123456", "unknown_user")
		})
		t.Run("lockout", func(t *testing.T) {
			// Three failures so far; two more lock the username.
			for range 2 {
				wantFailed(t, "somsri", "wrong password!", "000000", "password")
			}
			e.clock.Add(30 * time.Second)
			wantFailed(t, "somsri", password, code(t, otpURL, e.clock.Now()), "locked")
			// A locked sign-in does not burn the code.
			e.clock.Add(15 * time.Minute)
			if _, err := e.svc.Authenticate(ctx, "somsri", password, code(t, otpURL, e.clock.Now())); err != nil {
				t.Errorf("after the lock: %v", err)
			}
			// A success clears the counter.
			e.clock.Add(30 * time.Second)
			for range 4 {
				wantFailed(t, "somsri", "wrong password!", "000000", "password")
			}
			if _, err := e.svc.Authenticate(ctx, "somsri", password, code(t, otpURL, e.clock.Now())); err != nil {
				t.Errorf("fifth attempt after a success cleared the counter: %v", err)
			}
		})
		t.Run("disabled", func(t *testing.T) {
			e.clock.Add(30 * time.Second)
			if _, err := e.ps.UpdateAdmin(ctx, a.ID, func(a storage.Admin) (storage.Admin, error) { a.Disabled = true; return a, nil }); err != nil {
				t.Fatal(err)
			}
			wantFailed(t, "somsri", password, code(t, otpURL, e.clock.Now()), "disabled")
		})
	})
}
