package main

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/dopaid/dopaid/login"
	"github.com/dopaid/dopaid/op"
	"github.com/dopaid/dopaid/storage"
)

// testClock is the server's injected clock: it stands still unless the test
// moves it, so waits are shown without sleeping.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// citizenServer boots a server on database with the clock and an HTTP face
// service that matches every selfie (a vendor's answer, not the simulator),
// with somchai in the registry and one registered system.
func citizenServer(t *testing.T, database string, clk *testClock) (*testServer, testClient) {
	t.Helper()
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"match":true,"score":0.97,"threshold":0.8,"liveness":"bona_fide","liveness_score":0.99,"vendor":"test-vendor","model_version":"1"}`)
	}))
	t.Cleanup(vendor.Close)
	ts := boot(t, database, func(m *Main) { m.Now = clk.now; m.Config.FaceURL = vendor.URL })
	seedCitizens(t, ts, somchai)
	return ts, newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic, Scopes: []string{"openid", "offline_access"}})
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// citizenPage is a login page as a browser got it.
type citizenPage struct {
	status int
	header http.Header
	body   string
	loc    string
}

// open starts a sign-in at the system and shows the login page (with
// prompt=login: a browser signed in already is asked again); it returns the
// request ID and the page's CSRF token.
func (b *browser) open(ts *testServer, c testClient) (id, csrf string) {
	b.t.Helper()
	u, _ := c.authorizeURL(b.t, ts, func(q url.Values) { q.Set("prompt", "login") })
	id = b.toLogin(ts, u)
	p := b.page(http.MethodGet, ts.URL+login.URL(id), nil, "")
	m := csrfField.FindStringSubmatch(p.body)
	if p.status != http.StatusOK || m == nil {
		b.t.Fatalf("login page: status %d, no CSRF token", p.status)
	}
	return id, html.UnescapeString(m[1])
}

func (b *browser) page(method, u string, body io.Reader, contentType string) citizenPage {
	b.t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return citizenPage{status: resp.StatusCode, header: resp.Header, body: string(raw), loc: resp.Header.Get("Location")}
}

// consentIfAsked follows a sign-in's answer p to the consent page (reached
// by redirect) on the server at base, allows, and returns the answer to
// that; any other answer is returned as it is.
func (b *browser) consentIfAsked(base string, p citizenPage, id, csrf string) citizenPage {
	b.t.Helper()
	if p.status == http.StatusSeeOther && strings.HasPrefix(p.loc, login.Path+"/consent?") {
		p = b.page(http.MethodGet, base+p.loc, nil, "")
	}
	if p.status == http.StatusOK && strings.Contains(p.body, `name="decision"`) {
		p = b.postForm(base+login.Path+"/consent", url.Values{"csrf": {csrf}, "authRequestID": {id}, "decision": {"allow"}})
	}
	return p
}

func (b *browser) postForm(u string, v url.Values) citizenPage {
	b.t.Helper()
	return b.page(http.MethodPost, u, strings.NewReader(v.Encode()), "application/x-www-form-urlencoded")
}

// prove goes through proofing (registry details as given, a selfie the
// face service matches) and enrolment, and returns the new TOTP secret.
func (b *browser) prove(ts *testServer, c testClient, clk *testClock, d proofDetails) string {
	b.t.Helper()
	id, csrf := b.open(ts, c)
	p := b.postForm(ts.URL+login.Path+"/proof", url.Values{"csrf": {csrf}, "authRequestID": {id}, "pid": {d.PID},
		"first_name": {d.First}, "last_name": {d.Last}, "birth_day": {d.Day}, "birth_month": {d.Month}, "birth_year": {d.Year}, "laser": {d.Laser}})
	if p.status != http.StatusSeeOther || p.loc != login.Path+"/face" {
		b.t.Fatalf("registry step: status %d, Location %q, want 303 to the face step; page: %.300s", p.status, p.loc, p.body)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", csrf)
	fw, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Disposition": {`form-data; name="selfie"; filename="selfie.png"`}, "Content-Type": {"image/png"}})
	fw.Write([]byte("\x89PNG\r\n\x1a\nnot really a face"))
	mw.Close()
	p = b.page(http.MethodPost, ts.URL+login.Path+"/face", &body, mw.FormDataContentType())
	if p.status != http.StatusSeeOther || p.loc != login.Path+"/enrol" {
		b.t.Fatalf("face step: status %d, Location %q, want 303 to enrolment; page: %.300s", p.status, p.loc, p.body)
	}
	p = b.page(http.MethodGet, ts.URL+login.Path+"/enrol", nil, "")
	m := regexp.MustCompile(`id="totp-secret">([A-Z2-7 ]+)<`).FindStringSubmatch(p.body)
	if m == nil {
		b.t.Fatalf("enrolment page shows no secret (status %d)", p.status)
	}
	secret := strings.ReplaceAll(m[1], " ", "")
	ts.secret(secret)
	code, _ := totp.GenerateCode(secret, clk.now())
	p = b.postForm(ts.URL+login.Path+"/enrol", url.Values{"csrf": {csrf}, "code": {code}})
	// The codes are shown by a GET, so that a reload or the language
	// switch does not lose them.
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.loc, login.Path+"/recovery") {
		b.t.Fatalf("enrolment: status %d, Location %q, want 303 to the recovery codes", p.status, p.loc)
	}
	p = b.page(http.MethodGet, ts.URL+p.loc, nil, "")
	if p.status != http.StatusOK || !strings.Contains(p.body, `id="recovery-codes"`) {
		b.t.Fatalf("recovery codes: status %d, want the codes", p.status)
	}
	return secret
}

// signInWith posts the sign-in form of a new request.
func (b *browser) signInWith(ts *testServer, c testClient, pid, code string) citizenPage {
	b.t.Helper()
	id, csrf := b.open(ts, c)
	return b.postForm(ts.URL+login.Path+"/signin", url.Values{"csrf": {csrf}, "authRequestID": {id}, "pid": {pid}, "code": {code}})
}

func signedIn(t *testing.T, who string, p citizenPage) *url.URL {
	t.Helper()
	// The sign-in's answer goes straight to the client: its code, made
	// with the completion, and the issuer (RFC 9207).
	loc, err := url.Parse(p.loc)
	if p.status != http.StatusSeeOther || err != nil || loc.Query().Get("code") == "" || loc.Query().Get("iss") == "" ||
		strings.HasPrefix(loc.Path, op.PathCallback) {
		t.Fatalf("%s: status %d, Location %q, want the answer to the client with a code; page: %.300s", who, p.status, p.loc, p.body)
	}
	return loc
}

// refusedToWait checks a 429 that says, in Thai, to wait want (a login.ThrottlePolicy
// message) and says so in Retry-After.
func refusedToWait(t *testing.T, who string, p citizenPage, key, wait string, retryAfter int) {
	t.Helper()
	msg := map[string]string{
		"locked":    "มีการพยายามหลายครั้งเกินไป กรุณารอ %s แล้วลองใหม่",
		"locked_id": "เลขประจำตัวประชาชนนี้ถูกระงับการเข้าสู่ระบบชั่วคราวเพราะมีการพยายามที่ไม่ถูกต้องหลายครั้ง กรุณารอ %s หรือพิสูจน์ตัวตนใหม่ (ข้อมูลทะเบียนราษฎรและใบหน้า) เพื่อเข้าสู่ระบบจากเบราว์เซอร์นี้",
	}[key]
	if p.status != http.StatusTooManyRequests {
		t.Fatalf("%s: status %d, want 429; page: %.300s", who, p.status, p.body)
	}
	if want := fmt.Sprintf(msg, wait); !strings.Contains(html.UnescapeString(p.body), want) {
		t.Errorf("%s: page does not say %q", who, want)
	}
	if got, want := p.header.Get("Retry-After"), fmt.Sprint(retryAfter); got != want {
		t.Errorf("%s: Retry-After = %q, want %q", who, got, want)
	}
	if strings.Contains(p.loc, "callback") {
		t.Errorf("%s: signed in while refused", who)
	}
}

// TestProofingReadsWhatCitizensType: a citizen who types the ID number and
// birthdate in Thai digits, and whose name carries a zero-width joiner and
// sara am typed as nikhahit + sara aa, proves their identity and enrols.
func TestProofingReadsWhatCitizensType(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		clk := &testClock{t: time.Now()}
		ts, c := citizenServer(t, database, clk)
		kham := testCitizen{PID: "3100100000090", TitleTH: "นาย", FirstTH: "คำ", LastTH: "น้ำใจ", TitleEN: "Mr.", FirstEN: "Kham", LastEN: "Namjai",
			Birthdate: storage.BEDate{Year: 2535, Month: 11, Day: 5}, Status: storage.StatusAlive}
		seedCitizens(t, ts, kham)
		for _, tc := range []struct {
			name string
			d    proofDetails
		}{
			{"Thai digits and a zero-width joiner", proofDetails{PID: "๓-๑๐๐๑-๐๐๐๐๐-๐๙-๐", First: "ค\u200dำ", Last: "น\u0e49\u0e4d\u0e32ใจ", Day: "๕", Month: "๑๑", Year: "๒๕๓๕"}},
			{"full-width digits, soft hyphen, zero-width non-joiner", proofDetails{PID: "３１００１００００００９０", First: "ค\u0e4d\u0e32", Last: "น้ำ\u00adใจ\u200c", Day: "０５", Month: "１１", Year: "２５３５"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				b := newBrowser(t)
				secret := b.prove(ts, c, clk, tc.d)
				clk.add(30 * time.Second)
				code, _ := totp.GenerateCode(secret, clk.now())
				// The code typed in Thai digits too.
				thai := strings.Map(func(r rune) rune { return r - '0' + '๐' }, code)
				signedIn(t, "sign-in with a Thai-digit code", newBrowser(t).signInWith(ts, c, tc.d.PID, thai))
			})
		}
	})
}

// TestLockOutCannotKeepCitizenOut: an attacker who knows a citizen's ID
// number fails from one browser; the citizen still signs in from theirs. The
// attacker's browser waits longer after each failure; from many browsers the
// attacker reaches the ID number's lock, which spares the browser the
// citizen signed in with before but applies to a browser the citizen never
// used (a new phone), until the citizen proves their identity again there.
func TestLockOutCannotKeepCitizenOut(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		clk := &testClock{t: time.Now()}
		ts, c := citizenServer(t, database, clk)
		pid := somchai.PID
		secret := newBrowser(t).prove(ts, c, clk, detailsOf(somchai, false))
		code := func() string {
			clk.add(30 * time.Second) // a code works once: each sign-in takes the next step
			s, _ := totp.GenerateCode(secret, clk.now())
			return s
		}
		codeNow := func() string { // for attempts refused before any check
			s, _ := totp.GenerateCode(secret, clk.now())
			return s
		}
		wrong := func() string {
			valid := map[string]bool{}
			for d := -2; d <= 2; d++ {
				s, _ := totp.GenerateCode(secret, clk.now().Add(time.Duration(d)*30*time.Second))
				valid[s] = true
			}
			for _, w := range []string{"000000", "123456", "999999"} {
				if !valid[w] {
					return w
				}
			}
			t.Fatal("no wrong code")
			return ""
		}
		// lockWait is the wait the ID number's lock, ending at end, has now.
		lockWait := func(end time.Time) (string, int) {
			secs := int((end.Sub(clk.now()) + time.Second - 1) / time.Second)
			return fmt.Sprintf("%d นาที", (secs+59)/60), secs
		}

		attacker := newBrowser(t)
		citizen := newBrowser(t) // the citizen's phone, never used to prove identity
		signedIn(t, "citizen before any attack", citizen.signInWith(ts, c, pid, code()))

		// Three failures are free, the fourth makes the browser wait 30 s.
		for i := 1; i <= 4; i++ {
			if p := attacker.signInWith(ts, c, pid, wrong()); p.status != http.StatusUnauthorized {
				t.Fatalf("attacker's failure %d: status %d, want 401", i, p.status)
			}
		}
		refusedToWait(t, "attacker's fifth attempt", attacker.signInWith(ts, c, pid, wrong()), "locked", "30 วินาที", 30)
		signedIn(t, "citizen's own browser after 4 failures elsewhere", citizen.signInWith(ts, c, pid, code()))

		// The delay doubles.
		clk.add(30 * time.Second)
		if p := attacker.signInWith(ts, c, pid, wrong()); p.status != http.StatusUnauthorized {
			t.Fatalf("attacker after the wait: status %d, want 401", p.status)
		}
		refusedToWait(t, "attacker after the fifth failure", attacker.signInWith(ts, c, pid, wrong()), "locked", "60 วินาที", 60)

		// From new browsers the attacker reaches the ID number's lock: ten
		// failures in all.
		for i := 6; i <= 10; i++ {
			if p := newBrowser(t).signInWith(ts, c, pid, wrong()); p.status != http.StatusUnauthorized {
				t.Fatalf("failure %d from a new browser: status %d, want 401", i, p.status)
			}
		}
		lockEnd := clk.now().Add(15 * time.Minute)
		refusedToWait(t, "a new browser at the lock", newBrowser(t).signInWith(ts, c, pid, wrong()), "locked_id", "15 นาที", 900)
		// The browser the citizen signed in with before is known to the ID
		// number: the attacker's lock does not reach it.
		clk.add(time.Minute)
		signedIn(t, "citizen's known browser at the lock", citizen.signInWith(ts, c, pid, code()))
		// A browser the citizen never signed in with (a new phone) is
		// locked like the attacker's.
		phone := newBrowser(t)
		text, secs := lockWait(lockEnd)
		refusedToWait(t, "citizen's new phone at the lock", phone.signInWith(ts, c, pid, codeNow()), "locked_id", text, secs)

		// The citizen proves their identity again on the new phone (and so
		// enrols anew), and signs in there while the lock lasts.
		secret = phone.prove(ts, c, clk, detailsOf(somchai, false))
		signedIn(t, "citizen's new phone after proving identity again", phone.signInWith(ts, c, pid, code()))
		text, secs = lockWait(lockEnd)
		refusedToWait(t, "the attacker meanwhile", newBrowser(t).signInWith(ts, c, pid, codeNow()), "locked_id", text, secs)

		// The lock ends; the next failure locks for twice as long.
		clk.add(lockEnd.Sub(clk.now()))
		if p := newBrowser(t).signInWith(ts, c, pid, wrong()); p.status != http.StatusUnauthorized {
			t.Fatalf("failure after the lock: status %d, want 401", p.status)
		}
		refusedToWait(t, "a new browser at the second lock", newBrowser(t).signInWith(ts, c, pid, wrong()), "locked_id", "30 นาที", 1800)
		ts.secret(pid, storage.FormatPID(pid))
	})
}
