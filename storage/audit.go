package storage

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"time"
)

// Audit event types.
const (
	AuditTokenIssued      = "token_issued"      // claims released in tokens
	AuditUserinfo         = "userinfo"          // claims released by userinfo
	AuditIntrospection    = "introspection"     // a token introspected
	AuditConsentGiven     = "consent_given"     //
	AuditConsentWithdrawn = "consent_withdrawn" //
	AuditSignIn           = "sign_in"           // Outcome success or failure
	AuditProofing         = "proofing"          // Outcome success or failure, IAL
	AuditAdmin            = "admin_action"      // every administrator action
	AuditPermitDecision   = "permit_decision"   // a decision recorded or applied
	AuditSignOut          = "sign_out"          // a sign-on session ended by its citizen
	AuditAuthorization    = "authorization"     // a refused authorization request (Outcome failure)
	AuditRevocation       = "revocation"        // a refused revocation request (Outcome failure)
)

// AuditEntry is one record of the append-only audit trail. It never holds
// a value of personal data: claims are listed by name, citizens by their
// internal ID.
type AuditEntry struct {
	// Seq is the entry's position in the chain, assigned by the store
	// (1, 2, 3, …, without gaps).
	Seq       int64
	At        time.Time
	Type      string // Audit* constant
	Actor     string // "citizen:ID", "admin:ID", "client:ID", "system"
	CitizenID string
	AgencyID  string
	PermitID  string
	ClientID  string
	Purpose   string
	Claims    []string
	IAL       string
	Outcome   string // "success", "failure", or empty
	// Detail is a short free text without personal data (a decision's
	// action, a failure reason code).
	Detail string
	// PrevHash is the Hash of entry Seq-1 ("" for the first entry).
	PrevHash string
	// Hash is ComputeHash(): SHA-256 over every field above.
	Hash string
}

// ComputeHash returns the entry's hash: SHA-256 over a length-prefixed
// encoding of every field but Hash, hex encoded. Changing any field of an
// entry, or its predecessor, changes it.
func (e AuditEntry) ComputeHash() string {
	h := sha256.New()
	put := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	put("dopaid-audit-v1")
	put(strconv.FormatInt(e.Seq, 10))
	put(e.At.UTC().Format(time.RFC3339Nano))
	for _, s := range []string{e.Type, e.Actor, e.CitizenID, e.AgencyID, e.PermitID, e.ClientID, e.Purpose} {
		put(s)
	}
	put(strconv.Itoa(len(e.Claims)))
	for _, c := range e.Claims {
		put(c)
	}
	for _, s := range []string{e.IAL, e.Outcome, e.Detail, e.PrevHash} {
		put(s)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// AuditCheckpoint is a signed statement of the chain's head at Seq, so
// that an exported segment can be verified offline and pruning keeps what
// remains verifiable.
type AuditCheckpoint struct {
	Seq  int64
	Hash string // the Hash of entry Seq
	At   time.Time
	// JWS is the compact JWS, signed with the provider's key, over
	// {"seq":…, "hash":…, "at":…}.
	JWS string
}

// AuditFilter selects audit entries; empty fields match anything.
type AuditFilter struct {
	CitizenID string
	AgencyID  string
	ClientID  string
	Types     []string
	FromSeq   int64 // inclusive; 0 = from the start
	ToSeq     int64 // inclusive; 0 = to the end
	Limit     int   // 0 = no limit
	// Newest lists the newest entries first (for views); otherwise in Seq order.
	Newest bool
}

// AuditStore is the append-only audit trail. Order is kept by the
// database: AppendAudit serialises appends (one transaction at a time holds
// the chain head), so entries from any number of replicas form one chain.
type AuditStore interface {
	// AppendAudit assigns Seq and PrevHash, computes Hash and stores the
	// entry, atomically with respect to every other append. It returns the
	// stored entry.
	AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error)
	// AuditEntries lists entries matching the filter.
	AuditEntries(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
	// AuditHead returns the last entry (ErrNotFound when the trail is empty).
	AuditHead(ctx context.Context) (AuditEntry, error)
	// CreateAuditCheckpoint stores a checkpoint; ErrAlreadyExists for a Seq
	// that has one.
	CreateAuditCheckpoint(ctx context.Context, c AuditCheckpoint) error
	// AuditCheckpoints lists checkpoints with from ≤ Seq ≤ to (0 = open), in order.
	AuditCheckpoints(ctx context.Context, from, to int64) ([]AuditCheckpoint, error)
	// PruneAudit deletes the entries before the checkpoint at seq (which
	// must exist: ErrNotFound otherwise), so the remaining chain still
	// verifies from that checkpoint. It returns how many entries went.
	PruneAudit(ctx context.Context, seq int64) (int64, error)
}
