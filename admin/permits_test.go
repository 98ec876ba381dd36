package admin_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dopaid/dopaid/admin"
	"github.com/dopaid/dopaid/storage"
)

func TestCreateAgency(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		ctx := context.Background()
		private := storage.Agency{NameTH: "ธนาคารตัวอย่าง จำกัด (มหาชน)", NameEN: "Example Bank PCL", Category: storage.CategoryPrivate, RegistrationNo: "0107536000315"}
		ag, err := e.svc.CreateAgency(ctx, e.officer, private)
		if err != nil {
			t.Fatalf("CreateAgency: %v", err)
		}
		got, err := e.ps.Agency(ctx, ag.ID)
		if err != nil || got.NameEN != private.NameEN || got.RegistrationNo != private.RegistrationNo || !got.CreatedAt.Equal(base) {
			t.Errorf("stored agency = %+v, %v", got, err)
		}
		if a := e.wantAudit(t, e.officer, storage.AuditAdmin, "create_agency", "success"); a.AgencyID != ag.ID {
			t.Errorf("audit entry names agency %q, want %q", a.AgencyID, ag.ID)
		}

		for _, tt := range []struct {
			name   string
			edit   func(*storage.Agency)
			fields map[string]string
		}{
			{"private without registration number", func(a *storage.Agency) { a.RegistrationNo = "" }, map[string]string{"registration_no": "required"}},
			{"registration number not 13 digits", func(a *storage.Agency) { a.RegistrationNo = "12345" }, map[string]string{"registration_no": "13-digit"}},
			{"registration number taken", func(a *storage.Agency) {}, map[string]string{"registration_no": "registered already"}},
			{"unknown category", func(a *storage.Agency) { a.Category = "ngo" }, map[string]string{"category": "clause 3"}},
			{"no names", func(a *storage.Agency) { a.NameTH, a.NameEN = " ", "" }, map[string]string{"name_th": "required", "name_en": "required"}},
			{"bad contact", func(a *storage.Agency) {
				a.RegistrationNo = "0107536000316"
				a.Contacts = []storage.Contact{{Name: "", Email: "not an address"}}
			}, map[string]string{"contacts[0].name": "required", "contacts[0].email": "email"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				a := private
				tt.edit(&a)
				_, err := e.svc.CreateAgency(ctx, e.officer, a)
				wantFields(t, err, tt.fields)
				e.wantAudit(t, e.officer, storage.AuditAdmin, "create_agency: invalid", "failure")
			})
		}
		for _, who := range []storage.Admin{e.auditor, e.account(storage.RoleSupervisor, ag.ID), {ID: "nobody"}} {
			if _, err := e.svc.CreateAgency(ctx, who, private); !errors.Is(err, admin.ErrForbidden) {
				t.Errorf("CreateAgency by %s: %v, want ErrForbidden", who.Role, err)
			}
		}
		// A disabled account loses its authority at once.
		off := e.account(storage.RoleOfficer, "")
		if _, err := e.ps.UpdateAdmin(ctx, off.ID, func(a storage.Admin) (storage.Admin, error) { a.Disabled = true; return a, nil }, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.CreateAgency(ctx, off, private); !errors.Is(err, admin.ErrForbidden) {
			t.Errorf("CreateAgency by a disabled officer: %v, want ErrForbidden", err)
		}
		e.wantAudit(t, off, storage.AuditAdmin, "create_agency: forbidden", "failure")
	})
}

func TestRecordApplication(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		ctx := context.Background()
		ag := e.agency(t)
		app, pm, err := e.svc.RecordApplication(ctx, e.officer, application(ag.ID))
		if err != nil {
			t.Fatalf("RecordApplication: %v", err)
		}
		if app.RecordedBy != e.officer.ID || app.ID == "" || !app.CreatedAt.Equal(base) {
			t.Errorf("application = %+v", app)
		}
		stored, err := e.ps.Application(ctx, app.ID)
		if err != nil || len(stored.Purposes) != 2 || stored.Purposes[0].DescriptionEN != "File a land registration" {
			t.Errorf("stored application = %+v, %v", stored, err)
		}
		if pm.State != storage.PermitPending || pm.ApplicationID != app.ID || pm.AgencyID != ag.ID || len(pm.Purposes) != 0 {
			t.Errorf("permit = %+v, want a pending permit of the application with nothing granted", pm)
		}
		// 1 March 2026 is in B.E. 2569.
		if want := "DOPA-DID-2569-0001"; pm.Number != want {
			t.Errorf("permit number = %q, want %q", pm.Number, want)
		}
		_, pm2, err := e.svc.RecordApplication(ctx, e.approver, application(ag.ID))
		if err != nil {
			t.Fatalf("RecordApplication by an approver: %v", err)
		}
		if want := "DOPA-DID-2569-0002"; pm2.Number != want {
			t.Errorf("second permit number = %q, want %q", pm2.Number, want)
		}
		if a := e.wantAudit(t, e.approver, storage.AuditAdmin, "record_application", "success"); a.PermitID != pm2.ID || a.AgencyID != ag.ID {
			t.Errorf("audit entry = %+v", a)
		}

		// Numbers restart in a new Buddhist Era year (Bangkok time), with the
		// configured prefix.
		svc := e.service(e.store, func(c *admin.ServiceConfig) {
			c.PermitNumberPrefix = "TEST"
			c.Now = func() time.Time { return time.Date(2026, 12, 31, 17, 0, 0, 0, time.UTC) }
		})
		app3 := application(ag.ID)
		_, pm3, err := svc.RecordApplication(ctx, e.officer, app3)
		if err != nil {
			t.Fatal(err)
		}
		if want := "TEST-2570-0001"; pm3.Number != want {
			t.Errorf("permit number = %q, want %q", pm3.Number, want)
		}

		for _, tt := range []struct {
			name   string
			edit   func(*storage.Application)
			fields map[string]string
		}{
			{"unknown agency", func(a *storage.Application) { a.AgencyID = "nope" }, map[string]string{"agency_id": "no agency"}},
			{"no mission, reason, necessity", func(a *storage.Application) { a.Mission, a.Reason, a.Necessity = "", " ", "" },
				map[string]string{"mission": "required", "reason": "required", "necessity": "required"}},
			{"no purposes", func(a *storage.Application) { a.Purposes = nil }, map[string]string{"purposes": "at least one"}},
			{"bad purpose", func(a *storage.Application) {
				a.Purposes[0].Code = "E Land"
				a.Purposes[0].DescriptionTH = ""
				a.Purposes[1].Claims = []string{"given_name", "foo", "given_name"}
			}, map[string]string{"purposes[0].code": "lower-case", "purposes[0].description_th": "required", "purposes[1].claims": `unknown claim "foo"`}},
			{"duplicate purpose", func(a *storage.Application) { a.Purposes[1].Code = a.Purposes[0].Code }, map[string]string{"purposes[1].code": "twice"}},
			{"purpose without claims", func(a *storage.Application) { a.Purposes[0].Claims = nil }, map[string]string{"purposes[0].claims": "at least one"}},
			{"terms not accepted", func(a *storage.Application) { a.Acceptance = storage.Acceptance{} }, map[string]string{
				"acceptance.name": "required", "acceptance.position": "required", "acceptance.at": "required", "acceptance.terms_version": "required"}},
			{"acceptance in the future", func(a *storage.Application) { a.Acceptance.At = base.Add(time.Hour) }, map[string]string{"acceptance.at": "future"}},
			{"bad system", func(a *storage.Application) {
				a.Systems = []storage.System{{Name: "Land portal", RedirectURIs: []string{"http://dol.go.th/cb"}, AuthMethod: storage.AuthMethodSecretBasic}}
			}, map[string]string{"systems[0].redirect_uris[0]": "https"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				a := application(ag.ID)
				tt.edit(&a)
				before, _ := e.ps.Permits(ctx, "")
				_, _, err := e.svc.RecordApplication(ctx, e.officer, a)
				wantFields(t, err, tt.fields)
				e.wantAudit(t, e.officer, storage.AuditAdmin, "record_application: invalid", "failure")
				if after, _ := e.ps.Permits(ctx, ""); len(after) != len(before) {
					t.Errorf("a refused application opened a permit")
				}
			})
		}
		if _, _, err := e.svc.RecordApplication(ctx, e.auditor, application(ag.ID)); !errors.Is(err, admin.ErrForbidden) {
			t.Errorf("RecordApplication by an auditor: %v, want ErrForbidden", err)
		}
	})
}

// expected is the permit state machine: (state, action) → new state.
var expected = map[[2]string]string{
	{storage.PermitPending, storage.DecisionApprove}:     storage.PermitApproved,
	{storage.PermitPending, storage.DecisionReject}:      storage.PermitRejected,
	{storage.PermitApproved, storage.DecisionSuspend}:    storage.PermitSuspended,
	{storage.PermitApproved, storage.DecisionRevoke}:     storage.PermitRevoked,
	{storage.PermitSuspended, storage.DecisionReinstate}: storage.PermitApproved,
	{storage.PermitSuspended, storage.DecisionRevoke}:    storage.PermitRevoked,
}

// TestPermitTransitions takes every decision on a permit in every state.
func TestPermitTransitions(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		ctx := context.Background()
		states := []string{storage.PermitPending, storage.PermitApproved, storage.PermitSuspended, storage.PermitRejected, storage.PermitRevoked}
		for _, from := range states {
			for _, action := range admin.Actions {
				t.Run(from+"/"+action, func(t *testing.T) {
					pm := e.permitIn(t, from)
					before, _ := e.ps.Decisions(ctx, pm.ID)
					req := request(action)
					d, got, err := e.svc.Decide(ctx, e.approver, pm.ID, req)
					to, ok := expected[[2]string{from, action}]
					if !ok {
						if !errors.Is(err, admin.ErrState) {
							t.Fatalf("Decide: %v, want ErrState", err)
						}
						if after := e.permit(t, pm.ID); after.State != from || after.Version != pm.Version {
							t.Errorf("a refused decision changed the permit to %s v%d", after.State, after.Version)
						}
						if after, _ := e.ps.Decisions(ctx, pm.ID); len(after) != len(before) {
							t.Errorf("a refused decision was recorded")
						}
						e.wantAudit(t, e.approver, storage.AuditPermitDecision, action+": state", "failure")
						return
					}
					if err != nil {
						t.Fatalf("Decide: %v", err)
					}
					if got.State != to || got.Version != pm.Version+1 {
						t.Errorf("permit is %s v%d, want %s v%d", got.State, got.Version, to, pm.Version+1)
					}
					if stored := e.permit(t, pm.ID); stored.State != to || stored.Version != got.Version {
						t.Errorf("stored permit is %s v%d, want %s v%d", stored.State, stored.Version, to, got.Version)
					}
					if d.By != e.approver.ID || d.Action != action || d.Notice != req.Notice || !d.RecordedAt.Equal(base) || !d.EffectiveAt.Equal(base) || !d.AppliedAt.Equal(base) {
						t.Errorf("decision = %+v", d)
					}
					ds, _ := e.ps.Decisions(ctx, pm.ID)
					if len(ds) != len(before)+1 || ds[len(ds)-1].ID != d.ID || ds[len(ds)-1].AppliedAt.IsZero() {
						t.Errorf("stored decisions = %+v", ds)
					}
					a := e.wantAudit(t, e.approver, storage.AuditPermitDecision, action, "success")
					if a.PermitID != pm.ID || a.AgencyID != pm.AgencyID {
						t.Errorf("audit entry names permit %q agency %q", a.PermitID, a.AgencyID)
					}
					if e.notifications(pm.ID) == 0 {
						t.Error("other replicas were not told")
					}
					if action == storage.DecisionApprove {
						g := grant()
						if !got.ValidFrom.Equal(g.ValidFrom) || !got.ValidUntil.Equal(g.ValidUntil) || got.Conditions != g.Conditions ||
							len(got.Supervisors) != 1 || got.Supervisors[0].OrderRef != g.Supervisors[0].OrderRef {
							t.Errorf("approved permit = %+v", got)
						}
						// Granted purposes carry the application's descriptions,
						// and only the granted claims.
						pu, ok := got.Purpose("e-land")
						if !ok || pu.DescriptionEN != "File a land registration" || !slices.Equal(pu.Claims, []string{"pid", "given_name", "family_name", "birthdate"}) {
							t.Errorf("granted purpose = %+v", pu)
						}
						if !got.Active(base) {
							t.Error("an approved permit is not active")
						}
					}
				})
			}
		}
	})
}

func TestDecideRefusals(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		ctx := context.Background()
		supervisor := e.account(storage.RoleSupervisor, e.agency(t).ID)
		type check struct {
			err    error
			fields map[string]string
			detail string
		}
		for _, tt := range []struct {
			name  string
			state string
			actor func() storage.Admin
			edit  func(*admin.DecisionRequest)
			want  check
		}{
			{"officer", storage.PermitPending, func() storage.Admin { return e.officer }, nil, check{err: admin.ErrForbidden, detail: "approve: forbidden"}},
			{"auditor", storage.PermitApproved, func() storage.Admin { return e.auditor }, func(r *admin.DecisionRequest) { *r = request(storage.DecisionSuspend) }, check{err: admin.ErrForbidden, detail: "suspend: forbidden"}},
			{"supervisor", storage.PermitApproved, func() storage.Admin { return supervisor }, func(r *admin.DecisionRequest) { *r = request(storage.DecisionRevoke) }, check{err: admin.ErrForbidden, detail: "revoke: forbidden"}},
			{"unknown action", storage.PermitPending, nil, func(r *admin.DecisionRequest) { r.Action, r.Grant = "cancel", nil },
				check{fields: map[string]string{"action": "approve, reject, suspend, reinstate, revoke"}, detail: "decide: invalid"}},
			{"reject without notice", storage.PermitPending, nil, func(r *admin.DecisionRequest) { *r = request(storage.DecisionReject); r.Notice = " " },
				check{fields: map[string]string{"notice": "clause 11"}, detail: "reject: invalid"}},
			{"suspend without notice", storage.PermitApproved, nil, func(r *admin.DecisionRequest) { *r = request(storage.DecisionSuspend); r.Notice = "" },
				check{fields: map[string]string{"notice": "written notice"}, detail: "suspend: invalid"}},
			{"revoke without notice", storage.PermitSuspended, nil, func(r *admin.DecisionRequest) { *r = request(storage.DecisionRevoke); r.Notice = "" },
				check{fields: map[string]string{"notice": "written notice"}, detail: "revoke: invalid"}},
			{"approve without grant", storage.PermitPending, nil, func(r *admin.DecisionRequest) { r.Grant = nil },
				check{fields: map[string]string{"grant": "needs the grant"}, detail: "approve: invalid"}},
			{"grant with a suspension", storage.PermitApproved, nil, func(r *admin.DecisionRequest) { *r = request(storage.DecisionSuspend); r.Grant = grant() },
				check{fields: map[string]string{"grant": "only an approval"}, detail: "suspend: invalid"}},
			{"effective in the past", storage.PermitApproved, nil, func(r *admin.DecisionRequest) {
				*r = request(storage.DecisionSuspend)
				r.EffectiveAt = base.Add(-time.Hour)
			}, check{fields: map[string]string{"effective_at": "past"}, detail: "suspend: invalid"}},
			{"no supervisor", storage.PermitPending, nil, func(r *admin.DecisionRequest) { r.Grant.Supervisors = nil },
				check{fields: map[string]string{"grant.supervisors": "clause 9"}, detail: "approve: invalid"}},
			{"supervisor without order", storage.PermitPending, nil, func(r *admin.DecisionRequest) { r.Grant.Supervisors[0].OrderRef = "" },
				check{fields: map[string]string{"grant.supervisors[0].order_ref": "required"}, detail: "approve: invalid"}},
			{"purpose not asked for", storage.PermitPending, nil, func(r *admin.DecisionRequest) { r.Grant.Purposes[1].Code = "tax" },
				check{fields: map[string]string{"grant.purposes[1].code": `did not ask for purpose "tax"`}, detail: "approve: invalid"}},
			{"claim not asked for", storage.PermitPending, nil, func(r *admin.DecisionRequest) { r.Grant.Purposes[1].Claims = []string{"ial", "pid"} },
				check{fields: map[string]string{"grant.purposes[1].claims": `claim "pid" was not asked`}, detail: "approve: invalid"}},
			{"unknown claim", storage.PermitPending, nil, func(r *admin.DecisionRequest) { r.Grant.Purposes[0].Claims = []string{"email"} },
				check{fields: map[string]string{"grant.purposes[0].claims": `unknown claim "email"`}, detail: "approve: invalid"}},
			{"purpose granted twice", storage.PermitPending, nil, func(r *admin.DecisionRequest) { r.Grant.Purposes[1] = r.Grant.Purposes[0] },
				check{fields: map[string]string{"grant.purposes[1].code": "twice"}, detail: "approve: invalid"}},
			{"nothing granted", storage.PermitPending, nil, func(r *admin.DecisionRequest) { r.Grant.Purposes = nil },
				check{fields: map[string]string{"grant.purposes": "at least one"}, detail: "approve: invalid"}},
			{"validity backwards", storage.PermitPending, nil, func(r *admin.DecisionRequest) { r.Grant.ValidUntil = r.Grant.ValidFrom },
				check{fields: map[string]string{"grant.valid_until": "after valid_from"}, detail: "approve: invalid"}},
			{"validity ends before the decision", storage.PermitPending, nil, func(r *admin.DecisionRequest) {
				r.Grant.ValidFrom, r.Grant.ValidUntil = base.Add(-48*time.Hour), base.Add(-time.Hour)
			}, check{fields: map[string]string{"grant.valid_until": "takes effect"}, detail: "approve: invalid"}},
			{"no validity", storage.PermitPending, nil, func(r *admin.DecisionRequest) { r.Grant.ValidFrom = time.Time{} },
				check{fields: map[string]string{"grant.valid_from": "required"}, detail: "approve: invalid"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				pm := e.permitIn(t, tt.state)
				actor := e.approver
				if tt.actor != nil {
					actor = tt.actor()
				}
				req := request(storage.DecisionApprove)
				if tt.edit != nil {
					tt.edit(&req)
				}
				_, _, err := e.svc.Decide(ctx, actor, pm.ID, req)
				if tt.want.fields != nil {
					wantFields(t, err, tt.want.fields)
				} else if !errors.Is(err, tt.want.err) {
					t.Fatalf("Decide: %v, want %v", err, tt.want.err)
				}
				if after := e.permit(t, pm.ID); after.State != pm.State || after.Version != pm.Version {
					t.Errorf("a refused decision changed the permit")
				}
				e.wantAudit(t, actor, storage.AuditPermitDecision, tt.want.detail, "failure")
			})
		}

		t.Run("maker-checker", func(t *testing.T) {
			ag := e.agency(t)
			_, pm, err := e.svc.RecordApplication(ctx, e.approver, application(ag.ID))
			if err != nil {
				t.Fatal(err)
			}
			for _, action := range []string{storage.DecisionApprove, storage.DecisionReject} {
				if _, _, err := e.svc.Decide(ctx, e.approver, pm.ID, request(action)); !errors.Is(err, admin.ErrMakerChecker) {
					t.Errorf("%s by the maker: %v, want ErrMakerChecker", action, err)
				}
				e.wantAudit(t, e.approver, storage.AuditPermitDecision, action+": maker_checker", "failure")
			}
			// Another approver may.
			if _, got, err := e.svc.Decide(ctx, e.approver2, pm.ID, request(storage.DecisionApprove)); err != nil || got.State != storage.PermitApproved {
				t.Errorf("approve by another approver: %s, %v", got.State, err)
			}
		})

		t.Run("unknown permit", func(t *testing.T) {
			_, _, err := e.svc.Decide(ctx, e.approver, "no-such-permit", request(storage.DecisionSuspend))
			if !errors.Is(err, admin.ErrNotFound) || !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Decide: %v, want ErrNotFound", err)
			}
			if a := e.wantAudit(t, e.approver, storage.AuditPermitDecision, "suspend: not_found", "failure"); a.PermitID != "no-such-permit" {
				t.Errorf("audit entry names permit %q", a.PermitID)
			}
		})
	})
}

// issueTokens gives a citizen a grant with an access and a refresh token
// at a system, as the provider does at the token endpoint.
func (e *env) issueTokens(t *testing.T, clientID, name string) {
	t.Helper()
	now := e.clock.Now()
	g := storage.Grant{ID: "grant-" + name, ClientID: clientID, Subject: "citizen-" + name, Scopes: []string{"openid"}, CreatedAt: now, ExpiresAt: now.Add(8 * time.Hour)}
	if err := e.store.IssueTokens(context.Background(), g,
		storage.AccessToken{ID: "at-" + name, GrantID: g.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
		&storage.RefreshToken{ID: "rt-" + name, GrantID: g.ID, CreatedAt: now, ExpiresAt: now.Add(8 * time.Hour)}, nil); err != nil {
		t.Fatalf("IssueTokens: %v", err)
	}
	if _, err := e.store.AccessToken(context.Background(), "at-"+name, now); err != nil {
		t.Fatalf("the access token is not live: %v", err)
	}
}

// wantTokensDead fails t if the tokens issueTokens made still work.
func (e *env) wantTokensDead(t *testing.T, name string, dead bool) {
	t.Helper()
	now := e.clock.Now()
	_, aerr := e.store.AccessToken(context.Background(), "at-"+name, now)
	_, rerr := e.store.RefreshToken(context.Background(), "rt-"+name, now)
	if dead && (!errors.Is(aerr, storage.ErrNotFound) || !errors.Is(rerr, storage.ErrNotFound)) {
		t.Errorf("tokens of %s: access %v, refresh %v; want both gone", name, aerr, rerr)
	}
	if !dead && (aerr != nil || rerr != nil) {
		t.Errorf("tokens of %s: access %v, refresh %v; want both live", name, aerr, rerr)
	}
}

func TestSuspensionRevokesTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		ctx := context.Background()
		pm := e.permitIn(t, storage.PermitApproved)
		other := e.permitIn(t, storage.PermitApproved)
		var ids []string
		for i, p := range []storage.Permit{pm, pm, other} {
			c, _, err := e.svc.RegisterSystem(ctx, e.approver, p.ID, system())
			if err != nil {
				t.Fatal(err)
			}
			e.issueTokens(t, c.ID, fmt.Sprint(i))
			ids = append(ids, c.ID)
		}
		n := e.notifications(pm.ID)
		if _, _, err := e.svc.Decide(ctx, e.approver, pm.ID, request(storage.DecisionSuspend)); err != nil {
			t.Fatal(err)
		}
		e.wantTokensDead(t, "0", true)
		e.wantTokensDead(t, "1", true)
		e.wantTokensDead(t, "2", false) // another agency's permit
		if e.notifications(pm.ID) != n+1 {
			t.Errorf("Notify called %d times for the suspension, want 1", e.notifications(pm.ID)-n)
		}

		// Reinstated, the systems get new tokens; revocation kills them too.
		if _, _, err := e.svc.Decide(ctx, e.approver, pm.ID, request(storage.DecisionReinstate)); err != nil {
			t.Fatal(err)
		}
		e.issueTokens(t, ids[0], "3")
		if _, _, err := e.svc.Decide(ctx, e.approver, pm.ID, request(storage.DecisionRevoke)); err != nil {
			t.Fatal(err)
		}
		e.wantTokensDead(t, "3", true)
	})
}

func TestScheduledDecisions(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		ctx := context.Background()
		// A second replica: its own Service on its own connection to the
		// same database.
		replica := e.service(open(t), nil)

		// Three permits with a suspension announced for one hour from now.
		var permits []storage.Permit
		var decisions []storage.Decision
		for i := range 3 {
			pm := e.permitIn(t, storage.PermitApproved)
			c, _, err := e.svc.RegisterSystem(ctx, e.approver, pm.ID, system())
			if err != nil {
				t.Fatal(err)
			}
			e.issueTokens(t, c.ID, fmt.Sprint("s", i))
			req := request(storage.DecisionSuspend)
			req.EffectiveAt = base.Add(time.Hour)
			d, got, err := e.svc.Decide(ctx, e.approver, pm.ID, req)
			if err != nil {
				t.Fatalf("schedule: %v", err)
			}
			if got.State != storage.PermitApproved || !d.AppliedAt.IsZero() || !d.EffectiveAt.Equal(base.Add(time.Hour)) {
				t.Errorf("scheduled suspension: permit %s, decision %+v", got.State, d)
			}
			e.wantAudit(t, e.approver, storage.AuditPermitDecision, "suspend scheduled", "success")
			permits, decisions = append(permits, pm), append(decisions, d)
		}
		if n, err := e.svc.ApplyDue(ctx); n != 0 || err != nil {
			t.Errorf("ApplyDue before the time = %d, %v; want 0", n, err)
		}
		e.wantTokensDead(t, "s0", false)

		e.clock.Add(time.Hour)
		notified := e.notifications(permits[0].ID)
		decisionsBefore, err := e.ps.AuditEntries(ctx, storage.AuditFilter{Types: []string{storage.AuditPermitDecision}})
		if err != nil {
			t.Fatal(err)
		}
		// Both replicas race; each decision is applied exactly once.
		var wg sync.WaitGroup
		counts := make([]int, 2)
		for i, s := range []*admin.Service{e.svc, replica} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := s.ApplyDue(ctx)
				if err != nil {
					t.Errorf("ApplyDue: %v", err)
				}
				counts[i] = n
			}()
		}
		wg.Wait()
		if counts[0]+counts[1] != 3 {
			t.Errorf("replicas applied %v decisions, want 3 in all", counts)
		}
		for i, pm := range permits {
			if got := e.permit(t, pm.ID); got.State != storage.PermitSuspended {
				t.Errorf("permit %d is %s, want suspended", i, got.State)
			}
			e.wantTokensDead(t, fmt.Sprint("s", i), true)
			ds, _ := e.ps.Decisions(ctx, pm.ID)
			last := ds[len(ds)-1]
			if last.ID != decisions[i].ID || !last.AppliedAt.Equal(base.Add(time.Hour)) {
				t.Errorf("decision %d = %+v, want applied at the effective time", i, last)
			}
		}
		if got := e.notifications(permits[0].ID) - notified; got != 1 {
			t.Errorf("Notify called %d times, want 1", got)
		}
		entries, err := e.ps.AuditEntries(ctx, storage.AuditFilter{Types: []string{storage.AuditPermitDecision}})
		if err != nil {
			t.Fatal(err)
		}
		entries = entries[len(decisionsBefore):]
		if len(entries) != 3 {
			t.Errorf("%d audit entries for the applications, want 3: %+v", len(entries), entries)
		}
		for _, a := range entries {
			if a.Actor != "system" || a.Detail != "suspend applied" || a.Outcome != "success" {
				t.Errorf("audit entry = %s %q %s", a.Actor, a.Detail, a.Outcome)
			}
		}
		if n, err := replica.ApplyDue(ctx); n != 0 || err != nil {
			t.Errorf("ApplyDue again = %d, %v; want 0", n, err)
		}

		t.Run("lapsed", func(t *testing.T) {
			// A reinstatement announced for tomorrow, then a revocation now:
			// tomorrow the reinstatement no longer applies.
			pm := permits[0]
			req := request(storage.DecisionReinstate)
			req.EffectiveAt = e.clock.Now().Add(24 * time.Hour)
			if _, _, err := e.svc.Decide(ctx, e.approver, pm.ID, req); err != nil {
				t.Fatal(err)
			}
			revoked := e.decide(t, pm, storage.DecisionRevoke)
			e.clock.Add(24 * time.Hour)
			if n, err := replica.ApplyDue(ctx); n != 1 || err != nil {
				t.Errorf("ApplyDue = %d, %v; want 1", n, err)
			}
			if got := e.permit(t, pm.ID); got.State != storage.PermitRevoked || got.Version < revoked.Version {
				t.Errorf("permit is %s, want still revoked", got.State)
			}
			if a := e.lastAudit(t); a.Actor != "system" || a.Detail != "reinstate lapsed: state" || a.Outcome != "failure" {
				t.Errorf("audit entry = %s %q %s", a.Actor, a.Detail, a.Outcome)
			}
			if due, _ := e.ps.DueDecisions(ctx, e.clock.Now()); len(due) != 0 {
				t.Errorf("%d decisions still due", len(due))
			}
		})

		t.Run("scheduled approval", func(t *testing.T) {
			pm := e.pending(t)
			req := request(storage.DecisionApprove)
			req.EffectiveAt = e.clock.Now().Add(time.Minute)
			req.Grant.ValidFrom, req.Grant.ValidUntil = req.EffectiveAt, req.EffectiveAt.AddDate(1, 0, 0)
			if _, got, err := e.svc.Decide(ctx, e.approver, pm.ID, req); err != nil || got.State != storage.PermitPending {
				t.Fatalf("schedule approval: %s, %v", got.State, err)
			}
			e.clock.Add(time.Minute)
			if n, err := e.svc.ApplyDue(ctx); n != 1 || err != nil {
				t.Errorf("ApplyDue = %d, %v; want 1", n, err)
			}
			got := e.permit(t, pm.ID)
			if got.State != storage.PermitApproved || len(got.Purposes) != 2 || len(got.Supervisors) != 1 || !got.Active(e.clock.Now()) {
				t.Errorf("permit after the scheduled approval = %+v", got)
			}
		})
	})
}

func TestExpiry(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		ctx := context.Background()
		pm := e.pending(t)
		req := request(storage.DecisionApprove)
		req.Grant.ValidUntil = base.Add(time.Hour)
		_, pm, err := e.svc.Decide(ctx, e.approver, pm.ID, req)
		if err != nil {
			t.Fatal(err)
		}
		if !pm.Active(base) || admin.Status(pm, base) != storage.PermitApproved {
			t.Fatalf("permit not active after approval")
		}
		e.clock.Add(time.Hour)
		now := e.clock.Now()
		pm = e.permit(t, pm.ID)
		if pm.Active(now) || admin.Status(pm, now) != "expired" {
			t.Errorf("permit active past its validity (status %s)", admin.Status(pm, now))
		}
		if _, _, err := e.svc.RegisterSystem(ctx, e.approver, pm.ID, system()); !errors.Is(err, admin.ErrState) {
			t.Errorf("RegisterSystem under an expired permit: %v, want ErrState", err)
		}
		// It can still be revoked, for the record.
		if got := e.decide(t, pm, storage.DecisionRevoke); got.State != storage.PermitRevoked {
			t.Errorf("revoke an expired permit: %s", got.State)
		}
	})
}

// TestAuditHasNoSecrets: a client secret reaches the caller once and
// nothing else.
func TestAuditHasNoSecrets(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		ctx := context.Background()
		pm := e.permitIn(t, storage.PermitApproved)
		c, secret, err := e.svc.RegisterSystem(ctx, e.approver, pm.ID, system())
		if err != nil {
			t.Fatal(err)
		}
		rotated, err := e.svc.RotateClientSecret(ctx, e.approver, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := e.ps.AuditEntries(ctx, storage.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		ds, _ := e.ps.Decisions(ctx, pm.ID)
		hay := fmt.Sprintf("%+v %+v", entries, ds)
		for _, s := range []string{secret, rotated, e.hasher.Hash(secret), e.hasher.Hash(rotated)} {
			if regexp.MustCompile(regexp.QuoteMeta(s)).MatchString(hay) {
				t.Errorf("a secret or its hash is in the audit trail or the decisions")
			}
		}
	})
}

// TestPermitNumbersConcurrent: replicas numbering at once never hand out
// one number twice, and leave no gaps.
func TestPermitNumbersConcurrent(t *testing.T) {
	eachBackend(t, func(t *testing.T, open opener) {
		e := newEnv(t, open)
		ctx := context.Background()
		ag := e.agency(t)
		replicas := []*admin.Service{e.svc, e.service(open(t), nil)}
		const n = 8
		numbers := make(chan string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, pm, err := replicas[i%2].RecordApplication(ctx, e.officer, application(ag.ID))
				if err != nil {
					t.Errorf("RecordApplication: %v", err)
					return
				}
				numbers <- pm.Number
			}()
		}
		wg.Wait()
		close(numbers)
		var got []string
		for num := range numbers {
			got = append(got, num)
		}
		slices.Sort(got)
		var want []string
		for i := 1; i <= n; i++ {
			want = append(want, fmt.Sprintf("DOPA-DID-2569-%04d", i))
		}
		if !slices.Equal(got, want) {
			t.Errorf("permit numbers = %v, want %v", got, want)
		}
	})
}
