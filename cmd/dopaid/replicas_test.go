package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/dopaid/dopaid/login"
	"github.com/dopaid/dopaid/op"
	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/postgres/pgtest"
)

// cluster is n dopaid servers, each its own OS process built from this
// command, on one PostgreSQL database and sharing one issuer, as replicas
// behind a load balancer are. seed is the test's own in-process replica on
// the same database: it registers clients and permits, reads the store, and
// never integrates the audit log (the processes do).
type cluster struct {
	t     *testing.T
	bin   string
	seed  *testServer
	addrs []string
	urls  []string
	procs []*process
	args  []string
}

// newCluster starts n replicas on database with args.
func newCluster(t *testing.T, database string, n int, args ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, bin: buildDopaid(t), args: args}
	for range n {
		a := freeAddr(t)
		c.addrs = append(c.addrs, a)
		c.urls = append(c.urls, "http://"+a)
	}
	c.seed = boot(t, database, func(m *Main) {
		m.Config.Issuer = c.urls[0]
		m.Config.AuditNoIntegrate = true
		m.Config.AuditPublishDir = m.Config.DataDir + "/test-replica-checkpoints"
	})
	for _, a := range c.addrs {
		c.procs = append(c.procs, startDopaid(t, c.bin, c.seed, a, args...))
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		// What the replicas reported, for the failure's reader.
		for i, p := range c.procs {
			var lines []string
			for _, l := range strings.Split(p.out.String(), "\n") {
				if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
					lines = append(lines, l)
				}
			}
			t.Logf("replica %d's warnings and errors (last 40 of %d):\n%s", i, len(lines), strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
	})
	return c
}

// at is replica i as the harness's request helpers see a server: only its
// URL differs from the others.
func (c *cluster) at(i int) *testServer {
	return &testServer{Main: &Main{URL: c.urls[i]}}
}

// on rewrites u (an absolute URL the provider wrote with its issuer, or a
// path) to reach replica i.
func (c *cluster) on(i int, u string) string {
	p, err := url.Parse(u)
	if err != nil {
		c.t.Fatalf("parse %q: %v", u, err)
	}
	return c.urls[i] + p.RequestURI()
}

// waitFor polls cond until it holds; the generous deadline only fails.
func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not so two minutes later: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// TestReplicasShareSignInKeysAndSuspension: three dopaid processes on one
// PostgreSQL database. A citizen proves who they are and signs in on the
// real login pages while every step lands on another replica than the one
// before (authorize on the first, the login pages on the second, the
// callback and token exchange on the third), and the tokens work on all
// three. A key rotated through one replica is published by all three, and a
// permit suspended through one is refused by all three.
func TestReplicasShareSignInKeysAndSuspension(t *testing.T) {
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"match":true,"score":0.97,"threshold":0.8,"liveness":"bona_fide","liveness_score":0.99,"vendor":"test-vendor","model_version":"1"}`)
	}))
	t.Cleanup(vendor.Close)
	cl := newCluster(t, pgtest.Schema(t, 8), 3, "--face-url", vendor.URL)
	seed := cl.seed
	ctx := t.Context()
	seedCitizens(t, seed, somchai)
	pm := permitFor(t, seed, "replicated-agency", namesOnly)
	c := newTestClient(t, seed, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic, PermitID: pm.ID,
		Scopes: []string{"openid", "given_name", "family_name", "offline_access"}})

	// Proofing and enrolment (on the first replica, the issuer's address).
	b := newBrowser(t)
	clk := &testClock{t: time.Now()}
	secret := b.prove(cl.at(0), c, clk, detailsOf(somchai, false))
	seed.secret(secret)

	// A sign-in that hops: authorize on 0, login pages on 1 (which answer
	// the client), token on 2. The enrolment used the current TOTP step; the sign-in
	// uses the next (both are accepted, and neither twice).
	u, verifier := c.authorizeURL(t, cl.at(0), func(q url.Values) {
		q.Set("prompt", "login")
		q.Set("scope", "openid given_name family_name offline_access")
	})
	loc := b.redirect(u)
	id := loc.Query().Get("authRequestID")
	if id == "" || !strings.HasPrefix(loc.Path, login.Path) {
		t.Fatalf("authorize on replica 0 answered %s, want the login page", loc)
	}
	p := b.page(http.MethodGet, cl.on(1, login.URL(id)), nil, "")
	m := csrfField.FindStringSubmatch(p.body)
	if p.status != http.StatusOK || m == nil {
		t.Fatalf("login page on replica 1: status %d, no CSRF token", p.status)
	}
	csrf := html.UnescapeString(m[1])
	code, err := totp.GenerateCode(secret, time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	p = b.postForm(cl.on(1, login.Path+"/signin"), url.Values{"csrf": {csrf}, "authRequestID": {id}, "pid": {somchai.PID}, "code": {code}})
	p = b.consentIfAsked(cl.urls[1], p, id, csrf)
	authCode := signedIn(t, "sign-in on replica 1", p).Query().Get("code")
	seed.secret(authCode)
	tok := c.exchange(t, cl.at(2), authCode, verifier).tokens(t)
	seed.secret(tok.AccessToken, tok.RefreshToken, tok.IDToken)
	for i := range cl.urls {
		wantUserinfo(t, cl.at(i), tok.AccessToken, true)
	}
	tok = c.refresh(t, cl.at(1), tok.RefreshToken).tokens(t)
	seed.secret(tok.AccessToken, tok.RefreshToken, tok.IDToken)
	wantUserinfo(t, cl.at(0), tok.AccessToken, true)

	// The registry record changes (a new family name) through the test's
	// replica: every process answers the new name at userinfo (its cache
	// dropped by NOTIFY, or expired).
	rec, err := seed.Store.CitizenByPID(ctx, somchai.PID)
	if err != nil {
		t.Fatal(err)
	}
	rec.NameTH.Last, rec.ContentHash = "ใจงาม", "renamed"
	if res, err := seed.Store.UpsertCitizens(ctx, []storage.Citizen{rec}); err != nil || res.Updated != 1 {
		t.Fatalf("rename in the registry: %+v, %v", res, err)
	}
	for i := range cl.urls {
		took := waitFor(t, fmt.Sprintf("replica %d answers the new family name", i), func() bool {
			r := userinfo(t, cl.at(i), tok.AccessToken)
			return r.status == http.StatusOK && r.json(t)["family_name"] == "ใจงาม"
		})
		t.Logf("replica %d answered the new family name after %v", i, took)
	}

	// Key rotation through the test's replica: every process publishes the
	// new key (keys are read from the shared store; caches expire).
	before := fetchJWKS(t, cl.at(0))
	if err := seed.Keys.Rotate(ctx, "ES256"); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	var kid string
	took := waitFor(t, "replica 0 publishes a new key", func() bool {
		set := fetchJWKS(t, cl.at(0))
		for _, k := range set.Keys {
			if len(before.Key(k.KeyID)) == 0 && k.Algorithm == "ES256" {
				kid = k.KeyID
				return true
			}
		}
		return false
	})
	t.Logf("replica 0 published the new key %s after %v", kid, took)
	for i := 1; i < len(cl.urls); i++ {
		took := waitFor(t, fmt.Sprintf("replica %d publishes the rotated key %s", i, kid), func() bool {
			set := fetchJWKS(t, cl.at(i))
			return len(set.Key(kid)) == 1
		})
		t.Logf("replica %d published the new key after %v", i, took)
	}

	// A suspension decided through the test's replica: refused by all.
	decide(t, seed, approver(t, seed), pm.ID, storage.DecisionSuspend)
	for i := range cl.urls {
		u, _ := c.authorizeURL(t, cl.at(i), nil)
		took := waitFor(t, fmt.Sprintf("replica %d refuses authorize for the suspended permit", i), func() bool {
			return get(t, u, nil).status == http.StatusForbidden
		})
		waitFor(t, fmt.Sprintf("replica %d refuses the suspended permit's token at userinfo", i), func() bool {
			return userinfo(t, cl.at(i), tok.AccessToken).status == http.StatusUnauthorized
		})
		c.refresh(t, cl.at(i), tok.RefreshToken).wantOAuthError(t, http.StatusBadRequest, "unauthorized_client")
		t.Logf("replica %d refused authorize after %v", i, took)
	}
}

// TestReplicasSurviveKill: three replicas under load from concurrent
// clients (code flows with each step on another replica — authorize, the
// login and consent pages with the citizen's sign-on session, the callback,
// the code exchange —, refreshes, userinfo, withdrawals of consent on the
// citizen's page), each retrying on another replica when a connection
// fails. One replica is killed with SIGKILL mid-load. Every client carries
// on; every token a client holds at the end works on the survivors; every
// consent a citizen was told is given (or withdrawn) is so in the store;
// every audit entry written is integrated exactly once; `dopaid audit
// verify` passes.
func TestReplicasSurviveKill(t *testing.T) {
	database := pgtest.Schema(t, 8)
	cl := newCluster(t, database, 3)
	ld := startLoad(t, cl, 6, false)

	ld.waitOps(t, 3)
	cl.procs[1].signal(t, syscall.SIGKILL)
	t.Logf("replica 1 killed after %d operations", ld.total())
	ld.waitOps(t, 3)
	ld.stop(t)

	survivors := []int{0, 2}
	ld.checkTokens(t, survivors)
	ld.checkConsents(t)
	checkAuditLog(t, cl, database, ld.exchanges.Load())
}

// TestReplicasSurvivePostgresRestart: three replicas under load on a
// PostgreSQL server of the test's own, which is shut down and started
// again mid-load (a private server, so that the restart disturbs no other
// test on the machine's shared one). Every replica is ready again soon
// after the database is (the test waits for it, and fails only at a
// generous deadline), no replica is wedged (every one answers /readyz 200
// and serves requests), the clients carry on, and nothing committed is
// lost.
func TestReplicasSurvivePostgresRestart(t *testing.T) {
	pg := startPrivatePostgres(t)
	cl := newCluster(t, pg.url, 3)
	ld := startLoad(t, cl, 6, true)

	ld.waitOps(t, 3)
	pg.restart(t)
	up := time.Now()
	for i := range cl.urls {
		took := waitFor(t, fmt.Sprintf("replica %d ready after the database restart", i), func() bool {
			r, err := http.Get(cl.urls[i] + "/readyz")
			if err != nil {
				return false
			}
			r.Body.Close()
			return r.StatusCode == http.StatusOK
		})
		t.Logf("replica %d ready %v after the database (waited %v)", i, time.Since(up), took)
	}
	ld.waitOps(t, 3)
	ld.stop(t)

	ld.checkTokens(t, []int{0, 1, 2})
	ld.checkConsents(t)
	checkAuditLog(t, cl, pg.url, ld.exchanges.Load())
}

// checkAuditLog waits until the replicas have integrated every entry, then
// checks that each is in the log exactly once, that at least one release
// was recorded per code exchange a client received, and that `dopaid audit
// verify` passes.
func checkAuditLog(t *testing.T, cl *cluster, database string, exchanges int64) {
	t.Helper()
	ctx := t.Context()
	var all []storage.AuditEntry
	waitFor(t, "every audit entry integrated", func() bool {
		es, err := cl.seed.Store.AuditEntries(ctx, storage.AuditFilter{})
		if err != nil {
			// The test's pool may hold a connection a database restart
			// ended: the next read takes another.
			t.Logf("AuditEntries: %v", err)
			return false
		}
		for _, e := range es {
			if e.Seq == 0 {
				return false
			}
		}
		all = es
		return true
	})
	head, err := cl.seed.Store.LogHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if head.Size != int64(len(all)) {
		t.Errorf("log of size %d, %d entries written: want every entry integrated once", head.Size, len(all))
	}
	log, err := cl.seed.Store.LogEntries(ctx, 0, head.Size)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for i, e := range log {
		if e.Index != int64(i) {
			t.Errorf("log entry %d has index %d", i, e.Index)
		}
		seen[e.ID]++
	}
	for _, e := range all {
		if seen[e.ID] != 1 {
			t.Errorf("entry %s (%s) is in the log %d times, want once", e.ID, e.Type, seen[e.ID])
		}
	}
	var releases int64
	for _, e := range all {
		if e.Type == storage.AuditTokenIssued && (e.Outcome == "" || e.Outcome == "success") {
			releases++
		}
	}
	if releases < exchanges {
		t.Errorf("%d token releases recorded, but clients received %d code exchanges' tokens", releases, exchanges)
	}
	t.Logf("log: %d entries, %d releases; clients received %d code exchanges", head.Size, releases, exchanges)

	env := map[string]string{"DOPAID_DATA_DIR": cl.seed.Config.DataDir, "DOPAID_DATABASE_URL": database, "DOPAID_LOG_LEVEL": "warn"}
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"audit", "verify"}, &out, &errOut, func(k string) string { return env[k] }); code != 0 {
		t.Errorf("dopaid audit verify = %d:\n%s%s", code, out.String(), errOut.String())
	}
}

// load is concurrent clients driving a cluster until stopped.
type load struct {
	cl      *cluster
	pm      storage.Permit
	workers []*loadWorker
	quit    chan struct{}
	wg      sync.WaitGroup
	// exchanges counts code exchanges whose tokens a client received;
	// consents and withdrawals, the citizens' answers the pages confirmed.
	exchanges   atomic.Int64
	consents    atomic.Int64
	withdrawals atomic.Int64
	ops         atomic.Int64
	// retries counts requests sent again to another replica.
	retries atomic.Int64
	mu      sync.Mutex
	errs    []string
}

// loadWorker is one client: one registered system under the load's
// permit, one citizen signed on in the worker's browser (hc's cookies), its
// current tokens, and what the pages last told the citizen of the consent.
type loadWorker struct {
	ld      *load
	n       int
	c       testClient
	citizen string
	hc      *http.Client
	next    int
	tok     tokenResponse
	consent consentState
	// again says a step of the current sign-in or withdrawal was retried.
	again bool
	ops   atomic.Int64
	// outage: answers of 5xx are retried as a failed connection is (the
	// database is down), not counted as errors.
	outage bool
}

// errInFlight says a step was retried after its first attempt may have
// been committed (the connection broke before the answer): a refused retry
// is then expected (a code or refresh token used once), and the client
// starts a new sign-in.
var errInFlight = errors.New("the first attempt may have been committed")

// consentState is what a worker's citizen was last told of the consent:
// unknown after an answer lost to a failed replica.
type consentState int

const (
	consentUnknown consentState = iota
	consentGiven
	consentWithdrawn
)

func startLoad(t *testing.T, cl *cluster, n int, outage bool) *load {
	t.Helper()
	ld := &load{cl: cl, quit: make(chan struct{}), pm: permitFor(t, cl.seed, "load-agency", namesOnly)}
	for i := range n {
		w := &loadWorker{ld: ld, n: i, next: i, outage: outage,
			c: newTestClient(t, cl.seed, storage.Client{ID: fmt.Sprintf("load-%d", i), AuthMethod: storage.AuthMethodSecretBasic,
				PermitID: ld.pm.ID, Scopes: []string{"openid", "given_name", "family_name", "offline_access"}}),
			citizen: loadCitizen(t, cl.seed, i),
			hc:      &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
		w.hc.Jar = signedOnJar(t, cl, w.citizen)
		ld.workers = append(ld.workers, w)
	}
	for _, w := range ld.workers {
		ld.wg.Add(1)
		go w.run()
	}
	t.Cleanup(func() { ld.halt() })
	return ld
}

func (ld *load) halt() {
	select {
	case <-ld.quit:
	default:
		close(ld.quit)
	}
	ld.wg.Wait()
}

func (ld *load) total() int64 { return ld.ops.Load() }

func (ld *load) fail(format string, args ...any) {
	ld.mu.Lock()
	ld.errs = append(ld.errs, fmt.Sprintf(format, args...))
	ld.mu.Unlock()
}

// waitOps waits until every worker has completed k more operations than
// now; it fails at once if a worker has failed.
func (ld *load) waitOps(t *testing.T, k int64) {
	t.Helper()
	want := make([]int64, len(ld.workers))
	for i, w := range ld.workers {
		want[i] = w.ops.Load() + k
	}
	waitFor(t, fmt.Sprintf("every client completes %d more operations", k), func() bool {
		ld.mu.Lock()
		errs := ld.errs
		ld.mu.Unlock()
		if len(errs) > 0 {
			t.Fatalf("clients failed:\n%s", strings.Join(errs, "\n"))
		}
		for i, w := range ld.workers {
			if w.ops.Load() < want[i] {
				return false
			}
		}
		return true
	})
}

func (ld *load) stop(t *testing.T) {
	t.Helper()
	ld.halt()
	if len(ld.errs) > 0 {
		t.Fatalf("clients failed:\n%s", strings.Join(ld.errs, "\n"))
	}
	t.Logf("load: %d operations, %d code exchanges, %d requests retried on another replica", ld.ops.Load(), ld.exchanges.Load(), ld.retries.Load())
}

// checkTokens checks that the tokens every client holds work on every
// surviving replica: userinfo on each, then a refresh.
func (ld *load) checkTokens(t *testing.T, survivors []int) {
	t.Helper()
	for _, w := range ld.workers {
		if w.tok.AccessToken == "" {
			continue
		}
		for _, i := range survivors {
			if r := userinfo(t, ld.cl.at(i), w.tok.AccessToken); r.status != http.StatusOK {
				t.Errorf("client %d: its access token on replica %d: status %d", w.n, i, r.status)
			}
		}
		w.c.refresh(t, ld.cl.at(survivors[0]), w.tok.RefreshToken).tokens(t)
	}
}

func (w *loadWorker) run() {
	defer w.ld.wg.Done()
	ctx := context.Background()
	for k := 0; ; k++ {
		select {
		case <-w.ld.quit:
			return
		default:
		}
		var err error
		switch {
		case w.tok.AccessToken == "" || k%5 == 0:
			err = w.signIn(ctx)
		case k%10 == 7 && w.consent == consentGiven:
			err = w.withdraw()
		case k%2 == 1:
			err = w.refresh()
		default:
			err = w.userinfo()
		}
		if errors.Is(err, errInFlight) {
			w.tok = tokenResponse{} // start again with a new sign-in
			w.consent = consentUnknown
			continue
		}
		if err != nil {
			w.ld.fail("client %d: %v", w.n, err)
			return
		}
		w.ops.Add(1)
		w.ld.ops.Add(1)
	}
}

// send sends the request that build makes for a replica's base URL,
// starting with the next replica in turn and moving on to another when the
// connection fails (or, during an outage, on a 5xx answer). retried says
// whether an earlier attempt may have reached a server.
func (w *loadWorker) send(build func(base string) (*http.Request, error)) (r reply, retried bool, err error) {
	urls := w.ld.cl.urls
	deadline := time.Now().Add(time.Minute)
	for {
		i := w.next % len(urls)
		w.next++
		req, err := build(urls[i])
		if err != nil {
			return reply{}, retried, err
		}
		resp, err := w.hc.Do(req)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && !(w.outage && resp.StatusCode >= 500) {
				return reply{status: resp.StatusCode, header: resp.Header, body: body}, retried, nil
			}
		}
		retried = true
		w.ld.retries.Add(1)
		if time.Now().After(deadline) {
			return reply{}, retried, fmt.Errorf("%s %s: no replica answered for a minute (last: %v)", req.Method, req.URL.Path, err)
		}
		select {
		case <-w.ld.quit:
			return reply{}, retried, errInFlight
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// unexpected is the error for an answer r to what, or errInFlight when the
// step was retried (a refusal is then the expected answer to a replay).
func unexpected(what string, r reply, retried bool) error {
	if retried {
		return errInFlight
	}
	return fmt.Errorf("%s: status %d: %.300s", what, r.status, r.body)
}

// loadCitizen puts the load's citizen i in the registry and returns its ID.
func loadCitizen(t *testing.T, ts *testServer, i int) string {
	t.Helper()
	d := []byte(fmt.Sprintf("330010%06d", i))
	for k := range d {
		d[k] -= '0'
	}
	pid := fmt.Sprintf("330010%06d%d", i, pidCheckDigit(d))
	now := time.Now()
	c := storage.Citizen{ID: fmt.Sprintf("citizen-load-%d", i), PID: pid,
		NameTH:    storage.Name{Title: "นาง", First: "สมหญิง", Last: fmt.Sprintf("ทดสอบ%d", i)},
		NameEN:    storage.Name{Title: "Mrs.", First: "Somying", Last: fmt.Sprintf("Test%d", i)},
		Birthdate: storage.BEDate{Year: 2530, Month: 2, Day: 1}, Sex: storage.SexFemale,
		Address: storage.Address{HouseNo: "1", Subdistrict: "พระบรมมหาราชวัง", District: "พระนคร", Province: "กรุงเทพมหานคร", PostalCode: "10200"},
		Status:  storage.StatusAlive, ContentHash: "h" + pid, CreatedAt: now, UpdatedAt: now}
	if _, err := ts.Store.UpsertCitizens(context.Background(), []storage.Citizen{c}); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// signedOnJar is a browser's cookie jar holding a sign-on session of the
// citizen, as the login pages leave it after a sign-in (the sign-in with
// TOTP itself is the hopping test's; its codes are single-use per step).
// The replicas share one host, so the cookie goes to each of them.
func signedOnJar(t *testing.T, cl *cluster, citizenID string) http.CookieJar {
	t.Helper()
	b := signedInBrowser(t, cl.seed, citizenID)
	jar, _ := cookiejar.New(nil)
	for _, u := range cl.urls {
		base, _ := url.Parse(u)
		jar.SetCookies(base, b.c.Jar.Cookies(mustParseURL(cl.seed.URL)))
	}
	return jar
}

// signIn runs a code flow whose steps go to different replicas: authorize;
// the login page, which signs the citizen in with the browser's sign-on
// session; the consent page when the citizen has not consented (or has
// withdrawn), answered "allow"; the callback; the code exchange.
func (w *loadWorker) signIn(ctx context.Context) error {
	w.again = false
	b := make([]byte, 32)
	rand.Read(b)
	verifier := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {w.c.ID}, "redirect_uri": {w.c.Redirect},
		"scope": {"openid given_name family_name offline_access"}, "state": {"st"}, "nonce": {"n"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	r, _, err := w.get(op.PathAuthorize + "?" + q.Encode())
	if err != nil {
		return err
	}
	loc := r.location()
	if w.outage && r.status == http.StatusFound && loc != nil && loc.Query().Get("error") == "server_error" {
		return errInFlight
	}
	if r.status != http.StatusFound || loc == nil || loc.Query().Get("authRequestID") == "" {
		return unexpected("authorize", r, w.again)
	}
	id := loc.Query().Get("authRequestID")

	// The login page: signed on, the citizen goes on at once — asked for
	// consent (on this page or the one it leads to) or, consent
	// remembered, back to the provider.
	r, _, err = w.get(login.URL(id))
	if err != nil {
		return err
	}
	next := r.location()
	asked := false
	if next != nil && strings.HasPrefix(next.Path, login.Path+"/consent") {
		r, _, err = w.get(next.RequestURI())
		if err != nil {
			return err
		}
	}
	if r.status == http.StatusOK {
		asked = true
		if !bytes.Contains(r.body, []byte(`name="decision"`)) {
			return unexpected("consent page", r, w.again)
		}
		form := url.Values{"csrf": {w.cookie("dopaid-csrf")}, "authRequestID": {id}, "decision": {"allow"}}
		r, _, err = w.post(login.Path+"/consent", form)
		if err != nil {
			return err
		}
		if next = r.location(); (r.status != http.StatusFound && r.status != http.StatusSeeOther) || next == nil {
			return unexpected("consent", r, w.again)
		}
		if !w.again {
			w.ld.consents.Add(1)
		}
	}
	// The login pages answer the client themselves, with the code made as
	// the request completed; only where the provider could not say that the
	// permit is in force do they send the browser to its callback.
	answered := next != nil && strings.HasPrefix(next.String(), w.c.Redirect+"?") && next.Query().Get("code") != ""
	if !answered && (next == nil || !strings.HasPrefix(next.Path, op.PathCallback)) {
		// What the store holds of the request tells a lost request from
		// a completed one.
		var ar storage.AuthRequest
		var err error
		for range 100 { // the test's pool may hold connections a restart ended
			if ar, err = w.ld.cl.seed.Store.AuthRequest(ctx, id, time.Now()); err == nil || errors.Is(err, storage.ErrNotFound) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		return unexpected(fmt.Sprintf("sign-in (consent asked: %v; the request: done %v, %v) (want the answer to the client)", asked, ar.Done, err), r, w.again)
	}
	// Allowed now or before: the provider goes on only with a consent.
	w.consent = consentGiven

	back := next
	if !answered {
		r, _, err = w.get(next.RequestURI())
		if err != nil {
			return err
		}
		back = r.location()
		if w.outage && r.status == http.StatusFound && back != nil && back.Query().Get("error") == "server_error" {
			// The provider told the system it failed (the database was
			// down): the system starts the sign-in again.
			return errInFlight
		}
		if r.status != http.StatusFound || back == nil || back.Query().Get("code") == "" {
			return unexpected("callback", r, w.again)
		}
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")}, "redirect_uri": {w.c.Redirect}, "code_verifier": {verifier}}
	tok, err := w.token("code exchange", form)
	if err != nil {
		return err
	}
	w.tok = tok
	w.ld.exchanges.Add(1)
	return nil
}

// withdrawPath finds the withdrawal form's address on the citizen's page.
var withdrawPath = regexp.MustCompile(`/login/me/consents/[^/"]+/withdraw`)

// withdraw withdraws the citizen's consent on the citizen's page, as the
// confirmation page's form does. The withdrawal revokes the tokens issued
// under it: the worker signs in again next.
func (w *loadWorker) withdraw() error {
	w.again = false
	r, _, err := w.get(login.Path + "/me")
	if err != nil {
		return err
	}
	m := withdrawPath.Find(r.body)
	if r.status != http.StatusOK || m == nil {
		return unexpected("the citizen's page (want a consent to withdraw)", r, w.again)
	}
	r, _, err = w.post(string(m), url.Values{"csrf": {w.cookie("dopaid-csrf")}})
	if err != nil {
		return err
	}
	if loc := r.location(); r.status != http.StatusSeeOther || loc == nil || loc.Query().Get("notice") != "withdrawn" {
		return unexpected("withdraw", r, w.again)
	}
	w.ld.withdrawals.Add(1)
	w.consent = consentWithdrawn
	w.tok = tokenResponse{}
	return nil
}

// get and post send a step of a sign-in or withdrawal; a step retried on
// another replica sets again, so that a refusal of a later step (of a
// request its first attempt may have completed) is expected.
func (w *loadWorker) get(path string) (reply, bool, error) {
	r, retried, err := w.send(func(base string) (*http.Request, error) {
		return http.NewRequest(http.MethodGet, base+path, nil)
	})
	w.again = w.again || retried
	return r, retried, err
}

func (w *loadWorker) post(path string, form url.Values) (reply, bool, error) {
	r, retried, err := w.send(func(base string) (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		return req, err
	})
	w.again = w.again || retried
	return r, retried, err
}

// cookie is the value of the worker's browser cookie name.
func (w *loadWorker) cookie(name string) string {
	for _, c := range w.hc.Jar.Cookies(mustParseURL(w.ld.cl.urls[0])) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func mustParseURL(u string) *url.URL {
	p, err := url.Parse(u)
	if err != nil {
		panic(err)
	}
	return p
}

// location is the answer's Location, nil when it has none.
func (r reply) location() *url.URL {
	loc, err := url.Parse(r.header.Get("Location"))
	if err != nil || r.header.Get("Location") == "" {
		return nil
	}
	return loc
}

// checkConsents checks that each citizen's consent is in the store as the
// pages last told the citizen (given, or withdrawn), and that the trail
// records at least every consent and withdrawal the pages confirmed.
func (ld *load) checkConsents(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	for _, w := range ld.workers {
		// After a database restart the test's own pool may still hold a
		// connection the server ended: read again until the store answers.
		var err error
		waitFor(t, "the test's store reads the consent", func() bool {
			_, err = ld.cl.seed.Store.Consent(ctx, w.citizen, ld.pm.ID, namesOnly.Code)
			return err == nil || errors.Is(err, storage.ErrNotFound)
		})
		switch {
		case w.consent == consentGiven && err != nil:
			t.Errorf("client %d: the citizen was told the consent is given; the store: %v", w.n, err)
		case w.consent == consentWithdrawn && !errors.Is(err, storage.ErrNotFound):
			t.Errorf("client %d: the citizen was told the consent is withdrawn; the store: %v", w.n, err)
		}
	}
	count := func(typ string) int64 {
		var es []storage.AuditEntry
		waitFor(t, "the test's store reads the trail", func() bool {
			var err error
			es, err = ld.cl.seed.Store.AuditEntries(ctx, storage.AuditFilter{Types: []string{typ}, PermitID: ld.pm.ID})
			return err == nil
		})
		var n int64
		for _, e := range es {
			if e.Outcome == "" || e.Outcome == "success" {
				n++
			}
		}
		return n
	}
	if got, want := count(storage.AuditConsentGiven), ld.consents.Load(); got < want {
		t.Errorf("%d consents recorded, the pages confirmed %d", got, want)
	}
	if got, want := count(storage.AuditConsentWithdrawn), ld.withdrawals.Load(); got < want {
		t.Errorf("%d withdrawals recorded, the pages confirmed %d", got, want)
	}
	t.Logf("consents: %d given and %d withdrawn through the pages", ld.consents.Load(), ld.withdrawals.Load())
}

func (w *loadWorker) refresh() error {
	tok, err := w.token("refresh", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {w.tok.RefreshToken}})
	if err != nil {
		return err
	}
	w.tok = tok
	return nil
}

func (w *loadWorker) token(what string, form url.Values) (tokenResponse, error) {
	r, retried, err := w.send(func(base string) (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, base+op.PathToken, strings.NewReader(form.Encode()))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(w.c.ID), url.QueryEscape(w.c.Secret))
		return req, nil
	})
	if err != nil {
		return tokenResponse{}, err
	}
	var tok tokenResponse
	if r.status != http.StatusOK || json.Unmarshal(r.body, &tok) != nil || tok.AccessToken == "" || tok.RefreshToken == "" {
		return tokenResponse{}, unexpected(what, r, retried)
	}
	return tok, nil
}

func (w *loadWorker) userinfo() error {
	r, _, err := w.send(func(base string) (*http.Request, error) {
		req, err := http.NewRequest(http.MethodGet, base+op.PathUserinfo, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+w.tok.AccessToken)
		return req, nil
	})
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		// Userinfo commits nothing: a refusal is wrong even after a retry.
		return fmt.Errorf("userinfo: status %d: %.200s", r.status, r.body)
	}
	return nil
}
