package storage

import (
	"sort"
	"strings"
	"testing"
	"time"
)

// Entry IDs (OrderedID) sort in the order of the times they were made — what lets a
// store's unique index on them grow at its right edge — and stay unique,
// URL-safe and free of anything holdsPID would take for an ID number.
func TestOrderedIDsSortByTime(t *testing.T) {
	start := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	var ids []string
	seen := map[string]bool{}
	for i := 0; i < 2000; i++ {
		// Steps of 1 ms to ~1 day, so every letter of the prefix changes.
		at := start.Add(time.Duration(i*i*i) * time.Millisecond)
		e, err := PrepareLogEntry(LogEntry{Type: AuditUserinfo, Actor: "client:c"}, at)
		if err != nil {
			t.Fatal(err)
		}
		if len(e.ID) != 26 || strings.Trim(e.ID, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			t.Fatalf("ID %q: want 26 URL-safe characters", e.ID)
		}
		if strings.ContainsAny(e.ID[:10], "0123456789-_") {
			t.Fatalf("ID %q: time prefix holds a character other than a letter", e.ID)
		}
		if seen[e.ID] {
			t.Fatalf("ID %q made twice", e.ID)
		}
		seen[e.ID] = true
		ids = append(ids, e.ID)
	}
	if !sort.StringsAreSorted(ids) {
		for i := 1; i < len(ids); i++ {
			if ids[i-1] > ids[i] {
				t.Fatalf("ID %q made after %q sorts before it", ids[i], ids[i-1])
			}
		}
	}
	// Two IDs of the same millisecond share the prefix and differ after it.
	a, _ := newLogEntryID(start)
	b, _ := newLogEntryID(start)
	if a[:10] != b[:10] || a == b {
		t.Fatalf("same millisecond: %q and %q", a, b)
	}
	// Other sizes: the random part is as long as asked, never under 96 bits.
	if id, err := OrderedID(start, 32); err != nil || len(id) != 10+43 || id[:10] != a[:10] {
		t.Fatalf("OrderedID(32) = %q, %v", id, err)
	}
	if id, err := OrderedID(start, 8); err == nil {
		t.Fatalf("OrderedID(8) = %q, want an error", id)
	}
	// An ID given by the caller is kept.
	e, err := PrepareLogEntry(LogEntry{ID: "given", Type: AuditUserinfo, Actor: "client:c"}, start)
	if err != nil || e.ID != "given" {
		t.Fatalf("given ID: %q, %v", e.ID, err)
	}
}
