package login_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/dopaid/dopaid/login"
	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/sqlite"
)

var (
	faceJPEG = append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, []byte("not really a jpeg")...)
	facePNG  = append([]byte("\x89PNG\r\n\x1a\n"), []byte("not really a png")...)
	faceGIF  = []byte("GIF89a not really a gif")
	faceNow  = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
)

const faceToken = "s3cret-bearer"

// faceService is an httptest face service whose answers the test scripts.
type faceService struct {
	t       *testing.T
	srv     *httptest.Server
	calls   atomic.Int32
	mu      sync.Mutex
	answers []func(w http.ResponseWriter, r *http.Request)
	got     map[string]any
	auth    string
}

func newFaceService(t *testing.T, answers ...func(w http.ResponseWriter, r *http.Request)) *faceService {
	t.Helper()
	fs := &faceService{t: t, answers: answers}
	fs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(fs.calls.Add(1))
		fs.mu.Lock()
		fs.auth = r.Header.Get("Authorization")
		fs.got = nil
		json.NewDecoder(r.Body).Decode(&fs.got)
		fs.mu.Unlock()
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		i := min(n, len(fs.answers)) - 1
		fs.answers[i](w, r)
	}))
	t.Cleanup(fs.srv.Close)
	return fs
}

func faceJSON(body string) func(w http.ResponseWriter, r *http.Request) {
	return faceAnswer(http.StatusOK, "application/json", body)
}

func faceAnswer(status int, ct, body string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func faceVerifier(fs *faceService) *login.HTTPFaceVerifier {
	return &login.HTTPFaceVerifier{
		URL:    fs.srv.URL + "/verify",
		Token:  faceToken,
		Vendor: "acme",
		Now:    func() time.Time { return faceNow },
	}
}

func faceRequest() login.FaceRequest {
	return login.FaceRequest{PhotoRef: "photo/123", Selfie: faceJPEG, ContentType: "image/jpeg", Nonce: "n-1"}
}

func TestFaceHTTPVerifier(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		body string
		want storage.FaceResult
	}{
		{
			name: "match",
			body: `{"match":true,"score":0.93,"threshold":0.8,"liveness":"bona_fide","liveness_score":0.97,"vendor":"acme-eu","model_version":"fm-7.2"}`,
			want: storage.FaceResult{Vendor: "acme-eu", ModelVersion: "fm-7.2", Score: 0.93, Threshold: 0.8, Match: true, Liveness: "bona_fide", LivenessScore: 0.97, At: faceNow},
		},
		{
			name: "no match",
			body: `{"match":false,"score":31,"threshold":70,"liveness":"bona_fide","liveness_score":88,"model_version":"v2"}`,
			want: storage.FaceResult{Vendor: "acme", ModelVersion: "v2", Score: 31, Threshold: 70, Liveness: "bona_fide", LivenessScore: 88, At: faceNow},
		},
		{
			name: "liveness attack",
			body: `{"match":true,"score":0.91,"threshold":0.8,"liveness":"attack","liveness_score":0.02,"vendor":"acme","model_version":"fm-7.2"}`,
			want: storage.FaceResult{Vendor: "acme", ModelVersion: "fm-7.2", Score: 0.91, Threshold: 0.8, Match: true, Liveness: "attack", LivenessScore: 0.02, At: faceNow},
		},
		{
			name: "liveness not assessed",
			body: `{"match":true,"score":0.91,"threshold":0.8,"liveness":"","vendor":"acme","model_version":"fm-7.2","extra":1}`,
			want: storage.FaceResult{Vendor: "acme", ModelVersion: "fm-7.2", Score: 0.91, Threshold: 0.8, Match: true, At: faceNow},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFaceService(t, faceJSON(tt.body))
			got, err := faceVerifier(fs).Verify(ctx, faceRequest())
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got != tt.want {
				t.Errorf("Verify = %+v, want %+v", got, tt.want)
			}
			if n := fs.calls.Load(); n != 1 {
				t.Errorf("calls = %d, want 1", n)
			}
		})
	}
}

func TestFaceHTTPRequest(t *testing.T) {
	fs := newFaceService(t, faceJSON(`{"match":true,"score":1,"threshold":0.5,"liveness":"","model_version":"m"}`))
	req := faceRequest()
	req.ContentType = "" // sniffed
	req.Selfie = facePNG
	if _, err := faceVerifier(fs).Verify(context.Background(), req); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got, want := fs.auth, "Bearer "+faceToken; got != want {
		t.Errorf("Authorization = %q, want %q", got, want)
	}
	want := map[string]any{
		"photo_ref":    "photo/123",
		"selfie":       base64.StdEncoding.EncodeToString(facePNG),
		"content_type": "image/png",
		"nonce":        "n-1",
	}
	if fmt.Sprint(fs.got) != fmt.Sprint(want) {
		t.Errorf("request body = %v, want %v", fs.got, want)
	}
}

func TestFaceHTTPRetry(t *testing.T) {
	fs := newFaceService(t,
		faceAnswer(http.StatusServiceUnavailable, "text/plain", "busy"),
		faceJSON(`{"match":true,"score":0.9,"threshold":0.8,"liveness":"inconclusive","liveness_score":0.5,"model_version":"m"}`))
	got, err := faceVerifier(fs).Verify(context.Background(), faceRequest())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.Liveness != "inconclusive" || !got.Match {
		t.Errorf("Verify = %+v", got)
	}
	if n := fs.calls.Load(); n != 2 {
		t.Errorf("calls = %d, want 2", n)
	}
}

func TestFaceHTTPFailures(t *testing.T) {
	ok := `{"match":true,"score":0.9,"threshold":0.8,"liveness":"bona_fide","liveness_score":0.9,"model_version":"m"}`
	tests := []struct {
		name      string
		answer    func(w http.ResponseWriter, r *http.Request)
		wantCalls int32
	}{
		{"500 twice", faceAnswer(500, "text/plain", "echo: "+faceToken), 2},
		{"400 not retried", faceAnswer(400, "application/json", `{}`), 1},
		{"redirect not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
		}, 1},
		{"malformed JSON", faceJSON(`{"match":true,`), 1},
		{"trailing data", faceJSON(ok + `{}`), 1},
		{"not an object", faceJSON(`[1,2]`), 1},
		{"wrong content type", faceAnswer(200, "text/html", ok), 1},
		{"oversize body", faceJSON(`{"pad":"` + strings.Repeat("x", 64<<10) + `",` + ok[1:]), 1},
		{"match missing", faceJSON(`{"score":0.9,"threshold":0.8,"liveness":"","model_version":"m"}`), 1},
		{"match null", faceJSON(`{"match":null,"score":0.9,"threshold":0.8,"liveness":"","model_version":"m"}`), 1},
		{"score missing", faceJSON(`{"match":true,"threshold":0.8,"liveness":"","model_version":"m"}`), 1},
		{"threshold missing", faceJSON(`{"match":true,"score":0.9,"liveness":"","model_version":"m"}`), 1},
		{"liveness missing", faceJSON(`{"match":true,"score":0.9,"threshold":0.8,"model_version":"m"}`), 1},
		{"liveness score missing", faceJSON(`{"match":true,"score":0.9,"threshold":0.8,"liveness":"bona_fide","model_version":"m"}`), 1},
		{"unknown liveness", faceJSON(`{"match":true,"score":0.9,"threshold":0.8,"liveness":"live","liveness_score":1,"model_version":"m"}`), 1},
		{"model version missing", faceJSON(`{"match":true,"score":0.9,"threshold":0.8,"liveness":""}`), 1},
		{"score a string", faceJSON(`{"match":true,"score":"0.9","threshold":0.8,"liveness":"","model_version":"m"}`), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFaceService(t, tt.answer)
			_, err := faceVerifier(fs).Verify(context.Background(), faceRequest())
			if !errors.Is(err, login.ErrFaceUnavailable) {
				t.Fatalf("Verify error = %v, want ErrFaceUnavailable", err)
			}
			if strings.Contains(err.Error(), faceToken) || strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(faceJPEG)) {
				t.Errorf("error %q leaks the token or the selfie", err)
			}
			if got := fs.calls.Load(); got != tt.wantCalls {
				t.Errorf("calls = %d, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestFaceHTTPTimeout(t *testing.T) {
	release := make(chan struct{})
	fs := newFaceService(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	v := faceVerifier(fs)
	v.Client = &http.Client{Timeout: 50 * time.Millisecond}
	_, err := v.Verify(context.Background(), faceRequest())
	if !errors.Is(err, login.ErrFaceUnavailable) {
		t.Fatalf("Verify error = %v, want ErrFaceUnavailable", err)
	}
	if got := fs.calls.Load(); got != 2 {
		t.Errorf("calls = %d, want 2 (one retry after a timeout)", got)
	}
}

func TestFaceHTTPCancelledNotRetried(t *testing.T) {
	fs := newFaceService(t, faceAnswer(500, "text/plain", "down"))
	ctx, cancel := context.WithCancel(context.Background())
	v := faceVerifier(fs)
	// The first attempt gets a 500, which would be retried, but the citizen
	// has gone meanwhile.
	v.Client = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := http.DefaultTransport.RoundTrip(r)
		cancel()
		return resp, err
	})}
	if _, err := v.Verify(ctx, faceRequest()); !errors.Is(err, login.ErrFaceUnavailable) {
		t.Fatalf("Verify error = %v, want ErrFaceUnavailable", err)
	}
	if got := fs.calls.Load(); got != 1 {
		t.Errorf("calls = %d, want 1 (no retry after cancellation)", got)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestFaceBadSelfie(t *testing.T) {
	big := make([]byte, login.MaxSelfieSize+1)
	copy(big, faceJPEG)
	tests := []struct {
		name   string
		selfie []byte
		ct     string
	}{
		{"empty", nil, "image/jpeg"},
		{"too large", big, "image/jpeg"},
		{"gif", faceGIF, "image/gif"},
		{"gif called jpeg", faceGIF, "image/jpeg"},
		{"jpeg called png", faceJPEG, "image/png"},
		{"jpeg called gif", faceJPEG, "image/gif"},
		{"bad content type", faceJPEG, "image/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFaceService(t, faceJSON(`{}`))
			req := faceRequest()
			req.Selfie, req.ContentType = tt.selfie, tt.ct
			if _, err := faceVerifier(fs).Verify(context.Background(), req); !errors.Is(err, login.ErrBadSelfie) {
				t.Errorf("Verify error = %v, want ErrBadSelfie", err)
			}
			if got := fs.calls.Load(); got != 0 {
				t.Errorf("calls = %d, want 0", got)
			}
		})
	}
	// A content type with parameters is still that type.
	fs := newFaceService(t, faceJSON(`{"match":true,"score":1,"threshold":0.5,"liveness":"","model_version":"m"}`))
	req := faceRequest()
	req.ContentType = "image/jpeg; q=1"
	if _, err := faceVerifier(fs).Verify(context.Background(), req); err != nil {
		t.Errorf("Verify with parameters: %v", err)
	}
}

func TestFaceRequestLogValue(t *testing.T) {
	got := faceRequest().LogValue().String()
	for _, secret := range []string{"photo/123", "n-1", string(faceJPEG)} {
		if strings.Contains(got, secret) {
			t.Errorf("LogValue %q contains %q", got, secret)
		}
	}
}

// --- signed results ---

const resultAudience = "https://id.example.go.th"

type resultKey struct {
	alg  jose.SignatureAlgorithm
	kid  string
	priv crypto.Signer
}

func newResultKey(t testing.TB, alg jose.SignatureAlgorithm, kid string) resultKey {
	t.Helper()
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.RS256, jose.PS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("no key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return resultKey{alg: alg, kid: kid, priv: priv}
}

func (k resultKey) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
}

func signResult(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	compact, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return compact
}

func resultClaims(jti string) map[string]any {
	return map[string]any{
		"iss":   "kiosk-bkk-01",
		"aud":   []string{"someone-else", resultAudience},
		"iat":   faceNow.Add(-time.Minute).Unix(),
		"exp":   faceNow.Add(4 * time.Minute).Unix(),
		"jti":   jti,
		"nonce": "flow-nonce-1",
		"pid":   "1100100000018",
		"result": map[string]any{
			"match": true, "score": 0.95, "threshold": 0.8,
			"liveness": "bona_fide", "liveness_score": 0.99, "model_version": "k-3",
		},
	}
}

func openReplay(t *testing.T) *sqlite.Store {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "dopaid.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

type resultFixture struct {
	sr      *login.SignedResults
	kiosk   resultKey // registered for kiosk-bkk-01
	edApp   resultKey // registered for app-backend
	rogue   resultKey // registered nowhere
	hmacKey []byte    // registered (as a JWK) for kiosk-bkk-01, and still refused
}

func newResultFixture(t testing.TB, replay login.ReplayStore) resultFixture {
	t.Helper()
	f := resultFixture{
		kiosk:   newResultKey(t, jose.ES256, "kiosk-2026"),
		edApp:   newResultKey(t, jose.EdDSA, "app-1"),
		rogue:   newResultKey(t, jose.ES256, "kiosk-2026"),
		hmacKey: []byte("0123456789abcdef0123456789abcdef"),
	}
	f.sr = &login.SignedResults{
		Verifiers: map[string]jose.JSONWebKeySet{
			"kiosk-bkk-01": {Keys: []jose.JSONWebKey{f.kiosk.jwk(), {Key: f.hmacKey, KeyID: "shared"}}},
			"app-backend":  {Keys: []jose.JSONWebKey{f.edApp.jwk()}},
		},
		Audience: resultAudience,
		Replay:   replay,
		Now:      func() time.Time { return faceNow },
	}
	return f
}

func TestSignedResultValid(t *testing.T) {
	ctx := context.Background()
	f := newResultFixture(t, openReplay(t))
	ps := newResultKey(t, jose.PS256, "ps")
	rs := newResultKey(t, jose.RS256, "rs")
	f.sr.Verifiers["rsa-office"] = jose.JSONWebKeySet{Keys: []jose.JSONWebKey{ps.jwk(), rs.jwk()}}

	want := storage.FaceResult{
		Vendor: "kiosk-bkk-01", ModelVersion: "k-3", Score: 0.95, Threshold: 0.8, Match: true,
		Liveness: "bona_fide", LivenessScore: 0.99, At: faceNow.Add(-time.Minute),
	}
	nonce, got, err := f.sr.Verify(ctx, signResult(t, f.kiosk.alg, f.kiosk.priv, f.kiosk.kid, resultClaims("j1")))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if nonce != "flow-nonce-1" {
		t.Errorf("nonce = %q, want flow-nonce-1", nonce)
	}
	if got != want {
		t.Errorf("result = %+v, want %+v", got, want)
	}

	for _, k := range []struct {
		iss string
		key resultKey
	}{{"app-backend", f.edApp}, {"rsa-office", ps}, {"rsa-office", rs}} {
		t.Run(string(k.key.alg), func(t *testing.T) {
			cl := resultClaims("j-" + string(k.key.alg))
			cl["iss"] = k.iss
			cl["aud"] = resultAudience // a single string is fine too
			cl["result"].(map[string]any)["vendor"] = "acme"
			_, got, err := f.sr.Verify(ctx, signResult(t, k.key.alg, k.key.priv, k.key.kid, cl))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.Vendor != "acme" {
				t.Errorf("vendor = %q, want acme (named by the result)", got.Vendor)
			}
		})
	}
}

func TestSignedResultReplayed(t *testing.T) {
	ctx := context.Background()
	f := newResultFixture(t, openReplay(t))
	compact := signResult(t, f.kiosk.alg, f.kiosk.priv, f.kiosk.kid, resultClaims("once"))
	if _, _, err := f.sr.Verify(ctx, compact); err != nil {
		t.Fatalf("first Verify: %v", err)
	}
	if _, _, err := f.sr.Verify(ctx, compact); !errors.Is(err, login.ErrResultReplayed) {
		t.Fatalf("second Verify error = %v, want ErrResultReplayed", err)
	}
	// The same jti from another verifier is another result.
	cl := resultClaims("once")
	cl["iss"] = "app-backend"
	if _, _, err := f.sr.Verify(ctx, signResult(t, f.edApp.alg, f.edApp.priv, f.edApp.kid, cl)); err != nil {
		t.Errorf("Verify of another verifier's jti: %v", err)
	}
}

// A refused result must not spend its jti: a corrected retry with the same
// jti (after, say, a clock fix) is not a replay.
func TestSignedResultRefusalDoesNotSpend(t *testing.T) {
	ctx := context.Background()
	f := newResultFixture(t, openReplay(t))
	bad := resultClaims("j")
	bad["aud"] = "https://other.example"
	if _, _, err := f.sr.Verify(ctx, signResult(t, f.kiosk.alg, f.kiosk.priv, f.kiosk.kid, bad)); !errors.Is(err, login.ErrResultInvalid) {
		t.Fatalf("Verify error = %v, want ErrResultInvalid", err)
	}
	if _, _, err := f.sr.Verify(ctx, signResult(t, f.kiosk.alg, f.kiosk.priv, f.kiosk.kid, resultClaims("j"))); err != nil {
		t.Errorf("Verify after a refusal: %v", err)
	}
}

func TestSignedResultRefused(t *testing.T) {
	ctx := context.Background()
	f := newResultFixture(t, openReplay(t))
	kiosk := func(edit func(map[string]any)) string {
		cl := resultClaims("j")
		edit(cl)
		return signResult(t, f.kiosk.alg, f.kiosk.priv, f.kiosk.kid, cl)
	}
	result := func(edit func(map[string]any)) string {
		return kiosk(func(cl map[string]any) { edit(cl["result"].(map[string]any)) })
	}
	unix := func(d time.Duration) int64 { return faceNow.Add(d).Unix() }
	tests := []struct {
		name    string
		compact string
		want    error
	}{
		{"iat too old", kiosk(func(cl map[string]any) { cl["iat"] = unix(-6 * time.Minute) }), login.ErrResultExpired},
		{"exp passed", kiosk(func(cl map[string]any) { cl["iat"], cl["exp"] = unix(-2*time.Minute), unix(-time.Minute) }), login.ErrResultExpired},
		{"iat in the future", kiosk(func(cl map[string]any) { cl["iat"] = unix(2 * time.Minute) }), login.ErrResultInvalid},
		{"iat missing", kiosk(func(cl map[string]any) { delete(cl, "iat") }), login.ErrResultInvalid},
		{"exp missing", kiosk(func(cl map[string]any) { delete(cl, "exp") }), login.ErrResultInvalid},
		{"exp before iat", kiosk(func(cl map[string]any) { cl["exp"] = unix(-2 * time.Minute) }), login.ErrResultInvalid},
		{"nbf in the future", kiosk(func(cl map[string]any) { cl["nbf"] = unix(time.Hour) }), login.ErrResultInvalid},
		{"wrong audience", kiosk(func(cl map[string]any) { cl["aud"] = "https://other.example" }), login.ErrResultInvalid},
		{"audience missing", kiosk(func(cl map[string]any) { delete(cl, "aud") }), login.ErrResultInvalid},
		{"nonce missing", kiosk(func(cl map[string]any) { delete(cl, "nonce") }), login.ErrResultInvalid},
		{"nonce empty", kiosk(func(cl map[string]any) { cl["nonce"] = "" }), login.ErrResultInvalid},
		{"pid missing", kiosk(func(cl map[string]any) { delete(cl, "pid") }), login.ErrResultInvalid},
		{"pid not an ID number", kiosk(func(cl map[string]any) { cl["pid"] = "1100100000019" }), login.ErrResultInvalid},
		{"jti missing", kiosk(func(cl map[string]any) { delete(cl, "jti") }), login.ErrResultInvalid},
		{"result missing", kiosk(func(cl map[string]any) { delete(cl, "result") }), login.ErrResultInvalid},
		{"result not an object", kiosk(func(cl map[string]any) { cl["result"] = "match" }), login.ErrResultInvalid},
		{"result match missing", result(func(r map[string]any) { delete(r, "match") }), login.ErrResultInvalid},
		{"result unknown liveness", result(func(r map[string]any) { r["liveness"] = "alive" }), login.ErrResultInvalid},
		{"result model version missing", result(func(r map[string]any) { delete(r, "model_version") }), login.ErrResultInvalid},
		{"unknown issuer", signResult(t, f.kiosk.alg, f.kiosk.priv, f.kiosk.kid, func() map[string]any {
			cl := resultClaims("j")
			cl["iss"] = "kiosk-unknown"
			return cl
		}()), login.ErrResultSignature},
		{"wrong key", signResult(t, f.rogue.alg, f.rogue.priv, f.rogue.kid, resultClaims("j")), login.ErrResultSignature},
		{"another verifier's key", signResult(t, f.edApp.alg, f.edApp.priv, f.edApp.kid, resultClaims("j")), login.ErrResultSignature},
		{"unknown kid", signResult(t, f.kiosk.alg, f.kiosk.priv, "kiosk-2025", resultClaims("j")), login.ErrResultSignature},
		{"no kid", signResult(t, f.kiosk.alg, f.kiosk.priv, "", resultClaims("j")), login.ErrResultSignature},
		{"HS256", signResult(t, jose.HS256, f.hmacKey, "shared", resultClaims("j")), login.ErrResultSignature},
		{"alg none", unsignedResult(resultClaims("j")), login.ErrResultSignature},
		{"tampered payload", tamper(kiosk(func(map[string]any) {})), login.ErrResultSignature},
		{"garbage", "not.a.jws", login.ErrResultInvalid},
		{"empty", "", login.ErrResultInvalid},
		{"too long", strings.Repeat("a", 1<<20), login.ErrResultInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nonce, res, err := f.sr.Verify(ctx, tt.compact)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify error = %v, want %v", err, tt.want)
			}
			if nonce != "" || res != (storage.FaceResult{}) {
				t.Errorf("Verify returned %q, %+v with an error", nonce, res)
			}
		})
	}
}

func unsignedResult(claims map[string]any) string {
	p, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","kid":"kiosk-2026"}`)) + "." + enc(p) + "."
}

// tamper changes the payload of a compact JWS, keeping its signature.
func tamper(compact string) string {
	parts := strings.Split(compact, ".")
	p, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var cl map[string]any
	json.Unmarshal(p, &cl)
	cl["nonce"] = "someone-elses-flow"
	p, _ = json.Marshal(cl)
	parts[1] = base64.RawURLEncoding.EncodeToString(p)
	return strings.Join(parts, ".")
}

func TestSignedResultMaxAge(t *testing.T) {
	f := newResultFixture(t, openReplay(t))
	f.sr.MaxAge = 30 * time.Second
	// Issued a minute ago: fine with the default 5 minutes, too old now.
	_, _, err := f.sr.Verify(context.Background(), signResult(t, f.kiosk.alg, f.kiosk.priv, f.kiosk.kid, resultClaims("j")))
	if !errors.Is(err, login.ErrResultExpired) {
		t.Errorf("Verify error = %v, want ErrResultExpired", err)
	}
}

// memReplay is a replay store for the fuzz test, where opening SQLite for
// every input would be too slow.
type memReplay struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (m *memReplay) UseOnce(_ context.Context, scope, value string, _, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = map[string]bool{}
	}
	k := scope + "\x00" + value
	if m.seen[k] {
		return storage.ErrAlreadyExists
	}
	m.seen[k] = true
	return nil
}

func FuzzSignedResult(f *testing.F) {
	fx := newResultFixture(f, nil)
	valid := signResult(f, fx.kiosk.alg, fx.kiosk.priv, fx.kiosk.kid, resultClaims("fuzz"))
	for _, s := range []string{
		valid,
		tamper(valid),
		signResult(f, jose.HS256, fx.hmacKey, "shared", resultClaims("fuzz")),
		unsignedResult(resultClaims("fuzz")),
		"", ".", "..", "a.b.c", "eyJhbGciOiJFUzI1NiJ9..", "eyJhbGciOiJFUzI1NiJ9.e30.AAAA",
		valid + ".",
	} {
		f.Add(s)
	}
	fx.sr.Replay = &memReplay{}
	wantNonce, want, err := fx.sr.Verify(context.Background(), valid)
	if err != nil {
		f.Fatalf("Verify of the valid seed: %v", err)
	}
	f.Fuzz(func(t *testing.T, compact string) {
		fx.sr.Replay = &memReplay{} // every input gets a fresh jti memory
		nonce, res, err := fx.sr.Verify(context.Background(), compact)
		if err == nil {
			// Only the one validly signed result can pass, perhaps in
			// another base64 spelling of the same bytes.
			if nonce != wantNonce || res != want {
				t.Fatalf("Verify accepted %q: %q, %+v", compact, nonce, res)
			}
			return
		}
		for _, s := range []error{login.ErrResultInvalid, login.ErrResultSignature, login.ErrResultExpired, login.ErrResultReplayed} {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("Verify error %v is none of the sentinels", err)
	})
}

// --- simulator ---

func TestFaceSimulator(t *testing.T) {
	ctx := context.Background()
	sim := login.DevFaceSimulator{Now: func() time.Time { return faceNow }}
	tests := []struct {
		simulate     string
		wantMatch    bool
		wantLiveness string
	}{
		{login.SimulateMatch, true, login.LivenessBonaFide},
		{login.SimulateNoMatch, false, login.LivenessBonaFide},
		{login.SimulateAttack, true, login.LivenessAttack},
		{login.SimulateNoLiveness, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.simulate, func(t *testing.T) {
			got, err := sim.Verify(ctx, login.FaceRequest{Simulate: tt.simulate})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.Match != tt.wantMatch || got.Liveness != tt.wantLiveness {
				t.Errorf("Verify = %+v, want match %v, liveness %q", got, tt.wantMatch, tt.wantLiveness)
			}
			if !got.Simulated || got.Vendor != "dopaid-dev-simulator" || !got.At.Equal(faceNow) {
				t.Errorf("Verify = %+v, want a simulated result by dopaid-dev-simulator at %v", got, faceNow)
			}
			if tt.wantMatch != (got.Score >= got.Threshold) {
				t.Errorf("score %v against threshold %v disagrees with match %v", got.Score, got.Threshold, got.Match)
			}
		})
	}
	if _, err := sim.Verify(ctx, login.FaceRequest{Simulate: login.SimulateUnavailable}); !errors.Is(err, login.ErrFaceUnavailable) {
		t.Errorf("unavailable: error = %v, want ErrFaceUnavailable", err)
	}
	if _, err := sim.Verify(ctx, login.FaceRequest{Simulate: "match", Selfie: faceGIF}); !errors.Is(err, login.ErrBadSelfie) {
		t.Errorf("gif selfie: error = %v, want ErrBadSelfie", err)
	}
	if _, err := sim.Verify(ctx, login.FaceRequest{Simulate: "match", Selfie: faceJPEG, ContentType: "image/jpeg"}); err != nil {
		t.Errorf("jpeg selfie: %v", err)
	}
	for _, s := range []string{"", "MATCH", "bona_fide"} {
		if _, err := sim.Verify(ctx, login.FaceRequest{Simulate: s}); err == nil {
			t.Errorf("Simulate %q: no error", s)
		}
	}
	for _, s := range login.SimulatedOutcomes() {
		if _, err := sim.Verify(ctx, login.FaceRequest{Simulate: s}); err != nil && !errors.Is(err, login.ErrFaceUnavailable) {
			t.Errorf("offered outcome %q: %v", s, err)
		}
	}
	var _ login.FaceVerifier = sim
	var _ login.FaceVerifier = (*login.HTTPFaceVerifier)(nil)
}

// --- assurance levels ---

func TestAssuranceLevel(t *testing.T) {
	registry := []string{"pid", "name_th", "birthdate"}
	laser := []string{"pid", "name_th", "birthdate", "laser_code"}
	face := func(match bool, score, threshold float64, liveness string) *storage.FaceResult {
		return &storage.FaceResult{Match: match, Score: score, Threshold: threshold, Liveness: liveness}
	}
	simulated := face(true, 0.9, 0.8, "bona_fide")
	simulated.Simulated = true
	custom := login.AssuranceConfig{Registry: "1.1", LaserCode: "1.2", FaceMatch: "2.1", Liveness: "2.2"}
	tests := []struct {
		name    string
		matched []string
		face    *storage.FaceResult
		cfg     login.AssuranceConfig
		want    string
	}{
		{"nothing", nil, nil, login.AssuranceConfig{}, ""},
		{"pid only", []string{"pid"}, nil, login.AssuranceConfig{}, ""},
		{"no birthdate", []string{"pid", "name_th", "laser_code"}, nil, login.AssuranceConfig{}, ""},
		{"no name", []string{"pid", "birthdate", "laser_code"}, face(true, 1, 0.5, "bona_fide"), login.AssuranceConfig{}, ""},
		{"registry", registry, nil, login.AssuranceConfig{}, "1.2"},
		{"registry, english name", []string{"pid", "name_en", "birthdate"}, nil, login.AssuranceConfig{}, "1.2"},
		{"registry and face, no laser", registry, face(true, 0.9, 0.8, "bona_fide"), login.AssuranceConfig{}, "1.2"},
		{"laser", laser, nil, login.AssuranceConfig{}, "1.3"},
		{"face match", laser, face(true, 0.9, 0.8, ""), login.AssuranceConfig{}, "2.2"},
		{"face match, liveness inconclusive", laser, face(true, 0.9, 0.8, "inconclusive"), login.AssuranceConfig{}, "2.2"},
		{"face match, liveness", laser, face(true, 0.9, 0.8, "bona_fide"), login.AssuranceConfig{}, "2.3"},
		{"score equals threshold", laser, face(true, 80, 80, "bona_fide"), login.AssuranceConfig{}, "2.3"},
		{"no match", laser, face(false, 0.9, 0.8, "bona_fide"), login.AssuranceConfig{}, "1.3"},
		{"match below threshold", laser, face(true, 0.7, 0.8, "bona_fide"), login.AssuranceConfig{}, "1.3"},
		{"attack", laser, face(true, 0.9, 0.8, "attack"), login.AssuranceConfig{}, "1.3"},
		{"simulated", laser, simulated, login.AssuranceConfig{}, "1.3"},
		{"simulated allowed", laser, simulated, login.AssuranceConfig{AllowSimulated: true}, "2.3"},
		{"custom registry", registry, nil, custom, "1.1"},
		{"custom laser", laser, nil, custom, "1.2"},
		{"custom face", laser, face(true, 0.9, 0.8, ""), custom, "2.1"},
		{"custom liveness", laser, face(true, 0.9, 0.8, "bona_fide"), custom, "2.2"},
		{"partly custom", laser, face(true, 0.9, 0.8, "bona_fide"), login.AssuranceConfig{FaceMatch: "2.1"}, "2.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := login.AssuranceLevel(tt.matched, tt.face, tt.cfg); got != tt.want {
				t.Errorf("AssuranceLevel = %q, want %q", got, tt.want)
			}
		})
	}
}
