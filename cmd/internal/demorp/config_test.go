package demorp_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dopaid/dopaid/cmd/internal/demorp"
)

func validConfig() demorp.Config {
	return demorp.Config{
		Issuer:       "http://127.0.0.1:8080",
		ClientID:     "dopaid-demo",
		ClientSecret: "s3cret",
		BaseURL:      "http://127.0.0.1:8080/demo",
		CookieKey:    make([]byte, 32),
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*demorp.Config)
		want []string // substrings of the error; none means valid
	}{
		{"valid", func(*demorp.Config) {}, nil},
		{"https", func(c *demorp.Config) { c.Issuer, c.BaseURL = "https://id.example", "https://app.example" }, nil},
		{"everything wrong", func(c *demorp.Config) { *c = demorp.Config{Scopes: []string{"profile"}} },
			[]string{"issuer", "client ID", "client secret", "base URL", "cookie key", "openid"}},
		{"issuer not http", func(c *demorp.Config) { c.Issuer = "ftp://id.example" }, []string{"issuer"}},
		{"base URL with query", func(c *demorp.Config) { c.BaseURL += "?x=1" }, []string{"base URL"}},
		{"short cookie key", func(c *demorp.Config) { c.CookieKey = make([]byte, 16) }, []string{"cookie key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.edit(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors about %v", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to mention %q", err, w)
				}
			}
		})
	}
}

// TestLazyUnreachable: while the provider cannot be reached the lazy
// handler answers 503 and tries again on every request.
func TestLazyUnreachable(t *testing.T) {
	c := validConfig()
	c.Issuer = "http://127.0.0.1:1" // nothing listens on port 1
	c.HTTPClient = &http.Client{Timeout: 2 * time.Second}
	h, err := demorp.NewLazy(c)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/demo/", nil))
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
			t.Errorf("status %d, Retry-After %q, want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"))
		}
	}
	if _, err := demorp.NewLazy(demorp.Config{}); err == nil {
		t.Error("NewLazy accepted an empty configuration")
	}
}
