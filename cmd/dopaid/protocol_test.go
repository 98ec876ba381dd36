package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/dopaid/dopaid/login"
	"github.com/dopaid/dopaid/op"
	"github.com/dopaid/dopaid/storage"
)

// discovery fetches the provider's discovery document.
func discovery(t *testing.T, ts *testServer) map[string]any {
	t.Helper()
	r := get(t, ts.URL+op.PathDiscovery, nil)
	if r.status != http.StatusOK {
		t.Fatalf("discovery: status %d", r.status)
	}
	var doc map[string]any
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func stringList(t *testing.T, doc map[string]any, key string) []string {
	t.Helper()
	raw, ok := doc[key].([]any)
	if !ok {
		t.Fatalf("discovery has no list %s", key)
	}
	out := make([]string, len(raw))
	for i, v := range raw {
		out[i], _ = v.(string)
	}
	return out
}

// TestDiscoveryAdvertisesOnlyWhatWorks: an RP library that believes the
// discovery document must not be refused for it. Every advertised prompt
// value starts a sign-in (prompt=none answers login_required without a
// session, as it should); a value not advertised is answered as OIDC Core
// says; no client authentication method is advertised that no system can
// be registered with (public clients, "none", cannot).
func TestDiscoveryAdvertisesOnlyWhatWorks(t *testing.T) {
	ts := boot(t, "")
	doc := discovery(t, ts)
	c := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic})

	for _, key := range []string{"token_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported", "introspection_endpoint_auth_methods_supported"} {
		if got := stringList(t, doc, key); slices.Contains(got, "none") {
			t.Errorf("%s = %q advertises none, but public clients cannot be registered", key, got)
		}
	}
	prompts := stringList(t, doc, "prompt_values_supported")
	for _, p := range prompts {
		t.Run("prompt="+p, func(t *testing.T) {
			u, _ := c.authorizeURL(t, ts, func(q url.Values) { q.Set("prompt", p) })
			r := get(t, u, nil)
			loc, _ := url.Parse(r.header.Get("Location"))
			if r.status != http.StatusFound || loc == nil || !strings.HasPrefix(loc.String(), ts.URL+login.Path) {
				t.Errorf("advertised prompt=%s refused: status %d, Location %v", p, r.status, loc)
			}
		})
	}
	if !slices.Contains(prompts, "select_account") {
		// OIDC Core §3.1.2.1: a provider that cannot have the citizen
		// choose an account answers account_selection_required.
		u, _ := c.authorizeURL(t, ts, func(q url.Values) { q.Set("prompt", "select_account") })
		get(t, u, nil).wantRedirectError(t, ts, c.Redirect, "st-1", "account_selection_required")
	}
}
