package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/dopaid/dopaid/storage"
)

// leafVersion opens every leaf. A new encoding gets a new version; old
// leaves keep theirs and still verify.
const leafVersion = "dopaid/audit-leaf/v1"

// Leaf returns the canonical encoding of e that the Merkle tree hashes:
// the version, then every field but the sequencing metadata (Index), each
// string as a 4-byte big-endian length and its bytes, the time as Unix
// milliseconds (8 bytes), the claims as a count and their names in order.
// Two entries have the same leaf only if every field is equal.
func Leaf(e storage.LogEntry) []byte {
	b := make([]byte, 0, 256)
	b = appendString(b, leafVersion)
	b = appendString(b, e.ID)
	b = binary.BigEndian.AppendUint64(b, uint64(e.At.UnixMilli()))
	for _, s := range []string{e.Type, e.Actor, e.CitizenID, e.AgencyID, e.PermitID, e.ClientID, e.Purpose} {
		b = appendString(b, s)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.Claims)))
	for _, c := range e.Claims {
		b = appendString(b, c)
	}
	for _, s := range []string{e.IAL, e.Outcome, e.Detail} {
		b = appendString(b, s)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// LeafHash is the RFC 6962 leaf hash of e.
func LeafHash(e storage.LogEntry) []byte { return rfc6962.DefaultHasher.HashLeaf(Leaf(e)) }

// leafHashOf is the leaf hash of an entry as a reader holds it: the one it
// kept when retention dropped its contents, or else its contents' hash.
func leafHashOf(e storage.LogEntry) []byte {
	if e.Redacted != nil {
		return e.Redacted
	}
	return LeafHash(e)
}

// ParseLeaf decodes what Leaf encoded. The entry's Index is NotIntegrated:
// a leaf does not say where it is.
func ParseLeaf(b []byte) (storage.LogEntry, error) {
	d := leafDecoder{b: b}
	if v := d.string(); d.err == nil && v != leafVersion {
		return storage.LogEntry{}, fmt.Errorf("audit: leaf: unknown version %.40q", v)
	}
	var e storage.LogEntry
	e.ID = d.string()
	e.At = time.UnixMilli(int64(d.uint64())).UTC()
	for _, p := range []*string{&e.Type, &e.Actor, &e.CitizenID, &e.AgencyID, &e.PermitID, &e.ClientID, &e.Purpose} {
		*p = d.string()
	}
	n := d.uint32()
	if d.err == nil && int(n) > len(d.b)/4 {
		d.err = errors.New("too many claims")
	}
	for range n {
		if d.err != nil {
			break
		}
		e.Claims = append(e.Claims, d.string())
	}
	for _, p := range []*string{&e.IAL, &e.Outcome, &e.Detail} {
		*p = d.string()
	}
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d bytes after the last field", len(d.b))
	}
	if d.err != nil {
		return storage.LogEntry{}, fmt.Errorf("audit: leaf: %w", d.err)
	}
	e.Index = storage.NotIntegrated
	return e, nil
}

type leafDecoder struct {
	b   []byte
	err error
}

func (d *leafDecoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b) {
		d.err = errors.New("truncated")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *leafDecoder) uint32() uint32 {
	if v := d.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (d *leafDecoder) uint64() uint64 {
	if v := d.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (d *leafDecoder) string() string {
	n := d.uint32()
	if d.err == nil && uint64(n) > uint64(len(d.b)) {
		d.err = errors.New("truncated")
		return ""
	}
	return string(d.take(int(n)))
}

// ErrPersonalData is returned by Prepare for an entry that holds a national
// ID number: the log names claims, it never holds their values.
var ErrPersonalData = storage.ErrPersonalData

// Prepare makes e ready to be written: a random ID if it has none, At set to
// now if zero and cut to the milliseconds the stores keep, claims sorted
// and without duplicates, Index NotIntegrated. It refuses an entry without a
// Type or Actor, and one any of whose fields holds a national ID number
// (ErrPersonalData, naming the field only). See storage.PrepareLogEntry,
// which the stores' AppendAudit calls too.
func Prepare(e storage.LogEntry, now time.Time) (storage.LogEntry, error) {
	if len(e.Claims) > 0 {
		e.Claims = slices.Compact(slices.Sorted(slices.Values(e.Claims)))
	}
	return storage.PrepareLogEntry(e, now)
}
