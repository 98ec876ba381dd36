package op

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// userinfoBody writes what zitadel's UserInfo.MarshalJSON writes for the
// same subject and claims, byte for byte: the claims dopaid releases
// (text, Thai text, numbers, booleans, nested objects like an address or
// verified_claims, lists) and characters JSON escapes.
func TestUserinfoBodyIsZitadels(t *testing.T) {
	type evidence struct {
		Type string `json:"type"`
		Time string `json:"time,omitempty"`
	}
	cases := []map[string]any{
		nil,
		{"ial": "2.3"},
		{
			"ial": "3", "given_name": "สมชาย", "family_name": "ใจดี <&>", "birthdate": "1990-01-31",
			"address":     map[string]any{"locality": "บางรัก", "postal_code": "10500", "country": "TH"},
			"age_over_20": true, "n": 1234567, "f": 0.5, "list": []string{"a", "b"},
			"verified_claims": map[string]any{
				"verification": map[string]any{"trust_framework": "th_dopa", "evidence": []evidence{{Type: "document", Time: "2026-12-07T09:00:00Z"}}},
				"claims":       map[string]any{"given_name": "สมชาย"},
			},
		},
		// A claim named like a field of the struct: the claim, as zitadel.
		{"name": "named", "email": "x@example.org"},
	}
	for i, claims := range cases {
		info := &oidc.UserInfo{Subject: "pairwise-subject-" + string(rune('a'+i))}
		for k, v := range claims {
			info.AppendClaims(k, v)
		}
		want, err := json.Marshal(info)
		if err != nil {
			t.Fatal(err)
		}
		got, err := userinfoBody(info.Subject, info.Claims)
		if err != nil {
			t.Fatal(err)
		}
		// As the response writer sends each: json.Encoder.Encode.
		var wb, gb bytes.Buffer
		if err := json.NewEncoder(&wb).Encode(info); err != nil {
			t.Fatal(err)
		}
		if err := json.NewEncoder(&gb).Encode(got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) || !bytes.Equal(gb.Bytes(), wb.Bytes()) {
			t.Errorf("case %d:\n got %s\nwant %s", i, gb.Bytes(), wb.Bytes())
		}
	}
}
