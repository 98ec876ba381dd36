package login

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestGuessesPerDayPerID checks the worst case ThrottlePolicy states: an
// attacker who guesses as fast as the ID number's lock lets them, from a
// new browser (no device cookie) each time, gets at most 16 guesses in any
// 24 hours, over several days, including by waiting for the count to be
// forgotten.
func TestGuessesPerDayPerID(t *testing.T) {
	f := newPortal(t, nil)
	ctx := context.Background()
	start := f.now
	var admitted []time.Time
	for i := 0; f.now.Before(start.Add(5 * 24 * time.Hour)); i++ {
		g := gate{kind: "signin", id: "signin:pid:victim", browser: fmt.Sprintf("signin:browser:%d", i), addr: fmt.Sprintf("signin:addr:%d", i), proven: "signin:proven:none"}
		wt, err := f.h.admit(ctx, &g)
		if err != nil {
			t.Fatal(err)
		}
		if wt.refused() {
			if !wt.id {
				t.Fatalf("a new browser from a new address was refused by something else than the ID number's lock: %+v", wt)
			}
			f.now = f.now.Add(wt.d)
			// Half of the time, go quiet after the lock to be forgotten.
			if len(admitted)%32 == 16 {
				f.now = f.now.Add(24 * time.Hour)
			}
			continue
		}
		admitted = append(admitted, f.now)
		f.now = f.now.Add(time.Second)
	}
	most := 0
	for i, a := range admitted {
		n := 0
		for _, b := range admitted[i:] {
			if b.Sub(a) < 24*time.Hour {
				n++
			}
		}
		most = max(most, n)
	}
	if most != 16 {
		t.Errorf("at most %d guesses in 24 hours, want 16 (the figure ThrottlePolicy and the README state)", most)
	}
	if len(admitted) < 32 {
		t.Errorf("%d guesses in 5 days: the attack did not run", len(admitted))
	}
}

func TestWaitText(t *testing.T) {
	tests := []struct {
		d      time.Duration
		th, en string
	}{
		{300 * time.Millisecond, "1 วินาที", "1 second"},
		{30 * time.Second, "30 วินาที", "30 seconds"},
		{time.Minute, "60 วินาที", "60 seconds"},
		{61 * time.Second, "2 นาที", "2 minutes"},
		{15 * time.Minute, "15 นาที", "15 minutes"},
		{time.Hour + time.Second, "2 ชั่วโมง", "2 hours"},
	}
	for _, tt := range tests {
		if got := waitText("th", tt.d); got != tt.th {
			t.Errorf("waitText(th, %v) = %q, want %q", tt.d, got, tt.th)
		}
		if got := waitText("en", tt.d); got != tt.en {
			t.Errorf("waitText(en, %v) = %q, want %q", tt.d, got, tt.en)
		}
	}
}

// TestConsecutiveFailuresNeedProof: an attacker who paces guesses to the
// locks and waits for the count to be forgotten still gets at most
// PerIDTotal guesses on an ID number in all; then only proving identity
// again lets the citizen sign in with the code, and it starts the count
// afresh. A successful sign-in resets it too.
func TestConsecutiveFailuresNeedProof(t *testing.T) {
	f := newPortal(t, nil)
	ctx := context.Background()
	const pid = "1101700207030"
	// attempt is a sign-in attempt from a browser: a new one (no device
	// cookie) for the attacker, the citizen's own for cookie.
	attempt := func(cookie *http.Cookie) (gate, wait, *http.Cookie) {
		t.Helper()
		w, r := httptest.NewRecorder(), httptest.NewRequest("POST", "/login/signin", nil)
		if cookie != nil {
			r.AddCookie(cookie)
		}
		g := f.h.gate(w, r, "signin", pid)
		wt, err := f.h.admit(ctx, &g)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range w.Result().Cookies() {
			cookie = c
		}
		return g, wt, cookie
	}
	guesses := 0
	for i := 0; ; i++ {
		if i > 100_000 {
			t.Fatal("the attack was never stopped")
		}
		_, wt, _ := attempt(nil)
		if wt.proof {
			break
		}
		if wt.refused() {
			f.now = f.now.Add(wt.d)
			if guesses%16 == 15 {
				f.now = f.now.Add(25 * time.Hour) // be forgotten
			}
			continue
		}
		guesses++
		f.now = f.now.Add(time.Second)
	}
	if want := 100; guesses != want {
		t.Errorf("%d guesses before proof was required, want %d (PerIDTotal)", guesses, want)
	}
	// Waiting does not help, and the citizen's own browser is refused too.
	f.now = f.now.Add(30 * 24 * time.Hour)
	_, wt, own := attempt(nil)
	if !wt.proof {
		t.Fatalf("a month later: %+v, want proof still required", wt)
	}
	if !strings.Contains(waitMessage(httptest.NewRecorder(), "en", wt), "Prove your identity again") {
		t.Errorf("the answer does not say how to get back in: %q", waitMessage(httptest.NewRecorder(), "en", wt))
	}
	// The citizen proves their identity again in their browser: the code
	// signs in there, and a success starts the count afresh.
	w, r := httptest.NewRecorder(), httptest.NewRequest("POST", "/login/proof", nil)
	r.AddCookie(own)
	if err := f.h.proven(ctx, w, r, pid); err != nil {
		t.Fatal(err)
	}
	g, wt, _ := attempt(own)
	if wt.refused() {
		t.Fatalf("after re-proofing: %+v, want admitted", wt)
	}
	if err := f.h.succeeded(ctx, g); err != nil {
		t.Fatal(err)
	}
	if th, err := f.h.cfg.Store.Throttle(ctx, g.total, f.now); err != nil || th.Failures != 0 {
		t.Errorf("after a successful sign-in the consecutive count is %d (err %v), want 0", th.Failures, err)
	}
}

// TestKnownBrowserPassesAddressDelays: a guesser behind the same address as
// the citizen (carrier-grade NAT) exhausts the address's allowance; the
// browser the citizen signed in with before is not slowed down, a new one is.
func TestKnownBrowserPassesAddressDelays(t *testing.T) {
	f := newPortal(t, nil)
	ctx := context.Background()
	g := func(id, dev string) gate {
		return gate{kind: "signin", id: "signin:pid:" + id, browser: "signin:browser:" + id + dev, addr: "signin:addr:shared",
			proven: "signin:proven:" + id + dev, total: "signin:total:" + id, known: "signin:known:" + id + dev}
	}
	citizen := g("citizen", "phone")
	if wt, err := f.h.admit(ctx, &citizen); err != nil || wt.refused() {
		t.Fatalf("first sign-in: %+v, %v", wt, err)
	}
	if err := f.h.succeeded(ctx, citizen); err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		a := g(fmt.Sprint("victim-", i), "attacker")
		wt, err := f.h.admit(ctx, &a)
		if err != nil {
			t.Fatal(err)
		}
		if !wt.refused() {
			if err := f.h.failed(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
	}
	other := g("neighbour", "new-phone")
	if wt, _ := f.h.admit(ctx, &other); !wt.refused() {
		t.Fatal("a new browser behind the guessed-from address was not slowed down: the attack did not run")
	}
	citizen = g("citizen", "phone")
	if wt, err := f.h.admit(ctx, &citizen); err != nil || wt.refused() {
		t.Errorf("the citizen's known browser behind the same address: %+v, %v, want admitted", wt, err)
	}
}

// TestClientAddrIPv6Bucket: a subscriber's /56 is one address for the
// failure counters, so switching /64s buys a guesser nothing.
func TestClientAddrIPv6Bucket(t *testing.T) {
	f := newPortal(t, nil)
	addr := func(remote string) string {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		return f.h.clientAddr(r)
	}
	if a, b := addr("[2001:db8:0:1::1]:1234"), addr("[2001:db8:0:ff:abcd::9]:4321"); a != b {
		t.Errorf("two /64s of one /56 count apart: %q, %q", a, b)
	}
	if a, b := addr("[2001:db8:0:100::1]:1"), addr("[2001:db8:0:1::1]:1"); a == b {
		t.Errorf("two /56s count as one: %q", a)
	}
	if got := addr("192.0.2.7:80"); got != "192.0.2.7" {
		t.Errorf("IPv4 address %q, want 192.0.2.7", got)
	}
}
