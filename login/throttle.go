package login

import (
	"context"
	"net/http"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// ThrottlePolicy limits failed attempts per ID number and per client
// address. Past the limit a key is locked, for LockBase doubling with each
// further failure up to LockMax. Counters live in the shared store, so
// every replica sees them.
type ThrottlePolicy struct {
	Window   time.Duration // counting window (default 15 min)
	PerID    int           // failures per ID number (default 5)
	PerAddr  int           // failures per client address (default 50)
	LockBase time.Duration // default 1 min
	LockMax  time.Duration // default 1 h
}

func (p ThrottlePolicy) withDefaults() ThrottlePolicy {
	if p.Window == 0 {
		p.Window = 15 * time.Minute
	}
	if p.PerID == 0 {
		p.PerID = 5
	}
	if p.PerAddr == 0 {
		p.PerAddr = 50
	}
	if p.LockBase == 0 {
		p.LockBase = time.Minute
	}
	if p.LockMax == 0 {
		p.LockMax = time.Hour
	}
	return p
}

type throttleKey struct {
	key   string
	limit int
}

// throttleKeys are the counters an attempt on pid from r counts against.
// The ID number appears only as a keyed hash.
func (h *Handler) throttleKeys(kind, pid string, r *http.Request) []throttleKey {
	return []throttleKey{
		{kind + ":pid:" + mac(h.cfg.ThrottleKey, pid), h.cfg.Throttle.PerID},
		{kind + ":addr:" + mac(h.cfg.ThrottleKey, h.clientAddr(r)), h.cfg.Throttle.PerAddr},
	}
}

// attempt counts an attempt against k before the credential is checked,
// atomically, and reports whether it may go on: parallel guesses cannot all
// pass a check made before any of them has failed. A success must clear the
// counter (clearFailures); a failure needs no further count on k.
func (h *Handler) attempt(ctx context.Context, k throttleKey) (bool, error) {
	p := h.cfg.Throttle
	now := h.now()
	allowed := false
	_, err := h.cfg.Store.RecordFailure(ctx, k.key, now, func(t storage.Throttle) storage.Throttle {
		if t.WindowStart.IsZero() || now.Sub(t.WindowStart) > p.Window {
			t.Failures, t.WindowStart = 0, now
		}
		allowed = !now.Before(t.LockedUntil) && t.Failures < k.limit
		t.Failures++
		if over := t.Failures - k.limit; over >= 0 {
			lock := p.LockBase << min(over, 16)
			if lock > p.LockMax || lock <= 0 {
				lock = p.LockMax
			}
			if until := now.Add(lock); until.After(t.LockedUntil) {
				t.LockedUntil = until
			}
		}
		return t
	})
	return allowed, err
}

// undoAttempt gives back an attempt counted by attempt that succeeded
// without ending the counting (a registry match before the face step).
func (h *Handler) undoAttempt(ctx context.Context, k throttleKey) error {
	_, err := h.cfg.Store.RecordFailure(ctx, k.key, h.now(), func(t storage.Throttle) storage.Throttle {
		if t.Failures > 0 {
			t.Failures--
		}
		if t.Failures < k.limit {
			t.LockedUntil = time.Time{} // the lock came from this attempt alone
		}
		return t
	})
	return err
}

func (h *Handler) locked(ctx context.Context, keys []throttleKey) (bool, error) {
	now := h.now()
	for _, k := range keys {
		t, err := h.cfg.Store.Throttle(ctx, k.key, now)
		if err != nil {
			return false, err
		}
		if now.Before(t.LockedUntil) {
			return true, nil
		}
	}
	return false, nil
}

func (h *Handler) recordFailure(ctx context.Context, keys []throttleKey) error {
	p := h.cfg.Throttle
	now := h.now()
	for _, k := range keys {
		_, err := h.cfg.Store.RecordFailure(ctx, k.key, now, func(t storage.Throttle) storage.Throttle {
			if t.WindowStart.IsZero() || now.Sub(t.WindowStart) > p.Window {
				t.Failures, t.WindowStart = 0, now
			}
			t.Failures++
			if over := t.Failures - k.limit; over >= 0 {
				lock := p.LockBase << min(over, 16)
				if lock > p.LockMax || lock <= 0 {
					lock = p.LockMax
				}
				t.LockedUntil = now.Add(lock)
			}
			return t
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// clearFailures forgets an ID number's failures after a success (the
// address counter keeps counting: one address guessing many IDs is the
// pattern it exists for).
func (h *Handler) clearFailures(ctx context.Context, k throttleKey) {
	if err := h.cfg.Store.ClearThrottle(ctx, k.key); err != nil {
		h.log.ErrorContext(ctx, "login: clear throttle", "err", err)
	}
}
