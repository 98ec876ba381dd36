package storagetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// failure counts one failure more on a counter as the store read it.
func failure(t storage.Throttle) func(storage.Throttle) storage.Throttle {
	t.Failures++
	t.WindowStart = base
	return func(storage.Throttle) storage.Throttle { return t }
}

func testAttemptSignIn(t *testing.T, su suite) {
	ctx := context.Background()
	now := at(time.Minute)

	t.Run("a failed check commits its count and nothing of a sign-in", func(t *testing.T) {
		s := storeForSignIn(t, su)
		var got []storage.Throttle
		err := s.AttemptSignIn(ctx, storage.SignInAttempt{
			Counters: []string{"id", "browser", "id"},
			Check: func(cs []storage.Throttle, _ []storage.OnceValue) (storage.SignIn, storage.Record, error) {
				got = cs
				// "addr" was not named: the store reads it when it sees the update.
				return storage.SignIn{Throttles: []storage.ThrottleUpdate{
					{Key: "id", Update: failure(cs[0])},
					{Key: "addr", Update: func(th storage.Throttle) storage.Throttle { th.Failures += 5; th.WindowStart = base; return th }},
				}}, recordOf("e2", "failed"), nil
			},
		}, now)
		wantErr(t, "AttemptSignIn", err, nil)
		if len(got) != 3 || got[0].Key != "id" || got[0].Failures != 2 || got[1].Key != "browser" || got[1].Failures != 1 || got[2] != got[0] {
			t.Errorf("Check got counters %+v, want id (2), browser (1), id (2)", got)
		}
		if th, _ := s.Throttle(ctx, "id", now); th.Failures != 3 {
			t.Errorf("counter id: %d failures, want 3", th.Failures)
		}
		if th, _ := s.Throttle(ctx, "addr", now); th.Failures != 5 {
			t.Errorf("counter addr: %d failures, want 5", th.Failures)
		}
		if !entryExists(t, s, "e2") {
			t.Error("the failure's entry was not written")
		}
		if _, err := s.Session(ctx, "old", now); err != nil {
			t.Errorf("the earlier session: %v, want it kept", err)
		}
		if r, err := s.AuthRequest(ctx, "ar", now); err != nil || r.Done {
			t.Errorf("the request: done %v, %v; want it pending", r.Done, err)
		}
		wantErr(t, "UseOnce of the value a sign-in would spend", s.UseOnce(ctx, "totp:a-1", "42", at(2*time.Minute), now), nil)
	})

	t.Run("a check that admits writes the sign-in", func(t *testing.T) {
		s := storeForSignIn(t, su)
		in := fullSignIn()
		wantErr(t, "AttemptSignIn", s.AttemptSignIn(ctx, storage.SignInAttempt{
			Counters: []string{"id", "browser"},
			Scopes:   []string{"totp:a-1"},
			Check: func([]storage.Throttle, []storage.OnceValue) (storage.SignIn, storage.Record, error) {
				return in, recordOf("e1", "signed in"), nil
			},
		}, now), nil)
		wantErr(t, "UseOnce of the spent value", s.UseOnce(ctx, "totp:a-1", "42", at(2*time.Minute), now), storage.ErrAlreadyExists)
		if th, _ := s.Throttle(ctx, "id", now); th.Failures != 10 {
			t.Errorf("counter id: %d failures, want 10", th.Failures)
		}
		if th, _ := s.Throttle(ctx, "browser", now); th.Failures != 0 {
			t.Errorf("counter browser: %d failures, want it cleared", th.Failures)
		}
		if _, err := s.Session(ctx, "new", now); err != nil {
			t.Errorf("the new session: %v", err)
		}
		if _, err := s.Session(ctx, "old", now); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("the earlier session: %v, want ErrNotFound", err)
		}
		wantInForce(t, s, in.Consent)
		r, err := s.AuthRequest(ctx, "ar", now)
		wantErr(t, "AuthRequest", err, nil)
		check(t, "AuthRequest", r, completed(newAuthRequest("ar"), in.Result), normAuthRequest)
		if !entryExists(t, s, "e1") {
			t.Error("the sign-in's entry was not written")
		}
	})

	t.Run("the check sees the live values of its scopes", func(t *testing.T) {
		s := storeForSignIn(t, su)
		wantErr(t, "UseOnce", s.UseOnce(ctx, "totp:a-1", "41", at(2*time.Minute), base), nil)
		wantErr(t, "UseOnce", s.UseOnce(ctx, "totp:a-1", "40", at(30*time.Second), base), nil) // expired at now
		wantErr(t, "UseOnce", s.UseOnce(ctx, "totp:a-2", "41", at(2*time.Minute), base), nil)
		var got []storage.OnceValue
		wantErr(t, "AttemptSignIn", s.AttemptSignIn(ctx, storage.SignInAttempt{
			Scopes: []string{"totp:a-1"},
			Check: func(_ []storage.Throttle, spent []storage.OnceValue) (storage.SignIn, storage.Record, error) {
				got = spent
				return storage.SignIn{}, nil, nil
			},
		}, now), nil)
		if len(got) != 1 || got[0].Scope != "totp:a-1" || got[0].Value != "41" {
			t.Errorf("Check saw spent values %+v, want totp:a-1 41 only", got)
		}
	})

	t.Run("errors leave nothing", func(t *testing.T) {
		errCheck := errors.New("check failed")
		for _, tc := range []struct {
			name  string
			setup func(storage.Store)
			rec   storage.Record
			err   error
			want  error
		}{
			{name: "the check's error", rec: recordOf("e1", "signed in"), err: errCheck, want: errCheck},
			{name: "a value spent before", rec: recordOf("e1", "signed in"), want: storage.ErrAlreadyExists,
				setup: func(s storage.Store) {
					wantErr(t, "UseOnce", s.UseOnce(ctx, "totp:a-1", "42", at(2*time.Minute), base), nil)
				}},
			{name: "a request completed before", rec: recordOf("e1", "signed in"), want: storage.ErrConflict,
				setup: func(s storage.Store) {
					wantErr(t, "CompleteAuthRequest", s.CompleteAuthRequest(ctx, "ar", newAuthResult(), base), nil)
				}},
			{name: "an entry that cannot be written", want: storage.ErrUnrecorded,
				rec: append(recordOf("e1", "fine"), recordOf("pid", "citizen 1101700230708")...)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := storeForSignIn(t, su)
				if tc.setup != nil {
					tc.setup(s)
				}
				err := s.AttemptSignIn(ctx, storage.SignInAttempt{
					Counters: []string{"id", "browser"},
					Check: func(cs []storage.Throttle, _ []storage.OnceValue) (storage.SignIn, storage.Record, error) {
						in := fullSignIn()
						in.Throttles = append(in.Throttles, storage.ThrottleUpdate{Key: "addr", Update: failure(storage.Throttle{})})
						return in, tc.rec, tc.err
					},
				}, now)
				if !errors.Is(err, tc.want) {
					t.Fatalf("AttemptSignIn: %v, want %v", err, tc.want)
				}
				if th, _ := s.Throttle(ctx, "id", now); th.Failures != 2 {
					t.Errorf("counter id: %d failures, want the 2 it had", th.Failures)
				}
				if th, _ := s.Throttle(ctx, "browser", now); th.Failures != 1 {
					t.Errorf("counter browser: %d failures, want the 1 it had", th.Failures)
				}
				if th, _ := s.Throttle(ctx, "addr", now); th.Failures != 0 {
					t.Errorf("counter addr: %d failures, want none", th.Failures)
				}
				if _, err := s.Session(ctx, "old", now); err != nil {
					t.Errorf("the earlier session: %v, want it kept", err)
				}
				if _, err := s.Session(ctx, "new", now); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("the new session: %v, want ErrNotFound", err)
				}
				wantNoneInForce(t, s, "citizen-1", "permit-1", "loan")
				if entryExists(t, s, "e1") {
					t.Error("the entry of an attempt that failed was written")
				}
			})
		}
	})

	// Parallel wrong guesses against a limit of k: each is counted before
	// the next is checked, so no more than k are checked, and none is lost.
	t.Run("concurrent guesses are counted before they are checked", func(t *testing.T) {
		s := su.store(t)
		const n, k = 12, 3
		// The counters exist: the guesses do not wait for each other's
		// insertion of them, only for what the store does to serialise.
		for _, key := range []string{"guess:pid", "guess:browser"} {
			if _, err := s.RecordFailure(ctx, key, base, func(th storage.Throttle) storage.Throttle { th.WindowStart = base; return th }); err != nil {
				t.Fatalf("RecordFailure(%q): %v", key, err)
			}
		}
		var checked atomic.Int32
		var wg sync.WaitGroup
		errs := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = s.AttemptSignIn(ctx, storage.SignInAttempt{
					Counters: []string{"guess:pid", "guess:browser"},
					Check: func(cs []storage.Throttle, _ []storage.OnceValue) (storage.SignIn, storage.Record, error) {
						if cs[0].Failures >= k {
							return storage.SignIn{}, nil, nil // locked out: not checked
						}
						checked.Add(1) // checked, and wrong
						return storage.SignIn{Throttles: []storage.ThrottleUpdate{
							{Key: "guess:pid", Update: failure(cs[0])},
							{Key: "guess:browser", Update: failure(cs[1])},
						}}, nil, nil
					},
				}, now)
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			wantErr(t, "AttemptSignIn "+string(rune('a'+i)), err, nil)
		}
		if c := checked.Load(); c != k {
			t.Errorf("%d guesses checked, want %d", c, k)
		}
		for _, key := range []string{"guess:pid", "guess:browser"} {
			if th, _ := s.Throttle(ctx, key, now); th.Failures != k {
				t.Errorf("counter %s: %d failures, want %d", key, th.Failures, k)
			}
		}
	})
}
