package storage

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
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
	// AuditBackchannelLogout is each delivery attempt of a logout token
	// (Outcome success, failure or abandoned; Detail the HTTP status).
	AuditBackchannelLogout = "backchannel_logout"
)

// DetailSignIn is the Detail of the token_issued entry of a code exchange:
// the release that ends a sign-in at an agency's system (a refresh's
// release has none), as the usage statements count them.
const DetailSignIn = "sign_in"

// AuditEntry is one record of the audit trail as its writers and readers
// see it: an entry of the verifiable log (LogEntry, package audit) without
// the log's machinery. It never holds a value of personal data: claims are
// listed by name, citizens by their internal ID.
type AuditEntry struct {
	// Seq is the entry's place in the log, its leaf index plus one
	// (1, 2, 3, …, without gaps), once the integrator has given it one
	// (within about a second of the write); 0 until then.
	Seq int64
	// ID names the entry from the moment it is written (a receipt asks for
	// it); AppendAudit chooses one when it is empty.
	ID        string
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
	// Redacted reports that retention dropped the entry's contents: only
	// Seq, ID, At and Type remain. AppendAudit ignores it.
	Redacted bool
}

// LogEntry returns e as an entry of the log, not yet integrated.
func (e AuditEntry) LogEntry() LogEntry {
	return LogEntry{ID: e.ID, At: e.At, Type: e.Type, Actor: e.Actor, CitizenID: e.CitizenID, AgencyID: e.AgencyID,
		PermitID: e.PermitID, ClientID: e.ClientID, Purpose: e.Purpose, Claims: e.Claims, IAL: e.IAL,
		Outcome: e.Outcome, Detail: e.Detail, Index: NotIntegrated}
}

// AuditEntryOf returns the log entry e as an AuditEntry: Seq is its leaf
// index plus one, or 0 while it is not integrated.
func AuditEntryOf(e LogEntry) AuditEntry {
	var seq int64
	if e.Index != NotIntegrated {
		seq = e.Index + 1
	}
	return AuditEntry{Seq: seq, ID: e.ID, At: e.At, Type: e.Type, Actor: e.Actor, CitizenID: e.CitizenID,
		AgencyID: e.AgencyID, PermitID: e.PermitID, ClientID: e.ClientID, Purpose: e.Purpose, Claims: e.Claims,
		IAL: e.IAL, Outcome: e.Outcome, Detail: e.Detail, Redacted: e.Redacted != nil}
}

// ErrPersonalData is returned for an audit entry that holds a national ID
// number: the log names claims, it never holds their values.
var ErrPersonalData = errors.New("audit entry holds a national ID number")

// PrepareLogEntry makes e ready to be written: a new ID (newLogEntryID) if it has none,
// At set to now if zero and cut to the milliseconds the stores keep, in UTC,
// Index NotIntegrated; claims keep the caller's order. It refuses an
// entry without a Type or Actor, and one any of whose fields holds a
// national ID number (ErrPersonalData, naming the field only), so that a
// mistake in a caller cannot put personal data into a log that is never
// rewritten. Backends call it in AppendAudit; package audit in Prepare.
func PrepareLogEntry(e LogEntry, now time.Time) (LogEntry, error) {
	if e.Type == "" || e.Actor == "" {
		return LogEntry{}, errors.New("audit: entry needs a type and an actor")
	}
	if e.ID == "" {
		id, err := newLogEntryID(now)
		if err != nil {
			return LogEntry{}, err
		}
		e.ID = id
	}
	if e.At.IsZero() {
		e.At = now
	}
	e.At = e.At.Truncate(time.Millisecond).UTC()
	e.Index = NotIntegrated
	e.Redacted = nil
	fields := []struct{ name, v string }{
		{"id", e.ID}, {"type", e.Type}, {"actor", e.Actor}, {"citizen", e.CitizenID}, {"agency", e.AgencyID},
		{"permit", e.PermitID}, {"client", e.ClientID}, {"purpose", e.Purpose}, {"ial", e.IAL},
		{"outcome", e.Outcome}, {"detail", e.Detail},
	}
	for _, c := range e.Claims {
		fields = append(fields, struct{ name, v string }{"claims", c})
	}
	for _, f := range fields {
		if holdsPID(f.v) {
			return LogEntry{}, fmt.Errorf("audit: field %s: %w", f.name, ErrPersonalData)
		}
	}
	return e, nil
}

// orderedIDTime is the alphabet of an OrderedID's time prefix: 32 letters
// in ASCII order and no digit, so the prefix sorts as the time it encodes
// and can never be part of a run of digits that holdsPID would refuse.
const orderedIDTime = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"

// OrderedID is a new identifier that sorts after those made earlier: the
// Unix time in milliseconds as ten letters of orderedIDTime (50 bits, good
// until the year 37,648), then nbytes from crypto/rand in base64url —
// URL-safe, as unguessable as keys.RandomToken(nbytes). Rows keyed or
// indexed by such IDs go in at the right edge of their B-tree, as rows
// keyed by a sequence do: a commit of many changes one or two leaf pages
// of each index, not one page at a random place per row (in SQLite's WAL a
// frame and two writes each, and a page copied to the savepoint's
// sub-journal; in PostgreSQL's a full-page image after each checkpoint).
// The time in an ID is the moment it was made, which whoever holds it
// may read; nothing reads it back.
func OrderedID(now time.Time, nbytes int) (string, error) {
	if nbytes < 12 {
		return "", fmt.Errorf("ordered ID with %d random bytes, want at least 12", nbytes)
	}
	b := make([]byte, 10+base64.RawURLEncoding.EncodedLen(nbytes))
	ms := uint64(now.UnixMilli())
	for i := 9; i >= 0; i-- {
		b[i] = orderedIDTime[ms&31]
		ms >>= 5
	}
	r := make([]byte, nbytes)
	if _, err := rand.Read(r); err != nil {
		return "", fmt.Errorf("ordered ID: %w", err)
	}
	base64.RawURLEncoding.Encode(b[10:], r)
	return string(b), nil
}

// newLogEntryID is a new entry's ID: an OrderedID with 12 random bytes
// (96 bits), 26 characters. Each store's unique index on entry IDs then
// grows at its right edge, as its index on seq does.
func newLogEntryID(now time.Time) (string, error) {
	id, err := OrderedID(now, 12)
	if err != nil {
		return "", fmt.Errorf("audit: entry ID: %w", err)
	}
	return id, nil
}

// holdsPID reports whether s contains 13 digits, possibly separated by
// hyphens or spaces, that form a valid national ID number.
func holdsPID(s string) bool {
	var digits []byte
	flush := func() bool {
		for i := 0; i+13 <= len(digits); i++ {
			if ValidPID(string(digits[i : i+13])) {
				return true
			}
		}
		digits = digits[:0]
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			digits = append(digits, c)
		case (c == '-' || c == ' ') && len(digits) > 0:
		default:
			if flush() {
				return true
			}
		}
	}
	return flush()
}

// AuditFilter selects audit entries; empty fields match anything.
//
// Paging is by keyset on Seq, which never changes once given: a page read
// in log order continues with FromSeq one past its last integrated entry,
// one read newest first with ToSeq one before its oldest. Entries not yet
// integrated have no Seq, so no cursor ever names one: they come after
// every integrated entry (first when newest first), and a page is continued
// from its last integrated entry, so that an entry still waiting when one
// page was read shows up again, with its Seq, on the next — never skipped,
// at worst seen twice (pending, then integrated).
type AuditFilter struct {
	CitizenID string
	AgencyID  string
	PermitID  string
	ClientID  string
	Types     []string
	// Outcome matches exactly, except that "success" also matches entries
	// recorded with no outcome (a release says nothing more).
	Outcome string
	// Since and Until bound At: Since ≤ At < Until (zero: open).
	Since time.Time
	Until time.Time
	// FromSeq and ToSeq bound Seq, inclusive (0: open). Entries not yet
	// integrated come after every integrated one: FromSeq alone keeps
	// them, ToSeq leaves them out.
	FromSeq int64
	ToSeq   int64
	Limit   int // 0 = no limit
	// Newest lists the newest entries first (for views); otherwise in log
	// order: integrated entries by Seq, then those not yet integrated in
	// the order they were written.
	Newest bool
}

// AuditStore is the audit trail as op, login and admin use it. Entries are
// entries of the verifiable log (package audit): AppendAudit writes one not
// yet integrated, with no lock that other writers share; the integrator
// gives it its place within about a second.
type AuditStore interface {
	// AppendAudit prepares e (PrepareLogEntry: an ID, At in milliseconds
	// UTC; ErrPersonalData for a national ID number) and
	// stores it, not yet integrated. It returns the stored entry, Seq 0.
	AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error)
	// AuditEntries lists entries matching the filter, integrated or not,
	// in log order (see AuditFilter).
	AuditEntries(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
}
