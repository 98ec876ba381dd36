package login

import (
	"strings"
	"testing"
)

func TestFormOrigin(t *testing.T) {
	for _, tc := range []struct {
		redirectURI, want string
	}{
		{"https://app.example.go.th/callback", "https://app.example.go.th"},
		{"https://App.Example.go.th:8443/cb?x=1", "https://app.example.go.th:8443"},
		{"http://127.0.0.1:9090/callback", "http://127.0.0.1:9090"},
		{"th.go.example.app:/oauth2redirect", "th.go.example.app:"},
		{"http://[::1]:9090/callback", ""}, // no CSP host source names an IPv6 literal
		{"https:/callback", ""},
		{"https://a.example; script-src *", ""},
		{"", ""},
		{"%zz", ""},
	} {
		if got := formOrigin(tc.redirectURI); got != tc.want {
			t.Errorf("formOrigin(%q) = %q, want %q", tc.redirectURI, got, tc.want)
		}
	}
}

func TestCSPFormAction(t *testing.T) {
	if got := csp(""); !strings.Contains(got, "form-action 'self';") {
		t.Errorf("csp(\"\") = %q, want form-action 'self' alone", got)
	}
	if got := csp("https://app.example.go.th"); !strings.Contains(got, "form-action 'self' https://app.example.go.th;") {
		t.Errorf("csp with a return origin = %q, want it in form-action", got)
	}
}
