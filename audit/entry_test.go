package audit_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/dopaid/dopaid/audit"
	"github.com/dopaid/dopaid/storage"
)

func fullEntry() storage.LogEntry {
	return storage.LogEntry{
		ID: "e-1", At: t0.Add(123 * time.Millisecond), Type: storage.AuditTokenIssued, Actor: "client:c-1",
		CitizenID: "pseudonym-1", AgencyID: "agency-1", PermitID: "permit-1", ClientID: "c-1", Purpose: "loan",
		Claims: []string{"birthdate", "given_name"}, IAL: "2.3", Outcome: "success", Detail: "granted",
		Index: storage.NotIntegrated,
	}
}

func TestLeafRoundTrip(t *testing.T) {
	for _, e := range []storage.LogEntry{fullEntry(), {At: time.UnixMilli(0).UTC(), Index: storage.NotIntegrated}} {
		got, err := audit.ParseLeaf(audit.Leaf(e))
		if err != nil {
			t.Fatalf("ParseLeaf: %v", err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("ParseLeaf(Leaf(e)):\n got %+v\nwant %+v", got, e)
		}
	}
}

// TestLeafCoversEveryField: changing any field but Index changes the leaf,
// and moving text from one field to the next does too.
func TestLeafCoversEveryField(t *testing.T) {
	base := audit.Leaf(fullEntry())
	changes := map[string]func(*storage.LogEntry){
		"ID":        func(e *storage.LogEntry) { e.ID += "x" },
		"At":        func(e *storage.LogEntry) { e.At = e.At.Add(time.Millisecond) },
		"Type":      func(e *storage.LogEntry) { e.Type = storage.AuditUserinfo },
		"Actor":     func(e *storage.LogEntry) { e.Actor = "admin:a-1" },
		"CitizenID": func(e *storage.LogEntry) { e.CitizenID = "pseudonym-2" },
		"AgencyID":  func(e *storage.LogEntry) { e.AgencyID = "agency-2" },
		"PermitID":  func(e *storage.LogEntry) { e.PermitID = "permit-2" },
		"ClientID":  func(e *storage.LogEntry) { e.ClientID = "c-2" },
		"Purpose":   func(e *storage.LogEntry) { e.Purpose = "tax" },
		"Claims":    func(e *storage.LogEntry) { e.Claims = e.Claims[:1] },
		"ClaimName": func(e *storage.LogEntry) { e.Claims[1] = "pid" },
		"IAL":       func(e *storage.LogEntry) { e.IAL = "1.1" },
		"Outcome":   func(e *storage.LogEntry) { e.Outcome = "refused" },
		"Detail":    func(e *storage.LogEntry) { e.Detail = "" },
		"shift":     func(e *storage.LogEntry) { e.PermitID, e.ClientID = "permit-1c", "-1" },
	}
	for name, change := range changes {
		e := fullEntry()
		e.Claims = append([]string(nil), e.Claims...)
		change(&e)
		if bytes.Equal(audit.Leaf(e), base) {
			t.Errorf("changing %s leaves the leaf as it was", name)
		}
	}
	e := fullEntry()
	e.Index = 99
	if !bytes.Equal(audit.Leaf(e), base) {
		t.Error("the leaf depends on Index, which integration assigns")
	}
}

func TestParseLeafRefuses(t *testing.T) {
	good := audit.Leaf(fullEntry())
	for name, b := range map[string][]byte{
		"empty":     nil,
		"truncated": good[:len(good)-1],
		"trailing":  append(append([]byte(nil), good...), 0),
		"version":   append([]byte{0, 0, 0, 2, 'v', '0'}, good[4+len("dopaid/audit-leaf/v1"):]...),
	} {
		if _, err := audit.ParseLeaf(b); err == nil {
			t.Errorf("ParseLeaf(%s): no error", name)
		}
	}
}

func FuzzParseLeaf(f *testing.F) {
	f.Add(audit.Leaf(fullEntry()))
	f.Add(audit.Leaf(storage.LogEntry{}))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := audit.ParseLeaf(b)
		if err != nil {
			return
		}
		// What parses re-encodes to the same bytes: one leaf, one entry.
		if got := audit.Leaf(e); !bytes.Equal(got, b) {
			t.Fatalf("Leaf(ParseLeaf(b)) = %x, want %x", got, b)
		}
	})
}

func TestPrepare(t *testing.T) {
	now := time.Date(2024, 2, 29, 10, 0, 0, 123_456_789, time.FixedZone("ICT", 7*3600))
	e, err := audit.Prepare(storage.LogEntry{
		Type: storage.AuditTokenIssued, Actor: "client:c-1", Claims: []string{"given_name", "birthdate", "given_name"},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	if e.ID == "" || !e.At.Equal(now.Truncate(time.Millisecond)) || e.At.Location() != time.UTC {
		t.Errorf("Prepare: ID %q, At %v; want a new ID and now to the millisecond in UTC", e.ID, e.At)
	}
	if want := []string{"birthdate", "given_name"}; !reflect.DeepEqual(e.Claims, want) {
		t.Errorf("Prepare: Claims %v, want %v", e.Claims, want)
	}
	if e.Index != storage.NotIntegrated {
		t.Errorf("Prepare: Index %d", e.Index)
	}

	// 1-1017-00230-70-8 is a valid national ID number (check digit 8).
	for _, pid := range []string{"1101700230708", "1-1017-00230-70-8", "1 1017 00230 70 8"} {
		for _, field := range []string{"detail", "citizen", "claims"} {
			e := storage.LogEntry{Type: storage.AuditSignIn, Actor: "system"}
			switch field {
			case "detail":
				e.Detail = "failed for " + pid + " today"
			case "citizen":
				e.CitizenID = pid
			case "claims":
				e.Claims = []string{pid}
			}
			_, err := audit.Prepare(e, now)
			if !errors.Is(err, audit.ErrPersonalData) {
				t.Errorf("Prepare with %q in %s: %v, want ErrPersonalData", pid, field, err)
			}
			if err != nil && bytes.Contains([]byte(err.Error()), []byte("1017")) {
				t.Errorf("Prepare's error repeats the number: %v", err)
			}
		}
	}
	// Thirteen digits that are not a valid number are not refused.
	if _, err := audit.Prepare(storage.LogEntry{Type: storage.AuditSignIn, Actor: "system", Detail: "1101700230701"}, now); err != nil {
		t.Errorf("Prepare with an invalid 13-digit number: %v", err)
	}
	if _, err := audit.Prepare(storage.LogEntry{Actor: "system"}, now); err == nil {
		t.Error("Prepare without a type: no error")
	}
}
