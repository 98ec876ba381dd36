package keys_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/dopaid/dopaid/keys"
)

// counting returns the 32-byte key 0x00 0x01 … 0x1f.
func counting() []byte {
	k := make([]byte, keys.MasterKeySize)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

func newEnvelope(t *testing.T, master []byte) *keys.Envelope {
	t.Helper()
	e, err := keys.NewEnvelope(master)
	if err != nil {
		t.Fatalf("NewEnvelope: %v", err)
	}
	return e
}

func randomEnvelope(t *testing.T) *keys.Envelope {
	t.Helper()
	s, err := keys.GenerateMasterKey()
	if err != nil {
		t.Fatalf("GenerateMasterKey: %v", err)
	}
	k, err := keys.ParseMasterKey(s)
	if err != nil {
		t.Fatalf("ParseMasterKey(GenerateMasterKey()): %v", err)
	}
	return newEnvelope(t, k)
}

func TestNewEnvelopeKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := keys.NewEnvelope(make([]byte, n)); err == nil {
			t.Errorf("NewEnvelope(%d bytes): no error", n)
		}
	}
	if _, err := keys.NewEnvelope(make([]byte, 32)); err != nil {
		t.Errorf("NewEnvelope(32 bytes): %v", err)
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	e := randomEnvelope(t)
	tests := []struct {
		name      string
		plaintext []byte
		ad        []byte
	}{
		{"empty", nil, nil},
		{"empty with associated data", []byte{}, []byte("row-1")},
		{"short", []byte("JBSWY3DPEHPK3PXP"), []byte("totp:1234")},
		{"no associated data", []byte("secret"), nil},
		{"binary", []byte{0, 1, 2, 0xff, 0xfe}, []byte{0}},
		{"large", bytes.Repeat([]byte("x"), 1<<20), []byte("big")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sealed, err := e.Seal(tt.plaintext, tt.ad)
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			if len(tt.plaintext) > 4 && bytes.Contains(sealed, tt.plaintext) {
				t.Error("sealed data contains the plaintext")
			}
			got, err := e.Open(sealed, tt.ad)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Errorf("Open = %q, want %q", got, tt.plaintext)
			}
		})
	}
}

func TestEnvelopeFreshDataKey(t *testing.T) {
	e := randomEnvelope(t)
	a, err := e.Seal([]byte("same"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Seal([]byte("same"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Past the shared header (version, master key ID) nothing may repeat.
	if bytes.Equal(a[9:], b[9:]) {
		t.Error("two seals of the same plaintext are equal")
	}
	if !bytes.Equal(a[:9], b[:9]) {
		t.Errorf("headers differ: %x, %x", a[:9], b[:9])
	}
}

// TestEnvelopeGolden pins the version 1 format: records sealed by this
// version must open in every later one.
func TestEnvelopeGolden(t *testing.T) {
	const sealed = "014ff7c32a7fcf3441f9b3edfe22dafa490d47de986040c97041c542567e7122ef662dbb1144d1a9b1a740548d4b9415606459e7146ba3e582ae6d667e56c0cd77aaabe233fd4fe6b671c7ecb5c6709724ac65b1f0600aa47c77b133d72c81baafdb53bf79a99112dceb423dda0a946494208e"
	e := newEnvelope(t, counting())
	if got, want := e.KeyID(), "4ff7c32a7fcf3441"; got != want {
		t.Errorf("KeyID = %s, want %s", got, want)
	}
	b, _ := hex.DecodeString(sealed)
	got, err := e.Open(b, []byte("record-1"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if want := "dopaid envelope v1"; string(got) != want {
		t.Errorf("Open = %q, want %q", got, want)
	}
}

func TestEnvelopeOpenErrors(t *testing.T) {
	e := newEnvelope(t, counting())
	ad := []byte("record-1")
	sealed, err := e.Seal([]byte("a TOTP secret"), ad)
	if err != nil {
		t.Fatal(err)
	}
	other := randomEnvelope(t)
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name   string
		env    *keys.Envelope
		sealed []byte
		ad     []byte
		want   error
	}{
		{"wrong master key", other, sealed, ad, keys.ErrWrongMasterKey},
		{"wrong associated data", e, sealed, []byte("record-2"), keys.ErrDecrypt},
		{"missing associated data", e, sealed, nil, keys.ErrDecrypt},
		{"empty", e, nil, ad, keys.ErrMalformed},
		{"truncated", e, sealed[:40], ad, keys.ErrMalformed},
		{"tag cut off", e, sealed[:len(sealed)-1], ad, keys.ErrDecrypt},
		{"appended byte", e, append(bytes.Clone(sealed), 0), ad, keys.ErrDecrypt},
		{"unknown version", e, flip(0), ad, keys.ErrMalformed},
		{"master key ID altered", e, flip(1), ad, keys.ErrWrongMasterKey},
		{"wrap nonce altered", e, flip(9), ad, keys.ErrDecrypt},
		{"wrapped key altered", e, flip(30), ad, keys.ErrDecrypt},
		{"wrap tag altered", e, flip(68), ad, keys.ErrDecrypt},
		{"data nonce altered", e, flip(69), ad, keys.ErrDecrypt},
		{"ciphertext altered", e, flip(85), ad, keys.ErrDecrypt},
		{"data tag altered", e, flip(len(sealed) - 1), ad, keys.ErrDecrypt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.env.Open(tt.sealed, tt.ad)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open error = %v, want %v", err, tt.want)
			}
			if got != nil {
				t.Errorf("Open returned %q with an error", got)
			}
			if err.Error() != strings.ToLower(err.Error()[:1])+err.Error()[1:] {
				t.Errorf("error %q does not start in lower case", err)
			}
		})
	}
}

func TestDeriveKey(t *testing.T) {
	e := newEnvelope(t, counting())
	// Pinned: changing the derivation would invalidate every stored client
	// secret hash and every cookie. Computed independently (RFC 5869 with
	// SHA-256, no salt, info "dopaid/keys/v1/derive/client-secret").
	const want = "cdeab0d3fc0696c3f0681f8e7c06a3346d713929b3237802ccdbaa637d6b6db9"
	if got := hex.EncodeToString(e.DeriveKey("client-secret")); got != want {
		t.Errorf("DeriveKey(client-secret) = %s, want %s", got, want)
	}
	other := randomEnvelope(t)
	seen := map[string]string{}
	for _, tt := range []struct {
		name    string
		env     *keys.Envelope
		purpose string
	}{
		{"client secret", e, "client-secret"},
		{"token", e, "op-token"},
		{"cookie", e, "cookie"},
		{"empty purpose", e, ""},
		{"other master key", other, "client-secret"},
	} {
		k := tt.env.DeriveKey(tt.purpose)
		if len(k) != 32 {
			t.Errorf("%s: %d bytes, want 32", tt.name, len(k))
		}
		if bytes.Equal(k, counting()) {
			t.Errorf("%s: derived key equals the master key", tt.name)
		}
		if prev, ok := seen[string(k)]; ok {
			t.Errorf("%s: same key as %s", tt.name, prev)
		}
		seen[string(k)] = tt.name
		if again := tt.env.DeriveKey(tt.purpose); !bytes.Equal(again, k) {
			t.Errorf("%s: not deterministic", tt.name)
		}
	}
}

func TestParseMasterKey(t *testing.T) {
	// 0xfb 0xff … encodes with + and / in standard base64, - and _ in URL base64.
	key := bytes.Repeat([]byte{0xfb, 0xff, 0xbf}, 11)[:32]
	tests := []struct {
		name string
		in   string
	}{
		{"std padded", base64.StdEncoding.EncodeToString(key)},
		{"std raw", base64.RawStdEncoding.EncodeToString(key)},
		{"url padded", base64.URLEncoding.EncodeToString(key)},
		{"url raw", base64.RawURLEncoding.EncodeToString(key)},
		{"hex lower", hex.EncodeToString(key)},
		{"hex upper", strings.ToUpper(hex.EncodeToString(key))},
		{"surrounding space", "  " + base64.StdEncoding.EncodeToString(key) + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := keys.ParseMasterKey(tt.in)
			if err != nil {
				t.Fatalf("ParseMasterKey(%q): %v", tt.in, err)
			}
			if !bytes.Equal(got, key) {
				t.Errorf("ParseMasterKey(%q) = %x, want %x", tt.in, got, key)
			}
		})
	}
}

func TestParseMasterKeyErrors(t *testing.T) {
	secretish := strings.Repeat("Zm9v", 8) + "!" // base64 of 24 bytes plus junk
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"space", "   "},
		{"16 bytes base64", base64.StdEncoding.EncodeToString(make([]byte, 16))},
		{"33 bytes base64", base64.StdEncoding.EncodeToString(make([]byte, 33))},
		{"48 bytes base64 of 64 chars", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 48))},
		{"63 hex digits", strings.Repeat("a", 63)},
		{"65 hex digits", strings.Repeat("a", 65)},
		{"hex with a non-digit", strings.Repeat("a", 63) + "g"},
		{"mixed base64 alphabets", "+_" + base64.RawStdEncoding.EncodeToString(make([]byte, 30))},
		{"junk", secretish},
		{"inner space", base64.StdEncoding.EncodeToString(make([]byte, 16)) + " " + base64.StdEncoding.EncodeToString(make([]byte, 16))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := keys.ParseMasterKey(tt.in)
			if err == nil {
				t.Fatalf("ParseMasterKey(%q) = %x, want an error", tt.in, got)
			}
			if s := strings.TrimSpace(tt.in); len(s) >= 8 && strings.Contains(err.Error(), s) {
				t.Errorf("error %q repeats the secret input", err)
			}
		})
	}
}

func FuzzParseMasterKey(f *testing.F) {
	for _, s := range []string{
		"", "=", "==", strings.Repeat("A", 43), strings.Repeat("A", 43) + "=",
		strings.Repeat("0", 64), strings.Repeat("_", 43), " \t" + strings.Repeat("/", 43) + "=\n",
		base64.StdEncoding.EncodeToString(counting()), hex.EncodeToString(counting()),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := keys.ParseMasterKey(s)
		if err != nil {
			if k != nil {
				t.Errorf("ParseMasterKey(%q) returned a key with error %v", s, err)
			}
			if s := strings.TrimSpace(s); len(s) >= 8 && strings.Contains(err.Error(), s) {
				t.Errorf("error %q repeats the input", err)
			}
			return
		}
		if len(k) != keys.MasterKeySize {
			t.Fatalf("ParseMasterKey(%q) = %d bytes, want 32", s, len(k))
		}
		for _, enc := range []string{base64.StdEncoding.EncodeToString(k), hex.EncodeToString(k)} {
			again, err := keys.ParseMasterKey(enc)
			if err != nil || !bytes.Equal(again, k) {
				t.Errorf("ParseMasterKey(%q) = %x, %v; want %x", enc, again, err, k)
			}
		}
	})
}

func TestGenerateMasterKey(t *testing.T) {
	a, err := keys.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := keys.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Error("two generated master keys are equal")
	}
	raw, err := base64.StdEncoding.DecodeString(a)
	if err != nil || len(raw) != 32 {
		t.Errorf("GenerateMasterKey() = %q: not 32 bytes of standard base64 (%v)", a, err)
	}
}
