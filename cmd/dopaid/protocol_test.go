package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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

// TestBackChannelRefusesRepeatedParameters: RFC 6749 §3.2 forbids sending
// a parameter twice, and a repeated one would be read two ways (the last
// value by the library, the first by our checks). Every back-channel
// endpoint answers invalid_request and changes nothing; a revocation of
// token=bogus&token=<live> in particular revokes nothing.
func TestBackChannelRefusesRepeatedParameters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		c := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic})
		b := newBrowser(t)
		live := c.signIn(t, ts, b, "citizen-1")
		ts.secret(live.AccessToken, live.RefreshToken)
		code, verifier := c.code(t, ts, b, "citizen-1")

		raw := func(path, body string, header http.Header) reply {
			t.Helper()
			req, err := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if header == nil {
				req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
			}
			for k, v := range header {
				req.Header[k] = v
			}
			return do(t, req)
		}
		e := url.QueryEscape
		tests := []struct {
			name, path, body string
			header           http.Header
		}{
			{"revocation token", op.PathRevoke, "token=bogus&token=" + e(live.RefreshToken), nil},
			{"revocation token, live first", op.PathRevoke, "token=" + e(live.AccessToken) + "&token=bogus", nil},
			{"revocation hint", op.PathRevoke, "token=" + e(live.AccessToken) + "&token_type_hint=access_token&token_type_hint=refresh_token", nil},
			{"introspection token", op.PathIntrospect, "token=bogus&token=" + e(live.AccessToken), nil},
			{"token code", op.PathToken, "grant_type=authorization_code&code=bogus&code=" + e(code) + "&redirect_uri=" + e(c.Redirect) + "&code_verifier=" + e(verifier), nil},
			{"token grant_type", op.PathToken, "grant_type=refresh_token&grant_type=refresh_token&refresh_token=" + e(live.RefreshToken), nil},
			{"token refresh_token", op.PathToken, "grant_type=refresh_token&refresh_token=bogus&refresh_token=" + e(live.RefreshToken), nil},
			{"token client_id", op.PathToken, "grant_type=refresh_token&refresh_token=" + e(live.RefreshToken) + "&client_id=app&client_id=app", nil},
			{"userinfo by POST", op.PathUserinfo, "access_token=bogus&access_token=" + e(live.AccessToken), http.Header{}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := raw(tt.path, tt.body, tt.header)
				r.wantOAuthError(t, http.StatusBadRequest, "invalid_request")
				wantUserinfo(t, ts, live.AccessToken, true)
				wantActive(t, ts, c, live.RefreshToken, true)
			})
		}
		// The code was not spent by the refused request.
		c.exchange(t, ts, code, verifier).tokens(t)
	})
}

// TestLeakedCodeCannotBeBurnt: another registered client that holds a
// leaked authorization code, and authenticates correctly as itself, gets
// invalid_grant — and the code still works for the client it was issued
// to. (A code is consumed only once its client is authenticated and
// matches.)
func TestLeakedCodeCannotBeBurnt(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		app := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic})
		thief := newTestClient(t, ts, storage.Client{ID: "thief", AuthMethod: storage.AuthMethodSecretBasic})
		code, verifier := app.code(t, ts, newBrowser(t), "citizen-1")

		stolen := thief
		stolen.Redirect = app.Redirect
		stolen.exchange(t, ts, code, verifier).wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
		thief.exchange(t, ts, code, verifier).wantOAuthError(t, http.StatusBadRequest, "invalid_grant")

		tok := app.exchange(t, ts, code, verifier).tokens(t)
		ts.secret(tok.AccessToken, tok.RefreshToken)
		wantUserinfo(t, ts, tok.AccessToken, true)

		// Presented again by the thief after use: still not the thief's to
		// end — the rightful client's tokens stay valid.
		stolen.exchange(t, ts, code, verifier).wantOAuthError(t, http.StatusBadRequest, "invalid_grant")
		wantUserinfo(t, ts, tok.AccessToken, true)
	})
}

// TestTextFromOutsideIsValidated: parameters that are not text (invalid
// UTF-8, NUL) are the sender's error — invalid_request, on a page or back
// to the client as the endpoint allows — never a server_error from the
// database (PostgreSQL stores neither). Text kept only as a label, a
// browser's User-Agent, is made storable and cut between characters.
func TestTextFromOutsideIsValidated(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		c := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretPost})
		set := func(k, v string) func(url.Values) { return func(q url.Values) { q.Set(k, v) } }

		for _, tt := range []struct{ name, key, value string }{
			{"NUL in nonce", "nonce", "n\x00"},
			{"invalid UTF-8 in nonce", "nonce", "n\xff"},
			{"NUL in login_hint", "login_hint", "\x00"},
			{"invalid UTF-8 in ui_locales", "ui_locales", "th\xc3"},
			{"NUL in acr_values", "acr_values", "urn:x\x00"},
			{"invalid UTF-8 in code_challenge", "code_challenge", strings.Repeat("a", 42) + "\xff"},
		} {
			t.Run("authorize: "+tt.name, func(t *testing.T) {
				u, _ := c.authorizeURL(t, ts, set(tt.key, tt.value))
				get(t, u, nil).wantRedirectError(t, ts, c.Redirect, "st-1", "invalid_request")
			})
		}
		t.Run("authorize: state not text", func(t *testing.T) {
			// It could not be sent back as it came: a page, no redirect.
			u, _ := c.authorizeURL(t, ts, set("state", "s\x00"))
			get(t, u, nil).wantErrorPage(t, http.StatusBadRequest, "invalid_request")
		})
		t.Run("authorize: client_id not text", func(t *testing.T) {
			u, _ := c.authorizeURL(t, ts, set("client_id", "app\x00"))
			get(t, u, nil).wantErrorPage(t, http.StatusBadRequest, "invalid_request")
		})
		t.Run("authorize: parameter name not text", func(t *testing.T) {
			u, _ := c.authorizeURL(t, ts, set("x\xff", "1"))
			get(t, u, nil).wantErrorPage(t, http.StatusBadRequest, "invalid_request")
		})
		t.Run("callback", func(t *testing.T) {
			newBrowser(t).reply(ts.URL+op.PathCallback+"?id=%00").wantErrorPage(t, http.StatusBadRequest, "invalid_request")
		})
		t.Run("end_session", func(t *testing.T) {
			q := url.Values{"client_id": {"app\x00"}, "post_logout_redirect_uri": {c.PostLogout}}
			get(t, ts.URL+op.PathEndSession+"?"+q.Encode(), nil).wantErrorPage(t, http.StatusBadRequest, "invalid_request")
		})
		t.Run("token endpoint", func(t *testing.T) {
			r := raw(t, ts, op.PathToken, "grant_type=refresh_token&refresh_token=x&client_id=app%00&client_secret=s", nil)
			r.wantOAuthError(t, http.StatusBadRequest, "invalid_request")
			r = raw(t, ts, op.PathIntrospect, "token=%FF", http.Header{"Authorization": {"Basic " + basic("app%00", "s")}})
			r.wantOAuthError(t, http.StatusBadRequest, "invalid_request")
			r = raw(t, ts, op.PathIntrospect, "token=x", http.Header{"Authorization": {"Basic " + basic("app%00", "s")}})
			r.wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
		})

		t.Run("long non-ASCII User-Agent", func(t *testing.T) {
			// A returning citizen signs in to the "my data" portal from a
			// browser whose User-Agent is long and Thai: the session keeps a
			// prefix cut between characters.
			phone := seedEnrolledCitizen(t, ts, somchai)
			ua := strings.Repeat("เบราว์เซอร์ไทย ", 30) + "\xff"
			b := newBrowser(t)
			page := b.reply(ts.URL + login.Path + "/me")
			m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page.body)
			if m == nil {
				t.Fatalf("no CSRF token on the portal page (status %d)", page.status)
			}
			form := url.Values{"pid": {somchai.PID}, "code": {phone.code(t)}, "csrf": {string(m[1])}}
			req, _ := http.NewRequest(http.MethodPost, ts.URL+login.Path+"/me/signin", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("User-Agent", ua)
			resp, err := b.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("portal sign-in with a long Thai User-Agent: status %d, want 303", resp.StatusCode)
			}
			ss, err := ts.Store.SessionsBySubject(context.Background(), phone.citizenID, time.Now())
			if err != nil || len(ss) != 1 {
				t.Fatalf("sessions = %v, %v; want one", ss, err)
			}
			if got := ss[0].UserAgent; !utf8.ValidString(got) || len(got) > 200 || !strings.HasPrefix(ua, got) || len(got) < 190 {
				t.Errorf("stored User-Agent = %q, want a prefix of at most 200 bytes cut between characters", got)
			}
		})
	})
}

// raw POSTs body to a back-channel endpoint with the given headers.
func raw(t *testing.T, ts *testServer, path, body string, header http.Header) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	return do(t, req)
}

func basic(id, secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(id + ":" + secret))
}

// enrolledCitizen is a citizen seeded with a TOTP authenticator.
type enrolledCitizen struct {
	*authenticatorApp
	citizenID string
}

// seedEnrolledCitizen stores c in the registry with a TOTP authenticator,
// sealed as enrolment seals it, and returns the citizen's phone.
func seedEnrolledCitizen(t *testing.T, ts *testServer, c testCitizen) enrolledCitizen {
	t.Helper()
	seedCitizens(t, ts, c)
	store := ts.Store.(storage.CitizenStores)
	cit, err := store.CitizenByPID(context.Background(), c.PID)
	if err != nil {
		t.Fatal(err)
	}
	const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	authID := "auth-" + cit.ID
	sealed, err := ts.Envelope.Seal([]byte(secret), []byte("totp:"+authID))
	if err != nil {
		t.Fatal(err)
	}
	err = store.CreateAuthenticator(context.Background(), storage.Authenticator{ID: authID, CitizenID: cit.ID, Type: "totp", Secret: sealed, CreatedAt: time.Now()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return enrolledCitizen{authenticatorApp: &authenticatorApp{secret: secret, used: map[int64]bool{}}, citizenID: cit.ID}
}

// TestForwardedFromTrustedProxy: behind a trusted reverse proxy, the
// caller's address — for the registered networks of clause 10 — is read
// from the Forwarded header (RFC 7239) as from X-Forwarded-For: the
// right-most hop that is not a trusted proxy, in any of the forms the RFC
// allows. A hop that names no address, or two headers that disagree (one
// of them written by the client), leave the caller unknown: refused.
func TestForwardedFromTrustedProxy(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database, func(m *Main) {
			// The test's requests come from loopback: the "proxy".
			m.Config.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
		})
		c := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic,
			// Loopback too: the sign-in below comes straight from the test.
			NetworkRanges: []string{"198.51.100.0/24", "2001:db8:cafe::/48", "127.0.0.1/32"}})
		tok := c.signIn(t, ts, newBrowser(t), "citizen-1")
		ts.secret(tok.AccessToken, tok.RefreshToken)

		introspectVia(t, ts, c, tok.AccessToken, []forwardedCase{
			{"Forwarded", http.Header{"Forwarded": {"for=198.51.100.7"}}, true},
			{"Forwarded quoted, with port", http.Header{"Forwarded": {`for="198.51.100.7:4711";proto=https`}}, true},
			{"Forwarded IPv6 with port", http.Header{"Forwarded": {`for="[2001:db8:cafe::17]:4711"`}}, true},
			{"Forwarded with a forged hop on the left", http.Header{"Forwarded": {"for=203.0.113.1, for=198.51.100.7"}}, true},
			{"Forwarded over two lines", http.Header{"Forwarded": {"for=198.51.100.7", `for="[::1]"`}}, true},
			{"Forwarded from elsewhere", http.Header{"Forwarded": {"for=203.0.113.1"}}, false},
			{"Forwarded registered hop left of a stranger", http.Header{"Forwarded": {"for=198.51.100.7, for=203.0.113.1"}}, false},
			{"Forwarded unknown", http.Header{"Forwarded": {"for=unknown"}}, false},
			{"Forwarded obfuscated", http.Header{"Forwarded": {"for=_proxy7"}}, false},
			{"Forwarded malformed", http.Header{"Forwarded": {`for="198.51.100.7`}}, false},
			{"X-Forwarded-For", http.Header{"X-Forwarded-For": {"198.51.100.7"}}, true},
			{"headers agree", http.Header{"Forwarded": {"for=198.51.100.7"}, "X-Forwarded-For": {"198.51.100.7"}}, true},
			{"headers disagree", http.Header{"Forwarded": {"for=198.51.100.7"}, "X-Forwarded-For": {"203.0.113.1"}}, false},
		})
	})
}

// TestProxyHeader: with --proxy-header naming the one header the trusted
// proxy writes, the other header — written by the client or by its own
// egress proxy — is ignored, so a registered system behind such a proxy is
// not refused, and a forged value there gains nothing.
func TestProxyHeader(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database, func(m *Main) {
			m.Config.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
			m.Config.ProxyHeader = "forwarded"
		})
		c := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic,
			NetworkRanges: []string{"198.51.100.0/24", "127.0.0.1/32"}})
		tok := c.signIn(t, ts, newBrowser(t), "citizen-1")
		ts.secret(tok.AccessToken, tok.RefreshToken)
		introspectVia(t, ts, c, tok.AccessToken, []forwardedCase{
			{"the client's egress proxy's X-Forwarded-For disagrees", http.Header{"Forwarded": {"for=198.51.100.7"}, "X-Forwarded-For": {"10.1.2.3"}}, true},
			{"a forged X-Forwarded-For alone", http.Header{"X-Forwarded-For": {"198.51.100.7"}}, true}, // the peer (loopback, registered) is the client
			{"Forwarded from elsewhere, X-Forwarded-For registered", http.Header{"Forwarded": {"for=203.0.113.1"}, "X-Forwarded-For": {"198.51.100.7"}}, false},
		})
	})
}

// forwardedCase is a request's forwarding headers and whether the client's
// registered networks should admit it.
type forwardedCase struct {
	name    string
	header  http.Header
	allowed bool
}

// introspectVia introspects token as c with each case's headers: admitted,
// the token is active; refused, the client is told invalid_client.
func introspectVia(t *testing.T, ts *testServer, c testClient, token string, cases []forwardedCase) {
	t.Helper()
	auth := "Basic " + basic(c.ID, c.Secret)
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header.Clone()
			h.Set("Authorization", auth)
			r := raw(t, ts, op.PathIntrospect, "token="+url.QueryEscape(token), h)
			if tt.allowed {
				if r.status != http.StatusOK || r.json(t)["active"] != true {
					t.Errorf("status %d, body %s; want the token introspected as active", r.status, r.body)
				}
				return
			}
			r.wantOAuthError(t, http.StatusUnauthorized, "invalid_client")
		})
	}
}
