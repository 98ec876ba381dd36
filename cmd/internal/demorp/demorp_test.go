package demorp_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startDopaid builds cmd/dopaid and runs "serve --dev" on a free loopback
// port; it returns the issuer, read from the development banner.
func startDopaid(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs dopaid")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build dopaid with")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "dopaid")
	build := exec.Command(goTool, "build", "-o", bin, "github.com/dopaid/dopaid/cmd/dopaid")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build dopaid: %v\n%s", err, out)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", "--dev", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--log-level", "warn")
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir} // no DOPAID_* from the environment
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dopaid: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("dopaid stderr:\n%s", stderr.String())
		}
	})

	issuer := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "Issuer:"); ok {
				issuer <- strings.TrimSpace(v)
			}
		}
		close(issuer)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case iss, ok := <-issuer:
		if !ok {
			t.Fatalf("dopaid exited without printing its issuer; stderr:\n%s", stderr.String())
		}
		return iss
	case <-time.After(60 * time.Second):
		t.Fatalf("dopaid did not print its issuer; stderr:\n%s", stderr.String())
	}
	return ""
}

// TestDevServer runs the demo as "dopaid serve --dev" mounts it and
// follows a sign-in as far as the provider's login page.
func TestDevServer(t *testing.T) {
	issuer := startDopaid(t)
	demo := issuer + "/demo"
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{
		Jar:           jar,
		Timeout:       20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	get := func(t *testing.T, u string) (*http.Response, string) {
		t.Helper()
		resp, err := browser.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}

	t.Run("start page", func(t *testing.T) {
		resp, body := get(t, demo+"/")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %.300s", resp.StatusCode, body)
		}
		for _, id := range []string{"signin", "signin-pid", "signin-ial23", "signin-silent"} {
			if !strings.Contains(body, `id="`+id+`"`) {
				t.Errorf("start page has no #%s", id)
			}
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("Content-Security-Policy = %q, want no script and no framing", csp)
		}
		if strings.Contains(body, "<script") || strings.Contains(body, "https://") {
			t.Error("start page has a script or an external asset")
		}
	})

	tests := []struct {
		name, query string
		want        map[string]string // authorization request parameters
	}{
		{"sign in", "", map[string]string{"scope": "openid profile offline_access ial"}},
		{"ID number too", "?pid=1", map[string]string{"scope": "openid profile offline_access ial pid"}},
		{"IAL 2.3", "?ial=2.3", map[string]string{"acr_values": "urn:dopa:digital-id:ial:2.3", "prompt": ""}},
		{"silent", "?prompt=none", map[string]string{"prompt": "none", "acr_values": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, demo+"/login"+tt.query)
			loc, err := resp.Location()
			if resp.StatusCode != http.StatusFound || err != nil {
				t.Fatalf("login: status %d, want a redirect: %.300s", resp.StatusCode, body)
			}
			if got, want := loc.Scheme+"://"+loc.Host+loc.Path, issuer+"/authorize"; got != want {
				t.Fatalf("login redirected to %s, want %s", got, want)
			}
			q := loc.Query()
			want := map[string]string{
				"client_id":             "dopaid-demo",
				"response_type":         "code",
				"redirect_uri":          demo + "/callback",
				"code_challenge_method": "S256",
			}
			for k, v := range tt.want {
				want[k] = v
			}
			for k, v := range want {
				if got := q.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			for _, k := range []string{"code_challenge", "state", "nonce"} {
				if len(q.Get(k)) < 43 {
					t.Errorf("%s = %q, want 256 random bits", k, q.Get(k))
				}
			}

			// The provider accepts the request (redirect URI and scopes are
			// registered for the demo client) and sends the browser to sign in.
			resp, body = get(t, loc.String())
			next, err := resp.Location()
			if resp.StatusCode != http.StatusFound || err != nil {
				t.Fatalf("authorize: status %d: %.300s", resp.StatusCode, body)
			}
			if next.Host != loc.Host || next.Query().Get("error") != "" || strings.HasPrefix(next.Path, "/demo/") {
				t.Errorf("authorize redirected to %s, want the provider's login page", next.Redacted())
			}
		})
	}

	t.Run("provider error", func(t *testing.T) {
		resp, _ := get(t, demo+"/login?prompt=none")
		loc, _ := resp.Location()
		// What the provider answers a silent sign-in without a session.
		cb := demo + "/callback?" + url.Values{
			"error": {"login_required"}, "error_description": {"no session"},
			"state": {loc.Query().Get("state")}, "iss": {issuer},
		}.Encode()
		resp, body := get(t, cb)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="error"`) ||
			!strings.Contains(body, "login_required") || !strings.Contains(body, "no session") {
			t.Errorf("status %d, want the provider's error shown: %.600s", resp.StatusCode, body)
		}
	})

	t.Run("response from another issuer", func(t *testing.T) {
		resp, _ := get(t, demo+"/login")
		loc, _ := resp.Location()
		cb := demo + "/callback?" + url.Values{
			"code": {"x"}, "state": {loc.Query().Get("state")}, "iss": {"https://elsewhere.example"},
		}.Encode()
		resp, body := get(t, cb)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="error"`) {
			t.Errorf("status %d, want the response refused: %.600s", resp.StatusCode, body)
		}
	})

	t.Run("unknown option", func(t *testing.T) {
		if resp, _ := get(t, demo+"/login?ial=9.9"); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d, want 400", resp.StatusCode)
		}
	})
}
