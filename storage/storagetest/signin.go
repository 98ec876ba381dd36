package storagetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// storeForSignIn returns a store with what a sign-in request touches: a
// pending request "ar", citizen-1's authenticator "a-1", the browser's
// earlier session "old", counters "id" (2 failures) and "browser", and
// permit-1 for a consent.
func storeForSignIn(t *testing.T, su suite) storage.Store {
	t.Helper()
	ctx := context.Background()
	s := su.store(t)
	seedCitizens(t, s, 1)
	seedPermits(t, s, "permit-1")
	seedClient(t, s, "client-1")
	wantErr(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, newAuthRequest("ar")), nil)
	wantErr(t, "CreateAuthenticator", s.CreateAuthenticator(ctx, newAuthenticator("a-1", "citizen-1"), nil), nil)
	wantErr(t, "CreateSession", s.CreateSession(ctx, newSession("old", "citizen-1", base), nil), nil)
	for _, k := range []string{"id", "id", "browser"} {
		if _, err := s.RecordFailure(ctx, k, base, func(th storage.Throttle) storage.Throttle {
			th.Failures++
			th.WindowStart = base
			return th
		}); err != nil {
			t.Fatalf("RecordFailure(%q): %v", k, err)
		}
	}
	return s
}

// fullSignIn is a sign-in request's every write, at base+1m.
func fullSignIn() storage.SignIn {
	res := newAuthResult()
	res.SessionID = "new"
	res.Code = storage.AuthCode{Hash: "code-ar", ExpiresAt: at(2 * time.Minute)}
	return storage.SignIn{
		Once:          []storage.OnceValue{{Scope: "totp:a-1", Value: "42", ExpiresAt: at(2 * time.Minute)}},
		Authenticator: "a-1",
		Throttles: []storage.ThrottleUpdate{
			{Key: "id", Update: func(th storage.Throttle) storage.Throttle { th.Failures--; return th }},
			{Key: "id", Update: func(th storage.Throttle) storage.Throttle { th.Failures *= 10; return th }},
			{Key: "browser"},
		},
		EndSession:    "old",
		Session:       newSession("new", "citizen-1", at(time.Minute)),
		Consent:       newConsent("c-1"),
		AuthRequestID: "ar",
		Result:        res,
		TouchSession:  "new",
		IdleExpiresAt: at(40 * time.Minute),
	}
}

func testSignIn(t *testing.T, su suite) {
	ctx := context.Background()
	now := at(time.Minute)

	t.Run("every write", func(t *testing.T) {
		s := storeForSignIn(t, su)
		in := fullSignIn()
		wantErr(t, "SignIn", s.SignIn(ctx, in, now, recordOf("e1", "signed in")), nil)

		wantErr(t, "UseOnce of the spent value", s.UseOnce(ctx, "totp:a-1", "42", at(2*time.Minute), now), storage.ErrAlreadyExists)
		a, err := s.Authenticator(ctx, "citizen-1", "totp")
		wantErr(t, "Authenticator", err, nil)
		if !a.LastUsedAt.Equal(now) {
			t.Errorf("authenticator LastUsedAt = %v, want %v", a.LastUsedAt, now)
		}
		// The updates of one counter apply in order: (2-1)*10.
		if th, _ := s.Throttle(ctx, "id", now); th.Failures != 10 {
			t.Errorf("counter id: %d failures, want 10", th.Failures)
		}
		if th, _ := s.Throttle(ctx, "browser", now); th.Failures != 0 {
			t.Errorf("counter browser: %d failures, want it cleared", th.Failures)
		}
		if _, err := s.Session(ctx, "old", now); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("the earlier session: %v, want ErrNotFound", err)
		}
		got, err := s.Session(ctx, "new", now)
		wantErr(t, "Session", err, nil)
		want := in.Session
		want.IdleExpiresAt, want.LastSeenAt = in.IdleExpiresAt, now
		check(t, "Session", got, want, normSession)
		wantInForce(t, s, in.Consent)
		r, err := s.AuthRequest(ctx, "ar", now)
		wantErr(t, "AuthRequest", err, nil)
		check(t, "AuthRequest", r, completed(newAuthRequest("ar"), in.Result), normAuthRequest)
		consumeLive(t, s, r, now, "ConsumeAuthCode of the code issued with the completion")
		if !entryExists(t, s, "e1") {
			t.Error("the sign-in's entry was not written")
		}
	})

	// undone checks that nothing of fullSignIn happened.
	undone := func(t *testing.T, s storage.Store) {
		t.Helper()
		if err := s.UseOnce(ctx, "totp:a-1", "43", at(2*time.Minute), now); err != nil {
			t.Errorf("UseOnce of another value: %v", err)
		}
		if th, _ := s.Throttle(ctx, "id", now); th.Failures != 2 {
			t.Errorf("counter id: %d failures, want the 2 it had", th.Failures)
		}
		if th, _ := s.Throttle(ctx, "browser", now); th.Failures != 1 {
			t.Errorf("counter browser: %d failures, want the 1 it had", th.Failures)
		}
		if _, err := s.Session(ctx, "old", now); err != nil {
			t.Errorf("the earlier session: %v, want it kept", err)
		}
		if _, err := s.Session(ctx, "new", now); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("the new session: %v, want ErrNotFound", err)
		}
		wantNoneInForce(t, s, "citizen-1", "permit-1", "loan")
		if entryExists(t, s, "e1") {
			t.Error("the entry of a sign-in that failed was written")
		}
	}

	t.Run("a value used before undoes everything", func(t *testing.T) {
		s := storeForSignIn(t, su)
		wantErr(t, "UseOnce", s.UseOnce(ctx, "totp:a-1", "42", at(2*time.Minute), base), nil)
		wantErr(t, "SignIn", s.SignIn(ctx, fullSignIn(), now, recordOf("e1", "signed in")), storage.ErrAlreadyExists)
		undone(t, s)
		r, err := s.AuthRequest(ctx, "ar", now)
		wantErr(t, "AuthRequest", err, nil)
		if r.Done {
			t.Error("the request was completed")
		}
	})

	t.Run("a request completed before undoes everything", func(t *testing.T) {
		s := storeForSignIn(t, su)
		wantErr(t, "CompleteAuthRequest", s.CompleteAuthRequest(ctx, "ar", newAuthResult(), base), nil)
		wantErr(t, "SignIn", s.SignIn(ctx, fullSignIn(), now, recordOf("e1", "signed in")), storage.ErrConflict)
		undone(t, s)
	})

	t.Run("an expired request undoes everything", func(t *testing.T) {
		s := storeForSignIn(t, su)
		wantErr(t, "SignIn", s.SignIn(ctx, fullSignIn(), at(10*time.Minute), recordOf("e1", "signed in")), storage.ErrNotFound)
		undone(t, s)
	})

	t.Run("an entry that cannot be written undoes everything", func(t *testing.T) {
		s := storeForSignIn(t, su)
		rec := append(recordOf("e1", "fine"), recordOf("pid", "citizen 1101700230708")...)
		if err := s.SignIn(ctx, fullSignIn(), now, rec); !errors.Is(err, storage.ErrUnrecorded) {
			t.Fatalf("SignIn with a national ID number in an entry: %v, want ErrUnrecorded", err)
		}
		undone(t, s)
	})

	t.Run("missing sessions and authenticators are no error", func(t *testing.T) {
		s := storeForSignIn(t, su)
		in := storage.SignIn{Authenticator: "nobody", EndSession: "gone", TouchSession: "gone", IdleExpiresAt: at(time.Hour)}
		wantErr(t, "SignIn", s.SignIn(ctx, in, now, nil), nil)
	})

	t.Run("a counter's updates apply in order and the last decides", func(t *testing.T) {
		// Every order of set and clear, on a counter with a live row, one
		// with no row, and one whose row is over (read as zero); through
		// SignIn, and through AttemptSignIn, which has read some of them
		// for its check.
		add := func(n int) func(storage.Throttle) storage.Throttle {
			return func(th storage.Throttle) storage.Throttle { th.Failures += n; th.WindowStart = base; return th }
		}
		us := []storage.ThrottleUpdate{
			{Key: "id", Update: add(1)}, {Key: "id"}, // live row (2): set, then cleared
			{Key: "browser"}, {Key: "browser", Update: add(3)}, // live row (1): cleared, then set from zero
			{Key: "new", Update: add(4)}, {Key: "new"}, // no row: set, then cleared
			{Key: "fresh", Update: add(5)}, {Key: "fresh", Update: add(6)}, // no row: set twice
			{Key: "over", Update: add(7)}, // its row is over: set from zero
		}
		want := map[string]int{"id": 0, "browser": 3, "new": 0, "fresh": 11, "over": 7}
		for _, attempt := range []bool{false, true} {
			s := storeForSignIn(t, su)
			longAgo := base.Add(-2 * storage.ThrottleWindow)
			if _, err := s.RecordFailure(ctx, "over", longAgo, func(th storage.Throttle) storage.Throttle {
				th.Failures = 50
				th.WindowStart = longAgo
				return th
			}); err != nil {
				t.Fatalf("RecordFailure: %v", err)
			}
			in := storage.SignIn{Throttles: us}
			var err error
			if attempt {
				err = s.AttemptSignIn(ctx, storage.SignInAttempt{
					Counters: []string{"browser", "over", "id"},
					Check: func([]storage.Throttle, []storage.OnceValue) (storage.SignIn, storage.Record, error) {
						return in, nil, nil
					},
				}, now)
			} else {
				err = s.SignIn(ctx, in, now, nil)
			}
			wantErr(t, "sign-in", err, nil)
			for k, n := range want {
				if th, err := s.Throttle(ctx, k, now); err != nil || th.Failures != n {
					t.Errorf("attempt %v: counter %s: %d failures (%v), want %d", attempt, k, th.Failures, err, n)
				}
			}
		}
	})

	t.Run("the empty sign-in writes only its record", func(t *testing.T) {
		s := storeForSignIn(t, su)
		wantErr(t, "SignIn", s.SignIn(ctx, storage.SignIn{}, now, recordOf("e1", "fine")), nil)
		if !entryExists(t, s, "e1") {
			t.Error("the entry was not written")
		}
	})
}
