package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
)

// This file is the harness of the browser tests: a headless Chromium, tabs
// that each live in a browser context of their own (so they share no
// cookies, like two browsers), agency applications built on zitadel's rp,
// registry records and a citizen's authenticator app.

// browserTimeout bounds a Chromium process and every tab in it, so that a
// page that never comes cannot hang the suite.
const browserTimeout = 60 * time.Second

// chromiumPath returns Debian's Chromium, skipping t when there is none
// (failing it in CI, which must run these tests).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed; CI must run the browser tests")
	}
	t.Skip("chromium is not installed")
	return ""
}

// chrome is one headless Chromium process.
type chrome struct {
	ctx context.Context
}

// newChrome starts Chromium for t and stops it when t ends. Its pages ask
// for Thai, as a Thai citizen's browser does.
func newChrome(t *testing.T) *chrome {
	t.Helper()
	path := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("accept-lang", "th"),
		chromedp.UserDataDir(t.TempDir()),
	)
	// The process lives at most this long whatever happens to the test.
	ctx, cancel := context.WithTimeout(context.Background(), 2*browserTimeout)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		bcancel()
		acancel()
		cancel()
	})
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &chrome{ctx: bctx}
}

// tab is a page in a browser context of its own: a browser with no cookies.
type tab struct {
	ctx context.Context
}

// newTab opens a fresh browser context, closed when t ends.
func (c *chrome) newTab(t *testing.T) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(c.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	// Actions get a deadline; the tab itself lives as long as the process.
	actx, acancel := context.WithTimeout(ctx, browserTimeout)
	t.Cleanup(acancel)
	return &tab{ctx: actx}
}

// open navigates to u and waits for the page to load.
func (b *tab) open(t *testing.T, u string) {
	t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Navigate(u)); err != nil {
		t.Fatalf("open %s: %v", u, err)
	}
}

// click clicks the element with that id and waits for the page that
// follows (a form submission or a link, through any redirects).
func (b *tab) click(t *testing.T, id string) {
	t.Helper()
	b.need(t, id)
	if _, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.ID(id))); err != nil {
		t.Fatalf("click #%s: %v (%s)", id, err, b.where(t))
	}
}

// fill replaces the value of the input with that id by typing v.
func (b *tab) fill(t *testing.T, id, v string) {
	t.Helper()
	b.need(t, id)
	// chromedp.SetValue(sel, "") fails in v0.23.0 ("could not set value"),
	// so a script clears the field.
	clear := chromedp.Evaluate[chromedp.Void](`document.getElementById(` + jsString(id) + `).value = ""`)
	if err := chromedp.Do(b.ctx, clear, chromedp.SendKeys(chromedp.ID(id), v)); err != nil {
		t.Fatalf("fill #%s: %v", id, err)
	}
}

// has reports whether the page has an element with that id, without
// waiting for one.
func (b *tab) has(t *testing.T, id string) bool {
	t.Helper()
	ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.getElementById(`+jsString(id)+`) !== null`))
	if err != nil {
		t.Fatalf("look for #%s: %v", id, err)
	}
	return ok
}

func (b *tab) need(t *testing.T, id string) {
	t.Helper()
	if !b.has(t, id) {
		t.Fatalf("no #%s on the page (%s)", id, b.where(t))
	}
}

// text returns the trimmed text of the element with that id.
func (b *tab) text(t *testing.T, id string) string {
	t.Helper()
	b.need(t, id)
	s, err := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.ID(id)))
	if err != nil {
		t.Fatalf("text of #%s: %v", id, err)
	}
	return strings.TrimSpace(s)
}

// alert returns the page's error message, which screen readers must
// announce.
func (b *tab) alert(t *testing.T) string {
	t.Helper()
	msg := b.text(t, "error")
	if role := b.eval(t, `document.getElementById("error").getAttribute("role") || ""`); role != "alert" {
		t.Errorf("#error has role %q, want alert", role)
	}
	return msg
}

// eval returns the string value of a JavaScript expression.
func (b *tab) eval(t *testing.T, expr string) string {
	t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

func (b *tab) location(t *testing.T) string {
	t.Helper()
	return b.eval(t, `location.href`)
}

func (b *tab) body(t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(b.eval(t, `document.body ? document.body.innerText : ""`))
}

// where describes the page for a failure message.
func (b *tab) where(t *testing.T) string {
	t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`location.href + " " + JSON.stringify(document.body ? document.body.innerText.slice(0, 400) : "")`))
	if err != nil {
		return "page unreadable: " + err.Error()
	}
	return "at " + s
}

// english switches the login pages to English with their language link, so
// that the assertions below read well; it does nothing if they already are.
func (b *tab) english(t *testing.T) {
	t.Helper()
	if b.eval(t, `document.documentElement.lang`) == "en" {
		return
	}
	if _, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.CSS(`header a.lang`))); err != nil {
		t.Fatalf("switch to English: %v (%s)", err, b.where(t))
	}
	if got := b.eval(t, `document.documentElement.lang`); got != "en" {
		t.Fatalf("after the language link the page is in %q, want en (%s)", got, b.where(t))
	}
}

// hasCookie reports whether the browser holds a cookie of that name for u.
func (b *tab) hasCookie(t *testing.T, u, name string) bool {
	t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{u}})
	if err != nil {
		t.Fatalf("read cookies: %v", err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return true
		}
	}
	return false
}

// screenshot captures the whole page as PNG.
func (b *tab) screenshot(t *testing.T) []byte {
	t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	return png
}

// jsString quotes an element ID for a script (IDs here are ASCII).
func jsString(s string) string { return strconv.Quote(s) }

// agencyApp is an agency's application built on zitadel's rp, served at a
// loopback address: /login starts a sign-in (passing prompt, acr_values and
// scope through from its own query), /callback exchanges the code and hands the
// tokens, or the provider's error, to the test.
type agencyApp struct {
	URL    string
	Name   string
	party  rp.RelyingParty
	tokens chan *oidc.Tokens[*oidc.IDTokenClaims]
	errs   chan string
	// Claims, if set, is the claims request parameter its sign-ins send
	// unless /login is given a claims parameter.
	Claims string
}

// appScopes are what the applications register and ask for.
var appScopes = []string{"openid", "offline_access", "profile", "ial"}

func newAgencyApp(t *testing.T, ts *testServer, id, name string) *agencyApp {
	t.Helper()
	return newAgencyAppFor(t, ts, storage.Client{ID: id, Name: name, Scopes: appScopes}, appScopes)
}

// newAgencyAppFor is newAgencyApp for a system registered as c (its ID,
// name, scopes and permit; the harness adds the rest) whose sign-ins ask
// for scopes, unless /login is given a scope parameter to ask for instead.
func newAgencyAppFor(t *testing.T, ts *testServer, c storage.Client, scopes []string) *agencyApp {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	redirect := srv.URL + "/callback"
	id, name := c.ID, c.Name
	c.AuthMethod, c.RedirectURIs = storage.AuthMethodSecretBasic, []string{redirect}
	secret := ts.register(t, c)
	a := &agencyApp{URL: srv.URL, Name: name,
		tokens: make(chan *oidc.Tokens[*oidc.IDTokenClaims], 4), errs: make(chan string, 4)}

	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	cookies := httphelper.NewCookieHandler(key, key, httphelper.WithUnsecure())
	var err error
	a.party, err = rp.NewRelyingPartyOIDC(context.Background(), ts.URL, id, secret, redirect, scopes,
		rp.WithPKCE(cookies),
		// As registered (client_secret_basic), for refreshes too.
		rp.WithAuthStyle(oauth2.AuthStyleInHeader),
		rp.WithHTTPClient(&http.Client{Timeout: 10 * time.Second}),
		rp.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, errorType, errorDesc, state string) {
			a.errs <- errorType
			io.WriteString(w, "refused: "+errorType)
		}))
	if err != nil {
		t.Fatalf("rp for %s: %v", id, err)
	}
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		var opts []rp.URLParamOpt
		if p := r.URL.Query().Get("prompt"); p != "" {
			opts = append(opts, rp.WithPromptURLParam(p))
		}
		if v := r.URL.Query().Get("acr_values"); v != "" {
			opts = append(opts, rp.WithURLParam("acr_values", v))
		}
		if v := r.URL.Query().Get("scope"); v != "" {
			opts = append(opts, rp.WithURLParam("scope", v))
		}
		if v := r.URL.Query().Get("claims"); v != "" {
			opts = append(opts, rp.WithURLParam("claims", v))
		} else if a.Claims != "" {
			opts = append(opts, rp.WithURLParam("claims", a.Claims))
		}
		rp.AuthURLHandler(func() string { return "state-" + id }, a.party, opts...)(w, r)
	})
	mux.Handle("/callback", rp.CodeExchangeHandler(func(w http.ResponseWriter, r *http.Request, tokens *oidc.Tokens[*oidc.IDTokenClaims], state string, _ rp.RelyingParty) {
		a.tokens <- tokens
		io.WriteString(w, "signed in")
	}, a.party))
	return a
}

// signedIn checks that the browser is on the app's callback page and
// returns the tokens the app received.
func (a *agencyApp) signedIn(t *testing.T, ts *testServer, b *tab) *oidc.Tokens[*oidc.IDTokenClaims] {
	t.Helper()
	// A first release of claims to an agency asks for consent (its own
	// tests are in consent_browser_test.go); allow it.
	if strings.Contains(b.location(t), "/login") && b.has(t, "consent-allow") {
		b.click(t, "consent-allow")
	}
	if loc, body := b.location(t), b.body(t); !strings.HasPrefix(loc, a.URL+"/callback") || body != "signed in" {
		t.Fatalf("browser at %s showing %.300q, want the app's callback saying signed in", loc, body)
	}
	select {
	case tok := <-a.tokens:
		ts.secret(tok.AccessToken, tok.RefreshToken)
		if tok.IDTokenClaims == nil {
			t.Fatal("the app got no verified ID token")
		}
		return tok
	case <-time.After(5 * time.Second):
		t.Fatal("the app got no tokens")
		return nil
	}
}

// refused checks that the browser is on the app's callback page with an
// error and returns the error code the app received.
func (a *agencyApp) refused(t *testing.T, b *tab) string {
	t.Helper()
	if loc := b.location(t); !strings.HasPrefix(loc, a.URL+"/callback") {
		t.Fatalf("browser at %s (%s), want the app's callback", loc, b.where(t))
	}
	select {
	case code := <-a.errs:
		return code
	case <-a.tokens:
		t.Fatal("the app got tokens, want an error")
	case <-time.After(5 * time.Second):
		t.Fatalf("the app got no answer (%s)", b.where(t))
	}
	return ""
}

// testCitizen is a civil registry record as the tests write it.
type testCitizen struct {
	PID       string
	TitleTH   string
	FirstTH   string
	LastTH    string
	TitleEN   string
	FirstEN   string
	LastEN    string
	Birthdate storage.BEDate
	Laser     string // as printed on the card; "" if unknown
	Status    string
}

// seedCitizens stores the records as a registry import would: laser code
// sealed, and keyed-hashed the way the login pages match it.
func seedCitizens(t *testing.T, ts *testServer, es ...testCitizen) {
	t.Helper()
	store, ok := ts.Store.(storage.CitizenStores)
	if !ok {
		t.Fatal("the store does not hold citizens")
	}
	macKey := ts.Envelope.DeriveKey(purposeLaserMAC)
	now := time.Now()
	cs := make([]storage.Citizen, len(es))
	for i, e := range es {
		id, err := keys.RandomToken(16)
		if err != nil {
			t.Fatal(err)
		}
		c := storage.Citizen{
			ID:        id,
			PID:       e.PID,
			NameTH:    storage.Name{Title: e.TitleTH, First: e.FirstTH, Last: e.LastTH},
			NameEN:    storage.Name{Title: e.TitleEN, First: e.FirstEN, Last: e.LastEN},
			Birthdate: e.Birthdate,
			Sex:       storage.SexUnknown,
			PhotoRef:  "photo-" + e.PID,
			Status:    e.Status,
			CreatedAt: now,
			UpdatedAt: now,
		}
		if e.Laser != "" {
			code, err := storage.NormalizeLaserCode(e.Laser)
			if err != nil {
				t.Fatalf("laser code %q: %v", e.Laser, err)
			}
			if c.LaserCode, err = ts.Envelope.Seal([]byte(code), []byte("laser:"+e.PID)); err != nil {
				t.Fatal(err)
			}
			c.LaserCodeMAC = laserCodeHash(macKey, code)
			ts.secret(code, e.Laser)
		}
		sum := sha256.Sum256([]byte(e.PID + "|" + e.FirstTH + "|" + e.LastTH + "|" + e.Birthdate.String() + "|" + c.LaserCodeMAC + "|" + e.Status))
		c.ContentHash = base64.RawURLEncoding.EncodeToString(sum[:])
		cs[i] = c
		// Personal data never reaches the log.
		ts.secret(e.PID)
	}
	if _, err := store.UpsertCitizens(context.Background(), cs); err != nil {
		t.Fatalf("seed registry: %v", err)
	}
}

// laserCodeHash is login's keyed hash of a normalised laser code: HMAC-SHA-256
// over the code and a zero byte, base64url.
func laserCodeHash(key []byte, code string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(code))
	m.Write([]byte{0})
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// authenticatorApp is the citizen's phone: the TOTP secret shown at
// enrolment and the recovery codes.
type authenticatorApp struct {
	secret   string
	recovery []string
	used     map[int64]bool // time steps whose code was given out
}

// code returns a code the provider accepts now and has not seen yet. The
// provider accepts the previous, current and next step's code, each once:
// this gives the next step's, else the current step's (the previous step's
// could fall out of the window on its way), else a recovery code.
func (a *authenticatorApp) code(t *testing.T) string {
	t.Helper()
	cur := time.Now().Unix() / 30
	for _, step := range []int64{cur + 1, cur} {
		if a.used[step] {
			continue
		}
		code, err := totp.GenerateCode(a.secret, time.Unix(step*30, 0))
		if err != nil {
			t.Fatalf("totp: %v", err)
		}
		a.used[step] = true
		return code
	}
	if len(a.recovery) == 0 {
		t.Fatal("no TOTP step or recovery code left")
	}
	code := a.recovery[0]
	a.recovery = a.recovery[1:]
	return code
}

// wrongCode returns a six-digit code that no step around now accepts.
func (a *authenticatorApp) wrongCode(t *testing.T) string {
	t.Helper()
	cur := time.Now().Unix() / 30
	valid := map[string]bool{}
	for step := cur - 2; step <= cur+2; step++ {
		c, err := totp.GenerateCode(a.secret, time.Unix(step*30, 0))
		if err != nil {
			t.Fatal(err)
		}
		valid[c] = true
	}
	for _, c := range []string{"000000", "123456", "999999"} {
		if !valid[c] {
			return c
		}
	}
	t.Fatal("no wrong code")
	return ""
}
