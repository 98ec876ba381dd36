package storage

import (
	"testing"
	"time"
)

func TestPermitAt(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	h := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
	d := func(action string, effective int, applied bool) Decision {
		x := Decision{PermitID: "p", Action: action, RecordedAt: t0.Add(-time.Hour), EffectiveAt: h(effective)}
		if applied {
			x.AppliedAt = h(effective)
		}
		return x
	}
	tests := []struct {
		name    string
		state   string
		pending []Decision
		now     time.Time
		want    string
	}{
		{"nothing pending", PermitApproved, nil, h(0), PermitApproved},
		{"suspension not yet due", PermitApproved, []Decision{d(DecisionSuspend, 1, false)}, h(0), PermitApproved},
		{"suspension due at its instant", PermitApproved, []Decision{d(DecisionSuspend, 1, false)}, h(1), PermitSuspended},
		{"revocation due", PermitSuspended, []Decision{d(DecisionRevoke, 1, false)}, h(2), PermitRevoked},
		{"applied decisions are in the permit already", PermitApproved, []Decision{d(DecisionSuspend, -1, true)}, h(0), PermitApproved},
		{"suspend then reinstate, both due", PermitApproved, []Decision{d(DecisionReinstate, 2, false), d(DecisionSuspend, 1, false)}, h(3), PermitApproved},
		{"suspend due, reinstate not yet", PermitApproved, []Decision{d(DecisionReinstate, 2, false), d(DecisionSuspend, 1, false)}, h(1), PermitSuspended},
		{"revoked stays revoked", PermitRevoked, []Decision{d(DecisionReinstate, 0, false)}, h(1), PermitRevoked},
		{"another permit's decision", PermitApproved, []Decision{{PermitID: "q", Action: DecisionSuspend, EffectiveAt: h(0)}}, h(1), PermitApproved},
		{"approval waits for its application", PermitPending, []Decision{d(DecisionApprove, 0, false)}, h(1), PermitPending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Permit{ID: "p", State: tt.state}.At(tt.now, tt.pending)
			if got.State != tt.want {
				t.Errorf("At(%v).State = %q, want %q", tt.now, got.State, tt.want)
			}
		})
	}
}
