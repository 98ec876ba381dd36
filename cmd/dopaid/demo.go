package main

import (
	"crypto/rand"
	"net/http"
	"time"

	"github.com/dopaid/dopaid/cmd/internal/demorp"
)

// demoPath is where --dev serves the demo relying party.
const demoPath = "/demo"

// demoHandler is the demo relying party that --dev mounts at demoPath, the
// demo client signing in to this very server. It is built on its first
// request, since it fetches discovery from the server it is mounted on.
func (m *Main) demoHandler() (http.Handler, error) {
	key := make([]byte, 32)
	rand.Read(key)
	return demorp.NewLazy(demorp.Config{
		Issuer:       m.URL,
		ClientID:     demoClientID,
		ClientSecret: m.devSecret(),
		BaseURL:      m.URL + demoPath,
		HTTPClient:   &http.Client{Timeout: 10 * time.Second},
		CookieKey:    key,
		Logger:       m.Logger.With("component", "demo-rp"),
	})
}
