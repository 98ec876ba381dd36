package admin

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/dopaid/dopaid/audit"
	"github.com/dopaid/dopaid/storage"
)

// validPID completes 12 digits with their check digit.
func validPID(s string) string {
	sum := 0
	for i := range 12 {
		sum += int(s[i]-'0') * (13 - i)
	}
	return s + strconv.Itoa((11-sum%11)%10)
}

// auditFixture is a server whose trail holds releases and refusals of two
// agencies, some integrated into a signed log, some not yet.
type auditFixture struct {
	*server
	agencyA, agencyB string
	logKey           string // the log's published verifier key
	integrator       *audit.Integrator
	citizen          storage.Citizen
}

func newAuditFixture(t *testing.T, store storage.Store) *auditFixture {
	t.Helper()
	ctx := context.Background()
	s := newServer(t, store, false)
	f := &auditFixture{server: s}
	tok := s.token(s.first)
	var a, b apiAgency
	s.call(tok, http.MethodPost, "/agencies", agencyBody("Agency A")).want(http.StatusCreated).decode(&a)
	s.call(tok, http.MethodPost, "/agencies", agencyBody("Agency B")).want(http.StatusCreated).decode(&b)
	f.agencyA, f.agencyB = a.ID, b.ID
	f.citizen = storage.Citizen{ID: "cz-7", PID: validPID("110170012345"),
		NameTH: storage.Name{Title: "นาย", First: "สมชาย", Last: "ใจดี"}, NameEN: storage.Name{Title: "Mr.", First: "Somchai", Last: "Jaidee"},
		Birthdate: storage.BEDate{Year: 2530, Month: 5, Day: 17}, Sex: storage.SexMale, Status: storage.StatusAlive,
		ContentHash: "h", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if _, err := store.UpsertCitizens(ctx, []storage.Citizen{f.citizen}); err != nil {
		t.Fatal(err)
	}
	// 12 entries: agency A's releases and refusals, agency B's, a sign-in.
	base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for i := range 12 {
		ag, pm, cl := f.agencyA, "permit-a", "client-a"
		if i%3 == 2 {
			ag, pm, cl = f.agencyB, "permit-b", "client-b"
		}
		e := storage.AuditEntry{At: base.Add(time.Duration(i) * time.Hour), Type: storage.AuditUserinfo, Actor: "client:" + cl,
			CitizenID: fmt.Sprintf("cz-%d", i%4+5), AgencyID: ag, PermitID: pm, ClientID: cl, Purpose: "loan",
			Claims: []string{"given_name"}, IAL: "2.3", Outcome: "success", Detail: fmt.Sprintf("n%d", i)}
		if i%4 == 1 {
			e.Type, e.Outcome, e.Claims, e.Detail = storage.AuditAuthorization, "failure", nil, fmt.Sprintf("permit_suspended n%d", i)
		}
		if i == 11 {
			e = storage.AuditEntry{At: base.Add(11 * time.Hour), Type: storage.AuditSignIn, Actor: "citizen:cz-7", CitizenID: "cz-7", Outcome: "success", Detail: "n11"}
		}
		if _, err := store.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
		if i == 9 {
			f.integrate(t) // entries 10 and 11 stay pending
		}
	}
	return f
}

func (f *auditFixture) integrate(t *testing.T) {
	t.Helper()
	if f.integrator == nil {
		skey, vkey, err := audit.GenerateKey("id.example.go.th/audit")
		if err != nil {
			t.Fatal(err)
		}
		key, err := audit.NewKey(skey, vkey)
		if err != nil {
			t.Fatal(err)
		}
		f.logKey, f.integrator = vkey, audit.NewIntegrator(f.store, key, audit.IntegratorConfig{})
	}
	if _, err := f.integrator.Integrate(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// details returns the entries' details ("n3", …), without the reads'.
func details(es []apiAuditEntry) []string {
	var out []string
	for _, e := range es {
		if e.Type == storage.AuditAdmin {
			continue
		}
		d := e.Detail
		if i := strings.LastIndex(d, " "); i >= 0 {
			d = d[i+1:]
		}
		out = append(out, d)
	}
	return out
}

// readsOf returns the trail's read, export and lookup entries by account.
func (f *auditFixture) readsOf(t *testing.T, a account) []storage.AuditEntry {
	t.Helper()
	es, err := f.store.AuditEntries(context.Background(), storage.AuditFilter{Types: []string{storage.AuditAdmin}})
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(es, func(e storage.AuditEntry) bool {
		action, _, _ := strings.Cut(e.Detail, ":")
		return e.Actor != "admin:"+a.ID || !slices.Contains([]string{"read_audit", "export_audit", "lookup_citizen"}, action)
	})
}

// TestAuditReaderAPI: an auditor filters, pages and exports the trail
// over the API, each read audited; bad filters are refused with 400 and
// read nothing; exported receipts verify against the pinned log key.
func TestAuditReaderAPI(t *testing.T) {
	eachStore(t, func(t *testing.T, store storage.Store) {
		f := newAuditFixture(t, store)
		aud := f.account("auditor", storage.RoleAuditor, "")
		tok := f.token(aud)
		get := func(path string) apiAuditPage {
			t.Helper()
			var p apiAuditPage
			f.call(tok, http.MethodGet, path, nil).want(http.StatusOK).decode(&p)
			return p
		}

		t.Run("filters", func(t *testing.T) {
			for _, tt := range []struct {
				query string
				want  []string
			}{
				{"", []string{"n11", "n10", "n9", "n8", "n7", "n6", "n5", "n4", "n3", "n2", "n1", "n0"}},
				{"agency=" + f.agencyA, []string{"n10", "n9", "n7", "n6", "n4", "n3", "n1", "n0"}},
				{"agency=" + f.agencyA + "&outcome=failure", []string{"n9", "n1"}},
				{"permit=permit-b", []string{"n8", "n5", "n2"}},
				{"client=client-b&type=authorization", []string{"n5"}},
				{"citizen=cz-7", []string{"n11", "n10", "n6", "n2"}},
				{"type=sign_in", []string{"n11"}},
				{"outcome=success&since=2026-03-01T12:00:00Z&until=2026-03-01T16:00:00Z", []string{"n6", "n4", "n3"}},
				{"until=2026-03-01T17:30", []string{"n1", "n0"}},                               // Thailand time: 10:30 UTC
				{"since=2026-03-02", []string{"n11", "n10", "n9", "n8"}},                       // from midnight in Thailand, 17:00 UTC
				{"until=2026-03-01", []string{"n7", "n6", "n5", "n4", "n3", "n2", "n1", "n0"}}, // the whole day
			} {
				if got := details(get("/audit?" + tt.query).Entries); !slices.Equal(got, tt.want) {
					t.Errorf("GET /audit?%s = %v, want %v", tt.query, got, tt.want)
				}
			}
			p := get("/audit?type=sign_in")
			if e := p.Entries[0]; e.Status != "pending" || e.LeafIndex != nil || e.Citizen != "cz-7" {
				t.Errorf("pending entry = %+v, want status pending, no leaf index, citizen by pseudonym", e)
			}
		})

		t.Run("paging", func(t *testing.T) {
			var seen []string
			var pages []apiAuditPage
			// By permit: the reads of the trail, recorded under the
			// agency they filtered by, stay out of these pages.
			next := APIPath + "/audit?permit=permit-a&limit=3"
			for next != "" {
				p := get(next)
				pages = append(pages, p)
				seen = append(seen, details(p.Entries)...)
				if len(pages) > 1 && p.Prev == "" {
					t.Errorf("page %d has no link to newer entries", len(pages))
				}
				if strings.Contains(p.Next, "permit=permit-a") != (p.Next != "") {
					t.Errorf("next link %q does not keep the filter", p.Next)
				}
				next = p.Next
				if len(pages) == 1 {
					f.integrate(t) // entries integrated between pages move nothing
				}
			}
			if want := []string{"n10", "n9", "n7", "n6", "n4", "n3", "n1", "n0"}; !slices.Equal(seen, want) {
				t.Errorf("pages = %v, want %v", seen, want)
			}
			if len(pages) != 3 || pages[0].Prev != "" {
				t.Fatalf("%d pages, first prev %q; want 3 and none", len(pages), pages[0].Prev)
			}
			back := get(pages[2].Prev)
			if got, want := details(back.Entries), details(pages[1].Entries); !slices.Equal(got, want) {
				t.Errorf("prev of page 3 = %v, want page 2 %v", got, want)
			}
			back = get(back.Prev)
			// (The reads of these pages, recorded under the permit they
			// filtered by, are newer still.)
			if got, want := details(back.Entries), details(pages[0].Entries); !slices.Equal(got, want) {
				t.Errorf("prev of page 2 = %v, want page 1 %v", got, want)
			}
		})

		t.Run("bad filters", func(t *testing.T) {
			before := len(f.readsOf(t, aud))
			for _, tt := range []struct{ query, field string }{
				{"type=bogus", "type"},
				{"outcome=maybe", "outcome"},
				{"since=yesterday", "since"},
				{"since=2026-03-02&until=2026-03-01", "until"},
				{"cursor=zz", "cursor"},
				{"cursor=b-1", "cursor"},
				{"limit=0", "limit"},
				{"limit=501", "limit"},
				{"agency=a%20b", "agency"},
				{"citizen=" + f.citizen.PID, "citizen"},
				{"colour=red", "colour"},
				{"type=sign_in&type=userinfo", "type"},
			} {
				for _, path := range []string{"/audit", "/audit/export.json", "/audit/export.csv"} {
					r := f.call(tok, http.MethodGet, path+"?"+tt.query, nil).want(http.StatusBadRequest)
					if e := r.apiErr(); e.Error != errInvalidRequest || e.Fields[tt.field] == "" {
						t.Errorf("GET %s?%s: %+v, want invalid_request naming %s", path, tt.query, e, tt.field)
					}
					if strings.Contains(string(r.body), f.citizen.PID) {
						t.Errorf("GET %s?%s echoes the ID number", path, tt.query)
					}
				}
			}
			if after := len(f.readsOf(t, aud)); after != before {
				t.Errorf("refused filters recorded %d reads", after-before)
			}
		})

		t.Run("every read is audited", func(t *testing.T) {
			before := len(f.readsOf(t, aud))
			get("/audit?citizen=cz-6&agency=" + f.agencyB)
			reads := f.readsOf(t, aud)
			if len(reads) != before+1 {
				t.Fatalf("%d reads recorded, want %d", len(reads), before+1)
			}
			if r := reads[len(reads)-1]; r.Detail != "read_audit" || r.CitizenID != "cz-6" || r.AgencyID != f.agencyB || r.Outcome != "success" {
				t.Errorf("read entry = %+v", r)
			}
		})

		t.Run("export", func(t *testing.T) {
			f.integrate(t)
			extra, err := store.AppendAudit(context.Background(), storage.AuditEntry{Type: storage.AuditUserinfo, Actor: "client:client-a",
				CitizenID: "cz-5", AgencyID: f.agencyA, PermitID: "permit-a", ClientID: "client-a", Outcome: "success", Detail: "n12"})
			if err != nil {
				t.Fatal(err)
			}
			before := len(f.readsOf(t, aud))
			r := f.call(tok, http.MethodGet, "/audit/export.json?agency="+f.agencyA+"&limit=1&cursor=b3", nil).want(http.StatusOK)
			if ct := r.header.Get("Content-Type"); ct != "application/json; charset=utf-8" || !strings.HasPrefix(r.header.Get("Content-Disposition"), "attachment;") {
				t.Errorf("export.json: %s, %s", ct, r.header.Get("Content-Disposition"))
			}
			var x apiAuditExport
			r.decode(&x)
			if got, want := details(x.Entries), []string{"n0", "n1", "n3", "n4", "n6", "n7", "n9", "n10", "n12"}; !slices.Equal(got, want) {
				t.Fatalf("export = %v, want the whole filtered range in log order %v", got, want)
			}
			v, err := note.NewVerifier(f.logKey)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range x.Entries {
				if e.ID == extra.ID && (e.Status != "pending" || e.Receipt != "") {
					t.Errorf("entry not yet integrated = %+v, want pending without receipt", e)
				}
				if e.Status == "pending" {
					if e.Receipt != "" {
						t.Errorf("pending entry %s has a receipt", e.Detail)
					}
					continue
				}
				var rc audit.Receipt
				if err := rc.UnmarshalText([]byte(e.Receipt)); err != nil {
					t.Fatalf("entry %s: receipt: %v", e.Detail, err)
				}
				cp, err := audit.VerifyReceipt(rc, v)
				if err != nil || e.Status != "integrated" || e.LeafIndex == nil || *e.LeafIndex != rc.Index || rc.Entry.ID != e.ID {
					t.Errorf("entry %s: status %s, leaf %v, receipt of %d: %v", e.Detail, e.Status, e.LeafIndex, rc.Index, err)
				}
				if cp != nil && !strings.Contains(x.Checkpoint, strconv.FormatUint(cp.Size, 10)) {
					t.Errorf("receipt's checkpoint of size %d is not the export's %q", cp.Size, x.Checkpoint)
				}
				rc.Entry.ClientID = "client-evil"
				if _, err := audit.VerifyReceipt(rc, v); err == nil {
					t.Errorf("entry %s: a tampered receipt verifies", e.Detail)
				}
			}

			r = f.call(tok, http.MethodGet, "/audit/export.csv?agency="+f.agencyA+"&outcome=failure", nil).want(http.StatusOK)
			recs, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 3 || recs[0][0] != "leaf_index" || recs[1][1] != "integrated" || recs[1][0] == "" || !strings.HasSuffix(recs[1][14], "n1") || !strings.HasSuffix(recs[2][14], "n9") {
				t.Errorf("export.csv = %q", recs)
			}
			reads := f.readsOf(t, aud)
			if len(reads) != before+2 || reads[len(reads)-1].Detail != "export_audit" {
				t.Errorf("exports recorded: %+v", reads[before:])
			}
		})

		t.Run("citizen lookup", func(t *testing.T) {
			var out apiCitizenLookupResponse
			f.call(tok, http.MethodPost, "/audit/citizen-lookup", map[string]string{"pid": f.citizen.PID}).want(http.StatusOK).decode(&out)
			if out.Citizen != f.citizen.ID {
				t.Errorf("lookup = %q, want %q", out.Citizen, f.citizen.ID)
			}
			reads := f.readsOf(t, aud)
			if r := reads[len(reads)-1]; r.Detail != "lookup_citizen" || r.CitizenID != f.citizen.ID {
				t.Errorf("lookup entry = %+v", r)
			}
			if e := f.call(tok, http.MethodPost, "/audit/citizen-lookup", map[string]string{"pid": "1234567890123"}).want(http.StatusUnprocessableEntity).apiErr(); e.Fields["pid"] == "" {
				t.Errorf("bad ID number: %+v", e)
			}
			f.call(tok, http.MethodPost, "/audit/citizen-lookup", map[string]string{"pid": validPID("310170012345")}).want(http.StatusNotFound)
		})
	})
}

// TestAuditReaderSupervisor: a supervisor reads and exports their own
// agency's entries, refusals included, with the same filters; another
// agency's are refused, and the refusal recorded; the ID number lookup is
// for DOPA staff only.
func TestAuditReaderSupervisor(t *testing.T) {
	f := newAuditFixture(t, openSQLite(t))
	sup := f.account("supervisor", storage.RoleSupervisor, f.agencyA)
	tok := f.token(sup)
	var p apiAuditPage
	f.call(tok, http.MethodGet, "/audit", nil).want(http.StatusOK).decode(&p)
	if got, want := details(p.Entries), []string{"n10", "n9", "n7", "n6", "n4", "n3", "n1", "n0"}; !slices.Equal(got, want) {
		t.Errorf("supervisor's trail = %v, want agency A's %v", got, want)
	}
	f.call(tok, http.MethodGet, "/audit?outcome=failure&agency="+url.QueryEscape(f.agencyA), nil).want(http.StatusOK).decode(&p)
	if got := details(p.Entries); !slices.Equal(got, []string{"n9", "n1"}) {
		t.Errorf("supervisor's refusals = %v", got)
	}
	for _, path := range []string{"/audit?agency=" + f.agencyB, "/audit/export.json?agency=" + f.agencyB, "/audit/export.csv?agency=" + f.agencyB} {
		if e := f.call(tok, http.MethodGet, path, nil).want(http.StatusForbidden).apiErr(); e.Error != errForbidden {
			t.Errorf("GET %s: %+v", path, e)
		}
	}
	reads := f.readsOf(t, sup)
	if len(reads) != 5 || reads[4].Outcome != "failure" || reads[4].AgencyID != f.agencyB {
		t.Errorf("supervisor's reads recorded: %+v", reads)
	}
	var x apiAuditExport
	f.call(tok, http.MethodGet, "/audit/export.json", nil).want(http.StatusOK).decode(&x)
	v, _ := note.NewVerifier(f.logKey)
	n := 0
	for _, e := range x.Entries {
		if e.AgencyID != f.agencyA {
			t.Errorf("supervisor's export holds %+v", e)
		}
		if e.Receipt != "" && e.Type != storage.AuditAdmin {
			var rc audit.Receipt
			if err := rc.UnmarshalText([]byte(e.Receipt)); err != nil {
				t.Fatal(err)
			}
			if _, err := audit.VerifyReceipt(rc, v); err != nil {
				t.Errorf("supervisor's receipt: %v", err)
			}
			n++
		}
	}
	if n != 7 {
		t.Errorf("%d receipts in the supervisor's export, want 7 (n10 is pending)", n)
	}
	f.call(tok, http.MethodPost, "/audit/citizen-lookup", map[string]string{"pid": f.citizen.PID}).want(http.StatusForbidden)
}
