package admin

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
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
