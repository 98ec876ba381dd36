package login

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
)

// ThrottlePolicy is the lock-out policy of sign-in and proofing. Someone who
// knows a citizen's ID number must not be able to keep that citizen out, and
// nobody may guess a 6-digit code, so failures are counted three ways, in
// the shared store (every replica sees the same counters, and each count is
// one atomic update of one row):
//
//   - per ID number in one browser (a device cookie): FreeTries failures
//     cost nothing; each further one makes that browser wait Delay,
//     doubling up to MaxDelay. An attacker's browser slows down; the
//     citizen's own browser does not.
//   - per client address, any ID number: PerAddr failures cost nothing, then
//     the same progressive delay for that address.
//   - per ID number, from every browser: at PerID failures the ID number is
//     locked for LockBase, doubling with each further failure up to LockMax
//     (proofing: LockBase each time, so that the way back in is never shut
//     for long). A browser in which the citizen then proves their identity
//     again (registry and face) passes the sign-in lock for ExemptFor.
//
// A known browser — one in which the ID number signed in successfully
// within KnownFor — passes the ID number's lock (sign-in and proofing) and
// the address's delays: it is counted on its own counter only. Its device
// cookie is random and only the citizen's browser holds it, so someone who
// merely knows the ID number cannot keep the citizen out of their usual
// browser, nor can a guesser sharing the citizen's address (carrier-grade
// NAT) slow them down.
//
// The failures of a browser or an address are forgotten after Window without
// one, those of an ID number after storage.ThrottleWindow (24 h) without one.
// Answers say how long to wait, never which field was wrong.
//
// Worst case for a 6-digit TOTP code (defaults): with no browser exempt, an
// ID number takes at most PerID + 6 = 16 guesses in any 24 hours — 10
// before the first lock, then one as each lock of 15 min, 30 min, 1 h, 2 h,
// 4 h and 8 h ends (15 h 45 min in all; the next lock, 16 h, ends after the
// day), and the count is forgotten only after 24 hours without a guess.
// Each guess is counted before the code is checked, atomically, so parallel
// requests on any number of replicas take no more. A guess hits one of the
// 3 codes accepted (previous, current, next 30-second step) with probability
// 3×10⁻⁶: at most 4.8×10⁻⁵ a day, under 1.8 % over a year of continuous
// attack, every failure recorded in the citizen's history. A browser
// exempted by a fresh face verification adds at most PerID guesses of its
// own before its exemption no longer applies.
//
// Over longer times a bound per day is not enough (an attacker who waits
// for the count to be forgotten starts again), so failures are also counted
// without forgetting: after PerIDTotal consecutive failed sign-ins on an ID
// number — no successful sign-in and no re-proofing in between, however
// long it takes — the code alone no longer signs in with it, except from a
// known browser, until the citizen proves their identity again (NIST SP 800-63B §5.2.2
// asks for at most 100). The chance that an attacker ever gets in by
// guessing between two of the citizen's own sign-ins is then at most
// PerIDTotal × 3×10⁻⁶ = 3×10⁻⁴ (defaults).
type ThrottlePolicy struct {
	FreeTries int           // failures per ID number and browser before delays (default 3)
	Delay     time.Duration // first delay (default 30 s)
	MaxDelay  time.Duration // longest delay (default 15 min)
	Window    time.Duration // a browser's or address's failures are forgotten after this without one (default 1 h)
	PerAddr   int           // failures per client address before delays (default 50)
	PerID     int           // failures per ID number, all browsers, before the lock (default 10)
	LockBase  time.Duration // first lock of an ID number (default 15 min)
	LockMax   time.Duration // longest lock of an ID number (default 24 h)
	ExemptFor time.Duration // how long re-proofing exempts a browser from the ID number's lock (default 24 h)
	KnownFor  time.Duration // how long a successful sign-in makes a browser known for the ID number (default 180 days)
	// PerIDTotal consecutive failed sign-ins on an ID number, never
	// forgotten by time, require proving identity again (default 100).
	PerIDTotal int
}

// totalKept is how long the consecutive-failure count of an ID number is
// kept after its last failure (a year: in effect until a success or a
// re-proofing resets it).
const totalKept = 365 * 24 * time.Hour

func (p ThrottlePolicy) withDefaults() ThrottlePolicy {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if p.FreeTries <= 0 {
		p.FreeTries = 3
	}
	if p.PerAddr <= 0 {
		p.PerAddr = 50
	}
	if p.PerID <= 0 {
		p.PerID = 10
	}
	if p.PerIDTotal <= 0 {
		p.PerIDTotal = 100
	}
	def(&p.Delay, 30*time.Second)
	def(&p.MaxDelay, 15*time.Minute)
	def(&p.Window, time.Hour)
	def(&p.LockBase, 15*time.Minute)
	def(&p.LockMax, 24*time.Hour)
	def(&p.ExemptFor, 24*time.Hour)
	def(&p.KnownFor, 180*24*time.Hour)
	return p
}

// doubling returns base·2^n, capped at max.
func doubling(base, max time.Duration, n int) time.Duration {
	d := base << min(n, 30)
	if d > max || d <= 0 {
		return max
	}
	return d
}

// gate names the counters an attempt on one ID number from one browser and
// address counts against. ID numbers and browsers appear only as keyed hashes.
type gate struct {
	// counted: admit counted this attempt on the ID number (it does not for
	// a browser exempt from the ID number's lock).
	counted bool
	kind    string // "signin", "proof" or "enrol"
	id      string // the ID number, every browser
	browser string // the ID number in this browser
	addr    string // the client address, every ID number
	proven  string // this browser proved the ID number's identity again (its LockedUntil ends the exemption)
	total   string // consecutive failed sign-ins on the ID number, not forgotten by time
	known   string // the ID number signed in in this browser ("" without a device cookie)
}

const deviceCookie = "dopaid-device"

// device returns the browser's device identifier, minting the cookie when
// there is none. It is random and says nothing; only the browser holds it,
// so nobody else can make failures count against it.
func (h *Handler) device(w http.ResponseWriter, r *http.Request) string {
	if v := h.cookie(r, deviceCookie); len(v) >= 43 {
		return v
	}
	v, err := keys.RandomToken(32)
	if err != nil {
		// Without a cookie the attempt still counts per ID number and
		// address; it only gets no browser of its own.
		return ""
	}
	h.setCookie(w, deviceCookie, v, 400*24*time.Hour, http.SameSiteLaxMode)
	r.AddCookie(&http.Cookie{Name: h.cookieName(deviceCookie), Value: v})
	return v
}

func (h *Handler) gate(w http.ResponseWriter, r *http.Request, kind, pid string) gate {
	k, dev := h.cfg.ThrottleKey, h.device(w, r)
	known := ""
	if dev != "" {
		known = "signin:known:" + mac(k, pid, dev)
	}
	return gate{
		kind:    kind,
		id:      kind + ":pid:" + mac(k, pid),
		browser: kind + ":browser:" + mac(k, pid, dev),
		addr:    kind + ":addr:" + mac(k, h.clientAddr(r)),
		proven:  "signin:proven:" + mac(k, pid, dev),
		total:   "signin:total:" + mac(k, pid),
		known:   known,
	}
}

// wait is a refusal to check an attempt: how long until one may be made,
// and whether it is the ID number's sign-in that is locked (rather than this
// browser or address being slowed down), which proving identity again lifts.
type wait struct {
	d  time.Duration
	id bool
	// proof: the ID number's sign-in needs the citizen to prove their
	// identity again (PerIDTotal); waiting does not help.
	proof bool
}

func (w wait) refused() bool { return w.d > 0 || w.proof }

// admit decides whether an attempt may be checked and, if so, counts it as
// a failure of the ID number and of the browser before the check, each in
// one atomic update: parallel guesses cannot all pass a check made before
// any of them has failed. After the check, a success calls succeeded (or
// matched), a failure failed (which counts the address). A browser exempt
// from the ID number's lock counts on its own counter only: its citizen's
// attempts neither lengthen the lock for others nor use up their allowance,
// and past PerID failures of its own it is exempt no more.
func (h *Handler) admit(ctx context.Context, g *gate) (wait, error) {
	now := h.now()
	exempt, w, err := h.screen(ctx, now, *g)
	if err != nil || w.refused() {
		return w, err
	}
	us := h.admission(g, exempt, now, &w)
	err = h.cfg.Store.SignIn(ctx, storage.SignIn{Throttles: us}, now, nil)
	return w, err
}

// admission is admit's counter updates, in order: applied to the counters,
// they set *w to the wait of a refused attempt and g.counted. The three
// counters change in one transaction, in order; once one refuses, the later
// ones stay as they are (the earlier counts stay taken, on the safe side).
func (h *Handler) admission(g *gate, exempt bool, now time.Time, w *wait) []storage.ThrottleUpdate {
	p := h.cfg.Throttle
	g.counted = false
	us := []storage.ThrottleUpdate{{Key: g.id, Update: func(t storage.Throttle) storage.Throttle {
		*w, g.counted = wait{}, false
		if exempt {
			return t
		}
		if now.Before(t.LockedUntil) {
			*w = wait{d: t.LockedUntil.Sub(now), id: g.kind == "signin"}
			return t
		}
		g.counted = true
		t.Failures++
		t.WindowStart = now // forgotten a whole ThrottleWindow after the last failure
		if over := t.Failures - p.PerID; over >= 0 {
			lock := p.LockBase
			if g.kind == "signin" {
				lock = doubling(p.LockBase, p.LockMax, over)
			}
			if until := now.Add(lock); until.After(t.LockedUntil) {
				t.LockedUntil = until
			}
		}
		return t
	}}}
	if g.kind == "signin" {
		us = append(us, storage.ThrottleUpdate{Key: g.total, Update: func(t storage.Throttle) storage.Throttle {
			if w.refused() || !g.counted {
				return t
			}
			if t.Failures >= p.PerIDTotal {
				// The ID number's count stays taken, on the safe side.
				*w = wait{id: true, proof: true}
				return t
			}
			t.Failures++
			t.WindowStart, t.LockedUntil = now, now.Add(totalKept)
			return t
		}})
	}
	us = append(us, storage.ThrottleUpdate{Key: g.browser, Update: func(t storage.Throttle) storage.Throttle {
		if w.refused() {
			return t
		}
		if now.Before(t.LockedUntil) {
			// Another request of this browser got in first; the ID
			// number's count stays taken, on the safe side.
			*w = wait{d: t.LockedUntil.Sub(now)}
			return t
		}
		return h.countFailure(t, now, p.FreeTries)
	}})
	return us
}

// settle applies the updates us in order to the counters cs (by key,
// changed in place) and returns updates that write the results (removals
// stay removals), for a caller that is handed the counters before it
// decides (storage.SignInAttempt.Check). A key not in cs is left to the
// store, with its update as it is.
func settle(cs map[string]storage.Throttle, us []storage.ThrottleUpdate) []storage.ThrottleUpdate {
	out := make([]storage.ThrottleUpdate, 0, len(us))
	for _, u := range us {
		t, ok := cs[u.Key]
		switch {
		case !ok:
			out = append(out, u)
		case u.Update == nil:
			cs[u.Key] = storage.Throttle{Key: u.Key}
			out = append(out, u)
		default:
			t = u.Update(t)
			t.Key = u.Key
			cs[u.Key] = t
			out = append(out, storage.ThrottleUpdate{Key: u.Key, Update: func(storage.Throttle) storage.Throttle { return t }})
		}
	}
	return out
}

// countFailure counts one failure on a browser's or an address's counter:
// past free failures, a delay that doubles with each further one.
func (h *Handler) countFailure(t storage.Throttle, now time.Time, free int) storage.Throttle {
	p := h.cfg.Throttle
	if !t.WindowStart.IsZero() && now.Sub(t.WindowStart) >= p.Window && !now.Before(t.LockedUntil) {
		t.Failures, t.LockedUntil = 0, time.Time{}
	}
	t.Failures++
	t.WindowStart = now
	if over := t.Failures - free; over > 0 {
		t.LockedUntil = now.Add(doubling(p.Delay, p.MaxDelay, over-1))
	}
	return t
}

// slowing names the counters whose delays apply to an attempt: the
// browser's, and the address's unless the browser is exempt (known to the
// ID number, or proven again).
func (h *Handler) slowing(g gate, exempt bool) []string {
	if exempt {
		return []string{g.browser}
	}
	return []string{g.addr, g.browser}
}

// delayed reports the longest wait among counters that only slow down
// (a browser's, an address's).
func (h *Handler) delayed(ctx context.Context, now time.Time, keys ...string) (wait, error) {
	ts, err := h.cfg.Store.Throttles(ctx, keys, now)
	if err != nil {
		return wait{}, err
	}
	return longestDelay(ts, now), nil
}

// longestDelay is the wait of the counters ts (see delayed).
func longestDelay(ts []storage.Throttle, now time.Time) wait {
	var w wait
	for _, t := range ts {
		if d := t.LockedUntil.Sub(now); d > w.d {
			w.d = d
		}
	}
	return w
}

// screen reports whether this browser is exempt from the ID number's lock
// (the ID number signed in here before, for sign-in and proofing, or the
// citizen proved their identity again here, for sign-in; and this browser
// has not failed PerID times since), and the wait of the counters that
// then only slow the attempt down (slowing, delayed). Every counter either
// may need is read in one statement: a sign-in read them one at a time,
// up to five reads before its write transaction.
func (h *Handler) screen(ctx context.Context, now time.Time, g gate) (bool, wait, error) {
	keys := []string{g.browser, g.addr}
	if g.known != "" && (g.kind == "signin" || g.kind == "proof") {
		keys = append(keys, g.known)
	}
	if g.kind == "signin" {
		keys = append(keys, g.proven)
	}
	ts, err := h.cfg.Store.Throttles(ctx, keys, now)
	if err != nil {
		return false, wait{}, err
	}
	byKey := make(map[string]storage.Throttle, len(ts))
	for _, t := range ts {
		byKey[t.Key] = t
	}
	ok := false
	if g.known != "" && (g.kind == "signin" || g.kind == "proof") {
		ok = now.Before(byKey[g.known].LockedUntil)
	}
	if !ok && g.kind == "signin" {
		ok = now.Before(byKey[g.proven].LockedUntil)
	}
	exempt := ok && byKey[g.browser].Failures < h.cfg.Throttle.PerID
	slow := make([]storage.Throttle, 0, 2)
	for _, k := range h.slowing(g, exempt) {
		slow = append(slow, byKey[k])
	}
	return exempt, longestDelay(slow, now), nil
}

// locked is admit without counting, for steps that count only failures
// (the face step, enrolment): it reports the wait if any counter of g
// refuses an attempt now.
func (h *Handler) locked(ctx context.Context, g gate) (wait, error) {
	now := h.now()
	exempt, w, err := h.screen(ctx, now, g)
	if err != nil || w.refused() || exempt {
		return w, err
	}
	t, err := h.cfg.Store.Throttle(ctx, g.id, now)
	if err != nil || !now.Before(t.LockedUntil) {
		return wait{}, err
	}
	if g.kind == "signin" {
		tt, err := h.cfg.Store.Throttle(ctx, g.total, now)
		if err != nil {
			return wait{}, err
		}
		if tt.Failures >= h.cfg.Throttle.PerIDTotal {
			return wait{id: true, proof: true}, nil
		}
	}
	return wait{d: t.LockedUntil.Sub(now), id: g.kind == "signin"}, nil
}

// failed counts a failed check against the address (admit counted the ID
// number and the browser already).
func (h *Handler) failed(ctx context.Context, g gate) error {
	now := h.now()
	_, err := h.cfg.Store.RecordFailure(ctx, g.addr, now, func(t storage.Throttle) storage.Throttle {
		return h.countFailure(t, now, h.cfg.Throttle.PerAddr)
	})
	return err
}

// recordFailure counts a failure on every counter of g, for steps that do
// not go through admit (the face step, enrolment).
func (h *Handler) recordFailure(ctx context.Context, g gate) error {
	now := h.now()
	p := h.cfg.Throttle
	_, err := h.cfg.Store.RecordFailure(ctx, g.id, now, func(t storage.Throttle) storage.Throttle {
		t.Failures++
		t.WindowStart = now
		if t.Failures >= p.PerID {
			if until := now.Add(p.LockBase); until.After(t.LockedUntil) {
				t.LockedUntil = until
			}
		}
		return t
	})
	if err != nil {
		return err
	}
	_, err = h.cfg.Store.RecordFailure(ctx, g.browser, now, func(t storage.Throttle) storage.Throttle {
		return h.countFailure(t, now, p.FreeTries)
	})
	if err != nil {
		return err
	}
	return h.failed(ctx, g)
}

// succeeded gives back the counts admit took for an attempt that turned
// out right (giveBack) and forgets the browser's failures. The ID number's
// other failures stay: a citizen's success must not give an attacker a
// fresh allowance.
func (h *Handler) succeeded(ctx context.Context, g gate) error {
	return h.cfg.Store.SignIn(ctx, storage.SignIn{Throttles: h.succeededUpdates(g)}, h.now(), nil)
}

// succeededUpdates are the counter changes of succeeded, for a caller that
// writes them with the rest of its request (storage.SignIn).
func (h *Handler) succeededUpdates(g gate) []storage.ThrottleUpdate {
	var us []storage.ThrottleUpdate
	if g.counted {
		us = append(us, storage.ThrottleUpdate{Key: g.id, Update: takeOneBack(h.cfg.Throttle.PerID)})
	}
	if g.kind == "signin" && g.total != "" {
		// The citizen signed in: the failures before were not consecutive
		// with any that follow.
		us = append(us, storage.ThrottleUpdate{Key: g.total})
	}
	if g.kind == "signin" && g.known != "" {
		now := h.now()
		us = append(us, storage.ThrottleUpdate{Key: g.known, Update: func(storage.Throttle) storage.Throttle {
			return storage.Throttle{WindowStart: now, LockedUntil: now.Add(h.cfg.Throttle.KnownFor)}
		}})
	}
	return append(us, storage.ThrottleUpdate{Key: g.browser})
}

// matched gives back the counts admit took for a registry match, so that
// only failures — registry or face — add up for a citizen being proofed.
func (h *Handler) matched(ctx context.Context, g gate) error {
	if g.counted {
		if err := h.giveBack(ctx, g.id, h.cfg.Throttle.PerID); err != nil {
			return err
		}
	}
	return h.giveBack(ctx, g.browser, h.cfg.Throttle.FreeTries+1)
}

// giveBack takes one failure off key's counter; a lock or delay that came
// from that failure alone (the count falls below lockAt) goes with it.
func (h *Handler) giveBack(ctx context.Context, key string, lockAt int) error {
	_, err := h.cfg.Store.RecordFailure(ctx, key, h.now(), takeOneBack(lockAt))
	return err
}

// takeOneBack is the counter update of giveBack.
func takeOneBack(lockAt int) func(storage.Throttle) storage.Throttle {
	return func(t storage.Throttle) storage.Throttle {
		if t.Failures > 0 {
			t.Failures--
		}
		if t.Failures < lockAt {
			t.LockedUntil = time.Time{}
		}
		return t
	}
}

// proven records that the citizen proved their identity again (registry and
// face) in this browser: it passes the ID number's sign-in lock for
// ExemptFor, and its own sign-in failures are forgotten.
func (h *Handler) proven(ctx context.Context, w http.ResponseWriter, r *http.Request, pid string) error {
	g := h.gate(w, r, "signin", pid)
	now := h.now()
	if _, err := h.cfg.Store.RecordFailure(ctx, g.proven, now, func(t storage.Throttle) storage.Throttle {
		return storage.Throttle{WindowStart: now, LockedUntil: now.Add(h.cfg.Throttle.ExemptFor)}
	}); err != nil {
		return err
	}
	if err := h.cfg.Store.ClearThrottle(ctx, g.total); err != nil {
		return err
	}
	return h.cfg.Store.ClearThrottle(ctx, g.browser)
}

// waitMessage is the answer to a refused attempt, in the page's language:
// how long to wait, and for a locked ID number the way back in. It sets
// Retry-After.
func waitMessage(w http.ResponseWriter, l string, wt wait) string {
	if wt.proof {
		return messages[l]["locked_proof"]
	}
	secs := int((wt.d + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	key := "locked"
	if wt.id {
		key = "locked_id"
	}
	return fmt.Sprintf(messages[l][key], waitText(l, wt.d))
}

// waitText writes a wait rounded up to the second, minute or hour.
func waitText(l string, d time.Duration) string {
	unit := map[string][3]string{"th": {"%d วินาที", "%d นาที", "%d ชั่วโมง"}, "en": {"%d seconds", "%d minutes", "%d hours"}}[l]
	pick := func(i int, n int64) string {
		if l == "en" && n == 1 {
			return [3]string{"1 second", "1 minute", "1 hour"}[i]
		}
		return fmt.Sprintf(unit[i], n)
	}
	up := func(u time.Duration) int64 { return int64((d + u - 1) / u) }
	switch {
	case d <= time.Minute:
		return pick(0, max(up(time.Second), 1))
	case d <= time.Hour:
		return pick(1, up(time.Minute))
	default:
		return pick(2, up(time.Hour))
	}
}
