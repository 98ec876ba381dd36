package login

import (
	"crypto/rand"
	"strings"
)

// The kiosk code binds a verification at a service point to one proofing
// flow: the citizen reads it aloud to district-office staff, who type it
// into the kiosk, whose signed result carries it as its nonce
// (SignedResults). It is the flow's storage.Flow.Nonce.
//
// It has to be read aloud and typed by someone else, so it uses 30 symbols
// that cannot be confused with one another — the digits 2–9 and the Latin
// capitals without I, L, O and U (no 0/O, 1/I/l; U, like Crockford's base
// 32, to keep words out) — shown in groups as XXXX-XXXX-XX, and is accepted
// in either case, with or without separators or spaces.
//
// Why 10 symbols are enough: 30¹⁰ ≈ 5.9×10¹⁴ codes (49 bits). A code lives
// as long as its flow (Config.FlowTTL, 20 min by default) and is spent by
// the first result attached to it. Only a registered verifier can present a
// code at all (each result is a signed JWS with a fresh jti), and a code
// that names no live flow, or a flow of another person, counts as a failure
// of that verifier (kioskFailed): past kioskFreeTries failures each further
// one doubles its wait from Delay up to MaxDelay. A verifier thus makes at
// most 20 + 6 guesses in a 20-minute lifetime (defaults: waits of 30 s,
// 1, 2, 4 and 8 min, then 15 min); even with 10⁶
// flows live at once across the nation each guess hits one with probability
// 10⁶ / 5.9×10¹⁴ ≈ 1.7×10⁻⁹, and a hit still completes nothing unless the
// result names the ID number of that flow's citizen. Generating codes also
// stays collision-free in practice (startFlow retries the rare collision).
const (
	kioskFreeTries = 20 // a verifier's unknown codes per Window before delays
	kioskAlphabet  = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
	kioskLen       = 10
)

// newKioskCode returns a random kiosk code in canonical form (no
// separators), drawn uniformly by rejection sampling.
func newKioskCode() (string, error) {
	const limit = 256 - 256%len(kioskAlphabet) // 240: the bytes that map uniformly
	out := make([]byte, 0, kioskLen)
	buf := make([]byte, 2*kioskLen)
	for len(out) < kioskLen {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < kioskLen {
				out = append(out, kioskAlphabet[int(b)%len(kioskAlphabet)])
			}
		}
	}
	return string(out), nil
}

// kioskDisplay groups a canonical code as XXXX-XXXX-XX for reading aloud;
// anything else (a flow made before kiosk codes) is shown as it is.
func kioskDisplay(code string) string {
	if c, ok := normalizeKioskCode(code); !ok || c != code {
		return code
	}
	return code[:4] + "-" + code[4:8] + "-" + code[8:]
}

// normalizeKioskCode turns what staff typed into the canonical code:
// upper case, without hyphens, spaces or dots. It reports false if what is
// left is not a code.
func normalizeKioskCode(s string) (string, bool) {
	if len(s) > 4*kioskLen {
		return "", false
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '-' || r == ' ' || r == '.' || r == '\u00a0':
			continue
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		}
		if r > 0x7f || !strings.ContainsRune(kioskAlphabet, r) {
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() != kioskLen {
		return "", false
	}
	return b.String(), true
}
