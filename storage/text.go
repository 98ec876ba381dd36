package storage

import (
	"strings"
	"unicode/utf8"
)

// ValidText reports whether s may be stored as text: valid UTF-8 without
// NUL. PostgreSQL refuses anything else (SQLite would keep it), so text
// from outside is checked with it at the edge, where a request can still
// be refused as invalid.
func ValidText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// TruncateText makes text from outside that is kept only as a label (a
// browser's User-Agent) storable: invalid UTF-8 and NUL become U+FFFD,
// and the result is cut to at most n bytes between characters, never
// inside one.
func TruncateText(s string, n int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
