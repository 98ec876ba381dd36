package login

import (
	"context"
	"fmt"
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
