package storagetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

func testDeleteExpired(t *testing.T, su suite) {
	ctx := context.Background()
	s := su.store(t)
	seedClient(t, s, "client-1")
	now := at(3 * time.Hour)

	// Each pair: one record dead at now, one alive.
	arLive := newAuthRequest("ar-live")
	arLive.ExpiresAt = at(4 * time.Hour)
	for _, r := range []storage.AuthRequest{newAuthRequest("ar-dead"), arLive} {
		wantErr(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r), nil)
	}

	gDead := newGrant("g-dead")
	gDead.ExpiresAt = at(2 * time.Hour)
	wantErr(t, "IssueTokens", s.IssueTokens(ctx, gDead, newAccess("at-g-dead", "g-dead"), newRefresh("rt-g-dead", "g-dead"), nil), nil)
	gLive := newGrant("g-live")
	rtLive := newRefresh("rt-g-live", "g-live")
	rtLive.ExpiresAt = at(4 * time.Hour)
	wantErr(t, "IssueTokens", s.IssueTokens(ctx, gLive, newAccess("at-g-live", "g-live"), rtLive, nil), nil)

	sLive := newSession("s-live", "alice", base)
	sLive.IdleExpiresAt = at(4 * time.Hour)
	sAbs := newSession("s-absolute", "alice", base)
	sAbs.IdleExpiresAt = at(10 * time.Hour)
	sAbs.ExpiresAt = at(2 * time.Hour)
	for _, ss := range []storage.Session{newSession("s-idle", "alice", base), sAbs, sLive} {
		wantErr(t, "CreateSession", s.CreateSession(ctx, ss, nil), nil)
	}

	wantErr(t, "UseOnce", s.UseOnce(ctx, "jti", "dead", at(time.Hour), base), nil)
	wantErr(t, "UseOnce", s.UseOnce(ctx, "jti", "live", at(4*time.Hour), base), nil)

	for _, k := range []storage.SigningKey{newKey("k-dead", "ES256", 1), newKey("k-retired", "ES256", 2), newKey("k-current", "ES256", 3)} {
		wantErr(t, "CreateSigningKey", s.CreateSigningKey(ctx, k), nil)
	}
	wantErr(t, "RetireSigningKey", s.RetireSigningKey(ctx, "k-dead", at(time.Hour), at(2*time.Hour)), nil)
	wantErr(t, "RetireSigningKey", s.RetireSigningKey(ctx, "k-retired", at(2*time.Hour), at(5*time.Hour)), nil)

	// The registry and what hangs off it never expire.
	seedCitizens(t, s, 1)
	auth := newAuthenticator("a-1", "citizen-1")
	wantErr(t, "CreateAuthenticator", s.CreateAuthenticator(ctx, auth, nil), nil)
	proofing := newProofing("p-1", "citizen-1", at(-48*time.Hour))
	wantErr(t, "CreateProofing", s.CreateProofing(ctx, proofing, nil), nil)

	flowDead := newFlow("f-dead")
	flowDead.ExpiresAt = at(time.Hour)
	flowLive := newFlow("f-live")
	flowLive.ExpiresAt = at(4 * time.Hour)
	for _, f := range []storage.Flow{flowDead, flowLive} {
		wantErr(t, "CreateFlow", s.CreateFlow(ctx, f), nil)
	}

	// Throttles as of now (base+3h): a window that ended at base+2h, one that
	// ended too but whose lock ended at base+2h30m, and three that are live:
	// a window that started at base, a lock that outlasts its window, and a
	// window still open under a lock that is over.
	window := storage.ThrottleWindow
	throttles := []storage.Throttle{
		{Key: "t-dead", Failures: 1, WindowStart: at(2*time.Hour - window)},
		{Key: "t-lock-over", Failures: 5, WindowStart: at(2*time.Hour - window), LockedUntil: at(150 * time.Minute)},
		{Key: "t-live", Failures: 2, WindowStart: base},
		{Key: "t-locked", Failures: 5, WindowStart: at(2*time.Hour - window), LockedUntil: at(4 * time.Hour)},
		{Key: "t-window-live", Failures: 5, WindowStart: base, LockedUntil: at(time.Hour)},
	}
	for _, th := range throttles {
		_, err := s.RecordFailure(ctx, th.Key, base, func(storage.Throttle) storage.Throttle { return th })
		wantErr(t, "RecordFailure("+th.Key+")", err, nil)
	}

	n, err := s.DeleteExpired(ctx, now)
	wantErr(t, "DeleteExpired", err, nil)
	// An auth request, a grant (its tokens may count too), two sessions, a
	// replay entry, a key, a flow and two throttles.
	if n < 9 {
		t.Errorf("DeleteExpired = %d, want at least 9", n)
	}
	n, err = s.DeleteExpired(ctx, now)
	wantErr(t, "DeleteExpired again", err, nil)
	if n != 0 {
		t.Errorf("DeleteExpired again = %d, want 0", n)
	}

	// The dead records are gone: asked as of base, when they were live, the
	// store no longer has them.
	t.Run("dead records gone", func(t *testing.T) {
		_, err := s.AuthRequest(ctx, "ar-dead", base)
		wantErr(t, "AuthRequest", err, storage.ErrNotFound)
		accessLive(t, s, "at-g-dead", base, false)
		refreshLive(t, s, "rt-g-dead", base, false)
		for _, id := range []string{"s-idle", "s-absolute"} {
			_, err := s.Session(ctx, id, base)
			wantErr(t, "Session("+id+")", err, storage.ErrNotFound)
		}
		wantErr(t, "UseOnce of a deleted entry", s.UseOnce(ctx, "jti", "dead", at(10*time.Hour), base), nil)
		keys, err := s.SigningKeys(ctx, base)
		wantErr(t, "SigningKeys", err, nil)
		if got, want := keyIDs(keys), []string{"k-current", "k-retired"}; !sameSet(got, want) {
			t.Errorf("SigningKeys IDs = %q, want %q", got, want)
		}
		_, err = s.Flow(ctx, "f-dead", base)
		wantErr(t, "Flow", err, storage.ErrNotFound)
		_, err = s.FlowByNonce(ctx, flowDead.Nonce, base)
		wantErr(t, "FlowByNonce", err, storage.ErrNotFound)
		// Asked as of a time when their windows were open, deleted counters
		// come back empty.
		for _, th := range throttles[:2] {
			got, err := s.Throttle(ctx, th.Key, th.WindowStart)
			wantErr(t, "Throttle("+th.Key+")", err, nil)
			check(t, "Throttle("+th.Key+")", got, storage.Throttle{Key: th.Key}, normThrottle)
		}
	})

	t.Run("live records kept", func(t *testing.T) {
		_, err := s.AuthRequest(ctx, "ar-live", now)
		wantErr(t, "AuthRequest", err, nil)
		refreshLive(t, s, "rt-g-live", now, true)
		_, err = s.Session(ctx, "s-live", now)
		wantErr(t, "Session", err, nil)
		wantErr(t, "UseOnce of a live entry", s.UseOnce(ctx, "jti", "live", at(10*time.Hour), now), storage.ErrAlreadyExists)
		_, err = s.Client(ctx, "client-1")
		wantErr(t, "Client", err, nil)
		wantFlow(t, s, flowLive, now)
		wantCitizen(t, s, newCitizen(1))
		wantAuthenticator(t, s, auth)
		got, err := s.LatestProofing(ctx, "citizen-1")
		wantErr(t, "LatestProofing", err, nil)
		check(t, "LatestProofing", got, proofing, normProofing)
		for _, th := range throttles[2:] {
			got, err := s.Throttle(ctx, th.Key, now)
			wantErr(t, "Throttle("+th.Key+")", err, nil)
			check(t, "Throttle("+th.Key+")", got, th, normThrottle)
		}
	})
}

func testTimes(t *testing.T, su suite) {
	ctx := context.Background()
	ict := time.FixedZone("ICT", 7*60*60)
	tests := []struct {
		name string
		t    time.Time
	}{
		{"sub-millisecond", time.Date(2024, time.February, 29, 10, 20, 30, 456_789_123, time.UTC)},
		{"other zone", time.Date(2024, time.February, 29, 17, 20, 30, 456_000_000, ict)},
		{"monotonic reading", time.Now()},
		{"before 1970", time.Date(1969, time.July, 20, 20, 17, 40, 0, time.UTC)},
		{"far future", time.Date(2543, time.December, 31, 23, 59, 59, 999_000_000, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := su.store(t)
			c := storage.Client{ID: "a", CreatedAt: tt.t, UpdatedAt: tt.t}
			wantErr(t, "CreateClient", s.CreateClient(ctx, c, nil), nil)
			got, err := s.Client(ctx, "a")
			wantErr(t, "Client", err, nil)
			for _, gt := range []time.Time{got.CreatedAt, got.UpdatedAt} {
				if d := gt.Sub(tt.t).Abs(); d >= time.Millisecond {
					t.Errorf("stored %v, got back %v: %v apart, want under 1ms", tt.t, gt, d)
				}
				if gt.Location() != time.UTC {
					t.Errorf("got back %v in %v, want UTC", gt, gt.Location())
				}
			}
		})
	}
}

func testPingClose(t *testing.T, su suite) {
	s := su.newStore(t)
	wantErr(t, "Ping", s.Ping(context.Background()), nil)
	wantErr(t, "Close", s.Close(), nil)
}

// testDeleteExpiredMany is DeleteExpired with more dead records than a
// backend may delete in one go: every one goes, and is counted once, and
// the live ones stay.
func testDeleteExpiredMany(t *testing.T, su suite) {
	ctx := context.Background()
	s := su.store(t)
	seedClient(t, s, "client-1")
	now := at(3 * time.Hour)
	const dead = 1001
	for i := range dead {
		r := newAuthRequest(fmt.Sprintf("ar-dead-%d", i))
		wantErr(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r), nil)
		wantErr(t, "UseOnce", s.UseOnce(ctx, "jti", fmt.Sprintf("dead-%d", i), at(time.Hour), base), nil)
	}
	arLive := newAuthRequest("ar-live")
	arLive.ExpiresAt = at(4 * time.Hour)
	wantErr(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, arLive), nil)
	wantErr(t, "UseOnce", s.UseOnce(ctx, "jti", "live", at(4*time.Hour), base), nil)

	n, err := s.DeleteExpired(ctx, now)
	wantErr(t, "DeleteExpired", err, nil)
	if n != 2*dead {
		t.Errorf("DeleteExpired = %d, want %d", n, 2*dead)
	}
	n, err = s.DeleteExpired(ctx, now)
	wantErr(t, "DeleteExpired again", err, nil)
	if n != 0 {
		t.Errorf("DeleteExpired again = %d, want 0", n)
	}
	for _, i := range []int{0, dead / 2, dead - 1} {
		_, err := s.AuthRequest(ctx, fmt.Sprintf("ar-dead-%d", i), base)
		wantErr(t, "AuthRequest of a dead one", err, storage.ErrNotFound)
		wantErr(t, "UseOnce of a deleted entry", s.UseOnce(ctx, "jti", fmt.Sprintf("dead-%d", i), at(10*time.Hour), base), nil)
	}
	_, err = s.AuthRequest(ctx, "ar-live", now)
	wantErr(t, "AuthRequest of the live one", err, nil)
	wantErr(t, "UseOnce of the live entry", s.UseOnce(ctx, "jti", "live", at(10*time.Hour), now), storage.ErrAlreadyExists)
}
