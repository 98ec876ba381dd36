package login

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/dopaid/dopaid/storage"
)

// Face verification is step 2 of identity proofing (DESIGN.md): a selfie is
// compared with the registry photo by a service behind FaceVerifier, and
// only the result is kept as evidence (storage.FaceResult), never the
// selfie.

var (
	// ErrFaceUnavailable means the face-verification service failed, timed
	// out or answered something unusable; the citizen should try again later.
	ErrFaceUnavailable = errors.New("face verification unavailable")
	// ErrBadSelfie means the selfie cannot be used: empty, larger than
	// MaxSelfieSize, or neither JPEG nor PNG.
	ErrBadSelfie = errors.New("unusable selfie")
)

// MaxSelfieSize is the largest selfie accepted, in bytes.
const MaxSelfieSize = 5 << 20

// Liveness outcomes (ISO/IEC 30107-3 presentation-attack detection), as in
// storage.FaceResult.Liveness; "" means liveness was not assessed.
const (
	LivenessBonaFide     = "bona_fide"
	LivenessAttack       = "attack"
	LivenessInconclusive = "inconclusive"
)

// FaceVerifier compares a selfie with a citizen's registry photo.
type FaceVerifier interface {
	// Verify returns the service's decision with its evidence. A no-match or
	// a detected presentation attack is a result, not an error. Errors wrap
	// ErrBadSelfie (ask for another photo) or ErrFaceUnavailable (try again
	// later); anything else is internal.
	Verify(ctx context.Context, req FaceRequest) (storage.FaceResult, error)
}

// FaceRequest is one comparison to make.
type FaceRequest struct {
	// PhotoRef is storage.Citizen.PhotoRef: the service fetches the registry
	// photo itself.
	PhotoRef string
	// Selfie is the image taken by the citizen, JPEG or PNG. It is sent to
	// the service and then dropped.
	Selfie []byte
	// ContentType is what the browser declared ("image/jpeg", "image/png"),
	// or empty; it must agree with the image's magic bytes.
	ContentType string
	// Nonce is the proofing flow's nonce (storage.Flow.Nonce).
	Nonce string
	// Simulate picks the outcome of DevFaceSimulator; real verifiers ignore it.
	Simulate string
}

// LogValue keeps the biometric image, the photo reference and the nonce out
// of logs.
func (r FaceRequest) LogValue() slog.Value {
	return slog.GroupValue(slog.String("content_type", r.ContentType), slog.Int("selfie_bytes", len(r.Selfie)))
}

// selfieType checks a selfie and returns its content type from its magic
// bytes. The declared type, when there is one, must agree: a browser that
// calls a GIF "image/jpeg" is sending something we did not ask for.
func selfieType(selfie []byte, declared string) (string, error) {
	if len(selfie) == 0 {
		return "", fmt.Errorf("%w: empty", ErrBadSelfie)
	}
	if len(selfie) > MaxSelfieSize {
		return "", fmt.Errorf("%w: larger than %d bytes", ErrBadSelfie, MaxSelfieSize)
	}
	var sniffed string
	switch {
	case bytes.HasPrefix(selfie, []byte{0xFF, 0xD8, 0xFF}):
		sniffed = "image/jpeg"
	case bytes.HasPrefix(selfie, []byte("\x89PNG\r\n\x1a\n")):
		sniffed = "image/png"
	default:
		return "", fmt.Errorf("%w: neither JPEG nor PNG", ErrBadSelfie)
	}
	if declared != "" {
		mt, _, err := mime.ParseMediaType(declared)
		if err != nil || mt != sniffed {
			return "", fmt.Errorf("%w: declared %.40q but the image is %s", ErrBadSelfie, declared, sniffed)
		}
	}
	return sniffed, nil
}

// faceWire is a face-match result as a face service or an external verifier
// states it. Pointers tell a missing field from a zero one.
type faceWire struct {
	Match         *bool    `json:"match"`
	Score         *float64 `json:"score"`
	Threshold     *float64 `json:"threshold"`
	Liveness      *string  `json:"liveness"`
	LivenessScore *float64 `json:"liveness_score"`
	Vendor        string   `json:"vendor"`
	ModelVersion  string   `json:"model_version"`
}

// maxLabel bounds vendor and model version names kept as evidence.
const maxLabel = 128

// result checks w and turns it into evidence; vendor names the vendor when
// w does not.
func (w *faceWire) result(vendor string, at time.Time) (storage.FaceResult, error) {
	switch {
	case w == nil:
		return storage.FaceResult{}, errors.New("no result")
	case w.Match == nil:
		return storage.FaceResult{}, errors.New("match missing")
	case w.Score == nil:
		return storage.FaceResult{}, errors.New("score missing")
	case w.Threshold == nil:
		return storage.FaceResult{}, errors.New("threshold missing")
	case w.Liveness == nil:
		return storage.FaceResult{}, errors.New("liveness missing")
	}
	res := storage.FaceResult{
		Vendor:       w.Vendor,
		ModelVersion: w.ModelVersion,
		Score:        *w.Score,
		Threshold:    *w.Threshold,
		Match:        *w.Match,
		Liveness:     *w.Liveness,
		At:           at,
	}
	switch res.Liveness {
	case LivenessBonaFide, LivenessAttack, LivenessInconclusive:
		if w.LivenessScore == nil {
			return storage.FaceResult{}, errors.New("liveness_score missing")
		}
		res.LivenessScore = *w.LivenessScore
	case "":
	default:
		return storage.FaceResult{}, fmt.Errorf("unknown liveness %.40q", res.Liveness)
	}
	if res.Vendor == "" {
		res.Vendor = vendor
	}
	if err := checkLabel("vendor", res.Vendor); err != nil {
		return storage.FaceResult{}, err
	}
	if err := checkLabel("model_version", res.ModelVersion); err != nil {
		return storage.FaceResult{}, err
	}
	return res, nil
}

func checkLabel(name, v string) error {
	if v == "" {
		return fmt.Errorf("%s missing", name)
	}
	if len(v) > maxLabel {
		return fmt.Errorf("%s longer than %d bytes", name, maxLabel)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%s has control characters", name)
		}
	}
	return nil
}

// HTTPFaceVerifier asks a face-verification service over HTTP. This is the
// contract a vendor gateway implements:
//
//	POST {URL}
//	Authorization: Bearer {Token}
//	Content-Type: application/json
//
//	{"photo_ref": "…",          // storage.Citizen.PhotoRef; the gateway fetches the registry photo
//	 "selfie": "…",             // the image, standard base64 with padding
//	 "content_type": "image/jpeg" | "image/png",
//	 "nonce": "…"}              // the proofing flow's nonce, for the gateway's own records
//
// A 2xx answer with Content-Type application/json and a body of at most
// 64 KiB holding one object:
//
//	{"match": true,             // the vendor's decision (required)
//	 "score": 0.93,             // raw score on the vendor's scale (required)
//	 "threshold": 0.8,          // the threshold the decision used (required)
//	 "liveness": "bona_fide",   // "bona_fide", "attack", "inconclusive" or "" if not assessed (required)
//	 "liveness_score": 0.97,    // required unless liveness is ""
//	 "vendor": "acme",          // optional; Vendor is used when absent
//	 "model_version": "fm-7.2"} // required
//
// Unknown members are ignored. A no-match or a detected attack is a 200 with
// that result, not an error status. Anything else — another status, another
// content type, a missing member, an unknown liveness value, a longer body —
// is a failure (ErrFaceUnavailable). A 5xx or a timeout is retried
// (MaxAttempts in all); nothing else is. The gateway must not keep the
// selfie after answering. The verifier never logs the selfie or the token
// and never puts them in an error.
type HTTPFaceVerifier struct {
	URL string
	// Token is the bearer credential for the gateway; no Authorization
	// header is sent when it is empty (e.g. a gateway behind mutual TLS).
	Token string
	// Vendor names the vendor in the evidence when the answer does not.
	Vendor string
	// Client defaults to one with a 10 s timeout that does not follow
	// redirects.
	Client *http.Client
	// MaxAttempts is how many times a request is tried; 2 when zero.
	MaxAttempts int
	// Now stamps the result; time.Now when nil.
	Now func() time.Time
}

// maxFaceResponse bounds a face service's answer.
const maxFaceResponse = 64 << 10

var defaultFaceClient = &http.Client{
	Timeout: 10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

type faceCall struct {
	PhotoRef    string `json:"photo_ref"`
	Selfie      []byte `json:"selfie"` // encoding/json writes standard base64
	ContentType string `json:"content_type"`
	Nonce       string `json:"nonce"`
}

// Verify implements FaceVerifier.
func (v *HTTPFaceVerifier) Verify(ctx context.Context, req FaceRequest) (storage.FaceResult, error) {
	ct, err := selfieType(req.Selfie, req.ContentType)
	if err != nil {
		return storage.FaceResult{}, err
	}
	if v.URL == "" {
		return storage.FaceResult{}, errors.New("login: face service URL not configured")
	}
	body, err := json.Marshal(faceCall{PhotoRef: req.PhotoRef, Selfie: req.Selfie, ContentType: ct, Nonce: req.Nonce})
	if err != nil {
		return storage.FaceResult{}, fmt.Errorf("login: encode face request: %w", err)
	}
	attempts := v.MaxAttempts
	if attempts <= 0 {
		attempts = 2
	}
	for i := 1; ; i++ {
		res, retry, err := v.call(ctx, body)
		if err == nil {
			return res, nil
		}
		if !retry || i >= attempts || ctx.Err() != nil {
			return storage.FaceResult{}, fmt.Errorf("%w: %w", ErrFaceUnavailable, err)
		}
	}
}

// call makes one attempt and says whether a failure is worth another.
func (v *HTTPFaceVerifier) call(ctx context.Context, body []byte) (_ storage.FaceResult, retry bool, _ error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, v.URL, bytes.NewReader(body))
	if err != nil {
		return storage.FaceResult{}, false, fmt.Errorf("face service request: %w", err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json")
	if v.Token != "" {
		r.Header.Set("Authorization", "Bearer "+v.Token)
	}
	c := v.Client
	if c == nil {
		c = defaultFaceClient
	}
	resp, err := c.Do(r)
	if err != nil {
		// *url.Error names the method and URL, never the body or headers.
		return storage.FaceResult{}, isTimeout(err), err
	}
	defer func() {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxFaceResponse))
		resp.Body.Close()
	}()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// The body is not quoted: a gateway may echo the request.
		return storage.FaceResult{}, resp.StatusCode >= 500, fmt.Errorf("face service answered %s", resp.Status)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return storage.FaceResult{}, false, fmt.Errorf("face service answered content type %.60q", resp.Header.Get("Content-Type"))
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxFaceResponse+1))
	if err != nil {
		return storage.FaceResult{}, isTimeout(err), fmt.Errorf("read face service answer: %w", err)
	}
	if len(b) > maxFaceResponse {
		return storage.FaceResult{}, false, fmt.Errorf("face service answer longer than %d bytes", maxFaceResponse)
	}
	var w faceWire
	if err := decodeOne(b, &w); err != nil {
		return storage.FaceResult{}, false, fmt.Errorf("face service answer: %w", err)
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	res, err := w.result(v.Vendor, now())
	if err != nil {
		return storage.FaceResult{}, false, fmt.Errorf("face service answer: %w", err)
	}
	return res, false, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// decodeOne decodes exactly one JSON value from b.
func decodeOne(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

var (
	// ErrResultSignature: the result is not signed by a registered key of a
	// registered verifier with an accepted algorithm.
	ErrResultSignature = errors.New("face result signature not accepted")
	// ErrResultExpired: the result is too old or past its exp.
	ErrResultExpired = errors.New("face result expired")
	// ErrResultReplayed: the result was used before.
	ErrResultReplayed = errors.New("face result already used")
	// ErrResultInvalid: the result is malformed or its claims are wrong
	// (audience, nonce, result object, times in the future).
	ErrResultInvalid = errors.New("face result invalid")
)

// ReplayStore remembers one-time values; storage.ReplayStore satisfies it.
type ReplayStore interface {
	// UseOnce records (scope, value) until expiresAt; storage.ErrAlreadyExists
	// if it was recorded before and has not expired.
	UseOnce(ctx context.Context, scope, value string, expiresAt, now time.Time) error
}

// SignedResults accepts face-match results decided elsewhere — a kiosk at a
// district office, a mobile app's back end — and signed by that verifier.
// A result is a compact JWS whose payload is a JWT claims set:
//
//	{"iss": "kiosk-bkk-01",              // the verifier's ID, a key of Verifiers
//	 "aud": "https://id.example.go.th",  // or an array containing Audience
//	 "iat": 1767225600, "exp": 1767225900,
//	 "jti": "…",                         // unique per result; each is accepted once
//	 "nonce": "…",                       // the proofing flow's nonce (storage.Flow.Nonce)
//	 "pid": "1100100000018",             // the ID number on the card the person presented
//	 "result": {…}}                      // the object HTTPFaceVerifier documents
//
// signed with ES256, RS256, PS256 or EdDSA under a key of that verifier
// named by the header's kid. The vendor defaults to the issuer. The nonce
// binds the result to one flow (storage.FlowStore.FlowByNonce) and pid to
// one person: the caller must check that pid is the flow's citizen
// (VerifyResult returns it), or anyone verified at a kiosk could finish the
// proofing of whoever's registry details they typed.
type SignedResults struct {
	// Verifiers maps a verifier's ID (the JWS iss) to its public keys.
	Verifiers map[string]jose.JSONWebKeySet
	// Audience is our issuer URL.
	Audience string
	// MaxAge bounds now − iat; 5 minutes when zero.
	MaxAge time.Duration
	Replay ReplayStore
	Now    func() time.Time
}

// resultAlgs are the accepted signature algorithms: asymmetric only, so
// that no shared secret can stand in for a verifier's key.
var resultAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.PS256, jose.EdDSA}

const (
	resultSkew      = 30 * time.Second
	maxSignedResult = 16 << 10
	maxResultID     = 256
)

type resultClaims struct {
	Issuer    string           `json:"iss"`
	Audience  jwt.Audience     `json:"aud"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	Expiry    *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	ID        string           `json:"jti"`
	Nonce     string           `json:"nonce"`
	// PID is the national ID number of the person the verifier compared,
	// read from the card they presented: it binds the result to a citizen,
	// so a face verified for one person cannot complete another's proofing.
	PID    string    `json:"pid"`
	Result *faceWire `json:"result"`
}

// Verify checks a signed result and returns the nonce it is bound to and
// the result. Errors wrap ErrResultSignature, ErrResultExpired,
// ErrResultReplayed or ErrResultInvalid; anything else is internal (the
// replay store failed, or s is misconfigured). The result is spent only
// once every other check has passed.
func (s *SignedResults) Verify(ctx context.Context, compact string) (nonce string, res storage.FaceResult, err error) {
	r, err := s.VerifyResult(ctx, compact)
	return r.Nonce, r.Result, err
}

// SignedResult is a verified result and what it is bound to.
type SignedResult struct {
	Issuer string // the verifier (the JWS iss)
	Nonce  string
	PID    string // the 13-digit ID number the verifier checked; never log it
	Result storage.FaceResult
}

// LogValue keeps the ID number out of logs.
func (r SignedResult) LogValue() slog.Value { return slog.StringValue("signed face result") }

// VerifyResult is Verify returning the ID number the result is bound to.
func (s *SignedResults) VerifyResult(ctx context.Context, compact string) (SignedResult, error) {
	iss, nonce, pid, res, err := s.verify(ctx, compact)
	return SignedResult{Issuer: iss, Nonce: nonce, PID: pid, Result: res}, err
}

func (s *SignedResults) verify(ctx context.Context, compact string) (iss, nonce, pid string, res storage.FaceResult, err error) {
	if s.Audience == "" || s.Replay == nil {
		return "", "", "", storage.FaceResult{}, errors.New("login: signed face results need an audience and a replay store")
	}
	if len(compact) > maxSignedResult {
		return "", "", "", storage.FaceResult{}, fmt.Errorf("%w: longer than %d bytes", ErrResultInvalid, maxSignedResult)
	}
	// Telling a refused algorithm from a malformed token answers a verifier
	// that signed with a shared secret precisely.
	if alg := headerAlg(compact); alg != "" && !algAccepted(alg) {
		return "", "", "", storage.FaceResult{}, fmt.Errorf("%w: algorithm not accepted", ErrResultSignature)
	}
	jws, err := jose.ParseSignedCompact(compact, resultAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return "", "", "", storage.FaceResult{}, fmt.Errorf("%w: not a compact JWS", ErrResultInvalid)
	}
	var unverified struct {
		Issuer string `json:"iss"`
	}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &unverified); err != nil {
		return "", "", "", storage.FaceResult{}, fmt.Errorf("%w: payload is not a JSON object", ErrResultInvalid)
	}
	set, ok := s.Verifiers[unverified.Issuer]
	if !ok || unverified.Issuer == "" {
		return "", "", "", storage.FaceResult{}, fmt.Errorf("%w: unknown verifier", ErrResultSignature)
	}
	hdr := jws.Signatures[0].Header
	if hdr.KeyID == "" {
		return "", "", "", storage.FaceResult{}, fmt.Errorf("%w: no kid", ErrResultSignature)
	}
	var payload []byte
	for _, k := range set.Key(hdr.KeyID) {
		if (k.Use != "" && k.Use != "sig") || (k.Algorithm != "" && k.Algorithm != hdr.Algorithm) {
			continue
		}
		if b, err := jws.Verify(k.Public()); err == nil {
			payload = b
			break
		}
	}
	if payload == nil {
		return "", "", "", storage.FaceResult{}, fmt.Errorf("%w: no key of verifier %.64q verifies it", ErrResultSignature, unverified.Issuer)
	}

	var cl resultClaims
	if err := decodeOne(payload, &cl); err != nil {
		return "", "", "", storage.FaceResult{}, fmt.Errorf("%w: claims: %v", ErrResultInvalid, err)
	}
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	maxAge := s.MaxAge
	if maxAge <= 0 {
		maxAge = 5 * time.Minute
	}
	invalid := func(why string) (string, string, string, storage.FaceResult, error) {
		return "", "", "", storage.FaceResult{}, fmt.Errorf("%w: %s", ErrResultInvalid, why)
	}
	switch {
	case cl.Issuer != unverified.Issuer:
		return invalid("iss changed")
	case !cl.Audience.Contains(s.Audience):
		return invalid("aud does not name us")
	case cl.IssuedAt == nil:
		return invalid("iat missing")
	case cl.Expiry == nil:
		return invalid("exp missing")
	case cl.IssuedAt.Time().After(now.Add(resultSkew)):
		return invalid("iat in the future")
	case cl.NotBefore != nil && cl.NotBefore.Time().After(now.Add(resultSkew)):
		return invalid("nbf in the future")
	case !cl.Expiry.Time().After(cl.IssuedAt.Time()):
		return invalid("exp not after iat")
	case now.Sub(cl.IssuedAt.Time()) > maxAge:
		return "", "", "", storage.FaceResult{}, fmt.Errorf("%w: issued more than %v ago", ErrResultExpired, maxAge)
	case !now.Before(cl.Expiry.Time().Add(resultSkew)):
		return "", "", "", storage.FaceResult{}, fmt.Errorf("%w: exp passed", ErrResultExpired)
	case cl.ID == "" || len(cl.ID) > maxResultID:
		return invalid("jti missing or too long")
	case cl.Nonce == "" || len(cl.Nonce) > maxResultID:
		return invalid("nonce missing or too long")
	case !storage.ValidPID(cl.PID):
		return invalid("pid missing or not a valid ID number")
	}
	res, err = cl.Result.result(cl.Issuer, cl.IssuedAt.Time().UTC())
	if err != nil {
		return invalid("result: " + err.Error())
	}
	// The result is acceptable until the earlier of exp (with skew) and
	// iat + MaxAge; its jti need be remembered no longer.
	until := cl.Expiry.Time().Add(resultSkew)
	if t := cl.IssuedAt.Time().Add(maxAge); t.Before(until) {
		until = t
	}
	if err := s.Replay.UseOnce(ctx, "face-result:"+cl.Issuer, cl.ID, until.Add(time.Second), now); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return "", "", "", storage.FaceResult{}, fmt.Errorf("%w: jti of verifier %.64q seen before", ErrResultReplayed, cl.Issuer)
		}
		return "", "", "", storage.FaceResult{}, fmt.Errorf("login: record face result jti: %w", err)
	}
	return cl.Issuer, cl.Nonce, cl.PID, res, nil
}

// headerAlg returns the alg of a compact JWS's protected header, or "" if
// it cannot be read.
func headerAlg(compact string) string {
	h, _, ok := strings.Cut(compact, ".")
	if !ok {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return ""
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(b, &hdr) != nil {
		return ""
	}
	return hdr.Alg
}

func algAccepted(alg string) bool {
	for _, a := range resultAlgs {
		if string(a) == alg {
			return true
		}
	}
	return false
}

// Outcomes DevFaceSimulator can be asked for (FaceRequest.Simulate).
const (
	SimulateMatch       = "match"       // match, liveness bona fide
	SimulateNoMatch     = "no_match"    // no match, liveness bona fide
	SimulateAttack      = "attack"      // match, but a presentation attack
	SimulateNoLiveness  = "no_liveness" // match, liveness not assessed
	SimulateUnavailable = "unavailable" // ErrFaceUnavailable
)

// SimulatedOutcomes lists what a development page may offer.
func SimulatedOutcomes() []string {
	return []string{SimulateMatch, SimulateNoMatch, SimulateAttack, SimulateNoLiveness, SimulateUnavailable}
}

// SimulatorVendor is the vendor of every simulated result.
const SimulatorVendor = "dopaid-dev-simulator"

// DevFaceSimulator is a FaceVerifier for development only: it compares
// nothing and answers whatever FaceRequest.Simulate asks for. Production
// mode must refuse to run with it (only --dev may wire it), and its results
// carry Simulated=true so that they can be told apart in the evidence and
// in AssuranceLevel. A selfie, when given, is checked like a real one so
// that the "use another photo" path can be exercised; an empty one is
// accepted so that a development machine needs no camera.
type DevFaceSimulator struct {
	// Now stamps the result; time.Now when nil.
	Now func() time.Time
}

// Verify implements FaceVerifier.
func (d DevFaceSimulator) Verify(ctx context.Context, req FaceRequest) (storage.FaceResult, error) {
	if err := ctx.Err(); err != nil {
		return storage.FaceResult{}, fmt.Errorf("%w: %w", ErrFaceUnavailable, err)
	}
	if len(req.Selfie) > 0 {
		if _, err := selfieType(req.Selfie, req.ContentType); err != nil {
			return storage.FaceResult{}, err
		}
	}
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	res := storage.FaceResult{
		Vendor:        SimulatorVendor,
		ModelVersion:  "simulated",
		Score:         0.97,
		Threshold:     0.80,
		Match:         true,
		Liveness:      LivenessBonaFide,
		LivenessScore: 0.95,
		Simulated:     true,
		At:            now(),
	}
	switch req.Simulate {
	case SimulateMatch:
	case SimulateNoMatch:
		res.Score, res.Match = 0.12, false
	case SimulateAttack:
		res.Liveness, res.LivenessScore = LivenessAttack, 0.03
	case SimulateNoLiveness:
		res.Liveness, res.LivenessScore = "", 0
	case SimulateUnavailable:
		return storage.FaceResult{}, fmt.Errorf("%w: simulated outage", ErrFaceUnavailable)
	default:
		return storage.FaceResult{}, fmt.Errorf("login: unknown simulated face outcome %.40q", req.Simulate)
	}
	return res, nil
}

// AssuranceConfig names the identity assurance levels that proofing
// reaches. DOMAIN.md's mapping is a working one, unconfirmed against the
// ETDA text, so every level is configurable; an empty field takes its
// default.
type AssuranceConfig struct {
	// Registry: ID number, name (Thai or English) and birthdate matched the
	// registry. Default "1.2".
	Registry string
	// LaserCode: the card's laser code matched as well. Default "1.3".
	LaserCode string
	// FaceMatch: on top of LaserCode, an automated comparison with the
	// registry photo matched (the vendor's decision and score ≥ threshold).
	// Default "2.2".
	FaceMatch string
	// Liveness: on top of FaceMatch, presentation-attack detection found a
	// bona fide presentation. Default "2.3".
	Liveness string
	// AllowSimulated lets DevFaceSimulator's results raise the level. Only
	// development mode may set it; without it a simulated result that leaked
	// into production counts for nothing.
	AllowSimulated bool
}

func (c AssuranceConfig) withDefaults() AssuranceConfig {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Registry, "1.2")
	def(&c.LaserCode, "1.3")
	def(&c.FaceMatch, "2.2")
	def(&c.Liveness, "2.3")
	return c
}

// AssuranceLevel returns the identity assurance level that the matched
// registry fields (pid, name_th or name_en, birthdate, laser_code) and the
// face result reach, or "" if the registry match is incomplete. Each level
// builds on the one below: a face match without the laser code adds
// nothing. A failed face match or a presentation attack never raises the
// level; the caller must treat an attack (face.Liveness == LivenessAttack)
// as a failed proofing, whatever level this returns.
func AssuranceLevel(matched []string, face *storage.FaceResult, cfg AssuranceConfig) string {
	cfg = cfg.withDefaults()
	has := make(map[string]bool, len(matched))
	for _, m := range matched {
		has[m] = true
	}
	if !has["pid"] || !(has["name_th"] || has["name_en"]) || !has["birthdate"] {
		return ""
	}
	if !has["laser_code"] {
		return cfg.Registry
	}
	if face == nil || (face.Simulated && !cfg.AllowSimulated) ||
		!face.Match || !(face.Score >= face.Threshold) || face.Liveness == LivenessAttack {
		return cfg.LaserCode
	}
	if face.Liveness != LivenessBonaFide {
		return cfg.FaceMatch
	}
	return cfg.Liveness
}
