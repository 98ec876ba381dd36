package admin

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/dopaid/dopaid/storage"
)

// auditDetails reads the detail column of the audit page's rows, without
// the reads of the trail ("n3", …).
func (b *tab) auditDetails() []string {
	b.t.Helper()
	if !b.has("audit-entries") {
		return nil
	}
	type row struct {
		Type   string `json:"type"`
		Detail string `json:"detail"`
	}
	rows, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]row](`Array.from(document.querySelectorAll("#audit-entries tbody tr"),
		tr => ({type: tr.cells[2].innerText, detail: tr.cells[11].innerText}))`))
	if err != nil {
		b.t.Fatalf("read the audit rows: %v", err)
	}
	var out []string
	for _, r := range rows {
		d := r.Detail
		if i := strings.LastIndex(d, " "); i >= 0 {
			d = d[i+1:]
		}
		if strings.HasPrefix(d, "n") {
			out = append(out, d)
		}
	}
	return out
}

// fetchWithCookies GETs u with the tab's cookies, as a click on a download
// link would.
func (b *tab) fetchWithCookies(u string) (*http.Response, []byte) {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{u}})
	if err != nil {
		b.t.Fatalf("read cookies: %v", err)
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	for _, c := range res.Cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		b.t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp, body
}

// TestAuditTrailInBrowser: an auditor filters the trail with the
// console's form, pages through it with links that keep the filter, and
// follows the export link to the same entries with their receipts; a bad
// filter shows what is wrong and lists nothing.
func TestAuditTrailInBrowser(t *testing.T) {
	browser := newBrowser(t)
	f := newAuditFixture(t, openSQLite(t))
	aud := f.account("auditor", storage.RoleAuditor, "")
	b := newTab(t, browser)
	b.open(f.srv.URL + Path + "/")
	b.need("signin-form")
	b.signIn(f.server, aud)
	b.submit("nav-audit")
	b.need("audit-form")
	if got := b.auditDetails(); len(got) != 12 {
		t.Errorf("unfiltered trail shows %v, want all 12 entries", got)
	}

	b.fill("audit-agency", f.agencyA)
	b.choose("audit-type", storage.AuditUserinfo)
	if err := chromedp.Do(b.ctx, chromedp.SetValue(chromedp.ID("audit-limit"), "4")); err != nil {
		t.Fatal(err)
	}
	b.submit("audit-filter")
	if got, want := b.auditDetails(), []string{"n10", "n7", "n6", "n4"}; !slices.Equal(got, want) {
		t.Fatalf("first page = %v, want %v (%s)", got, want, b.where())
	}
	if b.has("audit-prev") {
		t.Error("the first page links to newer entries")
	}
	if b.value("audit-agency") != f.agencyA || b.value("audit-type") != storage.AuditUserinfo {
		t.Errorf("the form forgot the filter: agency %q, type %q", b.value("audit-agency"), b.value("audit-type"))
	}
	b.submit("audit-next")
	q, err := url.ParseQuery(strings.SplitN(b.location(), "?", 2)[1])
	if err != nil || q.Get("agency") != f.agencyA || q.Get("type") != storage.AuditUserinfo || q.Get("limit") != "4" || q.Get("cursor") == "" {
		t.Errorf("next page %s does not keep the filter", b.location())
	}
	if got, want := b.auditDetails(), []string{"n3", "n0"}; !slices.Equal(got, want) {
		t.Fatalf("second page = %v, want %v", got, want)
	}
	if b.has("audit-next") {
		t.Error("the last page links to older entries")
	}
	b.submit("audit-prev")
	if got, want := b.auditDetails(), []string{"n10", "n7", "n6", "n4"}; !slices.Equal(got, want) {
		t.Errorf("back to the first page = %v, want %v", got, want)
	}

	href := b.eval(`document.getElementById("audit-export-json").href`)
	resp, body := b.fetchWithCookies(href)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;") {
		t.Fatalf("export link %s: %d %s", href, resp.StatusCode, body)
	}
	var x apiAuditExport
	if err := json.Unmarshal(body, &x); err != nil {
		t.Fatalf("export: %v\n%s", err, body)
	}
	if got, want := details(x.Entries), []string{"n0", "n3", "n4", "n6", "n7", "n10"}; !slices.Equal(got, want) {
		t.Errorf("export = %v, want the filtered range %v", got, want)
	}
	for _, e := range x.Entries {
		if (e.Status == "integrated") != (e.Receipt != "") {
			t.Errorf("export entry %s: status %s, receipt %q", e.Detail, e.Status, e.Receipt)
		}
	}
	if csvHref := b.eval(`document.getElementById("audit-export-csv").href`); !strings.Contains(csvHref, "type=userinfo") {
		t.Errorf("CSV export link %s does not keep the filter", csvHref)
	}

	// An ID number from a complaint: DOPA staff look up the pseudonym
	// (posted, never in a URL) and read that citizen's entries.
	b.fill("lookup-pid", f.citizen.PID)
	b.submit("lookup-submit")
	if strings.Contains(b.location(), f.citizen.PID) || b.value("audit-citizen") != f.citizen.ID {
		t.Errorf("after the lookup: %s, citizen field %q; want the pseudonym %q", b.location(), b.value("audit-citizen"), f.citizen.ID)
	}
	if got, want := b.auditDetails(), []string{"n11", "n10", "n6", "n2"}; !slices.Equal(got, want) {
		t.Errorf("the citizen's entries = %v, want %v", got, want)
	}

	// An ID number typed into the filter is refused, not shown back.
	b.open(f.srv.URL + Path + "/audit?citizen=" + f.citizen.PID)
	if !b.has("error") || b.has("audit-entries") || b.value("audit-citizen") != "" || strings.Contains(b.text("main"), f.citizen.PID) {
		t.Errorf("an ID number as filter: %s", b.where())
	}

	b.open(f.srv.URL + Path + "/audit")
	b.fill("audit-since", "yesterday")
	b.submit("audit-filter")
	if !b.has("error") || !strings.Contains(b.text("field-errors"), messages["th"]["audit_since"]) || b.has("audit-entries") {
		t.Errorf("a bad time shows no error, or entries (%s)", b.where())
	}
}
