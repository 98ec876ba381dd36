package storagetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// countFailure is the fn a caller of RecordFailure passes: start the window
// if there is none, count one more failure, lock after lockAt failures.
func countFailure(now time.Time, lockAt int) func(storage.Throttle) storage.Throttle {
	return func(th storage.Throttle) storage.Throttle {
		if th.WindowStart.IsZero() {
			th.WindowStart = now
		}
		th.Failures++
		if lockAt > 0 && th.Failures >= lockAt {
			th.LockedUntil = now.Add(15 * time.Minute)
		}
		return th
	}
}

func testThrottles(t *testing.T, su suite) {
	ctx := context.Background()

	t.Run("none", func(t *testing.T) {
		s := su.store(t)
		got, err := s.Throttle(ctx, "pid:abc", base)
		wantErr(t, "Throttle", err, nil)
		check(t, "Throttle", got, storage.Throttle{Key: "pid:abc"}, normThrottle)
		all, err := s.Throttles(ctx, nil, base)
		wantErr(t, "Throttles of no keys", err, nil)
		if len(all) != 0 {
			t.Errorf("Throttles of no keys: %v, want none", all)
		}
	})

	// A counter whose window started at base, with or without a lock, looked
	// at later on.
	window := storage.ThrottleWindow
	tests := []struct {
		name   string
		locked time.Time // LockedUntil; zero for none
		now    time.Time
		live   bool
	}{
		{"within the window", time.Time{}, at(time.Hour), true},
		{"just before the window ends", time.Time{}, at(window - time.Millisecond), true},
		{"when the window ends", time.Time{}, at(window), false},
		{"after the window", time.Time{}, at(window + time.Hour), false},
		{"locked past the window", at(window + time.Hour), at(window), true},
		{"just before the lock ends", at(window + time.Hour), at(window + time.Hour - time.Millisecond), true},
		{"when the lock ends", at(window + time.Hour), at(window + time.Hour), false},
		{"lock over, window live", at(time.Hour), at(2 * time.Hour), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := su.store(t)
			stored := storage.Throttle{Key: "k", Failures: 3, WindowStart: base, LockedUntil: tt.locked}
			_, err := s.RecordFailure(ctx, "k", base, func(storage.Throttle) storage.Throttle { return stored })
			wantErr(t, "RecordFailure", err, nil)

			want := storage.Throttle{Key: "k"}
			if tt.live {
				want = stored
			}
			got, err := s.Throttle(ctx, "k", tt.now)
			wantErr(t, "Throttle", err, nil)
			check(t, "Throttle", got, want, normThrottle)
			// Throttles answers each key as Throttle does, in order,
			// a missing one and a repeated one included.
			all, err := s.Throttles(ctx, []string{"absent", "k", "absent", "k"}, tt.now)
			wantErr(t, "Throttles", err, nil)
			if len(all) != 4 {
				t.Fatalf("Throttles: %d counters, want 4", len(all))
			}
			for i, w := range []storage.Throttle{{Key: "absent"}, want, {Key: "absent"}, want} {
				check(t, fmt.Sprintf("Throttles[%d]", i), all[i], w, normThrottle)
			}

			var seen storage.Throttle
			_, err = s.RecordFailure(ctx, "k", tt.now, func(th storage.Throttle) storage.Throttle {
				seen = th
				return th
			})
			wantErr(t, "RecordFailure", err, nil)
			check(t, "counter handed to fn", seen, want, normThrottle)
		})
	}

	t.Run("clear", func(t *testing.T) {
		s := su.store(t)
		for _, k := range []string{"a", "b"} {
			_, err := s.RecordFailure(ctx, k, base, countFailure(base, 0))
			wantErr(t, "RecordFailure("+k+")", err, nil)
		}
		wantErr(t, "ClearThrottle", s.ClearThrottle(ctx, "a"), nil)
		got, err := s.Throttle(ctx, "a", base)
		wantErr(t, "Throttle(a)", err, nil)
		check(t, "Throttle(a)", got, storage.Throttle{Key: "a"}, normThrottle)
		got, err = s.Throttle(ctx, "b", base)
		wantErr(t, "Throttle(b)", err, nil)
		check(t, "Throttle(b)", got, storage.Throttle{Key: "b", Failures: 1, WindowStart: base}, normThrottle)
		wantErr(t, "ClearThrottle again", s.ClearThrottle(ctx, "a"), nil)
		wantErr(t, "ClearThrottle of a missing counter", s.ClearThrottle(ctx, "absent"), nil)
	})
}

func testRecordFailure(t *testing.T, su suite) {
	ctx := context.Background()

	t.Run("counts and locks", func(t *testing.T) {
		s := su.store(t)
		for i := 1; i <= 5; i++ {
			now := at(time.Duration(i) * time.Minute)
			want := storage.Throttle{Key: "k", Failures: i, WindowStart: at(time.Minute)}
			if i >= 5 {
				want.LockedUntil = now.Add(15 * time.Minute)
			}
			var seen storage.Throttle
			fn := countFailure(now, 5)
			got, err := s.RecordFailure(ctx, "k", now, func(th storage.Throttle) storage.Throttle {
				seen = th
				return fn(th)
			})
			wantErr(t, "RecordFailure", err, nil)
			if i == 1 {
				check(t, "counter handed to the first fn", seen, storage.Throttle{Key: "k"}, normThrottle)
			}
			check(t, fmt.Sprintf("RecordFailure #%d", i), got, want, normThrottle)
			stored, err := s.Throttle(ctx, "k", now)
			wantErr(t, "Throttle", err, nil)
			check(t, fmt.Sprintf("Throttle after failure #%d", i), stored, want, normThrottle)
		}
	})

	t.Run("keeps the key", func(t *testing.T) {
		s := su.store(t)
		got, err := s.RecordFailure(ctx, "k", base, func(th storage.Throttle) storage.Throttle {
			th = countFailure(base, 0)(th)
			th.Key = "other"
			return th
		})
		wantErr(t, "RecordFailure", err, nil)
		want := storage.Throttle{Key: "k", Failures: 1, WindowStart: base}
		check(t, "RecordFailure", got, want, normThrottle)
		stored, err := s.Throttle(ctx, "k", base)
		wantErr(t, "Throttle(k)", err, nil)
		check(t, "Throttle(k)", stored, want, normThrottle)
		stored, err = s.Throttle(ctx, "other", base)
		wantErr(t, "Throttle(other)", err, nil)
		check(t, "Throttle(other)", stored, storage.Throttle{Key: "other"}, normThrottle)
	})

	t.Run("keys are independent", func(t *testing.T) {
		s := su.store(t)
		for i, k := range []string{"pid:1", "ip:192.0.2.1", "pid:1", "pid:10"} {
			_, err := s.RecordFailure(ctx, k, at(time.Duration(i)*time.Second), countFailure(base, 0))
			wantErr(t, "RecordFailure("+k+")", err, nil)
		}
		for k, n := range map[string]int{"pid:1": 2, "ip:192.0.2.1": 1, "pid:10": 1, "pid:": 0} {
			got, err := s.Throttle(ctx, k, at(time.Minute))
			wantErr(t, "Throttle("+k+")", err, nil)
			if got.Failures != n {
				t.Errorf("Throttle(%q).Failures = %d, want %d", k, got.Failures, n)
			}
		}
	})

	t.Run("concurrent failures", func(t *testing.T) {
		s := su.store(t)
		const n = 16
		counts := make([]int, n)
		errs := race(n, func(i int) error {
			th, err := s.RecordFailure(ctx, "k", base, countFailure(base, 0))
			counts[i] = th.Failures
			return err
		})
		for i, err := range errs {
			wantErr(t, fmt.Sprintf("RecordFailure #%d", i), err, nil)
		}
		got, err := s.Throttle(ctx, "k", base)
		wantErr(t, "Throttle", err, nil)
		check(t, "Throttle", got, storage.Throttle{Key: "k", Failures: n, WindowStart: base}, normThrottle)
		// Each call saw its own count: 1 … n, each once.
		slices.Sort(counts)
		for i, c := range counts {
			if c != i+1 {
				t.Errorf("counts returned by concurrent RecordFailure calls = %v, want 1 … %d", counts, n)
				break
			}
		}
	})
}
