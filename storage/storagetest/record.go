package storagetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// recorded describes a store method that performs an action the audit
// trail records (it takes a storage.Record): how to prepare a store for it,
// do it, tell whether it happened, and make it fail.
type recorded struct {
	name  string
	setup func(t *testing.T, s storage.Store)
	// do performs the action with rec.
	do func(s storage.Store, rec storage.Record) error
	// done reports whether the action's change is in the store.
	done func(t *testing.T, s storage.Store) bool
	// fail performs an action that fails with failErr, with rec.
	fail    func(s storage.Store, rec storage.Record) error
	failErr error
}

func recordedActions() []recorded {
	ctx := context.Background()
	seedClientOfPermit := func(t *testing.T, s storage.Store) {
		t.Helper()
		seedPermits(t, s, "permit-1")
		seedClient(t, s, "client-1")
	}
	tokenLive := func(id string) func(t *testing.T, s storage.Store) bool {
		return func(t *testing.T, s storage.Store) bool {
			t.Helper()
			_, err := s.AccessToken(ctx, id, base)
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("AccessToken: %v", err)
			}
			return err == nil
		}
	}
	sessionLive := func(id string, live bool) func(t *testing.T, s storage.Store) bool {
		return func(t *testing.T, s storage.Store) bool {
			t.Helper()
			_, err := s.Session(ctx, id, base)
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("Session: %v", err)
			}
			return (err == nil) == live
		}
	}
	consentInForce := func(live bool) func(t *testing.T, s storage.Store) bool {
		return func(t *testing.T, s storage.Store) bool {
			t.Helper()
			_, err := s.Consent(ctx, "citizen-1", "permit-1", "loan")
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("Consent: %v", err)
			}
			return (err == nil) == live
		}
	}
	clientExists := func(id string, exists bool) func(t *testing.T, s storage.Store) bool {
		return func(t *testing.T, s storage.Store) bool {
			t.Helper()
			_, err := s.Client(ctx, id)
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("Client: %v", err)
			}
			return (err == nil) == exists
		}
	}
	permitState := func(state string) func(t *testing.T, s storage.Store) bool {
		return func(t *testing.T, s storage.Store) bool {
			t.Helper()
			p, err := s.Permit(ctx, "permit-1")
			if err != nil {
				t.Fatalf("Permit: %v", err)
			}
			return p.State == state
		}
	}
	return []recorded{
		{
			name:  "IssueTokens",
			setup: func(t *testing.T, s storage.Store) {},
			do: func(s storage.Store, rec storage.Record) error {
				return s.IssueTokens(ctx, newGrant("g"), newAccess("at-g", "g"), newRefresh("rt-g", "g"), rec)
			},
			done: tokenLive("at-g"),
			fail: func(s storage.Store, rec storage.Record) error {
				// A revoked grant takes no new tokens.
				if err := s.IssueTokens(ctx, newGrant("r"), newAccess("at-r", "r"), nil, nil); err != nil {
					return err
				}
				if err := s.RevokeGrant(ctx, "r", base); err != nil {
					return err
				}
				return s.IssueTokens(ctx, newGrant("r"), newAccess("at-r2", "r"), nil, rec)
			},
			failErr: storage.ErrConflict,
		},
		{
			name: "RotateRefreshToken",
			setup: func(t *testing.T, s storage.Store) {
				issue(t, s, newGrant("g"))
			},
			do: func(s storage.Store, rec storage.Record) error {
				_, err := s.RotateRefreshToken(ctx, "rt-g", newAccess("at-2", ""), *newRefresh("rt-2", ""), base, rec)
				return err
			},
			done: tokenLive("at-2"),
			fail: func(s storage.Store, rec storage.Record) error {
				_, err := s.RotateRefreshToken(ctx, "rt-unknown", newAccess("at-3", ""), *newRefresh("rt-3", ""), base, rec)
				return err
			},
			failErr: storage.ErrNotFound,
		},
		{
			name: "GiveConsent",
			setup: func(t *testing.T, s storage.Store) {
				seedCitizens(t, s, 1)
				seedPermits(t, s, "permit-1")
				giveConsents(t, s, newConsent("taken"))
				if _, err := s.WithdrawConsent(ctx, "citizen-1", "taken", base, nil); err != nil {
					t.Fatalf("WithdrawConsent: %v", err)
				}
			},
			do: func(s storage.Store, rec storage.Record) error {
				return s.GiveConsent(ctx, newConsent("c"), rec)
			},
			done: consentInForce(true),
			fail: func(s storage.Store, rec storage.Record) error {
				return s.GiveConsent(ctx, newConsent("taken"), rec)
			},
			failErr: storage.ErrAlreadyExists,
		},
		{
			name: "FinishLogout",
			setup: func(t *testing.T, s storage.Store) {
				seedLogoutClient(t, s, "client-1")
				owedLogout(t, s, "g", "client-1", "citizen-1")
			},
			do: func(s storage.Store, rec storage.Record) error {
				return s.FinishLogout(ctx, "g", storage.LogoutDelivered, base, rec)
			},
			done: func(t *testing.T, s storage.Store) bool {
				t.Helper()
				outcome, err := s.LogoutOutcome(ctx, "g")
				wantErr(t, "LogoutOutcome", err, nil)
				return outcome == storage.LogoutDelivered
			},
			fail: func(s storage.Store, rec storage.Record) error {
				return s.FinishLogout(ctx, "none", storage.LogoutDelivered, base, rec)
			},
			failErr: storage.ErrNotFound,
		},
		{
			name: "RetryLogout",
			setup: func(t *testing.T, s storage.Store) {
				seedLogoutClient(t, s, "client-1")
				owedLogout(t, s, "g", "client-1", "citizen-1")
			},
			do: func(s storage.Store, rec storage.Record) error {
				return s.RetryLogout(ctx, "g", at(time.Hour), rec)
			},
			// Retried: no longer due at once.
			done: func(t *testing.T, s storage.Store) bool {
				t.Helper()
				ds, err := s.ClaimLogouts(ctx, base, time.Minute, 10)
				wantErr(t, "ClaimLogouts", err, nil)
				return len(ds) == 0
			},
			fail: func(s storage.Store, rec storage.Record) error {
				return s.RetryLogout(ctx, "none", at(time.Hour), rec)
			},
			failErr: storage.ErrNotFound,
		},
		{
			name: "WithdrawConsent",
			setup: func(t *testing.T, s storage.Store) {
				seedCitizens(t, s, 1)
				seedClientOfPermit(t, s)
				giveConsents(t, s, newConsent("c"))
				g := newGrant("g")
				g.Subject = "citizen-1"
				issue(t, s, g)
			},
			do: func(s storage.Store, rec storage.Record) error {
				_, err := s.WithdrawConsent(ctx, "citizen-1", "c", base, rec)
				return err
			},
			// Withdrawn, and the grant issued under it revoked with it.
			done: func(t *testing.T, s storage.Store) bool {
				t.Helper()
				withdrawn, revoked := consentInForce(false)(t, s), !tokenLive("at-g")(t, s)
				if withdrawn != revoked {
					t.Errorf("consent withdrawn %v but grant revoked %v: not one transaction", withdrawn, revoked)
				}
				return withdrawn
			},
			fail: func(s storage.Store, rec storage.Record) error {
				_, err := s.WithdrawConsent(ctx, "citizen-2", "c", base, rec) // not theirs
				return err
			},
			failErr: storage.ErrNotFound,
		},
		{
			name: "CreateProofing",
			setup: func(t *testing.T, s storage.Store) {
				seedCitizens(t, s, 1)
				wantErr(t, "CreateProofing", s.CreateProofing(ctx, newProofing("taken", "citizen-1", base), nil), nil)
			},
			do: func(s storage.Store, rec storage.Record) error {
				return s.CreateProofing(ctx, newProofing("p", "citizen-1", at(time.Minute)), rec)
			},
			done: func(t *testing.T, s storage.Store) bool {
				t.Helper()
				p, err := s.LatestProofing(ctx, "citizen-1")
				if err != nil {
					t.Fatalf("LatestProofing: %v", err)
				}
				return p.ID == "p"
			},
			fail: func(s storage.Store, rec storage.Record) error {
				return s.CreateProofing(ctx, newProofing("taken", "citizen-1", at(time.Hour)), rec)
			},
			failErr: storage.ErrAlreadyExists,
		},
		{
			name: "CreateAuthenticator",
			setup: func(t *testing.T, s storage.Store) {
				seedCitizens(t, s, 1, 2)
				wantErr(t, "CreateAuthenticator", s.CreateAuthenticator(ctx, newAuthenticator("taken", "citizen-2"), nil), nil)
			},
			do: func(s storage.Store, rec storage.Record) error {
				return s.CreateAuthenticator(ctx, newAuthenticator("a", "citizen-1"), rec)
			},
			done: func(t *testing.T, s storage.Store) bool {
				t.Helper()
				_, err := s.Authenticator(ctx, "citizen-1", "totp")
				if err != nil && !errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("Authenticator: %v", err)
				}
				return err == nil
			},
			fail: func(s storage.Store, rec storage.Record) error {
				// Another citizen's authenticator holds the ID.
				return s.CreateAuthenticator(ctx, newAuthenticator("taken", "citizen-1"), rec)
			},
			failErr: storage.ErrAlreadyExists,
		},
		{
			name:  "CreateAgency",
			setup: func(t *testing.T, s storage.Store) { seedAgencies(t, s) }, // agency-1 is taken
			do: func(s storage.Store, rec storage.Record) error {
				return s.CreateAgency(ctx, newAgency("agency-3"), rec)
			},
			done: func(t *testing.T, s storage.Store) bool {
				t.Helper()
				_, err := s.Agency(ctx, "agency-3")
				if err != nil && !errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("Agency: %v", err)
				}
				return err == nil
			},
			fail: func(s storage.Store, rec storage.Record) error {
				return s.CreateAgency(ctx, newAgency("agency-1"), rec)
			},
			failErr: storage.ErrAlreadyExists,
		},
		{
			name:  "CreateApplication",
			setup: func(t *testing.T, s storage.Store) { seedAgencies(t, s) }, // app-1 is taken
			do: func(s storage.Store, rec storage.Record) error {
				return s.CreateApplication(ctx, newApplication("app-3"), rec)
			},
			done: func(t *testing.T, s storage.Store) bool {
				t.Helper()
				_, err := s.Application(ctx, "app-3")
				if err != nil && !errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("Application: %v", err)
				}
				return err == nil
			},
			fail: func(s storage.Store, rec storage.Record) error {
				return s.CreateApplication(ctx, newApplication("app-1"), rec)
			},
			failErr: storage.ErrAlreadyExists,
		},
		{
			name:  "CreateClient",
			setup: seedClientOfPermit, // client-1 is taken
			do: func(s storage.Store, rec storage.Record) error {
				return s.CreateClient(ctx, newClient("client-2"), rec)
			},
			done: clientExists("client-2", true),
			fail: func(s storage.Store, rec storage.Record) error {
				return s.CreateClient(ctx, newClient("client-1"), rec)
			},
			failErr: storage.ErrAlreadyExists,
		},
		{
			name:  "UpdateClient",
			setup: seedClientOfPermit,
			do: func(s storage.Store, rec storage.Record) error {
				_, err := s.UpdateClient(ctx, "client-1", func(c storage.Client) (storage.Client, error) {
					c.SecretHash = "rotated"
					return c, nil
				}, rec)
				return err
			},
			done: func(t *testing.T, s storage.Store) bool {
				t.Helper()
				c, err := s.Client(ctx, "client-1")
				if err != nil {
					t.Fatalf("Client: %v", err)
				}
				return c.SecretHash == "rotated"
			},
			fail: func(s storage.Store, rec storage.Record) error {
				_, err := s.UpdateClient(ctx, "client-1", func(c storage.Client) (storage.Client, error) {
					return c, storage.ErrConflict // fn refuses
				}, rec)
				return err
			},
			failErr: storage.ErrConflict,
		},
		{
			name:  "DeleteClient",
			setup: seedClientOfPermit,
			do: func(s storage.Store, rec storage.Record) error {
				return s.DeleteClient(ctx, "client-1", rec)
			},
			done: clientExists("client-1", false),
			fail: func(s storage.Store, rec storage.Record) error {
				return s.DeleteClient(ctx, "absent", rec)
			},
			failErr: storage.ErrNotFound,
		},
		{
			name: "CreateAdmin",
			setup: func(t *testing.T, s storage.Store) {
				wantErr(t, "CreateAdmin", s.CreateAdmin(ctx, newAdmin("taken"), nil), nil)
			},
			do: func(s storage.Store, rec storage.Record) error {
				return s.CreateAdmin(ctx, newAdmin("a"), rec)
			},
			done: func(t *testing.T, s storage.Store) bool {
				t.Helper()
				_, err := s.Admin(ctx, "a")
				if err != nil && !errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("Admin: %v", err)
				}
				return err == nil
			},
			fail: func(s storage.Store, rec storage.Record) error {
				return s.CreateAdmin(ctx, newAdmin("taken"), rec)
			},
			failErr: storage.ErrAlreadyExists,
		},
		{
			name: "UpdateAdmin",
			setup: func(t *testing.T, s storage.Store) {
				wantErr(t, "CreateAdmin", s.CreateAdmin(ctx, newAdmin("a"), nil), nil)
			},
			do: func(s storage.Store, rec storage.Record) error {
				_, err := s.UpdateAdmin(ctx, "a", func(a storage.Admin) (storage.Admin, error) {
					a.ConfirmedBy, a.ConfirmedAt = "approver", base
					return a, nil
				}, rec)
				return err
			},
			done: func(t *testing.T, s storage.Store) bool {
				t.Helper()
				a, err := s.Admin(ctx, "a")
				if err != nil {
					t.Fatalf("Admin: %v", err)
				}
				return a.ConfirmedBy == "approver"
			},
			fail: func(s storage.Store, rec storage.Record) error {
				_, err := s.UpdateAdmin(ctx, "absent", func(a storage.Admin) (storage.Admin, error) { return a, nil }, rec)
				return err
			},
			failErr: storage.ErrNotFound,
		},
		{
			name: "CreateAdminToken",
			setup: func(t *testing.T, s storage.Store) {
				wantErr(t, "CreateAdmin", s.CreateAdmin(ctx, newAdmin("a"), nil), nil)
			},
			do: func(s storage.Store, rec storage.Record) error {
				return s.CreateAdminToken(ctx, storage.AdminToken{ID: "tk", AdminID: "a", Name: "script", Hash: "hash-tk",
					CreatedAt: base, ExpiresAt: at(time.Hour)}, rec)
			},
			done: func(t *testing.T, s storage.Store) bool {
				t.Helper()
				_, err := s.AdminTokenByHash(ctx, "hash-tk")
				if err != nil && !errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("AdminTokenByHash: %v", err)
				}
				return err == nil
			},
			fail: func(s storage.Store, rec storage.Record) error {
				return s.CreateAdminToken(ctx, storage.AdminToken{ID: "tk2", AdminID: "absent", Name: "script", Hash: "hash-tk2",
					CreatedAt: base, ExpiresAt: at(time.Hour)}, rec)
			},
			failErr: storage.ErrNotFound,
		},
		{
			name:  "CreateSession",
			setup: func(t *testing.T, s storage.Store) {},
			do: func(s storage.Store, rec storage.Record) error {
				return s.CreateSession(ctx, newSession("s", "citizen-1", base), rec)
			},
			done: sessionLive("s", true),
			fail: func(s storage.Store, rec storage.Record) error {
				if err := s.CreateSession(ctx, newSession("taken", "citizen-1", base), nil); err != nil {
					return err
				}
				return s.CreateSession(ctx, newSession("taken", "citizen-2", base), rec)
			},
			failErr: storage.ErrAlreadyExists,
		},
		{
			name: "ReplaceRecoveryCodes",
			setup: func(t *testing.T, s storage.Store) {
				seedCitizens(t, s, 1)
				wantErr(t, "CreateAuthenticator", s.CreateAuthenticator(ctx, newAuthenticator("a-1", "citizen-1"), nil), nil)
			},
			do: func(s storage.Store, rec storage.Record) error {
				return s.ReplaceRecoveryCodes(ctx, "citizen-1", "a-1", []string{"new-1"}, rec)
			},
			done: func(t *testing.T, s storage.Store) bool {
				t.Helper()
				a, err := s.Authenticator(ctx, "citizen-1", "totp")
				if err != nil {
					t.Fatalf("Authenticator: %v", err)
				}
				return len(a.RecoveryCodes) == 1
			},
			fail: func(s storage.Store, rec storage.Record) error {
				return s.ReplaceRecoveryCodes(ctx, "citizen-1", "absent", []string{"new-1"}, rec)
			},
			failErr: storage.ErrNotFound,
		},
		{
			name: "DeleteSession",
			setup: func(t *testing.T, s storage.Store) {
				wantErr(t, "CreateSession", s.CreateSession(ctx, newSession("s", "citizen-1", base), nil), nil)
			},
			do: func(s storage.Store, rec storage.Record) error {
				return s.DeleteSession(ctx, "s", rec)
			},
			done: sessionLive("s", false),
		},
		{
			name: "CreateDecision",
			setup: func(t *testing.T, s storage.Store) {
				seedPermits(t, s, "permit-1")
				wantErr(t, "CreateDecision", s.CreateDecision(ctx, newDecision("taken"), nil), nil)
			},
			do: func(s storage.Store, rec storage.Record) error {
				return s.CreateDecision(ctx, newDecision("d"), rec)
			},
			done: func(t *testing.T, s storage.Store) bool {
				t.Helper()
				ds, err := s.Decisions(ctx, "permit-1")
				if err != nil {
					t.Fatalf("Decisions: %v", err)
				}
				return len(ds) == 2
			},
			fail: func(s storage.Store, rec storage.Record) error {
				return s.CreateDecision(ctx, newDecision("taken"), rec)
			},
			failErr: storage.ErrAlreadyExists,
		},
		{
			name: "ApplyDecision",
			setup: func(t *testing.T, s storage.Store) {
				seedPermits(t, s, "permit-1")
				wantErr(t, "CreateDecision", s.CreateDecision(ctx, newDecision("d"), nil), nil)
			},
			do: func(s storage.Store, rec storage.Record) error {
				_, err := s.ApplyDecision(ctx, "d", base, func(p storage.Permit, _ storage.Decision) (storage.Permit, storage.Record, error) {
					p.State = storage.PermitSuspended
					return p, rec, nil
				})
				return err
			},
			done: permitState(storage.PermitSuspended),
			fail: func(s storage.Store, rec storage.Record) error {
				_, err := s.ApplyDecision(ctx, "unknown", base, func(p storage.Permit, _ storage.Decision) (storage.Permit, storage.Record, error) {
					return p, rec, nil
				})
				return err
			},
			failErr: storage.ErrNotFound,
		},
	}
}

// recordOf is a record of one entry with the given ID.
func recordOf(id, detail string) storage.Record {
	return storage.Record{{ID: id, At: at(time.Second), Type: storage.AuditAdmin, Actor: "admin:a1", CitizenID: "citizen-1",
		PermitID: "permit-1", Outcome: "success", Detail: detail}}
}

// entryExists reports whether the log holds an entry with that ID.
func entryExists(t *testing.T, s storage.Store, id string) bool {
	t.Helper()
	_, err := s.LogEntry(context.Background(), id)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("LogEntry(%q): %v", id, err)
	}
	return err == nil
}

// testRecorded pins down storage.Record: every method that takes one
// writes its entries exactly when its action commits.
func testRecorded(t *testing.T, su suite) {
	for _, a := range recordedActions() {
		t.Run(a.name, func(t *testing.T) {
			t.Run("committed with its entries", func(t *testing.T) {
				s := su.store(t)
				a.setup(t, s)
				rec := append(recordOf("e1", "first"), recordOf("e2", "second")...)
				wantErr(t, a.name, a.do(s, rec), nil)
				if !a.done(t, s) {
					t.Errorf("%s succeeded but its action is not in the store", a.name)
				}
				for _, id := range []string{"e1", "e2"} {
					e, err := s.LogEntry(context.Background(), id)
					wantErr(t, "LogEntry("+id+")", err, nil)
					if e.Index != storage.NotIntegrated || !e.At.Equal(at(time.Second)) || e.PermitID != "permit-1" {
						t.Errorf("LogEntry(%q) = %+v, want it as recorded, not yet integrated", id, e)
					}
				}
			})
			t.Run("a refused entry leaves the action undone", func(t *testing.T) {
				s := su.store(t)
				a.setup(t, s)
				rec := append(recordOf("ok", "fine"), recordOf("pid", "citizen 1101700230708")...)
				if err := a.do(s, rec); !errors.Is(err, storage.ErrPersonalData) || !errors.Is(err, storage.ErrUnrecorded) {
					t.Fatalf("%s with a national ID number in an entry: %v, want ErrUnrecorded and ErrPersonalData", a.name, err)
				}
				if a.done(t, s) {
					t.Errorf("%s refused, but its action was done", a.name)
				}
				if entryExists(t, s, "ok") || entryExists(t, s, "pid") {
					t.Errorf("%s refused, but an entry was written", a.name)
				}
			})
			t.Run("an entry that cannot be written rolls the action back", func(t *testing.T) {
				s := su.store(t)
				a.setup(t, s)
				if err := s.AppendLogEntries(context.Background(), []storage.LogEntry{newLogEntry("taken", 1)}); err != nil {
					t.Fatalf("AppendLogEntries: %v", err)
				}
				taken, err := s.LogEntry(context.Background(), newLogEntry("taken", 1).ID)
				wantErr(t, "LogEntry", err, nil)
				rec := append(recordOf("fresh", "fine"), recordOf(taken.ID, "clash")...)
				// ErrUnrecorded, not the action's ErrAlreadyExists: nothing of
				// the action's own was taken.
				err = a.do(s, rec)
				if !errors.Is(err, storage.ErrUnrecorded) || errors.Is(err, storage.ErrAlreadyExists) {
					t.Fatalf("%s with an entry ID that is taken: %v, want ErrUnrecorded and not ErrAlreadyExists", a.name, err)
				}
				if a.done(t, s) {
					t.Errorf("%s failed to write its entries, but its action was done", a.name)
				}
				if entryExists(t, s, "fresh") {
					t.Errorf("%s failed, but its other entry was written", a.name)
				}
			})
			if a.fail == nil {
				return
			}
			t.Run("a failed action leaves no entry", func(t *testing.T) {
				s := su.store(t)
				a.setup(t, s)
				err := a.fail(s, recordOf("failed", "fine"))
				if !errors.Is(err, a.failErr) {
					t.Fatalf("failing %s: %v, want %v", a.name, err, a.failErr)
				}
				if entryExists(t, s, "failed") {
					t.Errorf("%s failed (%v), but its entry was written", a.name, err)
				}
			})
		})
	}
}
