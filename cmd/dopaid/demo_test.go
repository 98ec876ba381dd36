package main

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/dopaid/dopaid/op"
)

// TestDemoRoundTrip drives the demo relying party that --dev mounts at
// /demo through a whole sign-in (completed by the test-only path), the
// claims page and RP-initiated sign-out.
func TestDemoRoundTrip(t *testing.T) {
	ts := boot(t, "", func(m *Main) { m.Config.Dev = true })
	b := newBrowser(t)
	demo := ts.URL + demoPath

	// signIn starts at the demo's login with query and returns the page the
	// browser lands on after the callback.
	var nonce string // of the last sign-in
	signIn := func(t *testing.T, query string) (*http.Response, string) {
		t.Helper()
		authorize := b.redirect(demo + "/login" + query)
		nonce = authorize.Query().Get("nonce")
		id := b.toLogin(ts, authorize.String())
		back := b.signIn(ts, id, "citizen-1")
		if got, want := back.Scheme+"://"+back.Host+back.Path, demo+"/callback"; got != want {
			t.Fatalf("provider redirected to %s, want %s", got, want)
		}
		resp := b.get(back.String())
		if resp.StatusCode == http.StatusSeeOther {
			loc, _ := resp.Location()
			resp = b.get(loc.String())
		}
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}

	t.Run("claims and userinfo", func(t *testing.T) {
		resp, body := signIn(t, "")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="signout"`) {
			t.Fatalf("after sign-in: status %d, body %.600s", resp.StatusCode, body)
		}
		claims := preJSON(t, body, "claims")
		if claims["iss"] != ts.URL || claims["aud"] == nil || claims["sub"] == nil || claims["nonce"] != nonce || nonce == "" {
			t.Errorf("ID token claims = %v, want iss, aud, sub and the nonce %q", claims, nonce)
		}
		info := preJSON(t, body, "userinfo")
		if info["sub"] != claims["sub"] {
			t.Errorf("userinfo sub = %v, want the ID token's %v", info["sub"], claims["sub"])
		}
		for _, raw := range []string{"eyJ", "access_token", "refresh_token"} {
			if strings.Contains(body, raw) {
				t.Errorf("the page shows a raw token (%q)", raw)
			}
		}

		csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
		if csrf == nil {
			t.Fatal("no sign-out form token")
		}
		resp, err := b.c.PostForm(demo+"/logout", url.Values{"csrf": {csrf[1]}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// The browser itself goes to the provider's end_session, so that
		// the provider's sign-on session in this browser ends too.
		end, err := resp.Location()
		if err != nil || end.Scheme+"://"+end.Host+end.Path != ts.URL+op.PathEndSession ||
			end.Query().Get("id_token_hint") == "" || end.Query().Get("post_logout_redirect_uri") != demo+"/" || end.Query().Get("state") == "" {
			t.Fatalf("sign-out: status %d, redirected to %v, want the provider's end_session with id_token_hint, post_logout_redirect_uri and state", resp.StatusCode, end)
		}
		loc := b.redirect(end.String())
		if loc.Scheme+"://"+loc.Host+loc.Path != demo+"/" || loc.Query().Get("state") != end.Query().Get("state") {
			t.Fatalf("end_session redirected to %v, want %s/ with the state", loc, demo)
		}
		page, _ := io.ReadAll(b.get(loc.String()).Body)
		if !strings.Contains(string(page), `id="signed-out"`) || strings.Contains(string(page), `id="claims"`) {
			t.Errorf("after sign-out the page does not say so: %.600s", page)
		}
	})

	t.Run("sign-out needs the form token", func(t *testing.T) {
		signIn(t, "")
		resp, err := b.c.PostForm(demo+"/logout", url.Values{"csrf": {"forged"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("sign-out with a forged token: status %d, want 403", resp.StatusCode)
		}
	})

	t.Run("a lower level than required is refused", func(t *testing.T) {
		// The test-only sign-in carries an acr that is not IAL 2.3.
		resp, body := signIn(t, "?ial=2.3")
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `id="error"`) || !strings.Contains(body, "(acr)") || strings.Contains(body, `id="claims"`) {
			t.Errorf("sign-in below IAL 2.3: status %d, body %.600s", resp.StatusCode, body)
		}
	})
}

// preJSON decodes the JSON in the page's <pre id=id>.
func preJSON(t *testing.T, body, id string) map[string]any {
	t.Helper()
	m := regexp.MustCompile(`(?s)<pre id="` + id + `">(.*?)</pre>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no #%s in the page", id)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &v); err != nil {
		t.Fatalf("#%s is not JSON: %v", id, err)
	}
	return v
}
