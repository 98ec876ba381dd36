package audit

import (
	"context"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// Writer stores entries that are not yet in the log. It takes no lock that
// other writers share.
type Writer interface {
	// AppendLogEntries stores es, not yet integrated, all or none;
	// ErrAlreadyExists if an ID is taken. It ignores their Index.
	AppendLogEntries(ctx context.Context, es []storage.LogEntry) error
}

// Reader reads the log.
type Reader interface {
	// LogHead returns the newest tree head; ErrNotFound before the first.
	LogHead(ctx context.Context) (storage.LogHead, error)
	// LogHeads lists up to limit heads of size at least from, smallest first.
	LogHeads(ctx context.Context, from int64, limit int) ([]storage.LogHead, error)
	// LogNodes returns the hashes of the nodes ids, in their order, in one
	// round trip; ErrNotFound if one is missing.
	LogNodes(ctx context.Context, ids []storage.LogNodeID) ([][]byte, error)
	// LogEntries lists the integrated entries with from ≤ Index < to, by
	// Index.
	LogEntries(ctx context.Context, from, to int64) ([]storage.LogEntry, error)
	// LogEntry returns the entry with that ID, integrated or not
	// (Index NotIntegrated); ErrNotFound if there is none.
	LogEntry(ctx context.Context, id string) (storage.LogEntry, error)
}

// KeyStore keeps the log's signing key, sealed.
type KeyStore interface {
	// CreateLogKey stores the key of an origin; ErrAlreadyExists if the
	// origin has one.
	CreateLogKey(ctx context.Context, k storage.LogKey) error
	// LogKey returns the key of an origin; ErrNotFound if there is none.
	LogKey(ctx context.Context, origin string) (storage.LogKey, error)
}

// Integrating is the integration right and what it writes.
type Integrating interface {
	// IntegrateLog runs one integration round in one transaction, holding
	// the integration right across replicas for its length. It reads the
	// newest head and up to max entries not yet integrated, in the order
	// they were written, with Index set to the head's size, plus one for
	// each; fn returns the nodes and head that extend the tree with them.
	// The store then sets their leaf indices and writes the nodes and the
	// head, all or nothing. It returns how many entries it integrated (0,
	// without calling fn, when none wait); fn's error as is; ErrConflict,
	// having changed nothing, when another transaction holds the right or
	// integrated the same head meanwhile. A count with an error means the
	// round committed and what the store does after it failed.
	IntegrateLog(ctx context.Context, max int,
		fn func(storage.LogHead, []storage.LogEntry) (storage.LogIntegration, error)) (int, error)
}

// Redacting drops the contents of entries past their retention.
type Redacting interface {
	// RedactLogEntries drops the contents of up to max integrated entries
	// written before before and not yet redacted, oldest first: each keeps
	// its ID, At, Type and Index, and its leaf hash (the level-0 node the
	// tree holds for it) becomes its Redacted marker. Nodes and heads are
	// untouched. It returns how many it redacted.
	RedactLogEntries(ctx context.Context, before time.Time, max int) (int, error)
}

// Store is everything the log needs from a backend; storage/sqlite and
// storage/postgres implement it.
type Store interface {
	Writer
	Reader
	KeyStore
	Integrating
	Redacting
}
