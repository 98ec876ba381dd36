package storage

import (
	"context"
	"time"
)

// The verifiable audit log (package audit) keeps its records in the types
// below. Backends store them; only package audit computes hashes, signs
// checkpoints and verifies, so that backends need know nothing of Merkle
// trees. The methods that store them are LogStore, part of Store (package
// audit names the same set audit.Store, as its consumer); storagetest pins
// their behaviour down.

// NotIntegrated is the Index of a LogEntry that the integrator has not yet
// given a place in the log.
const NotIntegrated int64 = -1

// LogEntry is one record of the verifiable audit log. Like AuditEntry it
// never holds a value of personal data: claims are named, citizens appear by
// pseudonym or internal ID.
type LogEntry struct {
	// ID is unique, chosen by the writer, so that a receipt can name the
	// entry before it is integrated.
	ID        string
	At        time.Time // kept to the millisecond
	Type      string    // an Audit* constant
	Actor     string    // "citizen:…", "admin:…", "client:…", "system"
	CitizenID string
	AgencyID  string
	PermitID  string
	ClientID  string
	Purpose   string
	Claims    []string
	IAL       string
	Outcome   string // "success", "failure", "refused", …
	Detail    string
	// Index is the entry's leaf index in the log's Merkle tree (0, 1, 2, …),
	// assigned by IntegrateLog; NotIntegrated until then. Writers leave it
	// alone: AppendLogEntries ignores it.
	Index int64
	// Redacted is nil unless retention dropped the entry's contents
	// (RedactLogEntries); then it is the entry's leaf hash, kept so that the
	// tree and its proofs still verify, and every field but ID, At, Type and
	// Index is empty. Writers leave it nil: AppendLogEntries ignores it.
	Redacted []byte
}

// LogNodeID names a node of the log's Merkle tree: Level 0 holds the leaf
// hashes, node (l+1, i) is the parent of (l, 2i) and (l, 2i+1).
type LogNodeID struct {
	Level int
	Index int64
}

// LogNode is a stored node of the Merkle tree. Only the roots of perfect
// subtrees are stored; they never change once written.
type LogNode struct {
	LogNodeID
	Hash []byte
}

// LogHead is a tree head: the log's size, its root hash and the signed
// checkpoint that vouches for both.
type LogHead struct {
	Size int64
	Root []byte
	// Range is the compact range of the tree [0, Size): the hashes of the
	// perfect subtrees that make it up, left to right. The next
	// integration extends it without reading any other node.
	Range [][]byte
	At    time.Time
	// Checkpoint is the signed note (C2SP tlog-checkpoint) for Size and Root.
	Checkpoint []byte
}

// LogIntegration is what an integration round writes along with the
// entries' leaf indices: the new nodes and the new head.
type LogIntegration struct {
	Nodes []LogNode
	Head  LogHead
}

// LogKey is the log's own signing key for one origin. The private key is
// stored only encrypted (keys.Envelope).
type LogKey struct {
	Origin string
	// PublicKey is the note verifier key ("origin+hash+base64").
	PublicKey string
	// PrivateKey is the sealed note signer key.
	PrivateKey []byte
	CreatedAt  time.Time
}

// LogStore is the verifiable audit log's storage: entries written without a
// place in the log, the integration right, tree nodes, signed heads, the
// redaction of entries past their retention and the log's sealed key. Package audit drives it (audit.Store is the same set);
// storagetest.LogStore pins its behaviour down. It is part of Store, so that
// no backend can be wired without it.
//
// IntegrateLog is as audit.Integrating says, but for one thing a backend
// may do after the round's transaction (SQLite indexes the round's entries
// for the readers): should that fail, it returns the round's count with
// the error, the round having committed.
type LogStore interface {
	AppendLogEntries(ctx context.Context, es []LogEntry) error
	IntegrateLog(ctx context.Context, max int,
		fn func(LogHead, []LogEntry) (LogIntegration, error)) (int, error)
	LogHead(ctx context.Context) (LogHead, error)
	LogHeads(ctx context.Context, from int64, limit int) ([]LogHead, error)
	LogNodes(ctx context.Context, ids []LogNodeID) ([][]byte, error)
	LogEntries(ctx context.Context, from, to int64) ([]LogEntry, error)
	LogEntry(ctx context.Context, id string) (LogEntry, error)
	RedactLogEntries(ctx context.Context, before time.Time, max int) (int, error)
	CreateLogKey(ctx context.Context, k LogKey) error
	LogKey(ctx context.Context, origin string) (LogKey, error)
}
