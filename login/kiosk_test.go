package login

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/sqlite"
)

var kioskShown = regexp.MustCompile(`^[2-9A-HJKMNP-TV-Z]{4}-[2-9A-HJKMNP-TV-Z]{4}-[2-9A-HJKMNP-TV-Z]{2}$`)

func TestKioskCodeShape(t *testing.T) {
	seen := map[string]bool{}
	for range 500 {
		c, err := newKioskCode()
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := normalizeKioskCode(c); !ok || got != c {
			t.Fatalf("normalizeKioskCode(%q) = %q, %v; want itself", c, got, ok)
		}
		if d := kioskDisplay(c); !kioskShown.MatchString(d) {
			t.Fatalf("kioskDisplay(%q) = %q, want XXXX-XXXX-XX without 0 O 1 I L U", c, d)
		}
		seen[c] = true
	}
	if len(seen) < 500 {
		t.Errorf("%d distinct codes of 500", len(seen))
	}
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"ABCD-EFGH-JK", "ABCDEFGHJK", true},
		{"abcd efgh jk", "ABCDEFGHJK", true},
		{"abcdefghjk", "ABCDEFGHJK", true},
		{" AbCd-eFgH-jK ", "ABCDEFGHJK", true},
		{"ABCD-EFGH-J", "", false},     // too short
		{"ABCD-EFGH-JKM", "", false},   // too long
		{"ABCD-EFGH-J0", "", false},    // 0 is not a symbol
		{"ABCD-EFGH-JI", "", false},    // nor I
		{"ABCD-EFGH-JÄ", "", false},    // nor anything outside ASCII
		{"nonce-1abcdefgh", "", false}, // an old base64url nonce
	} {
		got, ok := normalizeKioskCode(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("normalizeKioskCode(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestKioskCodeAtServicePoint: the face page shows a short grouped code; a
// kiosk's result that carries it as staff typed it (lower case, no
// hyphens) completes the flow once; a verifier presenting unknown codes is
// slowed down.
func TestKioskCodeAtServicePoint(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "dopaid.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	env, err := keys.NewEnvelope(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	kioskKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	h, err := New(Config{
		Store: db, Callback: func(context.Context, string) string { return "/cb" }, Envelope: env,
		LaserMACKey: bytes.Repeat([]byte{1}, 32), ThrottleKey: bytes.Repeat([]byte{2}, 32), RecoveryKey: bytes.Repeat([]byte{3}, 32),
		Signed: &SignedResults{
			Verifiers: map[string]jose.JSONWebKeySet{"kiosk-1": {Keys: []jose.JSONWebKey{{Key: kioskKey.Public(), KeyID: "k1", Algorithm: "ES256"}}}},
			Audience:  "https://id.example.test", Replay: db, Now: func() time.Time { return now },
		},
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	c := storage.Citizen{ID: "citizen", PID: "1100100000018", NameTH: storage.Name{First: "ก", Last: "ข"},
		Birthdate: storage.BEDate{Year: 2530}, Status: storage.StatusAlive, ContentHash: "x", CreatedAt: now, UpdatedAt: now}
	if _, err := db.UpsertCitizens(ctx, []storage.Citizen{c}); err != nil {
		t.Fatal(err)
	}
	// The flow starts as proofing starts it.
	start := httptest.NewRecorder()
	if err := h.startFlow(start, httptest.NewRequest(http.MethodPost, Path+"/proof", nil), storage.Flow{CitizenID: c.ID, Step: stepFace}); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, Path+"/face", nil)
	for _, ck := range start.Result().Cookies() {
		req.AddCookie(ck)
	}
	page := httptest.NewRecorder()
	h.ServeHTTP(page, req)
	m := regexp.MustCompile(`<code id="nonce">([^<]*)</code>`).FindStringSubmatch(page.Body.String())
	if page.Code != http.StatusOK || m == nil {
		t.Fatalf("face page: %d, no kiosk code in\n%s", page.Code, page.Body)
	}
	shown := m[1]
	if !kioskShown.MatchString(shown) {
		t.Fatalf("kiosk code shown as %q, want XXXX-XXXX-XX from 2-9 and A-Z without I L O U", shown)
	}

	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: kioskKey, KeyID: "k1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	post := func(code string) *httptest.ResponseRecorder {
		n++
		claims, _ := json.Marshal(map[string]any{
			"iss": "kiosk-1", "aud": "https://id.example.test", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
			"jti": fmt.Sprint("j", n), "nonce": code, "pid": c.PID,
			"result": map[string]any{"match": true, "score": 0.9, "threshold": 0.8, "liveness": "bona_fide", "liveness_score": 0.9, "model_version": "m"},
		})
		jws, err := signer.Sign(claims)
		if err != nil {
			t.Fatal(err)
		}
		compact, _ := jws.CompactSerialize()
		rec := httptest.NewRecorder()
		h.SignedResultHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, Path+"/face/result", strings.NewReader(compact)))
		return rec
	}
	typed := strings.ToLower(strings.ReplaceAll(shown, "-", ""))
	if rec := post(typed); rec.Code != http.StatusNoContent {
		t.Fatalf("result with the code typed as %q: %d %s, want 204", typed, rec.Code, rec.Body)
	}
	if rec := post(shown); rec.Code != http.StatusConflict {
		t.Fatalf("second result for the same code: %d %s, want 409", rec.Code, rec.Body)
	}

	// Unknown codes: kioskFreeTries cost nothing, the next one makes the
	// verifier wait.
	for i := range kioskFreeTries + 1 {
		if rec := post("2222-2222-22"); rec.Code != http.StatusNotFound {
			t.Fatalf("unknown code %d: %d %s, want 404", i+1, rec.Code, rec.Body)
		}
	}
	rec := post("2222-2222-23")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("unknown code past the allowance: %d %s, want 429 with Retry-After", rec.Code, rec.Body)
	}
}
