package op

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// sealV1 seals g as dopaid sealed access tokens before dat2: JSON under
// AES-256-GCM with the key itself.
func sealV1(t *testing.T, ts *tokenSealer, g storage.Grant, createdAt, exp time.Time) string {
	t.Helper()
	body, err := json.Marshal(sealedToken{
		Nonce: "n", GrantID: g.ID, ClientID: g.ClientID, Subject: g.Subject,
		Scopes: g.Scopes, AuthTime: ms(g.AuthTime), AMR: g.AMR, ACR: g.ACR, IAL: g.IAL, SessionID: g.SessionID,
		Claims: g.Claims, Purpose: g.Purpose, JKT: g.DPoPJKT, GrantAt: ms(g.CreatedAt), GrantExp: ms(g.ExpiresAt),
		CreatedAt: ms(createdAt), ExpiresAt: ms(exp),
	})
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, ts.aead.NonceSize())
	return sealedPrefixV1 + base64.RawURLEncoding.EncodeToString(ts.aead.Seal(nonce, nonce, body, sealedAAD))
}

// A sealed token gives back exactly the grant and times it was sealed
// with, in dat2 and in the dat1 tokens issued before it; any change, a
// token sealed under another key, and a body with a byte too many or too
// few are refused.
func TestSealedTokenRoundTrip(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	ts, err := newTokenSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v.UTC() }
	created, exp := at("2026-12-07T09:00:00Z"), at("2026-12-07T09:10:00Z")
	grants := []storage.Grant{
		{ID: "g1", ClientID: "c", Subject: "s", CreatedAt: created, AuthTime: created.Add(-time.Minute)},
		{
			ID: "AAAAAAAAAA-grant", ClientID: "client-ฟ", Subject: "citizen-subject", Scopes: []string{"openid", "profile", "purpose:x"},
			AuthTime: at("2026-12-07T08:59:00Z"), AMR: []string{"pwd", "otp"}, ACR: "urn:th:dopa:ial2.3", IAL: "2.3",
			SessionID: "sid", Claims: []byte(`{"userinfo":{"given_name":null}}`), Purpose: "tax-refund", DPoPJKT: "jkt",
			CreatedAt: created, ExpiresAt: at("2027-01-07T09:00:00Z"),
		},
	}
	respelt := 0
	for i, g := range grants {
		for _, tok := range []string{mustSeal(t, ts, g, created, exp), sealV1(t, ts, g, created, exp)} {
			ti, ok := ts.open(tok, HashToken(tok))
			if !ok {
				t.Fatalf("grant %d: %.8s… does not open", i, tok)
			}
			want := storage.TokenInfo{Grant: g, Access: storage.AccessToken{ID: HashToken(tok), GrantID: g.ID, CreatedAt: created, ExpiresAt: exp}}
			if !reflect.DeepEqual(ti, want) {
				t.Errorf("grant %d, %.5s:\n got %+v\nwant %+v", i, tok, ti, want)
			}
			for _, pos := range []int{6, len(tok) / 2, len(tok) - 2} {
				bad := []byte(tok)
				bad[pos] ^= 1
				if _, ok := ts.open(string(bad), HashToken(string(bad))); ok {
					t.Errorf("grant %d, %.5s: changed at %d, still opens", i, tok, pos)
				}
			}
		}
		// The same bytes spelt otherwise (unused bits of the last
		// character set) are another token hash: refused.
		for _, tok := range []string{mustSeal(t, ts, g, created, exp), sealV1(t, ts, g, created, exp)} {
			prefix, raw := tok[:5], tok[5:]
			want, _ := base64.RawURLEncoding.DecodeString(raw)
			for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
				other := raw[:len(raw)-1] + string(c)
				if got, err := base64.RawURLEncoding.DecodeString(other); other == raw || err != nil || !bytes.Equal(got, want) {
					continue
				}
				respelt++
				if _, ok := ts.open(prefix+other, HashToken(prefix+other)); ok {
					t.Errorf("grant %d, %.5s: the same bytes spelt otherwise open", i, tok)
				}
			}
		}
		if a, b := mustSeal(t, ts, g, created, exp), mustSeal(t, ts, g, created, exp); a == b {
			t.Errorf("grant %d sealed twice: the same token", i)
		}
	}
	if respelt == 0 {
		t.Error("no token had unused bits to set: the check above checked nothing")
	}
	v2 := mustSeal(t, ts, grants[1], created, exp)
	other, _ := newTokenSealer([]byte(strings.Repeat("o", 32)))
	if _, ok := other.open(v2, HashToken(v2)); ok {
		t.Error("a token sealed under another key opens")
	}
	// A dat1 token's data presented as dat2 (and the reverse) is refused.
	v1 := sealV1(t, ts, grants[1], created, exp)
	if _, ok := ts.open(sealedPrefixV2+strings.TrimPrefix(v1, sealedPrefixV1), "h"); ok {
		t.Error("dat1 data opens as dat2")
	}
	body := appendSealed(nil, grants[1], created, exp)
	if _, _, _, ok := parseSealed(body); !ok {
		t.Fatal("body does not parse")
	}
	for _, b := range [][]byte{append(body[:len(body):len(body)], 0), body[:len(body)-1], body[:5], nil} {
		if _, _, _, ok := parseSealed(b); ok {
			t.Errorf("body of %d bytes (written %d) parses", len(b), len(body))
		}
	}
}

func mustSeal(t *testing.T, ts *tokenSealer, g storage.Grant, createdAt, exp time.Time) string {
	t.Helper()
	tok, err := ts.seal(g, createdAt, exp)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, sealedPrefixV2) {
		t.Fatalf("sealed as %.5s, want dat2.", tok)
	}
	return tok
}
