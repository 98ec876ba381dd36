package admin

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/release"
)

// TestAPIRenewal: a permit is renewed (clause 5) by two people — one
// records the request, another approver decides it — keeping its number,
// its systems' client IDs and the consents to purposes that do not widen;
// consents to a widened purpose are asked again.
func TestAPIRenewal(t *testing.T) {
	eachStore(t, func(t *testing.T, store storage.Store) {
		s := newServer(t, store, false)
		officer := s.token(s.account("olivia", storage.RoleOfficer, ""))
		approver := s.token(s.account("arthur", storage.RoleApprover, ""))
		chief := s.token(s.first)
		sys := apiSystem{Name: "Tax portal", RedirectURIs: []string{"https://tax.example.go.th/callback"},
			AuthMethod: storage.AuthMethodSecretBasic, NetworkRanges: []string{"203.0.113.0/24"}}
		_, pm := s.pendingPermit(officer, "Revenue Department", sys)
		s.call(approver, http.MethodPost, "/permits/"+pm.ID+"/decisions", apiDecisionRequest{Action: "approve", Grant: grantBody(s.clock.Now())}).want(http.StatusCreated)
		var reg apiSystemResponse
		s.call(approver, http.MethodPost, "/permits/"+pm.ID+"/systems", sys).want(http.StatusCreated).decode(&reg)
		before, _ := s.ps.Permit(context.Background(), pm.ID)
		consent := &storage.Consent{PermitID: pm.ID, PermitVersion: before.Version, Purpose: "tax_filing", Claims: []string{"given_name", "family_name"}}
		if !release.Covers(consent, before, []string{"given_name"}) {
			t.Fatal("the consent does not cover the permit it was given for")
		}

		// Nothing to renew yet; the request must extend the permit.
		s.call(chief, http.MethodPost, "/permits/"+pm.ID+"/decisions", apiDecisionRequest{Action: "renew"}).want(http.StatusConflict)
		short := grantBody(s.clock.Now())
		short.ValidUntil = before.ValidUntil.Add(-time.Hour).Format(time.RFC3339)
		if e := s.call(officer, http.MethodPost, "/permits/"+pm.ID+"/renewals", short).want(http.StatusUnprocessableEntity).apiErr(); e.Fields["grant.valid_until"] == "" {
			t.Errorf("a request that does not extend: %+v", e)
		}
		// The same purpose and claims, two more years, and the newsletter
		// the application asked for.
		g := grantBody(s.clock.Now())
		g.ValidUntil = before.ValidUntil.AddDate(2, 0, 0).Format(time.RFC3339)
		g.Purposes = append(g.Purposes, apiGrantedPurpose{Code: "newsletter", Claims: []string{"given_name"}})
		var req apiDecisionResponse
		s.call(officer, http.MethodPost, "/permits/"+pm.ID+"/renewals", g).want(http.StatusCreated).decode(&req)
		if req.Decision.Action != storage.DecisionRequestRenewal || req.Permit.Version != before.Version {
			t.Errorf("request answer %+v", req)
		}
		if p, _ := s.ps.Permit(context.Background(), pm.ID); !p.ValidUntil.Equal(before.ValidUntil) {
			t.Error("the request changed the permit before a decision")
		}
		// An officer may not decide; a grant of one's own is refused.
		s.call(officer, http.MethodPost, "/permits/"+pm.ID+"/decisions", apiDecisionRequest{Action: "renew"}).want(http.StatusForbidden)
		s.call(chief, http.MethodPost, "/permits/"+pm.ID+"/decisions", apiDecisionRequest{Action: "renew", Grant: g}).want(http.StatusUnprocessableEntity)

		var out apiDecisionResponse
		s.call(chief, http.MethodPost, "/permits/"+pm.ID+"/decisions", apiDecisionRequest{Action: "renew"}).want(http.StatusCreated).decode(&out)
		after, _ := s.ps.Permit(context.Background(), pm.ID)
		if after.Number != before.Number || after.State != storage.PermitApproved || !after.ValidUntil.Equal(before.ValidUntil.AddDate(2, 0, 0)) || after.Version <= before.Version {
			t.Errorf("renewed permit %+v", after)
		}
		c, err := store.Client(context.Background(), reg.Client.ClientID)
		if err != nil || c.PermitID != pm.ID || !slices.Equal(c.Scopes, release.ClientScopes(after)) {
			t.Errorf("the system after renewal: %+v, %v", c, err)
		}
		if !release.Covers(consent, after, []string{"given_name", "family_name"}) {
			t.Error("the consent to an unchanged purpose did not carry over the renewal")
		}
		if release.Covers(&storage.Consent{PermitID: pm.ID, PermitVersion: before.Version, Purpose: "newsletter", Claims: []string{"given_name"}}, after, []string{"given_name"}) {
			t.Error("a purpose new in the renewal is covered by a consent given before it")
		}
		// The request is decided: renewing again needs a new one.
		s.call(chief, http.MethodPost, "/permits/"+pm.ID+"/decisions", apiDecisionRequest{Action: "renew"}).want(http.StatusConflict)

		// A second renewal widens tax_filing (pid): its consents are asked
		// again; the maker of the request cannot decide it.
		wide := grantBody(s.clock.Now())
		wide.ValidUntil = after.ValidUntil.AddDate(1, 0, 0).Format(time.RFC3339)
		wide.Purposes = []apiGrantedPurpose{{Code: "tax_filing", Claims: []string{"given_name", "family_name", "pid"}}, {Code: "newsletter", Claims: []string{"given_name"}}}
		s.call(approver, http.MethodPost, "/permits/"+pm.ID+"/renewals", wide).want(http.StatusCreated)
		if e := s.call(approver, http.MethodPost, "/permits/"+pm.ID+"/decisions", apiDecisionRequest{Action: "renew"}).want(http.StatusForbidden).apiErr(); e.Error != errMakerChecker {
			t.Errorf("the maker renewed: %+v", e)
		}
		news := &storage.Consent{PermitID: pm.ID, PermitVersion: after.Version, Purpose: "newsletter", Claims: []string{"given_name"}}
		s.call(chief, http.MethodPost, "/permits/"+pm.ID+"/decisions", apiDecisionRequest{Action: "renew"}).want(http.StatusCreated)
		again, _ := s.ps.Permit(context.Background(), pm.ID)
		if release.Covers(consent, again, []string{"given_name"}) {
			t.Error("a consent to a purpose since widened still covers it")
		}
		if !release.Covers(news, again, []string{"given_name"}) {
			t.Error("the consent to the unchanged newsletter purpose did not carry over")
		}
		d := auditDetails(t, store, storage.AuditFilter{PermitID: pm.ID})
		for _, want := range []string{"request_renewal success", "renew success", "renew: maker_checker failure", "renew: state failure", "request_renewal: invalid failure"} {
			if !slices.Contains(d, want) {
				t.Errorf("trail %q lacks %q", d, want)
			}
		}
	})
}
