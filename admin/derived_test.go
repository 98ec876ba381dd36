package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dopaid/dopaid/storage"
)

// TestOpenAPIDerivedClaims checks that every claim list of the API
// documents exactly the claims a purpose may name: the raw and the fixed
// derived ones by name, age_over_N by a pattern that accepts what
// storage.AgeOver does.
func TestOpenAPIDerivedClaims(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Items *struct {
						Type  string `json:"type"`
						AnyOf []struct {
							Enum    []string `json:"enum"`
							Pattern string   `json:"pattern"`
						} `json:"anyOf"`
					} `json:"items"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	found := 0
	for name, s := range doc.Components.Schemas {
		it := s.Properties["claims"].Items
		if it == nil || len(it.AnyOf) == 0 {
			continue
		}
		found++
		if len(it.AnyOf) != 2 {
			t.Fatalf("%s.claims: anyOf has %d members, want an enum and a pattern", name, len(it.AnyOf))
		}
		if got, want := it.AnyOf[0].Enum, storage.GrantableClaims; !slices.Equal(got, want) {
			t.Errorf("%s.claims enum = %v, want %v", name, got, want)
		}
		re := regexp.MustCompile(it.AnyOf[1].Pattern)
		for n := -1; n <= 1000; n++ {
			for _, c := range []string{"age_over_" + strconv.Itoa(n), "age_over_0" + strconv.Itoa(n)} {
				_, want := storage.AgeOver(c)
				if got := re.MatchString(c); got != want {
					t.Errorf("%s.claims pattern matches %q = %v, want %v", name, c, got, want)
				}
			}
		}
	}
	if found < 2 {
		t.Errorf("%d claim lists document derived claims, want the application's and the grant's", found)
	}
}

// cell returns the text of the table cell with that id on the page.
func cell(t *testing.T, body, id string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)id="` + regexp.QuoteMeta(id) + `">(.*?)</td>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no cell %s on the page", id)
	}
	return m[1]
}

// TestDerivedClaimsPermit: an agency asks, over the API and on the
// console's form, for derived claims per purpose; an approver grants them
// (an unknown one is refused by name); the permit page shows which
// purposes receive raw data and which derived claims only, with the
// application's justification.
func TestDerivedClaimsPermit(t *testing.T) {
	s := newServer(t, openSQLite(t), false)
	officer := s.account("olivia", storage.RoleOfficer, "")
	approver := s.account("arthur", storage.RoleApprover, "")
	var ag apiAgency
	s.call(s.token(officer), http.MethodPost, "/agencies", agencyBody("Excise Department")).want(http.StatusCreated).decode(&ag)

	body := applicationBody(ag.ID)
	body.Purposes = []apiPurpose{
		{Code: "alcohol", DescriptionTH: "ขายสุรา", DescriptionEN: "Selling alcohol", Claims: []string{"age_over_20"}},
		{Code: "licence", DescriptionTH: "ใบอนุญาต", DescriptionEN: "Licence", Claims: []string{"given_name", "family_name", "province", "is_alive", "is_thai_national"}},
	}
	for _, bad := range []string{"age_over_0", "age_over_020", "age_over_x", "region"} {
		b := body
		b.Purposes = []apiPurpose{body.Purposes[0]}
		b.Purposes[0].Claims = []string{bad}
		e := s.call(s.token(officer), http.MethodPost, "/applications", b).want(http.StatusUnprocessableEntity).apiErr()
		if _, ok := e.Fields["purposes[0].claims"]; !ok {
			t.Errorf("claim %q: refused with %+v, want the field purposes[0].claims named", bad, e)
		}
	}
	var rec apiApplicationResponse
	s.call(s.token(officer), http.MethodPost, "/applications", body).want(http.StatusCreated).decode(&rec)

	g := grantBody(s.clock.Now())
	g.Purposes = []apiGrantedPurpose{
		{Code: "alcohol", Claims: []string{"age_over_20"}},
		{Code: "licence", Claims: []string{"province", "given_name", "is_alive"}},
	}
	var d apiDecisionResponse
	s.call(s.token(approver), http.MethodPost, "/permits/"+rec.Permit.ID+"/decisions",
		apiDecisionRequest{Action: "approve", Grant: g}).want(http.StatusCreated).decode(&d)
	var resp apiPermitResponse
	s.call(s.token(approver), http.MethodGet, "/permits/"+rec.Permit.ID, nil).want(http.StatusOK).decode(&resp)
	pm := resp.Permit
	if len(pm.Purposes) != 2 || !slices.Equal(pm.Purposes[0].Claims, []string{"age_over_20"}) ||
		!slices.Equal(pm.Purposes[1].Claims, []string{"given_name", "is_alive", "province"}) {
		t.Fatalf("granted purposes %+v, want age_over_20 alone and given_name, is_alive, province in order", pm.Purposes)
	}

	c := s.client()
	c.signIn(approver)
	p := c.get(Path + "/permits/" + rec.Permit.ID)
	if !p.has("permit-minimisation") {
		t.Fatalf("the permit page has no raw / derived section: %s", p.body)
	}
	en := messages["en"]
	if raw := cell(t, p.body, "minimisation-alcohol-raw"); !strings.Contains(raw, en["no_raw_data"]) || strings.Contains(raw, "birthdate") {
		t.Errorf("alcohol's raw data cell = %q, want none", raw)
	}
	if der := cell(t, p.body, "minimisation-alcohol-derived"); !strings.Contains(der, "age_over_20") ||
		!strings.Contains(der, template.HTMLEscapeString(fmt.Sprintf(en["claim_age_over"], 20))) {
		t.Errorf("alcohol's derived cell = %q, want age_over_20 in words", der)
	}
	if raw := cell(t, p.body, "minimisation-licence-raw"); !strings.Contains(raw, "given_name") || strings.Contains(raw, "province") || strings.Contains(raw, "is_alive") {
		t.Errorf("licence's raw data cell = %q, want given_name only", raw)
	}
	if der := cell(t, p.body, "minimisation-licence-derived"); !strings.Contains(der, "province") || !strings.Contains(der, "is_alive") || strings.Contains(der, "given_name") {
		t.Errorf("licence's derived cell = %q, want province and is_alive", der)
	}
	if why := cell(t, p.body, "minimisation-licence-why"); !strings.Contains(why, body.Necessity) || !strings.Contains(why, body.Reason) {
		t.Errorf("licence's justification = %q, want the application's necessity and reason", why)
	}

	// The console's form: the age field and the derived checkboxes.
	form := url.Values{
		"mission": {"m"}, "reason": {"r"}, "necessity": {"n"}, "purpose_count": {"1"},
		"purpose.0.code": {"venue"}, "purpose.0.description_th": {"สถานบันเทิง"}, "purpose.0.description_en": {"Venue"},
		"purpose.0.claims": {"is_thai_national"}, "purpose.0.age_over": {"18, 20"},
		"acceptance_name": {"Somchai"}, "acceptance_position": {"Director"}, "terms_version": {"2022"}, "accept_terms": {"yes"},
	}
	oc := s.client()
	oc.signIn(officer)
	if f := oc.get(Path + "/agencies/" + ag.ID + "/applications/new"); !f.has("purpose-0-age-over") || !f.has("purpose-0-claim-province") {
		t.Errorf("the application form offers no derived claims")
	}
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("purpose.0.age_over", "0")
	if r := oc.post(Path+"/agencies/"+ag.ID+"/applications", bad); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "age_over_0") {
		t.Errorf("age 0 on the form: %d, want 422 naming age_over_0", r.status)
	}
	r := oc.post(Path+"/agencies/"+ag.ID+"/applications", form)
	if r.status != http.StatusSeeOther {
		t.Fatalf("recording on the form: %d %s", r.status, r.body)
	}
	apps, err := s.ps.ApplicationsByAgency(context.Background(), ag.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range apps {
		if len(a.Purposes) == 1 && a.Purposes[0].Code == "venue" {
			got = a.Purposes[0].Claims
		}
	}
	if !slices.Equal(storage.SortClaims(got), []string{"age_over_18", "age_over_20", "is_thai_national"}) {
		t.Errorf("the form recorded claims %v, want age_over_18, age_over_20, is_thai_national", got)
	}
}
