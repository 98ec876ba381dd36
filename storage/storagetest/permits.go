package storagetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// newAgency returns a government department with every field set.
func newAgency(id string) storage.Agency {
	return storage.Agency{
		ID:       id,
		NameTH:   "กรมตัวอย่าง " + id,
		NameEN:   "Department of Examples " + id,
		Category: storage.CategoryGovernmentDepartment,
		Contacts: []storage.Contact{
			{Name: "สมศรี มีสุข", Position: "ผู้อำนวยการ", Email: "director@example.go.th", Phone: "02 000 0000"},
			{Name: "Somsak R.", Position: "IT officer", Email: "it@example.go.th"},
		},
		CreatedAt: at(-48 * time.Hour),
		UpdatedAt: at(-24 * time.Hour),
	}
}

func newPurposes() []storage.Purpose {
	return []storage.Purpose{
		{Code: "loan", DescriptionTH: "ขอสินเชื่อ", DescriptionEN: "Loan application", Claims: []string{"pid", "given_name", "family_name"}},
		{Code: "welfare", DescriptionTH: "สวัสดิการ", DescriptionEN: "Welfare", Claims: []string{"given_name", "birthdate", "address"}},
	}
}

// newApplication returns an application of agency-1 with every field set.
func newApplication(id string) storage.Application {
	return storage.Application{
		ID:        id,
		AgencyID:  "agency-1",
		Mission:   "ให้บริการประชาชน",
		Reason:    "verify applicants",
		Necessity: "identity fraud",
		Purposes:  newPurposes(),
		Systems: []storage.System{{
			Name:                   "e-Service",
			RedirectURIs:           []string{"https://e.example.go.th/cb"},
			PostLogoutRedirectURIs: []string{"https://e.example.go.th/"},
			AuthMethod:             storage.AuthMethodPrivateKeyJWT,
			JWKS:                   []byte(`{"keys":[]}`),
			NetworkRanges:          []string{"203.0.113.0/24"},
			SigningAlg:             "ES256",
		}, {
			Name:         "Batch",
			RedirectURIs: []string{"https://batch.example.go.th/cb"},
			AuthMethod:   storage.AuthMethodPrivateKeyJWT,
			JWKSURI:      "https://batch.example.go.th/.well-known/jwks.json",
			SigningAlg:   "RS256",

			IDTokenEncryptedResponseAlg:  storage.EncryptionAlgRSAOAEP256,
			IDTokenEncryptedResponseEnc:  storage.EncryptionEncA256GCM,
			UserinfoEncryptedResponseAlg: storage.EncryptionAlgECDHES,
			UserinfoEncryptedResponseEnc: storage.EncryptionEncA256GCM,
		}},
		Acceptance: storage.Acceptance{Name: "สมศรี มีสุข", Position: "ผู้อำนวยการ", At: at(-30 * time.Hour), TermsVersion: "2565-1"},
		RecordedBy: "admin-officer",
		CreatedAt:  at(-30 * time.Hour),
	}
}

// newPermit returns an approved permit of agency-1 under app-1, with
// every field set, valid for a year around base, at Version 1.
func newPermit(id string) storage.Permit {
	return storage.Permit{
		ID:            id,
		Number:        "DOPA-2567/" + id,
		AgencyID:      "agency-1",
		ApplicationID: "app-1",
		State:         storage.PermitApproved,
		ValidFrom:     at(-24 * time.Hour),
		ValidUntil:    at(365 * 24 * time.Hour),
		Purposes:      newPurposes()[:1],
		Conditions:    "clause 8 applies",
		Supervisors: []storage.Supervisor{
			{Name: "วิชัย ตรวจสอบ", Position: "หัวหน้ากลุ่มงาน", Email: "sup@example.go.th", Phone: "02 111 1111", OrderRef: "คำสั่ง 12/2567"},
		},
		Version:   1,
		CreatedAt: at(-20 * time.Hour),
		UpdatedAt: at(-20 * time.Hour),
	}
}

// seedAgencies stores agency-1 and agency-2 with the applications app-1
// and app-2, so that backends which check references accept permits of
// either agency.
func seedAgencies(t *testing.T, s storage.Store) {
	t.Helper()
	ctx := context.Background()
	for _, n := range []string{"1", "2"} {
		if err := s.CreateAgency(ctx, newAgency("agency-"+n), nil); err != nil {
			t.Fatalf("CreateAgency(agency-%s): %v", n, err)
		}
		a := newApplication("app-" + n)
		a.AgencyID = "agency-" + n
		if err := s.CreateApplication(ctx, a, nil); err != nil {
			t.Fatalf("CreateApplication(app-%s): %v", n, err)
		}
	}
}

// seedPermits stores seedAgencies and newPermit(id) for every id.
func seedPermits(t *testing.T, s storage.Store, ids ...string) {
	t.Helper()
	seedAgencies(t, s)
	for _, id := range ids {
		if err := s.CreatePermit(context.Background(), newPermit(id)); err != nil {
			t.Fatalf("CreatePermit(%q): %v", id, err)
		}
	}
}

func wantPermit(t *testing.T, s storage.Store, want storage.Permit) {
	t.Helper()
	got, err := s.Permit(context.Background(), want.ID)
	wantErr(t, "Permit("+want.ID+")", err, nil)
	check(t, "Permit("+want.ID+")", got, want, normPermit)
}

func testAgencies(t *testing.T, su suite) {
	ctx := context.Background()

	t.Run("round trip", func(t *testing.T) {
		private := newAgency("private")
		private.Category = storage.CategoryPrivate
		private.RegistrationNo = "0105561000001"
		empty := newAgency("empty")
		empty.Contacts = []storage.Contact{}
		tests := []struct {
			name string
			a    storage.Agency
		}{
			{"every field", newAgency("full")},
			{"private agency", private},
			{"zero values", storage.Agency{ID: "zero"}},
			{"empty contacts", empty},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				wantErr(t, "CreateAgency", s.CreateAgency(ctx, tt.a, nil), nil)
				got, err := s.Agency(ctx, tt.a.ID)
				wantErr(t, "Agency", err, nil)
				check(t, "Agency", got, tt.a, normAgency)
				list, err := s.Agencies(ctx)
				wantErr(t, "Agencies", err, nil)
				check(t, "Agencies", list, []storage.Agency{tt.a}, func(as []storage.Agency) []storage.Agency { return normList(as, normAgency) })
			})
		}
	})

	t.Run("duplicate ID", func(t *testing.T) {
		s := su.store(t)
		first := newAgency("a")
		wantErr(t, "CreateAgency", s.CreateAgency(ctx, first, nil), nil)
		second := newAgency("a")
		second.NameEN = "another"
		wantErr(t, "CreateAgency again", s.CreateAgency(ctx, second, nil), storage.ErrAlreadyExists)
		got, err := s.Agency(ctx, "a")
		wantErr(t, "Agency", err, nil)
		check(t, "Agency", got, first, normAgency)
	})

	t.Run("missing", func(t *testing.T) {
		s := su.store(t)
		seedAgencies(t, s)
		_, err := s.Agency(ctx, "absent")
		wantErr(t, "Agency", err, storage.ErrNotFound)
		called := false
		_, err = s.UpdateAgency(ctx, "absent", func(a storage.Agency) (storage.Agency, error) {
			called = true
			return a, nil
		})
		wantErr(t, "UpdateAgency", err, storage.ErrNotFound)
		if called {
			t.Errorf("UpdateAgency called fn for a missing agency")
		}
	})

	t.Run("list ordered by ID", func(t *testing.T) {
		s := su.store(t)
		list, err := s.Agencies(ctx)
		wantErr(t, "Agencies of an empty store", err, nil)
		if len(list) != 0 {
			t.Fatalf("Agencies of an empty store = %d agencies, want 0", len(list))
		}
		in := []string{"m", "b", "z", "a", "b2"}
		for _, id := range in {
			wantErr(t, "CreateAgency", s.CreateAgency(ctx, newAgency(id), nil), nil)
		}
		list, err = s.Agencies(ctx)
		wantErr(t, "Agencies", err, nil)
		got := ids(list, func(a storage.Agency) string { return a.ID })
		if want := slices.Sorted(slices.Values(in)); !slices.Equal(got, want) {
			t.Errorf("Agencies IDs = %q, want %q", got, want)
		}
	})

	t.Run("update", func(t *testing.T) {
		tests := []struct {
			name string
			fn   func(storage.Agency) (storage.Agency, error)
			want func(storage.Agency) storage.Agency // nil: the update aborts
			err  error
		}{
			{
				name: "change fields",
				fn: func(a storage.Agency) (storage.Agency, error) {
					a.NameEN = "Renamed"
					a.Contacts = a.Contacts[:1]
					a.UpdatedAt = base
					return a, nil
				},
				want: func(a storage.Agency) storage.Agency {
					a.NameEN = "Renamed"
					a.Contacts = a.Contacts[:1]
					a.UpdatedAt = base
					return a
				},
			},
			{
				name: "ID kept",
				fn: func(a storage.Agency) (storage.Agency, error) {
					a.ID = "other"
					return a, nil
				},
				want: identity[storage.Agency],
			},
			{
				name: "fn error aborts",
				fn: func(a storage.Agency) (storage.Agency, error) {
					a.NameEN = "must not be stored"
					return a, errTest
				},
				err: errTest,
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				orig := newAgency("a")
				wantErr(t, "CreateAgency", s.CreateAgency(ctx, orig, nil), nil)
				var seen storage.Agency
				got, err := s.UpdateAgency(ctx, "a", func(a storage.Agency) (storage.Agency, error) {
					seen = a
					return tt.fn(a)
				})
				wantErr(t, "UpdateAgency", err, tt.err)
				check(t, "agency passed to fn", seen, orig, normAgency)
				want := orig
				if tt.want != nil {
					want = tt.want(orig)
					check(t, "UpdateAgency result", got, want, normAgency)
				}
				stored, err := s.Agency(ctx, "a")
				wantErr(t, "Agency", err, nil)
				check(t, "stored agency", stored, want, normAgency)
				_, err = s.Agency(ctx, "other")
				wantErr(t, "Agency(other)", err, storage.ErrNotFound)
			})
		}
	})
}

func testApplications(t *testing.T, su suite) {
	ctx := context.Background()

	t.Run("round trip", func(t *testing.T) {
		empty := newApplication("empty")
		empty.Purposes = []storage.Purpose{{Code: "x", Claims: []string{}}}
		empty.Systems = []storage.System{{Name: "bare", RedirectURIs: []string{}, JWKS: []byte{}}}
		none := newApplication("none")
		none.Purposes = nil
		none.Systems = nil
		none.Acceptance = storage.Acceptance{}
		tests := []struct {
			name string
			a    storage.Application
		}{
			{"every field", newApplication("full")},
			{"empty slices", empty},
			{"no purposes, systems or acceptance", none},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				seedAgencies(t, s)
				wantErr(t, "CreateApplication", s.CreateApplication(ctx, tt.a, nil), nil)
				got, err := s.Application(ctx, tt.a.ID)
				wantErr(t, "Application", err, nil)
				check(t, "Application", got, tt.a, normApplication)
			})
		}
	})

	t.Run("duplicate ID", func(t *testing.T) {
		s := su.store(t)
		seedAgencies(t, s)
		again := newApplication("app-1")
		again.Mission = "another"
		wantErr(t, "CreateApplication again", s.CreateApplication(ctx, again, nil), storage.ErrAlreadyExists)
		got, err := s.Application(ctx, "app-1")
		wantErr(t, "Application", err, nil)
		check(t, "Application", got, newApplication("app-1"), normApplication)
	})

	t.Run("missing", func(t *testing.T) {
		s := su.store(t)
		seedAgencies(t, s)
		_, err := s.Application(ctx, "absent")
		wantErr(t, "Application", err, storage.ErrNotFound)
	})

	t.Run("by agency, newest first", func(t *testing.T) {
		s := su.store(t)
		seedAgencies(t, s) // app-1 of agency-1 and app-2 of agency-2, at -30h
		for _, a := range []struct {
			id     string
			agency string
			at     time.Duration
		}{
			{"a-mid", "agency-1", -2 * time.Hour},
			{"a-new", "agency-1", -time.Hour},
			{"a-old", "agency-1", -3 * time.Hour},
			{"b-new", "agency-2", -time.Minute},
		} {
			app := newApplication(a.id)
			app.AgencyID = a.agency
			app.CreatedAt = at(a.at)
			wantErr(t, "CreateApplication", s.CreateApplication(ctx, app, nil), nil)
		}
		tests := []struct {
			agency string
			want   []string
		}{
			{"agency-1", []string{"a-new", "a-mid", "a-old", "app-1"}},
			{"agency-2", []string{"b-new", "app-2"}},
			{"unknown", nil},
		}
		for _, tt := range tests {
			list, err := s.ApplicationsByAgency(ctx, tt.agency)
			wantErr(t, "ApplicationsByAgency("+tt.agency+")", err, nil)
			if got := ids(list, func(a storage.Application) string { return a.ID }); !slices.Equal(got, tt.want) {
				t.Errorf("ApplicationsByAgency(%q) = %q, want %q", tt.agency, got, tt.want)
			}
		}
		list, err := s.ApplicationsByAgency(ctx, "agency-2")
		wantErr(t, "ApplicationsByAgency", err, nil)
		want := newApplication("app-2")
		want.AgencyID = "agency-2"
		if len(list) == 2 {
			check(t, "ApplicationsByAgency(agency-2)[1]", list[1], want, normApplication)
		}
	})
}

func testPermits(t *testing.T, su suite) {
	ctx := context.Background()

	t.Run("round trip", func(t *testing.T) {
		pending := storage.Permit{ID: "pending", AgencyID: "agency-1", ApplicationID: "app-1", State: storage.PermitPending, Version: 1}
		empty := newPermit("empty")
		empty.Purposes = []storage.Purpose{{Code: "x", Claims: []string{}}}
		empty.Supervisors = []storage.Supervisor{}
		renewed := newPermit("renewed")
		renewed.Version = 7
		for i := range renewed.Purposes {
			renewed.Purposes[i].ConsentFrom = 5 + i
		}
		tests := []struct {
			name string
			p    storage.Permit
		}{
			{"every field", newPermit("full")},
			{"renewed purposes keep the version consents count from", renewed},
			{"pending, no number", pending},
			{"empty slices", empty},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				seedAgencies(t, s)
				wantErr(t, "CreatePermit", s.CreatePermit(ctx, tt.p), nil)
				wantPermit(t, s, tt.p)
			})
		}
	})

	t.Run("duplicate", func(t *testing.T) {
		sameNumber := newPermit("other")
		sameNumber.Number = newPermit("p").Number
		tests := []struct {
			name string
			p    storage.Permit
		}{
			{"ID", newPermit("p")},
			{"number", sameNumber},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				seedPermits(t, s, "p")
				tt.p.Conditions = "must not be stored"
				wantErr(t, "CreatePermit again", s.CreatePermit(ctx, tt.p), storage.ErrAlreadyExists)
				wantPermit(t, s, newPermit("p"))
				if tt.p.ID != "p" {
					_, err := s.Permit(ctx, tt.p.ID)
					wantErr(t, "Permit("+tt.p.ID+")", err, storage.ErrNotFound)
				}
			})
		}
	})

	t.Run("numbers only unique when set", func(t *testing.T) {
		s := su.store(t)
		seedAgencies(t, s)
		for _, id := range []string{"a", "b"} {
			p := newPermit(id)
			p.Number = ""
			wantErr(t, "CreatePermit("+id+") without a number", s.CreatePermit(ctx, p), nil)
		}
	})

	t.Run("missing", func(t *testing.T) {
		s := su.store(t)
		seedPermits(t, s, "p")
		_, err := s.Permit(ctx, "absent")
		wantErr(t, "Permit", err, storage.ErrNotFound)
		called := false
		_, err = s.UpdatePermit(ctx, "absent", func(p storage.Permit) (storage.Permit, error) {
			called = true
			return p, nil
		})
		wantErr(t, "UpdatePermit", err, storage.ErrNotFound)
		if called {
			t.Errorf("UpdatePermit called fn for a missing permit")
		}
	})

	t.Run("list newest first", func(t *testing.T) {
		s := su.store(t)
		seedAgencies(t, s)
		list, err := s.Permits(ctx, "")
		wantErr(t, "Permits of an empty store", err, nil)
		if len(list) != 0 {
			t.Fatalf("Permits of an empty store = %d permits, want 0", len(list))
		}
		for _, p := range []struct {
			id     string
			agency string
			at     time.Duration
		}{
			{"p-mid", "agency-1", -2 * time.Hour},
			{"p-old", "agency-1", -3 * time.Hour},
			{"q", "agency-2", -90 * time.Minute},
			{"p-new", "agency-1", -time.Hour},
		} {
			permit := newPermit(p.id)
			permit.AgencyID = p.agency
			permit.CreatedAt = at(p.at)
			wantErr(t, "CreatePermit", s.CreatePermit(ctx, permit), nil)
		}
		tests := []struct {
			agency string
			want   []string
		}{
			{"", []string{"p-new", "q", "p-mid", "p-old"}},
			{"agency-1", []string{"p-new", "p-mid", "p-old"}},
			{"agency-2", []string{"q"}},
			{"unknown", nil},
		}
		for _, tt := range tests {
			list, err := s.Permits(ctx, tt.agency)
			wantErr(t, "Permits("+tt.agency+")", err, nil)
			if got := ids(list, func(p storage.Permit) string { return p.ID }); !slices.Equal(got, tt.want) {
				t.Errorf("Permits(%q) = %q, want %q", tt.agency, got, tt.want)
			}
		}
		list, err = s.Permits(ctx, "agency-2")
		wantErr(t, "Permits", err, nil)
		want := newPermit("q")
		want.AgencyID = "agency-2"
		want.CreatedAt = at(-90 * time.Minute)
		check(t, "Permits(agency-2)", list, []storage.Permit{want}, func(ps []storage.Permit) []storage.Permit { return normList(ps, normPermit) })
	})
}

func testUpdatePermit(t *testing.T, su suite) {
	ctx := context.Background()

	tests := []struct {
		name string
		fn   func(storage.Permit) (storage.Permit, error)
		want func(storage.Permit) storage.Permit // nil: the update aborts
		err  error
	}{
		{
			name: "change fields",
			fn: func(p storage.Permit) (storage.Permit, error) {
				p.State = storage.PermitSuspended
				p.Purposes = newPurposes()
				p.Supervisors = nil
				p.ValidUntil = at(time.Hour)
				p.UpdatedAt = base
				return p, nil
			},
			want: func(p storage.Permit) storage.Permit {
				p.State = storage.PermitSuspended
				p.Purposes = newPurposes()
				p.Supervisors = nil
				p.ValidUntil = at(time.Hour)
				p.UpdatedAt = base
				p.Version = 2
				return p
			},
		},
		{
			name: "no change still counts",
			fn:   func(p storage.Permit) (storage.Permit, error) { return p, nil },
			want: func(p storage.Permit) storage.Permit { p.Version = 2; return p },
		},
		{
			name: "store sets ID and Version",
			fn: func(p storage.Permit) (storage.Permit, error) {
				p.ID = "other"
				p.Version = 42
				return p, nil
			},
			want: func(p storage.Permit) storage.Permit { p.Version = 2; return p },
		},
		{
			name: "number taken",
			fn: func(p storage.Permit) (storage.Permit, error) {
				p.Number = newPermit("q").Number
				return p, nil
			},
			err: storage.ErrAlreadyExists,
		},
		{
			name: "fn error aborts",
			fn: func(p storage.Permit) (storage.Permit, error) {
				p.Conditions = "must not be stored"
				return p, errTest
			},
			err: errTest,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := su.store(t)
			seedPermits(t, s, "p", "q")
			orig := newPermit("p")
			var seen storage.Permit
			got, err := s.UpdatePermit(ctx, "p", func(p storage.Permit) (storage.Permit, error) {
				seen = p
				return tt.fn(p)
			})
			wantErr(t, "UpdatePermit", err, tt.err)
			check(t, "permit passed to fn", seen, orig, normPermit)
			want := orig
			if tt.want != nil {
				want = tt.want(orig)
				check(t, "UpdatePermit result", got, want, normPermit)
			}
			wantPermit(t, s, want)
			wantPermit(t, s, newPermit("q"))
			_, err = s.Permit(ctx, "other")
			wantErr(t, "Permit(other)", err, storage.ErrNotFound)
		})
	}

	t.Run("concurrent updates lose nothing", func(t *testing.T) {
		s := su.store(t)
		seedPermits(t, s, "p")
		const n = 16
		errs := race(n, func(i int) error {
			_, err := s.UpdatePermit(ctx, "p", func(p storage.Permit) (storage.Permit, error) {
				p.Supervisors = append(p.Supervisors, storage.Supervisor{Name: fmt.Sprintf("sup-%02d", i)})
				return p, nil
			})
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("UpdatePermit #%d: %v", i, err)
			}
		}
		got, err := s.Permit(ctx, "p")
		wantErr(t, "Permit", err, nil)
		if want := 1 + n; got.Version != want {
			t.Errorf("Version after %d concurrent updates = %d, want %d", n, got.Version, want)
		}
		names := ids(got.Supervisors, func(s storage.Supervisor) string { return s.Name })
		want := []string{newPermit("p").Supervisors[0].Name}
		for i := range n {
			want = append(want, fmt.Sprintf("sup-%02d", i))
		}
		if !sameSet(names, want) {
			t.Errorf("Supervisors after %d concurrent appends = %q, want (any order) %q", n, names, want)
		}
	})
}

// newDecision returns a decision on permit-1 recorded and effective at base.
func newDecision(id string) storage.Decision {
	return storage.Decision{
		ID:          id,
		PermitID:    "permit-1",
		Action:      storage.DecisionSuspend,
		By:          "admin-approver",
		Notice:      "หนังสือแจ้ง ที่ มท 0309/" + id,
		RecordedAt:  base,
		EffectiveAt: base,
		Payload:     []byte(`{"reason":"clause 11"}`),
	}
}

// decisionTimes is the schedule testDecisions and testDueDecisions store,
// in the order they create them: the order of creation differs from
// RecordedAt order and from ID order.
var decisionTimes = []struct {
	id                             string
	permit                         string
	recorded, effective, appliedAt time.Duration
	applied                        bool
}{
	{id: "d5", permit: "permit-1", recorded: -time.Hour, effective: 0},
	{id: "d2", permit: "permit-1", recorded: -4 * time.Hour, effective: time.Hour},
	{id: "tie-b", permit: "permit-1", recorded: -3 * time.Hour, effective: 2 * time.Hour},
	{id: "d3", permit: "permit-2", recorded: -270 * time.Minute, effective: -2 * time.Hour},
	{id: "d4", permit: "permit-1", recorded: -6 * time.Hour, effective: -6 * time.Hour, appliedAt: -6 * time.Hour, applied: true},
	{id: "d1", permit: "permit-1", recorded: -5 * time.Hour, effective: -3 * time.Hour},
	{id: "tie-a", permit: "permit-1", recorded: -3 * time.Hour, effective: 2 * time.Hour},
	{id: "d6", permit: "permit-1", recorded: -330 * time.Minute, effective: -3 * time.Hour},
}

// seedDecisions stores permit-1 and permit-2 and the decisions of
// decisionTimes.
func seedDecisions(t *testing.T, s storage.Store) map[string]storage.Decision {
	t.Helper()
	seedPermits(t, s, "permit-1", "permit-2")
	out := make(map[string]storage.Decision)
	for _, dt := range decisionTimes {
		d := newDecision(dt.id)
		d.PermitID = dt.permit
		d.RecordedAt = at(dt.recorded)
		d.EffectiveAt = at(dt.effective)
		if dt.applied {
			d.AppliedAt = at(dt.appliedAt)
		}
		if err := s.CreateDecision(context.Background(), d, nil); err != nil {
			t.Fatalf("CreateDecision(%q): %v", dt.id, err)
		}
		out[dt.id] = d
	}
	return out
}

func decisionIDs(ds []storage.Decision) []string {
	return ids(ds, func(d storage.Decision) string { return d.ID })
}

func testDecisions(t *testing.T, su suite) {
	ctx := context.Background()

	t.Run("round trip", func(t *testing.T) {
		applied := newDecision("applied")
		applied.AppliedAt = at(time.Minute)
		later := newDecision("later")
		later.Action = storage.DecisionRevoke
		later.EffectiveAt = at(30 * 24 * time.Hour)
		bare := storage.Decision{ID: "bare", PermitID: "permit-1", Action: storage.DecisionApprove, Payload: []byte{}}
		tests := []struct {
			name string
			d    storage.Decision
		}{
			{"every field", newDecision("full")},
			{"applied", applied},
			{"advance notice", later},
			{"zero values", bare},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				seedPermits(t, s, "permit-1")
				wantErr(t, "CreateDecision", s.CreateDecision(ctx, tt.d, nil), nil)
				got, err := s.Decisions(ctx, "permit-1")
				wantErr(t, "Decisions", err, nil)
				check(t, "Decisions", got, []storage.Decision{tt.d}, func(ds []storage.Decision) []storage.Decision { return normList(ds, normDecision) })
			})
		}
	})

	t.Run("duplicate ID", func(t *testing.T) {
		s := su.store(t)
		seedPermits(t, s, "permit-1")
		wantErr(t, "CreateDecision", s.CreateDecision(ctx, newDecision("d"), nil), nil)
		again := newDecision("d")
		again.Notice = "must not be stored"
		wantErr(t, "CreateDecision again", s.CreateDecision(ctx, again, nil), storage.ErrAlreadyExists)
		got, err := s.Decisions(ctx, "permit-1")
		wantErr(t, "Decisions", err, nil)
		check(t, "Decisions", got, []storage.Decision{newDecision("d")}, func(ds []storage.Decision) []storage.Decision { return normList(ds, normDecision) })
	})

	t.Run("in the order recorded", func(t *testing.T) {
		s := su.store(t)
		ds := seedDecisions(t, s)
		tests := []struct {
			permit string
			want   []string
		}{
			// By RecordedAt; tie-b and tie-a were recorded at the same
			// instant and come in the order they were created.
			{"permit-1", []string{"d4", "d6", "d1", "d2", "tie-b", "tie-a", "d5"}},
			{"permit-2", []string{"d3"}},
			{"unknown", nil},
		}
		for _, tt := range tests {
			got, err := s.Decisions(ctx, tt.permit)
			wantErr(t, "Decisions("+tt.permit+")", err, nil)
			if ids := decisionIDs(got); !slices.Equal(ids, tt.want) {
				t.Errorf("Decisions(%q) = %q, want %q", tt.permit, ids, tt.want)
				continue
			}
			for _, d := range got {
				check(t, "Decisions: "+d.ID, d, ds[d.ID], normDecision)
			}
		}
	})
}

func testDueDecisions(t *testing.T, su suite) {
	ctx := context.Background()
	s := su.store(t)
	seedDecisions(t, s)
	tests := []struct {
		name string
		now  time.Time
		want []string
	}{
		{"before any", at(-3*time.Hour - time.Millisecond), nil},
		{"at the first", at(-3 * time.Hour), []string{"d6", "d1"}},
		{"just before base", at(-time.Millisecond), []string{"d6", "d1", "d3"}},
		{"at base", base, []string{"d6", "d1", "d3", "d5"}},
		{"all", at(2 * time.Hour), []string{"d6", "d1", "d3", "d5", "d2", "tie-b", "tie-a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.DueDecisions(ctx, tt.now)
			wantErr(t, "DueDecisions", err, nil)
			if ids := decisionIDs(got); !slices.Equal(ids, tt.want) {
				t.Errorf("DueDecisions(%v) = %q, want %q (oldest EffectiveAt first, then as recorded)", tt.now, ids, tt.want)
			}
		})
	}
	t.Run("applied ones go", func(t *testing.T) {
		_, err := s.ApplyDecision(ctx, "d1", base, func(p storage.Permit, _ storage.Decision) (storage.Permit, storage.Record, error) { return p, nil, nil })
		wantErr(t, "ApplyDecision", err, nil)
		got, err := s.DueDecisions(ctx, base)
		wantErr(t, "DueDecisions", err, nil)
		if ids, want := decisionIDs(got), []string{"d6", "d3", "d5"}; !slices.Equal(ids, want) {
			t.Errorf("DueDecisions after applying d1 = %q, want %q", ids, want)
		}
	})
}

func testApplyDecision(t *testing.T, su suite) {
	ctx := context.Background()
	now := at(time.Minute)
	suspend := func(p storage.Permit, d storage.Decision) (storage.Permit, storage.Record, error) {
		p.State = storage.PermitSuspended
		p.Conditions += "; suspended by " + d.ID
		p.UpdatedAt = now
		return p, nil, nil
	}
	suspended := func(p storage.Permit) storage.Permit {
		p.State = storage.PermitSuspended
		p.Conditions += "; suspended by d"
		p.UpdatedAt = now
		p.Version++
		return p
	}

	tests := []struct {
		name     string
		decision func(storage.Decision) storage.Decision // changes newDecision("d") before it is stored
		id       string                                  // "" for "d"
		fn       func(storage.Permit, storage.Decision) (storage.Permit, storage.Record, error)
		want     func(storage.Permit) storage.Permit // nil: nothing changes
		err      error
		noCall   bool // fn must not be called
	}{
		{name: "applies", fn: suspend, want: suspended},
		{
			name: "store sets ID and Version",
			fn: func(p storage.Permit, d storage.Decision) (storage.Permit, storage.Record, error) {
				p, _, _ = suspend(p, d)
				p.ID = "permit-2"
				p.Version = 42
				return p, nil, nil
			},
			want: suspended,
		},
		{
			name:     "effective at now",
			decision: func(d storage.Decision) storage.Decision { d.EffectiveAt = now; return d },
			fn:       suspend,
			want:     suspended,
		},
		{
			name:     "not due yet",
			decision: func(d storage.Decision) storage.Decision { d.EffectiveAt = now.Add(time.Millisecond); return d },
			fn:       suspend,
			err:      storage.ErrConflict,
			noCall:   true,
		},
		{
			name:     "applied before",
			decision: func(d storage.Decision) storage.Decision { d.AppliedAt = base; return d },
			fn:       suspend,
			err:      storage.ErrConflict,
			noCall:   true,
		},
		{
			// A renewal (admin.Service) writes each purpose's ConsentFrom
			// with the new period; both must be stored as given.
			name: "renewal stores purposes with ConsentFrom",
			fn: func(p storage.Permit, d storage.Decision) (storage.Permit, storage.Record, error) {
				p.ValidUntil = p.ValidUntil.AddDate(1, 0, 0)
				p.Purposes = newPurposes()
				p.Purposes[0].ConsentFrom = p.Version
				p.Purposes[len(p.Purposes)-1].ConsentFrom = p.Version + 1
				p.UpdatedAt = now
				return p, nil, nil
			},
			want: func(p storage.Permit) storage.Permit {
				p.ValidUntil = p.ValidUntil.AddDate(1, 0, 0)
				p.Purposes = newPurposes()
				p.Purposes[0].ConsentFrom = p.Version
				p.Purposes[len(p.Purposes)-1].ConsentFrom = p.Version + 1
				p.UpdatedAt = now
				p.Version++
				return p
			},
		},
		{name: "unknown decision", id: "absent", fn: suspend, err: storage.ErrNotFound, noCall: true},
		{
			name: "fn error aborts",
			fn: func(p storage.Permit, d storage.Decision) (storage.Permit, storage.Record, error) {
				p, _, _ = suspend(p, d)
				return p, nil, errTest
			},
			err: errTest,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := su.store(t)
			seedPermits(t, s, "permit-1", "permit-2")
			d := newDecision("d")
			if tt.decision != nil {
				d = tt.decision(d)
			}
			wantErr(t, "CreateDecision", s.CreateDecision(ctx, d, nil), nil)
			id := cmpOr(tt.id, "d")
			orig := newPermit("permit-1")
			called := 0
			got, err := s.ApplyDecision(ctx, id, now, func(p storage.Permit, seen storage.Decision) (storage.Permit, storage.Record, error) {
				called++
				check(t, "permit passed to fn", p, orig, normPermit)
				check(t, "decision passed to fn", seen, d, normDecision)
				return tt.fn(p, seen)
			})
			wantErr(t, "ApplyDecision", err, tt.err)
			if tt.noCall && called > 0 {
				t.Errorf("ApplyDecision called fn %d times, want none", called)
			}
			want, wantDecision := orig, d
			if tt.want != nil {
				want = tt.want(orig)
				wantDecision.AppliedAt = now
				check(t, "ApplyDecision result", got, want, normPermit)
			}
			wantPermit(t, s, want)
			wantPermit(t, s, newPermit("permit-2"))
			ds, err := s.Decisions(ctx, "permit-1")
			wantErr(t, "Decisions", err, nil)
			check(t, "Decisions", ds, []storage.Decision{wantDecision}, func(ds []storage.Decision) []storage.Decision { return normList(ds, normDecision) })
		})
	}

	t.Run("fn error leaves it due", func(t *testing.T) {
		s := su.store(t)
		seedPermits(t, s, "permit-1")
		wantErr(t, "CreateDecision", s.CreateDecision(ctx, newDecision("d"), nil), nil)
		_, err := s.ApplyDecision(ctx, "d", now, func(p storage.Permit, _ storage.Decision) (storage.Permit, storage.Record, error) {
			return p, nil, errTest
		})
		wantErr(t, "ApplyDecision failing", err, errTest)
		due, err := s.DueDecisions(ctx, now)
		wantErr(t, "DueDecisions", err, nil)
		if got, want := decisionIDs(due), []string{"d"}; !slices.Equal(got, want) {
			t.Errorf("DueDecisions after a failed apply = %q, want %q", got, want)
		}
		_, err = s.ApplyDecision(ctx, "d", now, suspend)
		wantErr(t, "ApplyDecision again", err, nil)
		wantPermit(t, s, suspended(newPermit("permit-1")))
		_, err = s.ApplyDecision(ctx, "d", now, suspend)
		wantErr(t, "ApplyDecision a third time", err, storage.ErrConflict)
	})

	t.Run("exactly once under a race", func(t *testing.T) {
		s := su.store(t)
		seedPermits(t, s, "permit-1")
		wantErr(t, "CreateDecision", s.CreateDecision(ctx, newDecision("d"), nil), nil)
		const n = 8
		errs := race(n, func(i int) error {
			_, err := s.ApplyDecision(ctx, "d", now, suspend)
			return err
		})
		if got := winners(t, "ApplyDecision", errs, storage.ErrConflict); got != 1 {
			t.Errorf("%d of %d concurrent ApplyDecision calls succeeded, want 1", got, n)
		}
		wantPermit(t, s, suspended(newPermit("permit-1")))
		due, err := s.DueDecisions(ctx, now)
		wantErr(t, "DueDecisions", err, nil)
		if len(due) != 0 {
			t.Errorf("DueDecisions after the race = %q, want none", decisionIDs(due))
		}
	})
}

// cmpOr returns a unless it is empty, and b then.
func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func testClientsByPermit(t *testing.T, su suite) {
	ctx := context.Background()
	s := su.store(t)
	seedPermits(t, s, "permit-1", "permit-2")
	clients := map[string]storage.Client{}
	for _, c := range []struct{ id, permit string }{
		{"c-b", "permit-1"}, {"c-c", "permit-2"}, {"c-a", "permit-1"}, {"c-d", ""},
	} {
		cl := newClient(c.id)
		cl.PermitID = c.permit
		wantErr(t, "CreateClient", s.CreateClient(ctx, cl, nil), nil)
		clients[c.id] = cl
	}
	tests := []struct {
		permit string
		want   []string
	}{
		{"permit-1", []string{"c-a", "c-b"}},
		{"permit-2", []string{"c-c"}},
		{"unknown", nil},
	}
	for _, tt := range tests {
		t.Run(tt.permit, func(t *testing.T) {
			got, err := s.ClientsByPermit(ctx, tt.permit)
			wantErr(t, "ClientsByPermit", err, nil)
			var want []storage.Client
			for _, id := range tt.want {
				want = append(want, clients[id])
			}
			check(t, "ClientsByPermit (ordered by ID)", got, want, normClients)
		})
	}
}
