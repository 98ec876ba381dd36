package storage

import "time"

// Record is the audit trail's account of an action: the entries that a
// store method writes in the same database transaction as the action it
// performs, so that the action never exists without them and an entry that
// cannot be written means the action did not happen. Every store method
// whose action the trail records takes one as a parameter of its own, so
// that the compiler makes every caller decide what it records; nil records
// nothing (seeding demo data, tests of other behaviour).
//
// The store prepares the entries (PrepareLogEntry) before it writes
// anything: an entry refused there (ErrPersonalData) leaves the action
// undone, and an action that fails (ErrConflict, ErrNotFound, …) leaves no
// entry.
type Record []AuditEntry

// Prepare returns r's entries ready to be written, all or none (see
// PrepareLogEntry), At defaulting to now.
func (r Record) Prepare(now time.Time) ([]LogEntry, error) {
	if len(r) == 0 {
		return nil, nil
	}
	out := make([]LogEntry, len(r))
	for i, e := range r {
		le, err := PrepareLogEntry(e.LogEntry(), now)
		if err != nil {
			return nil, err
		}
		out[i] = le
	}
	return out, nil
}
