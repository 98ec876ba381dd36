package storage

import (
	"slices"
	"time"
)

// At returns the permit as it stands at now: p with the state changes of
// the decisions in pending that are due by now (EffectiveAt not after now)
// but not yet applied, taken in the order they fall due — as ApplyDue will
// apply them. A scheduled suspension or revocation is thereby in force at
// its time on every replica, not when a background job gets to it.
//
// Only the state changes that close or reopen a permit in force are
// anticipated (suspend, reinstate, revoke); an approval, which carries the
// grant, counts once applied. Decisions already applied, not yet due, or
// that the state does not allow (they will lapse) change nothing.
func (p Permit) At(now time.Time, pending []Decision) Permit {
	due := make([]Decision, 0, len(pending))
	for _, d := range pending {
		if d.PermitID == p.ID && d.AppliedAt.IsZero() && !d.EffectiveAt.After(now) {
			due = append(due, d)
		}
	}
	// Decisions come in the order recorded; the stable sort keeps it
	// among decisions due at the same instant.
	slices.SortStableFunc(due, func(a, b Decision) int { return a.EffectiveAt.Compare(b.EffectiveAt) })
	for _, d := range due {
		switch {
		case d.Action == DecisionSuspend && p.State == PermitApproved:
			p.State = PermitSuspended
		case d.Action == DecisionReinstate && p.State == PermitSuspended:
			p.State = PermitApproved
		case d.Action == DecisionRevoke && (p.State == PermitApproved || p.State == PermitSuspended):
			p.State = PermitRevoked
		}
	}
	return p
}
