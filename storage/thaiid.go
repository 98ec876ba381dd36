package storage

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Errors of the identity parsers. They are sentinels so that the login pages
// can say which part of what the citizen typed is wrong; messages never
// repeat the input, which is personal data.
var (
	// ErrPIDFormat: not 13 digits (optionally grouped X-XXXX-XXXXX-XX-X).
	ErrPIDFormat = errors.New("national ID number must be 13 digits")
	// ErrPIDCheckDigit: 13 digits whose last digit is not their check digit.
	ErrPIDCheckDigit = errors.New("national ID number check digit does not match")
	// ErrPIDCategory: a first digit (person category) the policy does not serve.
	ErrPIDCategory = errors.New("national ID number category is not accepted")
	// ErrLaserCode: not a card laser code.
	ErrLaserCode = errors.New("laser code must be 2 letters followed by 10 digits")
)

// DefaultPIDCategories are the first digits of the national ID numbers
// ParsePID accepts: 1–8. Validators in the field refuse 0 (persons without
// registration status) and 9 (not issued to the public); which categories
// the service accepts is a policy, so ParsePIDWith takes another set.
const DefaultPIDCategories = "12345678"

// ValidPID reports whether s is a national ID number ParsePID accepts.
func ValidPID(s string) bool {
	_, err := ParsePID(s)
	return err == nil
}

// ParsePID reads a national ID number under DefaultPIDCategories. See
// ParsePIDWith.
func ParsePID(s string) (string, error) { return ParsePIDWith(s, DefaultPIDCategories) }

// pidGroups are the lengths of the digit groups in X-XXXX-XXXXX-XX-X.
var pidGroups = [...]int{1, 4, 5, 2, 1}

// ParsePIDWith reads a national ID number written as 13 digits, or grouped
// X-XXXX-XXXXX-XX-X with a hyphen or a space between groups, as
// NormalizeInput reads it: Thai or full-width digits, any dash, invisible
// characters and surrounding white space are what people type. It returns the 13 digits. The first digit
// must be one of allowed (a string of digits such as DefaultPIDCategories).
// Errors wrap ErrPIDFormat, ErrPIDCheckDigit or ErrPIDCategory.
func ParsePIDWith(s, allowed string) (string, error) {
	s = NormalizeInput(s)
	var digits [13]byte
	n := 0
	if len(s) == 13 {
		for i := 0; i < 13; i++ {
			if !isDigit(s[i]) {
				return "", ErrPIDFormat
			}
			digits[i] = s[i]
		}
		n = 13
	} else {
		// Separators only between groups, so that "1-1-0-…" or a
		// misplaced hyphen is a typing mistake rather than a number.
		i := 0
		for g, l := range pidGroups {
			if g > 0 {
				if i >= len(s) || (s[i] != '-' && s[i] != ' ') {
					return "", ErrPIDFormat
				}
				i++
			}
			for k := 0; k < l; k++ {
				if i >= len(s) || !isDigit(s[i]) {
					return "", ErrPIDFormat
				}
				digits[n] = s[i]
				n++
				i++
			}
		}
		if i != len(s) {
			return "", ErrPIDFormat
		}
	}
	if pidCheckDigit(digits[:12]) != digits[12] {
		return "", ErrPIDCheckDigit
	}
	if !strings.ContainsRune(allowed, rune(digits[0])) {
		return "", fmt.Errorf("%w: first digit %c", ErrPIDCategory, digits[0])
	}
	return string(digits[:]), nil
}

// pidCheckDigit returns the check digit of the first 12 digits:
// (11 − Σ d_i×(14−i) mod 11) mod 10 for i = 1..12.
func pidCheckDigit(d []byte) byte {
	sum := 0
	for i := 0; i < 12; i++ {
		sum += int(d[i]-'0') * (13 - i)
	}
	return byte((11-sum%11)%10) + '0'
}

// FormatPID writes 13 digits as printed on the card, X-XXXX-XXXXX-XX-X.
// Anything that is not 13 bytes is returned unchanged.
func FormatPID(pid string) string {
	if len(pid) != 13 {
		return pid
	}
	return pid[:1] + "-" + pid[1:5] + "-" + pid[5:10] + "-" + pid[10:12] + "-" + pid[12:]
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// NormalizeLaserCode reads a card laser code as printed, JT0-1234567-89,
// and as typed (NormalizeInput: Thai or full-width digits and letters): it
// upper-cases ASCII letters, drops hyphens and white space, reads a
// letter O in the third position as the digit zero (the two look alike on
// the card) and then requires 2 ASCII letters and 10 ASCII digits, which it
// returns, e.g. JT0123456789. Errors wrap ErrLaserCode.
func NormalizeLaserCode(s string) (string, error) {
	s = NormalizeInput(s)
	b := make([]byte, 0, 12)
	for _, r := range s {
		switch {
		case r == '-' || unicode.IsSpace(r):
			continue
		case 'a' <= r && r <= 'z':
			r -= 'a' - 'A'
		case r >= utf8.RuneSelf:
			// Only ASCII: strings.ToUpper would turn ſ into S.
			return "", ErrLaserCode
		}
		if len(b) == 12 {
			return "", ErrLaserCode
		}
		b = append(b, byte(r))
	}
	if len(b) != 12 {
		return "", ErrLaserCode
	}
	if b[2] == 'O' {
		b[2] = '0'
	}
	for i, c := range b {
		if i < 2 && !('A' <= c && c <= 'Z') || i >= 2 && !isDigit(c) {
			return "", ErrLaserCode
		}
	}
	return string(b), nil
}

// NormalizeInput is the one form in which text typed by a citizen (or
// pasted from another application) is read, at proofing, at sign-in and in
// the registry import: invalid UTF-8 replaced by U+FFFD; Thai digits ๐–๙ and
// full-width forms (０–９, Ａ–Ｚ, －, the ideographic space) read as their ASCII
// counterparts, and every dash as a hyphen-minus; invisible characters that
// keyboards and copy-paste insert (zero-width space, joiner and non-joiner,
// soft hyphen, word joiner, byte-order mark, direction marks) removed; then
// normalizeText (NFC, sara am, white space).
func NormalizeInput(s string) string {
	return normalizeText(strings.Map(foldInputRune, strings.ToValidUTF8(s, "\uFFFD")))
}

func foldInputRune(r rune) rune {
	switch {
	case '\u0E50' <= r && r <= '\u0E59': // Thai digits
		return '0' + r - '\u0E50'
	case '\uFF01' <= r && r <= '\uFF5E': // full-width ASCII
		return r - 0xFF01 + '!'
	case r == '\u3000':
		return ' '
	case '\u2010' <= r && r <= '\u2015', r == '\u2212', r == '\uFE63':
		return '-'
	}
	return r
}

// invisible reports whether r is a character that shows nothing and that
// keyboards, word processors and web pages put into Thai text: a name with
// a zero-width joiner is the name without it.
func invisible(r rune) bool {
	switch r {
	case '\u00AD', // soft hyphen
		'\u200B', '\u200C', '\u200D', // zero-width space, non-joiner, joiner
		'\u200E', '\u200F', // left-to-right and right-to-left marks
		'\u2060', '\uFEFF': // word joiner, byte-order mark
		return true
	}
	return false
}

// normalizeText removes invisible characters, applies Unicode NFC, writes
// sara am typed as nikhahit + sara aa as the one character U+0E33 (NFC
// leaves the two apart: theirs is a compatibility decomposition, and Thai
// keyboards and fonts show both the same), trims white space and makes
// every run of Unicode white space one ASCII space. Case and digits are
// kept: the registry import stores text in this form.
func normalizeText(s string) string {
	s = strings.Map(func(r rune) rune {
		if invisible(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	s = norm.NFC.String(s)
	if strings.ContainsRune(s, nikhahit) {
		// Again after composing: a tone mark moved next to a mark of another
		// script may need reordering.
		s = norm.NFC.String(composeSaraAm(s))
	}
	return strings.Join(strings.Fields(s), " ")
}

const (
	nikhahit = '\u0E4D'
	saraAa   = '\u0E32'
	saraAm   = '\u0E33'
)

// composeSaraAm replaces nikhahit, any tone marks, then sara aa by the tone
// marks then sara am: น + ํ + ้ + า and น + ้ + ํ + า are both น้ำ (น + ้ + ำ), the
// order in which Thai text is encoded.
func composeSaraAm(s string) string {
	rs := []rune(s)
	out := make([]rune, 0, len(rs))
	for i := 0; i < len(rs); i++ {
		if rs[i] == nikhahit {
			j := i + 1
			for j < len(rs) && isToneMark(rs[j]) {
				j++
			}
			if j < len(rs) && rs[j] == saraAa {
				out = append(out, rs[i+1:j]...)
				out = append(out, saraAm)
				i = j
				continue
			}
		}
		out = append(out, rs[i])
	}
	return string(out)
}

func isToneMark(r rune) bool { return '\u0E48' <= r && r <= '\u0E4B' }

// FoldName returns the form of a personal name used to compare names: the
// typed text read as NormalizeInput reads it (so invisible characters,
// nikhahit + sara aa, full-width letters and stray white space make no
// difference), then lower case (Thai has no case) and NFC again, as a
// lower-case letter can compose with a following mark where its capital
// did not.
func FoldName(s string) string {
	s = norm.NFC.String(strings.ToLower(NormalizeInput(s)))
	return strings.Join(strings.Fields(s), " ")
}

// SamePersonName reports whether a and b are the same name once folded
// (FoldName).
func SamePersonName(a, b string) bool { return FoldName(a) == FoldName(b) }

// cleanText is how registry text is stored: normalizeText, with its case
// and digits kept for display.
func cleanText(s string) string { return normalizeText(s) }
