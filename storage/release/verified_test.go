package release_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/release"
)

func TestRequestedWithVerifiedClaims(t *testing.T) {
	pm := permit()
	req := []byte(`{"userinfo":{"verified_claims":[
		{"verification":{"trust_framework":null},"claims":{"birthdate":null,"pid":{"essential":true}}},
		{"verification":{},"claims":{"ial":null,"given_name":{"purpose":"To greet you"}}}]}}`)
	tests := []struct {
		name    string
		purpose string
		scopes  []string
		claims  []byte
		want    []string
	}{
		{"scopes alone", "licence", []string{"openid", "family_name"}, nil, []string{"family_name"}},
		{"verified claims widen what is asked within the grant", "licence", []string{"openid", "family_name"}, req,
			[]string{"given_name", "family_name", "birthdate"}},
		{"never beyond the purpose (pid, ial not verifiable)", "survey", []string{"openid"}, req, []string{"given_name"}},
		{"unknown purpose", "loans", []string{"openid"}, req, nil},
		{"malformed asks nothing more", "licence", []string{"openid"}, []byte(`{"userinfo":`), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := release.Requested(pm, tt.purpose, tt.scopes, tt.claims); !slices.Equal(got, tt.want) {
				t.Errorf("Requested = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestVerifiedClaims(t *testing.T) {
	pm := permit()
	r, err := release.ParseClaimsRequest([]byte(`{"id_token":{"verified_claims":{"verification":{"trust_framework":null},
		"claims":{"given_name":null,"birthdate":null,"pid":{"essential":true},"ial":null}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	v := r.Verified("id_token")[0]
	con := &storage.Consent{PermitID: pm.ID, Purpose: "licence", Claims: []string{"given_name", "family_name", "ial"}}
	if got, want := release.VerifiedClaims(pm, "licence", v, con), []string{"given_name"}; !slices.Equal(got, want) {
		t.Errorf("VerifiedClaims = %q, want %q (asked ∩ granted ∩ consented)", got, want)
	}
	if got := release.VerifiedClaims(pm, "licence", v, nil); got != nil {
		t.Errorf("VerifiedClaims without consent = %q, want none", got)
	}
	other := *con
	other.Purpose = "survey"
	if got := release.VerifiedClaims(pm, "licence", v, &other); got != nil {
		t.Errorf("VerifiedClaims with another purpose's consent = %q, want none", got)
	}
	if len(r.Verified("userinfo")) != 0 {
		t.Error("userinfo asked for verified claims it did not")
	}
}

func TestVerifiedRequestAccepts(t *testing.T) {
	for _, tt := range []struct {
		verification string
		want         bool
	}{
		{`{}`, true},
		{`{"trust_framework":null}`, true},
		{`{"trust_framework":{"value":"th_dopa"}}`, true},
		{`{"trust_framework":{"values":["eidas","th_dopa"]}}`, true},
		{`{"trust_framework":{"value":"eidas"}}`, false},
		{`{"assurance_level":{"value":"2.3"}}`, true},
		{`{"assurance_level":{"values":["3"]}}`, false},
	} {
		r, err := release.ParseClaimsRequest([]byte(`{"userinfo":{"verified_claims":{"verification":` + tt.verification + `,"claims":{"given_name":null}}}}`))
		if err != nil {
			t.Fatalf("%s: %v", tt.verification, err)
		}
		if got := r.Verified("userinfo")[0].Accepts(release.TrustFramework, "2.3"); got != tt.want {
			t.Errorf("Accepts(%s) = %v, want %v", tt.verification, got, tt.want)
		}
	}
}

func TestParseClaimsRequestPurposes(t *testing.T) {
	r, err := release.ParseClaimsRequest([]byte(`{"id_token":{"family_name":{"purpose":"For your letters"}},
		"userinfo":{"verified_claims":{"verification":{},"claims":{"given_name":{"purpose":"ชื่อของท่าน"}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	got := r.Purposes()
	if got["family_name"] != "For your letters" || got["given_name"] != "ชื่อของท่าน" || len(got) != 2 {
		t.Errorf("Purposes = %v", got)
	}
	// 3 to 300 characters, counted as characters: three Thai letters are
	// nine bytes, and fine.
	for _, p := range []string{"ab", strings.Repeat("x", 301)} {
		_, err := release.ParseClaimsRequest([]byte(`{"userinfo":{"given_name":{"purpose":"` + p + `"}}}`))
		if !errors.Is(err, release.ErrClaimsRequest) {
			t.Errorf("purpose of %d characters: %v, want ErrClaimsRequest", len(p), err)
		}
	}
	if _, err := release.ParseClaimsRequest([]byte(`{"userinfo":{"given_name":{"purpose":"ชื่อ"}}}`)); err != nil {
		t.Errorf("a purpose of four Thai characters: %v", err)
	}
}

// FuzzParseClaimsRequest: any input either parses or is ErrClaimsRequest,
// and what parses asks only for verifiable claims the permit grants.
func FuzzParseClaimsRequest(f *testing.F) {
	for _, s := range []string{``, `{}`, `null`, `[]`, `{"userinfo":null}`,
		`{"userinfo":{"verified_claims":{"verification":{"trust_framework":null},"claims":{"given_name":null}}}}`,
		`{"id_token":{"verified_claims":[{"verification":{},"claims":{"pid":{"essential":true,"purpose":"abc"}}}]}}`,
		`{"userinfo":{"given_name":{"essential":true,"values":["a"]}}}`} {
		f.Add([]byte(s))
	}
	pm := permit()
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := release.ParseClaimsRequest(raw)
		if err != nil {
			if !errors.Is(err, release.ErrClaimsRequest) {
				t.Fatalf("error %v does not wrap ErrClaimsRequest", err)
			}
			return
		}
		for _, p := range r.Purposes() {
			if n := len([]rune(p)); n < 3 || n > 300 {
				t.Fatalf("purpose of %d characters accepted", n)
			}
		}
		pu, _ := pm.Purpose("licence")
		for _, c := range release.VerifiedAsked(pm, "licence", raw) {
			if !slices.Contains(pu.Claims, c) || !slices.Contains(release.VerifiableClaims, c) {
				t.Fatalf("VerifiedAsked gave %s, which is not granted or not verifiable", c)
			}
		}
	})
}
