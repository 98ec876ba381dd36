package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// totpPeriod and the options are RFC 6238's defaults, as the provider uses.
const totpPeriod = 30

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// errPoolExhausted: every citizen's code of the current and next time step
// has been used. The provider accepts a code once per (citizen, step) and
// only for the previous, current and next 30-second step.
var errPoolExhausted = errors.New("citizen pool exhausted")

// pool hands out citizens in turn, each with a time step whose code has not
// been used. Only the current and the next step are used (never the
// previous one), so a code computed here is still accepted if the request
// reaches the provider after a step boundary. In the long run a pool of N
// citizens thus signs in at most N per 30 s, plus 2 per citizen at start.
type pool struct {
	mu       sync.Mutex
	citizens []*citizen
	next     int
	now      func() time.Time
}

func newPool(cs []*citizen) *pool {
	return &pool{citizens: cs, now: time.Now}
}

// take returns a citizen that no other worker is using, and the step of the
// code to sign in with; give it back with put.
func (p *pool) take() (*citizen, int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cur := p.now().Unix() / totpPeriod
	for range len(p.citizens) {
		c := p.citizens[p.next]
		p.next = (p.next + 1) % len(p.citizens)
		if c.busy || c.secret == "" {
			continue
		}
		step := max(c.lastStep+1, cur)
		if step > cur+1 {
			continue
		}
		c.busy, c.lastStep = true, step
		return c, step, nil
	}
	return nil, 0, errPoolExhausted
}

func (p *pool) put(c *citizen) {
	p.mu.Lock()
	c.busy = false
	p.mu.Unlock()
}

// code returns the citizen's TOTP code for a time step.
func (c *citizen) code(step int64) (string, error) {
	return totp.GenerateCodeCustom(c.secret, time.Unix(step*totpPeriod, 0), totpOpts)
}

// browser is a citizen's browser: one cookie jar for the provider's pages
// (the device cookie that makes it a known browser, the CSRF and language
// cookies, the sign-on session), kept across sign-ins.
type browser struct {
	mu      sync.Mutex
	cookies map[string]*http.Cookie
}

func newBrowser() *browser { return &browser{cookies: map[string]*http.Cookie{}} }

// SetCookies implements http.CookieJar for one host (the bench refuses to
// follow the provider anywhere else).
func (b *browser) SetCookies(_ *url.URL, cs []*http.Cookie) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range cs {
		if c.MaxAge < 0 || c.Value == "" {
			delete(b.cookies, c.Name)
			continue
		}
		b.cookies[c.Name] = &http.Cookie{Name: c.Name, Value: c.Value}
	}
}

func (b *browser) Cookies(*url.URL) []*http.Cookie {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]*http.Cookie, 0, len(b.cookies))
	for _, c := range b.cookies {
		out = append(out, c)
	}
	return out
}

// signOutLocally forgets the sign-on session, as a citizen who closed the
// browser would: the next sign-in needs the ID number and a code again
// rather than single sign-on.
func (b *browser) signOutLocally() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for name := range b.cookies {
		if strings.HasSuffix(name, "dopaid-session") {
			delete(b.cookies, name)
		}
	}
}

// poolCapacity says what a pool of n citizens can sustain, for the error
// that tells the operator to enlarge it.
func poolCapacity(n int) string {
	return fmt.Sprintf("%d citizens sign in at most %.1f times a second in the long run (each citizen's code is single-use per 30-second step); raise --citizens", n, float64(n)/totpPeriod)
}
