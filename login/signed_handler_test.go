package login

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/sqlite"
)

// TestSignedResultBoundToCitizen: a face verified at a kiosk completes only
// the proofing of the person whose card the kiosk checked. Someone who typed
// another citizen's registry details and then had their own face verified
// is refused, and the flow stays without a face result.
func TestSignedResultBoundToCitizen(t *testing.T) {
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
	victim := storage.Citizen{ID: "victim", PID: "1100100000018", NameTH: storage.Name{First: "ก", Last: "ข"},
		Birthdate: storage.BEDate{Year: 2530}, Status: storage.StatusAlive, ContentHash: "x", CreatedAt: now, UpdatedAt: now}
	if _, err := db.UpsertCitizens(ctx, []storage.Citizen{victim}); err != nil {
		t.Fatal(err)
	}
	flow := storage.Flow{ID: "flow-1", CitizenID: victim.ID, Step: stepFace, Nonce: "ABCDEFGHJK", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := db.CreateFlow(ctx, flow); err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: kioskKey, KeyID: "k1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	post := func(jti, pid string) *httptest.ResponseRecorder {
		claims, _ := json.Marshal(map[string]any{
			"iss": "kiosk-1", "aud": "https://id.example.test", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
			"jti": jti, "nonce": "ABCD-EFGH-JK", "pid": pid,
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
	face := func() *storage.FaceResult {
		f, err := db.Flow(ctx, "flow-1", now)
		if err != nil {
			t.Fatal(err)
		}
		return f.Face
	}

	if rec := post("j1", "3100100000090"); rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "subject_mismatch") {
		t.Fatalf("another person's result: %d %s, want 409 subject_mismatch", rec.Code, rec.Body)
	}
	if face() != nil {
		t.Fatal("another person's face result was attached to the flow")
	}
	if rec := post("j2", ""); rec.Code != http.StatusBadRequest {
		t.Fatalf("result without pid: %d, want 400", rec.Code)
	}
	if rec := post("j3", victim.PID); rec.Code != http.StatusNoContent {
		t.Fatalf("the citizen's own result: %d %s, want 204", rec.Code, rec.Body)
	}
	if face() == nil {
		t.Fatal("the citizen's own result was not attached")
	}
}
