package admin

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dopaid/dopaid/audit"
	"github.com/dopaid/dopaid/storage"
)

// usageFixture is a server whose trail holds a month of two agencies'
// usage, integrated into a signed log, and more that is not.
type usageFixture struct {
	*server
	agencyA, agencyB string
	permitA, permitB string
}

func newUsageFixture(t *testing.T, store storage.Store) *usageFixture {
	t.Helper()
	ctx := context.Background()
	s := newServer(t, store, false)
	tok := s.token(s.first)
	agA, pmA := s.pendingPermit(tok, "Agency A")
	agB, pmB := s.pendingPermit(tok, "Agency B")
	f := &usageFixture{server: s, agencyA: agA.ID, agencyB: agB.ID, permitA: pmA.ID, permitB: pmB.ID}
	// Agency A's system: proofing entries name it, not its permit.
	if err := store.CreateClient(ctx, storage.Client{ID: "client-a", Name: "A's portal", PermitID: pmA.ID,
		RedirectURIs: []string{"https://a.example.go.th/cb"}, AuthMethod: storage.AuthMethodNone, Scopes: []string{"openid"},
		CreatedAt: time.Now(), UpdatedAt: time.Now()}, nil); err != nil {
		t.Fatal(err)
	}
	dec := time.Date(2026, 12, 10, 9, 0, 0, 0, thaiTime)
	rel := func(at time.Time, typ, agency, permit, detail, outcome string, claims ...string) storage.AuditEntry {
		return storage.AuditEntry{At: at, Type: typ, Actor: "client:c", CitizenID: "cz-1", AgencyID: agency, PermitID: permit,
			ClientID: "c", Purpose: "tax_filing", Claims: claims, Outcome: outcome, Detail: detail}
	}
	es := []storage.AuditEntry{
		rel(dec, storage.AuditTokenIssued, f.agencyA, f.permitA, storage.DetailSignIn, "success", "sub", "ial"),
		rel(dec.Add(time.Hour), storage.AuditTokenIssued, f.agencyA, f.permitA, storage.DetailSignIn, "success", "sub", "ial"),
		rel(dec.Add(2*time.Hour), storage.AuditTokenIssued, f.agencyA, f.permitA, "", "success", "sub"), // a refresh
		rel(dec.Add(3*time.Hour), storage.AuditUserinfo, f.agencyA, f.permitA, "", "success", "given_name", "family_name"),
		rel(dec.Add(4*time.Hour), storage.AuditTokenIssued, f.agencyA, f.permitA, "client_secret_invalid", "failure"),
		{At: dec, Type: storage.AuditProofing, Actor: "citizen:cz-1", CitizenID: "cz-1", ClientID: "client-a", Outcome: "success", Detail: "face_match"},
		{At: dec, Type: storage.AuditProofing, Actor: "citizen:cz-2", CitizenID: "cz-2", ClientID: "client-a", Outcome: "failure", Detail: "registry_mismatch"},
		{At: dec, Type: storage.AuditProofing, Actor: "citizen:cz-3", CitizenID: "cz-3", Outcome: "success", Detail: "face_match"}, // no system
		rel(dec.Add(5*time.Hour), storage.AuditUserinfo, f.agencyB, f.permitB, "", "success", "given_name"),
		// November (Thailand's time: 30 Nov 23:30 is November).
		rel(time.Date(2026, 11, 30, 23, 30, 0, 0, thaiTime), storage.AuditTokenIssued, f.agencyA, f.permitA, storage.DetailSignIn, "success", "sub"),
	}
	for _, e := range es {
		if _, err := store.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	skey, vkey, err := audit.GenerateKey("id.example.go.th/audit")
	if err != nil {
		t.Fatal(err)
	}
	key, err := audit.NewKey(skey, vkey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.NewIntegrator(store, key, audit.IntegratorConfig{}).Integrate(ctx); err != nil {
		t.Fatal(err)
	}
	// Written, not yet integrated: not counted until it is.
	if _, err := store.AppendAudit(ctx, rel(dec.Add(6*time.Hour), storage.AuditTokenIssued, f.agencyA, f.permitA, storage.DetailSignIn, "success", "sub")); err != nil {
		t.Fatal(err)
	}
	return f
}

// usageReads returns the usage reads and exports recorded for account a.
func (f *usageFixture) usageReads(t *testing.T, a account) []storage.AuditEntry {
	t.Helper()
	es, err := f.store.AuditEntries(context.Background(), storage.AuditFilter{Types: []string{storage.AuditAdmin}})
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(es, func(e storage.AuditEntry) bool {
		action, _, _ := strings.Cut(e.Detail, ":")
		return e.Actor != "admin:"+a.ID || (action != "read_usage" && action != "export_usage")
	})
}

func rowOf(u apiUsage, agency string) (apiUsageRow, bool) {
	for _, r := range u.Rows {
		if r.AgencyID == agency {
			return r, true
		}
	}
	return apiUsageRow{}, false
}

// TestUsageStatementsAPI: DOPA staff read a month's usage per agency and
// permit (sign-ins, releases by claim, proofing checks), counted from the
// integrated log only, and export it as JSON and CSV; an agency's
// supervisor reads only their own; bad input is refused and reads nothing;
// every read is recorded.
func TestUsageStatementsAPI(t *testing.T) {
	eachStore(t, func(t *testing.T, store storage.Store) {
		f := newUsageFixture(t, store)
		tok := f.token(f.first)

		var u apiUsage
		f.call(tok, http.MethodGet, "/usage?month=2026-12", nil).want(http.StatusOK).decode(&u)
		if u.Month != "2026-12" || u.LogSize < 10 || u.Checkpoint == "" || len(u.Rows) != 2 {
			t.Fatalf("December's statement = %+v", u)
		}
		a, _ := rowOf(u, f.agencyA)
		want := apiUsageRow{AgencyID: f.agencyA, PermitID: f.permitA, SignIns: 2, Releases: 4,
			ReleasesByClaim: map[string]int64{"sub": 3, "ial": 2, "given_name": 1, "family_name": 1}, ProofingChecks: 2, ProofingFailures: 1}
		if got, _ := json.Marshal(a); string(got) != string(must(json.Marshal(want))) {
			t.Errorf("agency A in December = %s, want %s", got, must(json.Marshal(want)))
		}
		if b, _ := rowOf(u, f.agencyB); b.Releases != 1 || b.ReleasesByClaim["given_name"] != 1 || b.SignIns != 0 || b.PermitID != f.permitB {
			t.Errorf("agency B in December = %+v", b)
		}
		if u.Totals.SignIns != 2 || u.Totals.Releases != 5 || u.Totals.ProofingChecks != 2 {
			t.Errorf("totals = %+v", u.Totals)
		}

		f.call(tok, http.MethodGet, "/usage?month=2026-11&agency="+url.QueryEscape(f.agencyA), nil).want(http.StatusOK).decode(&u)
		if len(u.Rows) != 1 || u.Rows[0].SignIns != 1 || u.Rows[0].AgencyID != f.agencyA {
			t.Errorf("agency A in November = %+v", u.Rows)
		}
		f.call(tok, http.MethodGet, "/usage?month=2026-12&agency="+url.QueryEscape(f.agencyB), nil).want(http.StatusOK).decode(&u)
		if len(u.Rows) != 1 || u.Rows[0].AgencyID != f.agencyB {
			t.Errorf("agency B's statement = %+v", u.Rows)
		}

		r := f.call(tok, http.MethodGet, "/usage/export.csv?month=2026-12&agency="+url.QueryEscape(f.agencyA), nil).want(http.StatusOK)
		if cd := r.header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, "2026-12") {
			t.Errorf("CSV Content-Disposition = %q", cd)
		}
		lines, err := csv.NewReader(strings.NewReader(string(r.body))).ReadAll()
		if err != nil {
			t.Fatalf("CSV: %v\n%s", err, r.body)
		}
		found := map[string]string{}
		for _, l := range lines[1:] {
			if l[0] != "2026-12" || l[2] != csvCell(f.agencyA) || l[3] != csvCell(f.permitA) { // an ID may begin with "-"
				t.Errorf("CSV line %v", l)
			}
			found[l[4]+"/"+l[5]] = l[6]
		}
		for k, v := range map[string]string{"sign_ins/": "2", "releases/": "4", "releases_of_claim/sub": "3", "releases_of_claim/ial": "2",
			"proofing_checks/": "2", "proofing_failures/": "1"} {
			if found[k] != v {
				t.Errorf("CSV %s = %q, want %s (lines %v)", k, found[k], v, lines)
			}
		}
		var x apiUsage
		r = f.call(tok, http.MethodGet, "/usage/export.json?month=2026-12", nil).want(http.StatusOK)
		r.decode(&x)
		if len(x.Rows) != 2 || x.Totals.SignIns != 2 || !strings.HasPrefix(r.header.Get("Content-Disposition"), "attachment;") {
			t.Errorf("JSON export = %+v", x)
		}

		for _, q := range []string{"month=2026-13", "month=December", "month=2026-12&month=2026-11", "since=2026-12-01", "agency=a%20b"} {
			if e := f.call(tok, http.MethodGet, "/usage?"+q, nil).want(http.StatusBadRequest).apiErr(); len(e.Fields) == 0 {
				t.Errorf("GET /usage?%s: %+v, want the field named", q, e)
			}
		}
		// Reads: December, November, B, both exports; the refusals read
		// nothing and are not reads of a statement.
		if reads := f.usageReads(t, f.first); len(reads) != 5 || !strings.HasPrefix(reads[3].Detail, "export_usage") {
			t.Errorf("reads recorded: %+v", reads)
		}

		sup := f.account("supervisor", storage.RoleSupervisor, f.agencyA)
		stok := f.token(sup)
		f.call(stok, http.MethodGet, "/usage?month=2026-12", nil).want(http.StatusOK).decode(&u)
		if len(u.Rows) != 1 || u.Rows[0].AgencyID != f.agencyA || u.Rows[0].SignIns != 2 {
			t.Errorf("the supervisor's statement = %+v, want agency A's only", u.Rows)
		}
		for _, path := range []string{"/usage?month=2026-12&agency=" + f.agencyB, "/usage/export.csv?agency=" + f.agencyB} {
			if e := f.call(stok, http.MethodGet, path, nil).want(http.StatusForbidden).apiErr(); e.Error != errForbidden {
				t.Errorf("supervisor GET %s: %+v", path, e)
			}
		}
		reads := f.usageReads(t, sup)
		if len(reads) != 3 || reads[0].Outcome != "success" || reads[2].Outcome != "failure" || reads[2].AgencyID != f.agencyB {
			t.Errorf("the supervisor's reads recorded: %+v", reads)
		}
	})
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestUsageStatementInBrowser: an auditor opens the usage page from the
// console's menu, picks a month, and reads each agency's figures; the
// export link downloads the same statement.
func TestUsageStatementInBrowser(t *testing.T) {
	browser := newBrowser(t)
	f := newUsageFixture(t, openSQLite(t))
	aud := f.account("auditor", storage.RoleAuditor, "")
	b := newTab(t, browser)
	b.open(f.srv.URL + Path + "/")
	b.need("signin-form")
	b.signIn(f.server, aud)
	b.submit("nav-usage")
	b.need("usage-form")
	if err := chromedp.Do(b.ctx, chromedp.SetValue(chromedp.ID("usage-month"), "2026-12")); err != nil {
		t.Fatal(err)
	}
	b.submit("usage-show")
	b.need("usage-rows")
	rows, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]map[string]string](`[...document.querySelectorAll("#usage-rows tbody tr")].map(r => ({
		agency: r.dataset.agency, signins: r.querySelector(".sign-ins").textContent,
		releases: r.querySelector(".releases").textContent, claims: r.querySelector(".claims").textContent,
		proofing: r.querySelector(".proofing").textContent}))`))
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]string{
		{"agency": f.agencyA, "signins": "2", "releases": "4", "claims": "family_name 1, given_name 1, ial 2, sub 3", "proofing": "2"},
		{"agency": f.agencyB, "signins": "0", "releases": "1", "claims": "given_name 1", "proofing": "0"},
	}
	if f.agencyB < f.agencyA {
		want[0], want[1] = want[1], want[0]
	}
	if got, _ := json.Marshal(rows); string(got) != string(must(json.Marshal(want))) {
		t.Errorf("the page shows %s, want %s", got, must(json.Marshal(want)))
	}
	href := b.eval(`document.getElementById("usage-export-csv").href`)
	resp, body := b.fetchWithCookies(href)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "releases_of_claim,sub,3") {
		t.Errorf("CSV export link %s: %d\n%s", href, resp.StatusCode, body)
	}
}
