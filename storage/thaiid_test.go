package storage

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func TestParsePID(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr error
	}{
		// DOMAIN.md's public examples.
		{"1101700207030", "1101700207030", nil},
		{"3100600445635", "3100600445635", nil},
		// DOMAIN.md's synthetic test numbers.
		{"1100100000018", "1100100000018", nil},
		{"2500100000021", "2500100000021", nil},
		{"3100100000090", "3100100000090", nil},
		{"4500100000043", "4500100000043", nil},
		{"5900100000056", "5900100000056", nil},
		{"8400100000063", "8400100000063", nil},
		// Written forms.
		{"1-1017-00207-03-0", "1101700207030", nil},
		{"1 1017 00207 03 0", "1101700207030", nil},
		{"1-1017 00207-03 0", "1101700207030", nil},
		{"  3-1006-00445-63-5\n", "3100600445635", nil},
		// As typed on a Thai keyboard, on a phone in full-width mode, or
		// pasted with invisible characters and other dashes.
		{"๑๑๐๑๗๐๐๒๐๗๐๓๐", "1101700207030", nil},
		{"๑-๑๐๑๗-๐๐๒๐๗-๐๓-๐", "1101700207030", nil},
		{"１１０１７００２０７０３０", "1101700207030", nil},
		{"1\u200b101700207030", "1101700207030", nil},
		{"1\u2013101700207030", "", ErrPIDFormat}, // a dash is still a separator
		{"1\u20131017\u201300207\u201303\u20130", "1101700207030", nil},
		{"1\u00a01017\u300000207 03 0", "1101700207030", nil},
		{"๑๑๐๑๗๐๐๒๐๗๐๓๑", "", ErrPIDCheckDigit},
		// Check digit.
		{"1101700207031", "", ErrPIDCheckDigit},
		{"3100600445630", "", ErrPIDCheckDigit},
		{"1-1017-00207-03-9", "", ErrPIDCheckDigit},
		{"1101700207003", "", ErrPIDCheckDigit}, // two digits swapped
		// Categories 0 and 9 are refused by default (valid check digits).
		{"0101700207031", "", ErrPIDCategory},
		{"9101700207035", "", ErrPIDCategory},
		// Not 13 digits.
		{"", "", ErrPIDFormat},
		{"110170020703", "", ErrPIDFormat},
		{"11017002070300", "", ErrPIDFormat},
		{"110170020703a", "", ErrPIDFormat},
		{"1101700207030\x00", "", ErrPIDFormat},
		{"๑-๑๐๑๗-๐๐๒๐๗-๐๓-x", "", ErrPIDFormat},
		{"+101700207030", "", ErrPIDFormat},
		{"11-017-00207-03-0", "", ErrPIDFormat},
		{"1--1017-00207-03-0", "", ErrPIDFormat},
		{"1-1017-00207-03-0-", "", ErrPIDFormat},
		{"1_1017_00207_03_0", "", ErrPIDFormat},
		{"1-1017-00207-030", "", ErrPIDFormat},
		{"1\t1017\t00207\t03\t0", "1101700207030", nil}, // any white space
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePID(tt.in)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("ParsePID(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParsePID(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if ValidPID(tt.in) != (tt.wantErr == nil) {
				t.Errorf("ValidPID(%q) = %v, want %v", tt.in, !(tt.wantErr == nil), tt.wantErr == nil)
			}
		})
	}
}

func TestPIDCheckDigitSums(t *testing.T) {
	// DOMAIN.md gives the weighted sums of its examples.
	for _, tt := range []struct {
		pid string
		sum int
	}{{"1101700207030", 144}, {"3100600445635", 193}} {
		sum := 0
		for i := 0; i < 12; i++ {
			sum += int(tt.pid[i]-'0') * (14 - (i + 1))
		}
		if sum != tt.sum {
			t.Errorf("%s: Σ = %d, want %d", tt.pid, sum, tt.sum)
		}
		if got, want := pidCheckDigit([]byte(tt.pid)), tt.pid[12]; got != want {
			t.Errorf("pidCheckDigit(%s) = %c, want %c", tt.pid, got, want)
		}
	}
}

func TestParsePIDWithPolicy(t *testing.T) {
	tests := []struct {
		pid, allowed string
		wantErr      error
	}{
		{"0101700207031", "012345678", nil},
		{"9101700207035", "123456789", nil},
		{"1101700207030", "3", ErrPIDCategory},
		{"3100600445635", "3", nil},
		{"1101700207030", "", ErrPIDCategory},
		// The format and check digit come first: the category error must
		// not tell someone guessing numbers that the rest was right.
		{"9101700207030", "1", ErrPIDCheckDigit},
	}
	for _, tt := range tests {
		_, err := ParsePIDWith(tt.pid, tt.allowed)
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("ParsePIDWith(%q, %q) error = %v, want %v", tt.pid, tt.allowed, err, tt.wantErr)
		}
	}
}

func TestPIDErrorsDoNotRepeatTheNumber(t *testing.T) {
	for _, in := range []string{"1101700207031", "9101700207035", "11017002070"} {
		_, err := ParsePID(in)
		if err == nil || strings.Contains(err.Error(), in) || strings.Contains(err.Error(), in[1:11]) {
			t.Errorf("ParsePID(%q) error = %v: it must not contain the number", in, err)
		}
	}
}

func TestFormatPID(t *testing.T) {
	if got, want := FormatPID("1101700207030"), "1-1017-00207-03-0"; got != want {
		t.Errorf("FormatPID = %q, want %q", got, want)
	}
	if got, want := FormatPID("123"), "123"; got != want {
		t.Errorf("FormatPID = %q, want %q", got, want)
	}
}

func TestNormalizeLaserCode(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"JT0-1234567-89", "JT0123456789", false},
		{"JT0123456789", "JT0123456789", false},
		{"jt0-1234567-89", "JT0123456789", false},
		{" JT0 1234567 89 ", "JT0123456789", false},
		{"JTO-1234567-89", "JT0123456789", false}, // letter O read as zero
		{"jto123456789", "JT0123456789", false},
		{"J-T-0-1-2-3-4-5-6-7-8-9", "JT0123456789", false},
		{"ME1\u00a02345678\u300090", "ME1234567890", false}, // Unicode spaces
		{"", "", true},
		{"JT0-1234567-8", "", true},
		{"JT0-1234567-890", "", true},
		{"J10-1234567-89", "", true},
		{"JTO-1234567-8O", "", true},              // O only in the third position
		{"JT01-234567-89", "JT0123456789", false}, // hyphens anywhere
		{"OT0-1234567-89x", "", true},
		{"1T0-1234567-89", "", true},
		{"ſT0-1234567-89", "", true},              // ToUpper would make it S
		{"JT0-１２３４５６７-89", "JT0123456789", false}, // full-width digits
		{"ＪＴ０－１２３４５６７－８９", "JT0123456789", false},
		{"JT๐-๑๒๓๔๕๖๗-๘๙", "JT0123456789", false}, // Thai digits
		{"JT0\u200d1234567\u00ad89", "JT0123456789", false},
		{"JT0-1234567-8\u0669", "", true}, // other scripts' digits are not read
		{"JT0_1234567_89", "", true},
		{"JT0-1234567-89\x00", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NormalizeLaserCode(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NormalizeLaserCode(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrLaserCode) {
				t.Errorf("error %v does not wrap ErrLaserCode", err)
			}
			if got != tt.want {
				t.Errorf("NormalizeLaserCode(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestFoldName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"สมชาย", "สมชาย"},
		{"  สมชาย  ", "สมชาย"},
		{"Somchai", "somchai"},
		{"SOMCHAI  JAIDEE", "somchai jaidee"},
		{"Somchai\u00a0\t\u3000Jaidee\n", "somchai jaidee"},
		{"สม\u200bชาย", "สมชาย"},       // zero-width space pasted with Thai text
		{"\ufeffสมชาย\u2060", "สมชาย"}, // byte-order mark, word joiner
		{"Jose\u0301", "jos\u00e9"},    // decomposed accent composed
		{"JOSE\u0301", "jos\u00e9"},    // and lower-cased
		{"\u00c9mile", "\u00e9mile"},   // precomposed capital
		{"น้ำ", "น้ำ"},                 // SARA AM stays as typed (NFC keeps it)
		{"น\u0e49\u0e4d\u0e32", "น้ำ"}, // nikhahit + sara aa is sara am
		{"น\u0e4d\u0e49\u0e32", "น้ำ"}, // with the tone mark first or in between
		{"ก\u0e4d\u0e32", "กำ"},
		{"ก\u0e4d", "ก\u0e4d"},         // nikhahit alone stays
		{"ส\u200dม\u200cชาย", "สมชาย"}, // zero-width joiner and non-joiner
		{"สม\u00adชาย", "สมชาย"},       // soft hyphen
		{"ＳＯＭＣＨＡＩ", "somchai"},         // full-width letters
		{"สม\u200e\u200fชาย", "สมชาย"},
		{"a\xffb", "a\ufffdb"}, // invalid UTF-8
		{"", ""},
		{" \t\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := FoldName(tt.in); got != tt.want {
				t.Errorf("FoldName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSamePersonName(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"สมชาย", "สมชาย ", true},
		{"Somchai", "somchai", true},
		{"Jaidee", "JAIDEE", true},
		{"Jos\u00e9", "Jose\u0301", true},
		{"สม\u200bชาย", "สมชาย", true},
		{"สม\u200dชาย", "สมชาย", true},
		{"ประจำ", "ประจ\u0e4d\u0e32", true},
		{"น้ำทิพย์", "น\u0e4d\u0e49\u0e32ทิพย์", true},
		{"ลำ", "ล\u0e32\u0e4d", false}, // sara aa then nikhahit is not sara am
		{"สมชาย", "สมชัย", false},
		{"ใจดี", "ใจดี่", false}, // a tone mark is a different name
		{"Somchai", "Somchal", false},
		{"Som chai", "Somchai", false}, // a space inside is not ignored
		{"", "", true},
	}
	for _, tt := range tests {
		if got := SamePersonName(tt.a, tt.b); got != tt.want {
			t.Errorf("SamePersonName(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func FuzzParsePID(f *testing.F) {
	for _, s := range []string{"1101700207030", "3100600445635", "1-1017-00207-03-0", "1 1017 00207 03 0", "0101700207031", "9101700207035", "110170020703", "๑๑๐๑๗๐๐๒๐๗๐๓๐", " 1101700207030 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParsePID(s)
		all, errAll := ParsePIDWith(s, "0123456789")
		if err != nil {
			if got != "" {
				t.Fatalf("ParsePID(%q) = %q with error %v", s, got, err)
			}
			if !errors.Is(err, ErrPIDFormat) && !errors.Is(err, ErrPIDCheckDigit) && !errors.Is(err, ErrPIDCategory) {
				t.Fatalf("ParsePID(%q) error %v wraps no sentinel", s, err)
			}
			if errors.Is(err, ErrPIDCategory) && (errAll != nil || (all[0] != '0' && all[0] != '9')) {
				t.Fatalf("ParsePID(%q) refused the category but ParsePIDWith(all) gave %q, %v", s, all, errAll)
			}
			if ValidPID(s) {
				t.Fatalf("ValidPID(%q) = true, ParsePID error %v", s, err)
			}
			return
		}
		if errAll != nil || all != got {
			t.Fatalf("ParsePID(%q) = %q but ParsePIDWith(all digits) = %q, %v", s, got, all, errAll)
		}
		if len(got) != 13 {
			t.Fatalf("ParsePID(%q) = %q: not 13 bytes", s, got)
		}
		sum := 0
		for i := 0; i < 13; i++ {
			if !isDigit(got[i]) {
				t.Fatalf("ParsePID(%q) = %q: not all digits", s, got)
			}
			if i < 12 {
				sum += int(got[i]-'0') * (13 - i)
			}
		}
		if c := (11 - sum%11) % 10; int(got[12]-'0') != c {
			t.Fatalf("ParsePID(%q) = %q: check digit should be %d", s, got, c)
		}
		if got[0] == '0' || got[0] == '9' {
			t.Fatalf("ParsePID(%q) = %q: category refused by default", s, got)
		}
		for _, w := range []string{got, FormatPID(got), strings.ReplaceAll(FormatPID(got), "-", " ")} {
			if again, err := ParsePID(w); err != nil || again != got {
				t.Fatalf("ParsePID(%q) = %q, %v; want %q", w, again, err, got)
			}
		}
		// Only digits (as NormalizeInput reads them), separators and
		// surrounding white space were read.
		if d := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, NormalizeInput(s)); d != got {
			t.Fatalf("ParsePID(%q) = %q, but its digits are %q", s, got, d)
		}
	})
}

var laserCodeRE = regexp.MustCompile(`^[A-Z]{2}[0-9]{10}$`)

func FuzzNormalizeLaserCode(f *testing.F) {
	for _, s := range []string{"JT0-1234567-89", "jto123456789", " JT0 1234567 89 ", "JT0-1234567-8O", "ſT0123456789", "JT0\u00a01234567-89"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeLaserCode(s)
		if err != nil {
			if got != "" || !errors.Is(err, ErrLaserCode) {
				t.Fatalf("NormalizeLaserCode(%q) = %q, %v", s, got, err)
			}
			return
		}
		if !laserCodeRE.MatchString(got) {
			t.Fatalf("NormalizeLaserCode(%q) = %q: not 2 letters and 10 digits", s, got)
		}
		if again, err := NormalizeLaserCode(got); err != nil || again != got {
			t.Fatalf("NormalizeLaserCode(%q) = %q, %v; not idempotent", got, again, err)
		}
		printed := got[:3] + "-" + got[3:10] + "-" + got[10:]
		if again, err := NormalizeLaserCode(strings.ToLower(printed)); err != nil || again != got {
			t.Fatalf("NormalizeLaserCode(%q) = %q, %v; want %q", printed, again, err, got)
		}
	})
}

func FuzzParseBEDate(f *testing.F) {
	for _, s := range []string{"25300115", "25551200", "25550000", "99999999", "", "25550230", "25640229", "00000000", "-0000000", "+2555120", "2555 120", "25301500", "2530011"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseBEDate(s)
		if err != nil {
			if d != (BEDate{}) {
				t.Fatalf("ParseBEDate(%q) = %+v with error %v", s, d, err)
			}
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("ParseBEDate(%q) = %+v, which does not validate: %v", s, d, err)
		}
		if d.IsZero() {
			if s != "" && s != "00000000" {
				t.Fatalf("ParseBEDate(%q) = no date", s)
			}
			return
		}
		if d.String() != s {
			t.Fatalf("ParseBEDate(%q).String() = %q", s, d.String())
		}
		if d.IsLifetime() {
			return
		}
		if d.Month == 0 && d.Day != 0 {
			t.Fatalf("ParseBEDate(%q) = %+v: a day without a month", s, d)
		}
		// OIDC Core §5.1: YYYY-MM-DD when the whole date is known, else YYYY.
		if o := d.OIDC(); !birthdateRE.MatchString(o) || (len(o) == 10) != (d.Day != 0) {
			t.Fatalf("ParseBEDate(%q).OIDC() = %q", s, o)
		}
		if full := (BEDate{d.Year, max(d.Month, 1), max(d.Day, 1)}); !d.Matches(full) {
			t.Fatalf("%+v does not match %+v", d, full)
		}
	})
}

func FuzzFoldName(f *testing.F) {
	for _, s := range []string{"น\u0e4d\u0e49\u0e32", "a\u0301\u0e4d\u0e48\u0e32", "ส\u200dม\u00adชาย", "ＳＯＭ", "สมชาย ใจดี", "Somchai  JAIDEE", "Jose\u0301", "สม\u200bชาย", "a\xffb", "\u3000x\u00a0", "ǅ", "İ", "\u0345"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := FoldName(s)
		if !utf8.ValidString(got) {
			t.Fatalf("FoldName(%q) = %q: invalid UTF-8", s, got)
		}
		if !norm.NFC.IsNormalString(got) {
			t.Fatalf("FoldName(%q) = %q: not NFC", s, got)
		}
		if again := FoldName(got); again != got {
			t.Fatalf("FoldName not idempotent: %q → %q → %q", s, got, again)
		}
		if strings.TrimSpace(got) != got || strings.Contains(got, "  ") {
			t.Fatalf("FoldName(%q) = %q: white space not folded", s, got)
		}
		if strings.Join(strings.Fields(got), " ") != got {
			t.Fatalf("FoldName(%q) = %q: non-ASCII white space left", s, got)
		}
		if !SamePersonName(s, got) || !SamePersonName(s, "\u00a0"+s+"\t") {
			t.Fatalf("SamePersonName disagrees with FoldName on %q", s)
		}
	})
}

func TestNormalizeInput(t *testing.T) {
	tests := []struct{ in, want string }{
		{"๐๑๒๓๔๕๖๗๘๙", "0123456789"},
		{"０１２３４５６７８９", "0123456789"},
		{"ＡＢＣ－ｘｙｚ", "ABC-xyz"},
		{"1\u20102\u20133\u20144\u22125", "1-2-3-4-5"},
		{"\u3000 a \t\u00a0b\n", "a b"},
		{"a\u200b\u200c\u200d\u00ad\u2060\ufeff\u200e\u200fb", "ab"},
		{"ก\u0e4d\u0e32", "กำ"},
		{"น\u0e4d\u0e49\u0e32", "น้ำ"},
		{"Jose\u0301", "Jos\u00e9"}, // case kept
		{"a\xffb", "a\ufffdb"},
	}
	for _, tt := range tests {
		if got := NormalizeInput(tt.in); got != tt.want {
			t.Errorf("NormalizeInput(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzNormalizeInput(f *testing.F) {
	for _, s := range []string{"๑๑๐๑๗๐๐๒๐๗๐๓๐", "１１０１７", "น\u0e4d\u0e49\u0e32", "a\u0301\u0e4d\u0e48\u0e32", "\u0e4d\u0e4d\u0e32\u0e32", "ส\u200dม\u00adชาย", "\u3000x\u00a0", "a\xffb", "\u0e4d\u0e48\u0e4b\u0e32"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := NormalizeInput(s)
		if !utf8.ValidString(got) {
			t.Fatalf("NormalizeInput(%q) = %q: invalid UTF-8", s, got)
		}
		if !norm.NFC.IsNormalString(got) {
			t.Fatalf("NormalizeInput(%q) = %q: not NFC", s, got)
		}
		if again := NormalizeInput(got); again != got {
			t.Fatalf("NormalizeInput not idempotent: %q → %q → %q", s, got, again)
		}
		if strings.Join(strings.Fields(got), " ") != got {
			t.Fatalf("NormalizeInput(%q) = %q: white space not folded", s, got)
		}
		for _, r := range got {
			if invisible(r) || ('\u0e50' <= r && r <= '\u0e59') || ('\uff01' <= r && r <= '\uff5e') {
				t.Fatalf("NormalizeInput(%q) = %q: %U left", s, got, r)
			}
		}
		if strings.Contains(got, string(nikhahit)+string(saraAa)) {
			t.Fatalf("NormalizeInput(%q) = %q: nikhahit + sara aa left", s, got)
		}
		// Registry text (normalizeText) and typed text agree once typed
		// text's digits and widths are read: matching compares the two.
		if NormalizeInput(normalizeText(s)) != got {
			t.Fatalf("NormalizeInput(normalizeText(%q)) = %q, want %q", s, NormalizeInput(normalizeText(s)), got)
		}
	})
}

// birthdateRE is the birthdate claim's syntax in OIDC Core §5.1.
var birthdateRE = regexp.MustCompile(`^\d{4}(-\d{2}-\d{2})?$`)

func TestBEDateOIDC(t *testing.T) {
	tests := []struct {
		d    BEDate
		want string
	}{
		{BEDate{2530, 1, 15}, "1987-01-15"},
		{BEDate{2535, 12, 0}, "1992"}, // YYYY-MM is not a birthdate format
		{BEDate{2495, 0, 0}, "1952"},
		{BEDate{}, ""},
		{Lifetime(), ""},
	}
	for _, tt := range tests {
		if got := tt.d.OIDC(); got != tt.want {
			t.Errorf("%v.OIDC() = %q, want %q", tt.d, got, tt.want)
		}
	}
}
