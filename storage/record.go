package storage

import (
	"errors"
	"fmt"
	"time"
)

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

// ErrUnrecorded: the entries of an action's Record could not be written,
// so the action was not done. It is never one of the action's own
// sentinels (ErrAlreadyExists for a taken entry ID is not a taken
// session ID); an entry PrepareLogEntry refuses is ErrUnrecorded and its
// own error (ErrPersonalData) both.
var ErrUnrecorded = errors.New("the action's audit entries could not be written")

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
			return nil, fmt.Errorf("%w: %w", ErrUnrecorded, err)
		}
		out[i] = le
	}
	return out, nil
}
