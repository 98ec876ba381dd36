package admin

import (
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

func totpCode(secret string, at time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, at, totpOpts)
}

func TestPasswordHash(t *testing.T) {
	h, err := hashPassword("ขอให้โชคดี correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Errorf("hash = %q, want PHC argon2id with m=65536,t=3,p=2", h)
	}
	if h2, _ := hashPassword("ขอให้โชคดี correct horse"); h2 == h {
		t.Error("two hashes of one password are equal: no salt")
	}
	if !verifyPassword(h, "ขอให้โชคดี correct horse") {
		t.Error("the password does not verify")
	}
	// Lower parameters stored earlier still verify.
	if old := phc("pw", []byte("0123456789abcdef"), 1024, 1, 1, 32); !verifyPassword(old, "pw") {
		t.Error("a hash with other parameters does not verify")
	}
	for _, bad := range []string{
		"", "plain", "$argon2i$v=19$m=65536,t=3,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=65536,t=3,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=3,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", // memory bomb
		"$argon2id$v=19$m=65536,t=3,p=2$!!$aGFzaGhhc2hoYXNoaGFzaA",
		strings.Replace(h, "$argon2id$", "$argon2id$$", 1),
	} {
		if verifyPassword(bad, "pw") {
			t.Errorf("verifyPassword(%q) = true", bad)
		}
	}
	if verifyPassword(h, "ขอให้โชคดี correct horsE") {
		t.Error("a wrong password verifies")
	}
}

func TestMatchTOTP(t *testing.T) {
	const secret = "JBSWY3DPEHPK3PXP"
	now := time.Unix(1_700_000_000, 0)
	step := now.Unix() / totpPeriod
	for _, tt := range []struct {
		at   time.Time
		want int64
		ok   bool
	}{
		{now, step, true},
		{now.Add(-30 * time.Second), step - 1, true},
		{now.Add(30 * time.Second), step + 1, true},
		{now.Add(-60 * time.Second), 0, false},
		{now.Add(60 * time.Second), 0, false},
	} {
		want, _ := totpCode(secret, tt.at)
		got, ok := matchTOTP(secret, want, now)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("code of %v: step %d, %v; want %d, %v", tt.at.Sub(now), got, ok, tt.want, tt.ok)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "12345a", " 123456"} {
		if _, ok := matchTOTP(secret, bad, now); ok {
			t.Errorf("matchTOTP(%q) matched", bad)
		}
	}
}

// FuzzRedirectURI: whatever checkURI accepts is an absolute https URL
// (or http on a loopback name in development) without fragment, wildcard
// or user info.
func FuzzRedirectURI(f *testing.F) {
	for _, s := range []string{
		"https://eland.dol.go.th/cb", "http://localhost:8080/cb", "http://127.0.0.1/cb", "https://a/#", "https://*.a/",
		"https://u@a/", "//a/b", "javascript:alert(1)", "https://a:99999/", "HTTPS://A/cb", "https://[::1]/cb", "http://localhost.evil/",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw string, dev bool) {
		s := &Service{cfg: ServiceConfig{DevLoopbackHTTP: dev}}
		if s.checkURI(raw) != "" {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || !u.IsAbs() || u.Host == "" || u.User != nil || strings.ContainsAny(raw, "#* ") {
			t.Fatalf("accepted %q", raw)
		}
		switch {
		case u.Scheme == "https":
		case u.Scheme == "http" && dev && (u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1"):
		default:
			t.Fatalf("accepted %q (dev %v)", raw, dev)
		}
	})
}

// FuzzJWKSURI: whatever checkJWKSURI accepts is an absolute https URL (or
// http on a loopback host in development) without fragment or user info.
func FuzzJWKSURI(f *testing.F) {
	for _, s := range []string{
		"https://eland.dol.go.th/jwks", "https://a/jwks?v=1", "http://localhost:8080/jwks", "http://127.0.0.2/jwks",
		"http://[::1]:80/jwks", "http://[::ffff:127.0.0.1]/", "https://a/#k", "https://u@a/", "//a/b", "http://localhost.evil/",
		"http://0x7f.0.0.1/", "http://2130706433/", "HTTP://LOCALHOST/", "file:///etc/passwd",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw string, dev bool) {
		s := &Service{cfg: ServiceConfig{DevLoopbackHTTP: dev}}
		if s.checkJWKSURI(raw) != "" {
			return
		}
		u, err := url.Parse(raw)
		if err != nil || !u.IsAbs() || u.Host == "" || u.User != nil || u.Fragment != "" || strings.ContainsAny(raw, "# ") {
			t.Fatalf("accepted %q", raw)
		}
		switch {
		case u.Scheme == "https":
		case u.Scheme == "http" && dev && loopbackHost(u.Hostname()):
			if h := u.Hostname(); h != "localhost" {
				if ip, err := netip.ParseAddr(h); err != nil || !ip.IsLoopback() {
					t.Fatalf("accepted %q as loopback", raw)
				}
			}
		default:
			t.Fatalf("accepted %q (dev %v)", raw, dev)
		}
	})
}
