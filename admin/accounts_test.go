package admin_test

import (
	"context"
	"errors"
	"fmt"
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

// invite creates an account by invitation of e.approver and enrols it with
// password, as its holder would, and returns it with its otpauth URL. The
// clock moves on a step, past the code that confirmed enrolment.
func (e *env) invite(t *testing.T, user, role, agencyID string) (storage.Admin, string) {
	t.Helper()
	ctx := context.Background()
	a, inv, err := e.svc.CreateAdmin(ctx, e.approver, user, "Khun "+user, role, agencyID)
	if err != nil {
		t.Fatalf("CreateAdmin: %v", err)
	}
	otpURL, err := e.svc.Enrol(ctx, inv.Token, password)
	if err != nil {
		t.Fatalf("Enrol: %v", err)
	}
	if _, err := e.svc.ConfirmEnrolment(ctx, inv.Token, code(t, otpURL, e.clock.Now())); err != nil {
		t.Fatalf("ConfirmEnrolment: %v", err)
	}
	if _, err := e.svc.ConfirmAdmin(ctx, e.approver2, a.ID); err != nil {
		t.Fatalf("ConfirmAdmin: %v", err)
	}
	e.clock.Add(30 * time.Second)
	return a, otpURL
}

func TestCreateAdmin(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		full := newBareEnv(t, open)

		t.Run("bootstrap", func(t *testing.T) {
			// The first account must be an approver; its holder (the
			// operator) sets its password and gets its TOTP secret.
			_, _, err := full.svc.Bootstrap(ctx, "first", "First", storage.RoleOfficer, password)
			wantFields(t, err, map[string]string{"role": "first administrators must be approvers"})
			_, _, err = full.svc.Bootstrap(ctx, "first", "First", storage.RoleApprover, "short")
			wantFields(t, err, map[string]string{"password": "at least 12"})
			a, otpURL, err := full.svc.Bootstrap(ctx, "first", "First Approver", storage.RoleApprover, password)
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
			if !strings.HasPrefix(stored.PasswordHash, "$argon2id$v=19$m=65536,t=3,p=2$") || len(stored.TOTPSecret) == 0 || !stored.Enrolled() {
				t.Errorf("stored hash %q, sealed secret of %d bytes, enrolled %t", stored.PasswordHash, len(stored.TOTPSecret), stored.Enrolled())
			}
			if au := full.lastAudit(t); au.Actor != "admin:"+a.ID || au.Detail != "bootstrap_admin" || au.Outcome != "success" {
				t.Errorf("audit entry = %+v", au)
			}
			// A second approver, by its own holder: maker-checker needs two.
			// Then bootstrap is closed.
			b, _, err := full.svc.Bootstrap(ctx, "second", "Second Approver", storage.RoleApprover, password)
			if err != nil {
				t.Fatalf("second bootstrap: %v", err)
			}
			if _, _, err := full.svc.Bootstrap(ctx, "third", "Third", storage.RoleApprover, password); !errors.Is(err, admin.ErrForbidden) {
				t.Errorf("third bootstrap: %v, want ErrForbidden", err)
			}
			if au := full.lastAudit(t); au.Actor != "system" || au.Detail != "bootstrap_admin: forbidden" {
				t.Errorf("audit entry = %+v", au)
			}
			full.approver, full.approver2 = a, b
		})
		if full.approver.ID == "" {
			t.FailNow()
		}
		full.officer = full.account(storage.RoleOfficer, "")
		full.auditor = full.account(storage.RoleAuditor, "")

		ag := full.agency(t)
		for _, tt := range []struct {
			name                         string
			actor                        storage.Admin
			user, fullName, role, agency string
			err                          error
			fields                       map[string]string
		}{
			{"nobody may not", storage.Admin{}, "o1", "O", storage.RoleOfficer, "", admin.ErrForbidden, nil},
			{"officer may not", full.officer, "o2", "O", storage.RoleOfficer, "", admin.ErrForbidden, nil},
			{"auditor may not", full.auditor, "o3", "O", storage.RoleOfficer, "", admin.ErrForbidden, nil},
			{"supervisor without agency", full.approver, "sup1", "S", storage.RoleSupervisor, "", nil, map[string]string{"agency_id": "bound"}},
			{"supervisor of unknown agency", full.approver, "sup1", "S", storage.RoleSupervisor, "nope", nil, map[string]string{"agency_id": "no agency"}},
			{"officer with agency", full.approver, "off1", "O", storage.RoleOfficer, ag.ID, nil, map[string]string{"agency_id": "only supervisors"}},
			{"supervisor no permit appoints", full.approver, "sup1", "สมหญิง", storage.RoleSupervisor, ag.ID, nil, map[string]string{"name": "not a supervisor appointed by a permit"}},
			{"bad everything", full.approver, "A", "", "root", "", nil, map[string]string{
				"username": "lower-case", "name": "required", "role": "officer, approver, auditor, supervisor"}},
			{"username taken", full.approver, full.officer.Username, "S", storage.RoleAuditor, "", nil, map[string]string{"username": "taken"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, _, err := full.svc.CreateAdmin(ctx, tt.actor, tt.user, tt.fullName, tt.role, tt.agency)
				if tt.fields != nil {
					wantFields(t, err, tt.fields)
				} else if !errors.Is(err, tt.err) {
					t.Errorf("CreateAdmin: %v, want %v", err, tt.err)
				}
				if au := full.lastAudit(t); au.Actor != "admin:"+tt.actor.ID || !strings.HasPrefix(au.Detail, "invite_admin: ") || au.Outcome != "failure" {
					t.Errorf("audit entry = %+v", au)
				}
			})
		}
		// Clause 9: supervisors are those a permit of the agency appoints.
		pm := full.appoint(t, ag.ID, storage.PermitPending, "สมหญิง")
		if _, _, err := full.svc.CreateAdmin(ctx, full.approver, "lands-dpo", "สมหญิง", storage.RoleSupervisor, ag.ID); err == nil {
			t.Fatal("a supervisor appointed only by a pending permit got an account")
		}
		pm = full.appoint(t, ag.ID, storage.PermitApproved, "สมหญิง")
		other := full.agency(t)
		if _, _, err := full.svc.CreateAdmin(ctx, full.approver, "lands-dpo", "สมหญิง", storage.RoleSupervisor, other.ID); err == nil {
			t.Fatal("a supervisor of one agency's permit got an account for another agency")
		}
		sup, inv, err := full.svc.CreateAdmin(ctx, full.approver, "lands-dpo", " สมหญิง ", storage.RoleSupervisor, ag.ID)
		if err != nil || sup.AgencyID != ag.ID {
			t.Fatalf("create supervisor: %+v, %v", sup, err)
		}
		if len(inv.Token) < 43 || !inv.ExpiresAt.Equal(full.clock.Now().Add(admin.InvitationTTL)) {
			t.Errorf("invitation = %+v", inv)
		}
		if au := full.lastAudit(t); au.Actor != "admin:"+full.approver.ID || au.Detail != "invite_admin" || au.Outcome != "success" ||
			au.AgencyID != ag.ID || au.PermitID != pm.ID {
			t.Errorf("audit entry = %+v, want the appointing permit %s", au, pm.ID)
		}
	})
}

// appoint stores a permit of the agency in state that appoints a
// supervisor called name.
func (e *env) appoint(t *testing.T, agencyID, state, name string) storage.Permit {
	t.Helper()
	id := fmt.Sprintf("appoint-%d", e.clock.Now().UnixNano())
	e.clock.Add(time.Second)
	pm := storage.Permit{ID: id, Number: id, AgencyID: agencyID, State: state, ValidFrom: base, ValidUntil: base.AddDate(1, 0, 0),
		Supervisors: []storage.Supervisor{{Name: name, Position: "DPO", OrderRef: "order 1/2569"}}, CreatedAt: base, UpdatedAt: base}
	if err := e.ps.CreatePermit(context.Background(), pm); err != nil {
		t.Fatal(err)
	}
	return pm
}

// TestConfirmAdmin: an invited account acts only after an approver other
// than its creator confirms it (clause 5, maker-checker); the trail names
// both.
func TestConfirmAdmin(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		ctx := context.Background()
		// The creator holds the invitation link and enrols the account
		// himself: the attack the rule exists for.
		a, inv, err := e.svc.CreateAdmin(ctx, e.approver, "puppet", "Puppet", storage.RoleApprover, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.ConfirmAdmin(ctx, e.approver2, a.ID); !errors.Is(err, admin.ErrState) {
			t.Errorf("ConfirmAdmin before enrolment: %v, want ErrState", err)
		}
		otpURL, err := e.svc.Enrol(ctx, inv.Token, password)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.ConfirmEnrolment(ctx, inv.Token, code(t, otpURL, e.clock.Now())); err != nil {
			t.Fatal(err)
		}
		e.clock.Add(30 * time.Second)
		stored, _ := e.ps.Admin(ctx, a.ID)
		if stored.State() != storage.AdminPending || stored.CreatedBy != e.approver.ID {
			t.Fatalf("enrolled account: state %q, created by %q; want pending, by %s", stored.State(), stored.CreatedBy, e.approver.ID)
		}

		// Pending: the right password and code do not sign in, and say why.
		if _, err := e.svc.Authenticate(ctx, "puppet", password, code(t, otpURL, e.clock.Now())); !errors.Is(err, admin.ErrPending) {
			t.Errorf("sign-in of a pending account: %v, want ErrPending", err)
		}
		if au := e.lastAudit(t); au.Detail != "sign_in: pending_confirmation" || au.Outcome != "failure" {
			t.Errorf("audit entry = %+v", au)
		}
		// Nor can it act, whatever hands it in.
		pm := e.pending(t)
		if _, _, err := e.svc.Decide(ctx, stored, pm.ID, admin.DecisionRequest{Action: storage.DecisionReject, Notice: "no"}); !errors.Is(err, admin.ErrPending) {
			t.Errorf("Decide by a pending approver: %v, want ErrPending", err)
		}
		if _, _, err := e.svc.IssueToken(ctx, stored, "script", 0); !errors.Is(err, admin.ErrPending) {
			t.Errorf("IssueToken by a pending approver: %v, want ErrPending", err)
		}

		// Not by the creator, not by itself, not by a non-approver.
		for _, tt := range []struct {
			name string
			by   storage.Admin
			err  error
		}{
			{"creator", e.approver, admin.ErrSameApprover},
			{"itself", stored, admin.ErrPending},
			{"officer", e.officer, admin.ErrForbidden},
			{"auditor", e.auditor, admin.ErrForbidden},
		} {
			if _, err := e.svc.ConfirmAdmin(ctx, tt.by, a.ID); !errors.Is(err, tt.err) {
				t.Errorf("ConfirmAdmin by %s: %v, want %v", tt.name, err, tt.err)
			}
		}
		if au := e.lastAudit(t); au.Outcome != "failure" {
			t.Errorf("refused confirmation audited as %+v", au)
		}
		if got, _ := e.ps.Admin(ctx, a.ID); got.State() != storage.AdminPending {
			t.Fatalf("after refused confirmations the account is %s", got.State())
		}

		// Another approver confirms; the trail names both.
		got, err := e.svc.ConfirmAdmin(ctx, e.approver2, a.ID)
		if err != nil {
			t.Fatalf("ConfirmAdmin: %v", err)
		}
		if got.ConfirmedBy != e.approver2.ID || got.State() != storage.AdminActive || got.PasswordHash != "" {
			t.Errorf("confirmed account = %+v", got)
		}
		au := e.lastAudit(t)
		if au.Actor != "admin:"+e.approver2.ID || au.Detail != "confirm_admin admin:"+a.ID+" created_by admin:"+e.approver.ID || au.Outcome != "success" {
			t.Errorf("audit entry = %+v", au)
		}
		if _, err := e.svc.ConfirmAdmin(ctx, e.approver2, a.ID); !errors.Is(err, admin.ErrState) {
			t.Errorf("ConfirmAdmin again: %v, want ErrState", err)
		}
		e.clock.Add(30 * time.Second)
		if _, err := e.svc.Authenticate(ctx, "puppet", password, code(t, otpURL, e.clock.Now())); err != nil {
			t.Errorf("sign-in after confirmation: %v", err)
		}
		// A confirmed account made by an approver may confirm others, but
		// not those it made.
		list, err := e.svc.Admins(ctx, e.approver2)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range list {
			if l.ID == a.ID && (l.CreatedBy != e.approver.ID || l.ConfirmedBy != e.approver2.ID) {
				t.Errorf("Admins shows %+v, want created by and confirmed by", l)
			}
		}

		// The puppet (held by its creator) creates a third account: its
		// creator's creator may not confirm it either, or one confirmation
		// by someone else would give the creator as many accounts as he
		// likes.
		puppet, _ := e.ps.Admin(ctx, a.ID)
		b, inv2, err := e.svc.CreateAdmin(ctx, puppet, "puppet2", "Puppet Two", storage.RoleApprover, "")
		if err != nil {
			t.Fatal(err)
		}
		otp2, err := e.svc.Enrol(ctx, inv2.Token, password)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.ConfirmEnrolment(ctx, inv2.Token, code(t, otp2, e.clock.Now())); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.ConfirmAdmin(ctx, e.approver, b.ID); !errors.Is(err, admin.ErrSameApprover) {
			t.Errorf("ConfirmAdmin by the creator's creator: %v, want ErrSameApprover", err)
		}
		if _, err := e.svc.ConfirmAdmin(ctx, e.approver2, b.ID); err != nil {
			t.Errorf("ConfirmAdmin by an approver outside the lineage: %v", err)
		}
	})
}

// TestAdminTokens: an API token acts as its account, is kept only as a
// keyed hash, expires, and is revoked by its holder or an approver.
func TestAdminTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		ctx := context.Background()
		for _, tt := range []struct {
			name, label string
			ttl         time.Duration
			field       string
		}{
			{"no name", " ", 0, "name"},
			{"too short", "x", time.Minute, "expires_in"},
			{"too long", "x", 400 * 24 * time.Hour, "expires_in"},
		} {
			if _, _, err := e.svc.IssueToken(ctx, e.officer, tt.label, tt.ttl); err == nil {
				t.Errorf("IssueToken %s: no error", tt.name)
			} else {
				wantFields(t, err, map[string]string{tt.field: ""})
			}
		}
		tk, token, err := e.svc.IssueToken(ctx, e.officer, "nightly export", 0)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(token, admin.TokenPrefix) || tk.Hash != "" || !tk.ExpiresAt.Equal(e.clock.Now().Add(admin.DefaultTokenTTL)) {
			t.Errorf("issued %+v, %q", tk, token)
		}
		stored, err := e.ps.AdminTokens(ctx, e.officer.ID)
		if err != nil || len(stored) != 1 || stored[0].Hash == "" || strings.Contains(stored[0].Hash, token[len(admin.TokenPrefix):]) {
			t.Fatalf("stored tokens %+v, %v; want one keyed hash", stored, err)
		}
		a, err := e.svc.AuthenticateToken(ctx, token)
		if err != nil || a.ID != e.officer.ID {
			t.Errorf("AuthenticateToken = %+v, %v; want the officer", a, err)
		}
		for _, bad := range []string{"", token + "x", admin.TokenPrefix + "guess", strings.Repeat("a", 300)} {
			if _, err := e.svc.AuthenticateToken(ctx, bad); err != admin.ErrAuthFailed {
				t.Errorf("AuthenticateToken(%.20q): %v, want exactly ErrAuthFailed", bad, err)
			}
		}
		entries, _ := e.ps.AuditEntries(ctx, storage.AuditFilter{})
		for _, au := range entries {
			if strings.Contains(au.Detail, token) {
				t.Errorf("audit entry holds the token: %+v", au)
			}
		}

		// Listed for the holder and approvers, not for another account.
		if list, err := e.svc.Tokens(ctx, e.officer, ""); err != nil || len(list) != 1 || list[0].Name != "nightly export" || list[0].Hash != "" {
			t.Errorf("own Tokens = %+v, %v", list, err)
		}
		if _, err := e.svc.Tokens(ctx, e.auditor, e.officer.ID); !errors.Is(err, admin.ErrForbidden) {
			t.Errorf("Tokens of another account by an auditor: %v, want ErrForbidden", err)
		}
		if _, err := e.svc.RevokeToken(ctx, e.auditor, e.officer.ID, tk.ID); !errors.Is(err, admin.ErrForbidden) {
			t.Errorf("RevokeToken by an auditor: %v, want ErrForbidden", err)
		}
		if _, err := e.svc.RevokeToken(ctx, e.auditor, "", tk.ID); !errors.Is(err, admin.ErrNotFound) {
			t.Errorf("RevokeToken of another's token as one's own: %v, want ErrNotFound", err)
		}

		// Expiry.
		_, short, err := e.svc.IssueToken(ctx, e.auditor, "short", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Add(time.Hour)
		if _, err := e.svc.AuthenticateToken(ctx, short); err != admin.ErrAuthFailed {
			t.Errorf("expired token: %v, want ErrAuthFailed", err)
		}
		if au := e.lastAudit(t); !strings.Contains(au.Detail, "revoked_or_expired") || au.Outcome != "failure" {
			t.Errorf("audit entry = %+v", au)
		}

		// An approver revokes it (offboarding): it stops at once.
		got, err := e.svc.RevokeToken(ctx, e.approver, e.officer.ID, tk.ID)
		if err != nil || got.RevokedBy != e.approver.ID {
			t.Fatalf("RevokeToken = %+v, %v", got, err)
		}
		if _, err := e.svc.AuthenticateToken(ctx, token); err != admin.ErrAuthFailed {
			t.Errorf("revoked token: %v, want ErrAuthFailed", err)
		}
		if _, err := e.svc.RevokeToken(ctx, e.officer, "", tk.ID); !errors.Is(err, admin.ErrState) {
			t.Errorf("RevokeToken again: %v, want ErrState", err)
		}

		// A disabled account's tokens do nothing.
		_, live, err := e.svc.IssueToken(ctx, e.approver2, "ops", 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.ps.UpdateAdmin(ctx, e.approver2.ID, func(a storage.Admin) (storage.Admin, error) { a.Disabled = true; return a, nil }, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.AuthenticateToken(ctx, live); err != admin.ErrAuthFailed {
			t.Errorf("token of a disabled account: %v, want ErrAuthFailed", err)
		}
	})
}

func TestEnrolment(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		ctx := context.Background()
		a, inv, err := e.svc.CreateAdmin(ctx, e.approver, "somsak", "สมศักดิ์", storage.RoleApprover, "")
		if err != nil {
			t.Fatal(err)
		}
		wantNoSignIn := func(t *testing.T, pw, c, reason string) {
			t.Helper()
			if _, err := e.svc.Authenticate(ctx, "somsak", pw, c); err != admin.ErrAuthFailed {
				t.Errorf("Authenticate: %v, want exactly ErrAuthFailed", err)
			}
			if au := e.lastAudit(t); au.Detail != "sign_in ("+reason+"): auth_failed" {
				t.Errorf("audit entry = %s %q %s, want the reason %s", au.Actor, au.Detail, au.Outcome, reason)
			}
		}

		t.Run("the creator learns no secret", func(t *testing.T) {
			// Nothing the creator got opens the account: no password was
			// chosen, no TOTP secret exists, and the store keeps only a hash
			// of the invitation.
			stored, err := e.ps.Admin(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			if stored.PasswordHash != "" || len(stored.TOTPSecret) != 0 || stored.Enrolled() {
				t.Errorf("invited account = %+v, want no password, no TOTP secret, not enrolled", stored)
			}
			if stored.InviteHash == "" || strings.Contains(stored.InviteHash, inv.Token) {
				t.Errorf("stored invitation %q, want a hash of the token", stored.InviteHash)
			}
			if a.PasswordHash != "" || a.TOTPSecret != nil || a.InviteHash != "" {
				t.Errorf("returned account = %+v, want no secrets", a)
			}
			entries, err := e.ps.AuditEntries(ctx, storage.AuditFilter{})
			if err != nil {
				t.Fatal(err)
			}
			for _, au := range entries {
				if strings.Contains(au.Detail, inv.Token) {
					t.Errorf("audit entry holds the invitation: %+v", au)
				}
			}
			// The creator cannot sign in as the invitee, whatever they try.
			for _, pw := range []string{"", password, inv.Token} {
				wantNoSignIn(t, pw, "000000", "not_enrolled")
			}
		})

		t.Run("password rules", func(t *testing.T) {
			for _, tt := range []struct{ pw, want string }{
				{"short", "at least 12"},
				{"somsak-2569-dopa", "username"},
				{strings.Repeat("x", 257), "at most 256"},
			} {
				_, err := e.svc.Enrol(ctx, inv.Token, tt.pw)
				wantFields(t, err, map[string]string{"password": tt.want})
			}
			e.clock.Add(lockWindow) // those failures no longer count
		})

		var otpURL string
		t.Run("password set, not confirmed", func(t *testing.T) {
			if _, err := e.svc.ConfirmEnrolment(ctx, inv.Token, "123456"); err == nil {
				t.Errorf("ConfirmEnrolment before Enrol succeeded")
			}
			otpURL, err = e.svc.Enrol(ctx, inv.Token, password)
			if err != nil {
				t.Fatalf("Enrol: %v", err)
			}
			if !strings.HasPrefix(otpURL, "otpauth://totp/") {
				t.Errorf("otpauth URL = %q", otpURL)
			}
			// An invited account cannot sign in before confirming its code.
			wantNoSignIn(t, password, code(t, otpURL, e.clock.Now()), "not_enrolled")
		})

		t.Run("wrong codes are throttled", func(t *testing.T) {
			for range 4 {
				_, err := e.svc.ConfirmEnrolment(ctx, inv.Token, code(t, otpURL, e.clock.Now().Add(5*time.Minute)))
				wantFields(t, err, map[string]string{"code": "does not match"})
			}
			_, err := e.svc.ConfirmEnrolment(ctx, inv.Token, "000000")
			wantFields(t, err, map[string]string{"code": "does not match"})
			// Five failures lock the invitation, even for the right code.
			if _, err := e.svc.ConfirmEnrolment(ctx, inv.Token, code(t, otpURL, e.clock.Now())); !errors.Is(err, admin.ErrThrottled) {
				t.Errorf("locked ConfirmEnrolment: %v, want ErrThrottled", err)
			}
			e.clock.Add(lockWindow)
		})

		t.Run("confirmed", func(t *testing.T) {
			got, err := e.svc.ConfirmEnrolment(ctx, inv.Token, " "+code(t, otpURL, e.clock.Now())+" ")
			if err != nil {
				t.Fatalf("ConfirmEnrolment: %v", err)
			}
			if got.ID != a.ID || got.PasswordHash != "" || got.TOTPSecret != nil || !got.InviteExpiresAt.IsZero() {
				t.Errorf("enrolled account = %+v", got)
			}
			if au := e.lastAudit(t); au.Actor != "admin:"+a.ID || au.Detail != "confirm_enrolment" || au.Outcome != "success" {
				t.Errorf("audit entry = %+v", au)
			}
			// The confirming code is spent for sign-in too.
			wantNoSignIn(t, password, code(t, otpURL, e.clock.Now()), "totp_replayed")
			e.clock.Add(30 * time.Second)
			if _, err := e.svc.Authenticate(ctx, "somsak", password, code(t, otpURL, e.clock.Now())); !errors.Is(err, admin.ErrPending) {
				t.Errorf("sign-in after enrolment, before confirmation: %v, want ErrPending", err)
			}
			if _, err := e.svc.ConfirmAdmin(ctx, e.approver2, a.ID); err != nil {
				t.Fatalf("ConfirmAdmin: %v", err)
			}
			e.clock.Add(30 * time.Second)
			if _, err := e.svc.Authenticate(ctx, "somsak", password, code(t, otpURL, e.clock.Now())); err != nil {
				t.Errorf("sign-in after confirmation: %v", err)
			}
		})

		t.Run("an invitation is good once", func(t *testing.T) {
			if _, err := e.svc.Enrol(ctx, inv.Token, "another long password"); !errors.Is(err, admin.ErrInvitation) {
				t.Errorf("Enrol again: %v, want ErrInvitation", err)
			}
			e.clock.Add(30 * time.Second)
			if _, err := e.svc.ConfirmEnrolment(ctx, inv.Token, code(t, otpURL, e.clock.Now())); !errors.Is(err, admin.ErrInvitation) {
				t.Errorf("ConfirmEnrolment again: %v, want ErrInvitation", err)
			}
			if au := e.lastAudit(t); au.Detail != "confirm_enrolment: invitation_invalid" || au.Outcome != "failure" {
				t.Errorf("audit entry = %+v", au)
			}
			for _, tok := range []string{"", "not-a-token", strings.Repeat("a", 1000)} {
				if _, err := e.svc.Enrol(ctx, tok, password); !errors.Is(err, admin.ErrInvitation) {
					t.Errorf("Enrol(%.10q): %v, want ErrInvitation", tok, err)
				}
			}
		})

		t.Run("an invitation expires", func(t *testing.T) {
			_, late, err := e.svc.CreateAdmin(ctx, e.approver, "late", "Late", storage.RoleAuditor, "")
			if err != nil {
				t.Fatal(err)
			}
			e.clock.Add(admin.InvitationTTL - time.Second)
			otpURL, err := e.svc.Enrol(ctx, late.Token, password)
			if err != nil {
				t.Fatalf("Enrol just before expiry: %v", err)
			}
			e.clock.Add(time.Second)
			if _, err := e.svc.ConfirmEnrolment(ctx, late.Token, code(t, otpURL, e.clock.Now())); !errors.Is(err, admin.ErrInvitationExpired) {
				t.Errorf("ConfirmEnrolment at expiry: %v, want ErrInvitationExpired", err)
			}
			if _, err := e.svc.Enrol(ctx, late.Token, password); !errors.Is(err, admin.ErrInvitationExpired) {
				t.Errorf("Enrol after expiry: %v, want ErrInvitationExpired", err)
			}
			if _, err := e.svc.Authenticate(ctx, "late", password, code(t, otpURL, e.clock.Now())); err != admin.ErrAuthFailed {
				t.Errorf("sign-in of an expired invitation: %v", err)
			}
		})
	})
}

// lockWindow is past the sign-in and enrolment throttles' window.
const lockWindow = 16 * time.Minute

func TestAuthenticate(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		ctx := context.Background()
		a, otpURL := e.invite(t, "somsri", storage.RoleOfficer, "")
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
			if _, err := e.ps.UpdateAdmin(ctx, a.ID, func(a storage.Admin) (storage.Admin, error) { a.Disabled = true; return a, nil }, nil); err != nil {
				t.Fatal(err)
			}
			wantFailed(t, "somsri", password, code(t, otpURL, e.clock.Now()), "disabled")
		})
	})
}
