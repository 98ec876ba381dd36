package storage

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncateText(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"Mozilla/5.0", 200, "Mozilla/5.0"},
		{"abcdef", 3, "abc"},
		{"กขค", 4, "ก"}, // 3 bytes a character: never half of ข
		{"กขค", 6, "กข"},
		{"a\x00b", 10, "a\uFFFDb"},
		{"a\xffb", 10, "a\uFFFDb"},
		{"", 5, ""},
	}
	for _, tt := range tests {
		if got := TruncateText(tt.in, tt.n); got != tt.want {
			t.Errorf("TruncateText(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func FuzzTruncateText(f *testing.F) {
	f.Add(strings.Repeat("ไทย", 100), 200)
	f.Add("a\x00\xff\xfe", 2)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 0 || n > 1<<12 {
			return
		}
		got := TruncateText(s, n)
		if len(got) > n || !ValidText(got) {
			t.Fatalf("TruncateText(%q, %d) = %q", s, n, got)
		}
		if ValidText(s) && !strings.HasPrefix(s, got) {
			t.Fatalf("TruncateText(%q, %d) = %q, not a prefix", s, n, got)
		}
		if utf8.RuneCountInString(got) > utf8.RuneCountInString(strings.ToValidUTF8(s, "\uFFFD")) {
			t.Fatalf("grew")
		}
	})
}

func TestValidText(t *testing.T) {
	for s, want := range map[string]bool{"": true, "ไทย": true, "a\x00": false, "\xc3": false, "\xed\xa0\x80": false} {
		if got := ValidText(s); got != want {
			t.Errorf("ValidText(%q) = %v, want %v", s, got, want)
		}
	}
}
