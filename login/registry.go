package login

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sync"
	"time"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
)

// Step 1 of identity proofing asks the civil registry whether the details
// the citizen typed are those of a record. Registry is that question; the
// imported snapshot (TableRegistry) and a live registry service
// (HTTPRegistry) answer it.

// ErrRegistryUnavailable means the registry could not answer now (down,
// slow, refusing us, answering nonsense, or the circuit breaker is open).
// Proofing fails closed: the citizen is asked to try later, never told the
// details do not match.
var ErrRegistryUnavailable = errors.New("civil registry unavailable")

// Registry matches a citizen's typed details with the civil registry.
type Registry interface {
	// Match compares q with the registry's record of q.PID. A record that
	// does not match (or does not exist, or is not alive) is an answer,
	// RegistryMatch{}, not an error. Errors wrap ErrRegistryUnavailable
	// when the registry cannot answer now; anything else is internal.
	Match(ctx context.Context, q RegistryQuery) (RegistryMatch, error)
}

// RegistryQuery is what the citizen typed, checked and normalised.
type RegistryQuery struct {
	PID         string         // valid national ID number
	First, Last string         // storage.FoldName of the typed names, Thai or English
	Birthdate   storage.BEDate // a full Buddhist-Era date
	Laser       string         // storage.NormalizeLaserCode of the typed code, "" if none
}

// LogValue keeps the typed details out of logs.
func (q RegistryQuery) LogValue() slog.Value {
	return slog.GroupValue(slog.Bool("laser", q.Laser != ""))
}

// RegistryMatch is a registry's answer.
type RegistryMatch struct {
	// OK is true when every typed detail matched a living citizen's record.
	OK bool
	// Citizen is the matched record as the citizens table holds it (its ID
	// is the citizen's internal ID). Without a match it is the table's
	// record of the number, if it holds one, so that the failure is
	// recorded under the citizen's internal ID; zero otherwise.
	Citizen storage.Citizen
	// Matched lists the fields that matched: pid, name_th or name_en,
	// birthdate, and laser_code when a laser code was typed.
	Matched []string
}

func matchedFields(nameTH, laser bool) []string {
	matched := []string{"pid", "name_en", "birthdate"}
	if nameTH {
		matched[1] = "name_th"
	}
	if laser {
		matched = append(matched, "laser_code")
	}
	return matched
}

// TableRegistry matches against the registry snapshot imported into the
// citizens table (`dopaid registry import`).
type TableRegistry struct {
	Store storage.CitizenStore
	// LaserMACKey keys the laser-code hash the import stores.
	LaserMACKey []byte
}

// Match compares q with the stored record. Every comparison runs whatever
// the earlier ones gave, so the time taken says nothing about which field
// was wrong.
func (t *TableRegistry) Match(ctx context.Context, q RegistryQuery) (RegistryMatch, error) {
	c, err := t.Store.CitizenByPID(ctx, q.PID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return RegistryMatch{}, err
	}
	found := err == nil
	nameTH := storage.FoldName(c.NameTH.First) == q.First && storage.FoldName(c.NameTH.Last) == q.Last
	nameEN := storage.FoldName(c.NameEN.First) == q.First && storage.FoldName(c.NameEN.Last) == q.Last
	birth := c.Birthdate.Matches(q.Birthdate)
	laserOK := true
	if q.Laser != "" {
		laserOK = subtle.ConstantTimeCompare([]byte(mac(t.LaserMACKey, q.Laser)), []byte(c.LaserCodeMAC)) == 1 && c.LaserCodeMAC != ""
	}
	if !found || !c.Alive() || !(nameTH || nameEN) || !birth || !laserOK {
		return RegistryMatch{Citizen: c}, nil
	}
	return RegistryMatch{OK: true, Citizen: c, Matched: matchedFields(nameTH, q.Laser != "")}, nil
}

// RegistryStore is what HTTPRegistry keeps a matched record in: the
// citizens table, which the face step, enrolment and claim release read.
type RegistryStore interface {
	UpsertCitizens(ctx context.Context, cs []storage.Citizen) (storage.UpsertResult, error)
	CitizenByPID(ctx context.Context, pid string) (storage.Citizen, error)
}

// HTTPRegistry asks a live civil-registry service. This is the contract
// the service implements (README, "Live civil registry"):
//
//	POST {URL}
//	Authorization: Bearer {Token}          (when a token is configured; or mutual TLS, or both)
//	Content-Type: application/json
//
//	{"pid": "1100100000018",               // the national ID number
//	 "first_name": "somchai",              // as typed, folded (storage.FoldName): NFC, lower case,
//	 "last_name": "jaidee",                //   white space collapsed; Thai or English
//	 "birthdate": "25300115",              // Buddhist-Era YYYYMMDD, every part known
//	 "laser_code": "JT0123456789"}         // normalised; left out when the citizen typed none
//
// The service compares them with its record the way the imported table is
// compared: names after the same folding, Thai or English; a registry
// birthdate with an unknown day or month matches on the parts it knows;
// the laser code against the citizen's current card. It answers 200 with
// Content-Type application/json, at most 64 KiB:
//
//	{"match": false}                       // unknown number, or any detail differs
//	{"match": true,
//	 "name_script": "th" | "en",           // which names matched
//	 "record": {"pid": "1100100000018", "title_th": "นาย", …}}
//
// where record holds the fields of a registry file row (see
// storage.ReadRegistryCSV) by column name, in the same formats — card_issued,
// card_expires and card_status included — but never the laser code.
//
// Only a full match returns personal data: a number typed with wrong
// details gets a bare no, so that nobody can read a stranger's record by
// typing their ID number, and the provider receives only what it must
// release to agencies and show the face service. The laser code is compared
// by the registry and never comes back.
//
// The call reads and changes nothing, so it is retried (Retries more
// times) after a transport error or a 502, 503 or 504; any other status, or
// an answer that breaks the contract, is a failure at once. Consecutive
// failures open the circuit breaker: for CoolDown every call fails at once;
// then one trial call is let through, whose success closes the breaker.
// Every failure wraps ErrRegistryUnavailable. Logs say the outcome, the
// HTTP status and the latency, never what was sent or received.
type HTTPRegistry struct {
	URL string
	// Client carries the TLS configuration (client certificate, CA) and
	// the per-attempt timeout; it must not follow redirects.
	Client *http.Client
	// Token is the bearer credential, "" when mutual TLS alone identifies us.
	Token string
	// Store keeps a matched record, so that later steps find it by ID.
	Store RegistryStore
	// Retries is how many more attempts a transient failure gets (default 2;
	// negative: none).
	Retries int
	// FailureThreshold consecutive failures open the breaker (default 5);
	// CoolDown later (default 30 s) one trial call is let through.
	FailureThreshold int
	CoolDown         time.Duration
	Logger           *slog.Logger
	Now              func() time.Time

	mu       sync.Mutex
	failures int       // consecutive failures
	openedAt time.Time // when the breaker last opened; zero: closed
	trial    bool      // a half-open trial call is under way
}

// Breaker states, as BreakerState reports them.
const (
	BreakerClosed   = "closed"
	BreakerOpen     = "open"
	BreakerHalfOpen = "half-open"
)

func (r *HTTPRegistry) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *HTTPRegistry) log() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

func (r *HTTPRegistry) threshold() int {
	if r.FailureThreshold > 0 {
		return r.FailureThreshold
	}
	return 5
}

func (r *HTTPRegistry) coolDown() time.Duration {
	if r.CoolDown > 0 {
		return r.CoolDown
	}
	return 30 * time.Second
}

// BreakerState reports the circuit breaker's state (for tests and health).
func (r *HTTPRegistry) BreakerState() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.openedAt.IsZero():
		return BreakerClosed
	case r.trial || r.now().Sub(r.openedAt) >= r.coolDown():
		return BreakerHalfOpen
	}
	return BreakerOpen
}

// allow says whether a call may go out now; trial marks the half-open
// trial call.
func (r *HTTPRegistry) allow() (ok, trial bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.openedAt.IsZero() {
		return true, false
	}
	if r.trial || r.now().Sub(r.openedAt) < r.coolDown() {
		return false, false
	}
	r.trial = true
	return true, true
}

// done records a call's outcome in the breaker.
func (r *HTTPRegistry) done(trial, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if trial {
		r.trial = false
	}
	if ok {
		r.failures, r.openedAt = 0, time.Time{}
		return
	}
	r.failures++
	if trial || r.failures >= r.threshold() {
		r.openedAt = r.now()
	}
}

type registryRequest struct {
	PID       string `json:"pid"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Birthdate string `json:"birthdate"`
	LaserCode string `json:"laser_code,omitempty"`
}

type registryAnswer struct {
	Match      *bool             `json:"match"`
	NameScript string            `json:"name_script"`
	Record     map[string]string `json:"record"`
}

// errTransient marks a failure worth another attempt.
var errTransient = errors.New("transient")

// Match asks the service; see HTTPRegistry.
func (r *HTTPRegistry) Match(ctx context.Context, q RegistryQuery) (RegistryMatch, error) {
	start := r.now()
	ok, trial := r.allow()
	if !ok {
		r.log().WarnContext(ctx, "login: registry lookup", "outcome", "circuit_open")
		return RegistryMatch{}, fmt.Errorf("%w: circuit breaker open", ErrRegistryUnavailable)
	}
	body, err := json.Marshal(registryRequest{PID: q.PID, FirstName: q.First, LastName: q.Last, Birthdate: q.Birthdate.String(), LaserCode: q.Laser})
	if err != nil {
		r.done(trial, false)
		return RegistryMatch{}, err
	}
	retries := r.Retries
	if retries == 0 {
		retries = 2
	}
	var (
		ans      registryAnswer
		status   int
		attempts int
	)
	for {
		attempts++
		ans, status, err = r.call(ctx, body)
		if err == nil || !errors.Is(err, errTransient) || attempts > retries || ctx.Err() != nil {
			break
		}
	}
	var (
		c       storage.Citizen
		matched []string
	)
	if err == nil {
		c, matched, err = r.answer(q, ans)
	}
	latency := r.now().Sub(start)
	if err != nil {
		r.done(trial, false)
		// The cause names a status or a broken field, never a value.
		r.log().WarnContext(ctx, "login: registry lookup", "outcome", "unavailable", "status", status, "attempts", attempts, "latency", latency, "err", err)
		return RegistryMatch{}, fmt.Errorf("%w: %w", ErrRegistryUnavailable, err)
	}
	r.done(trial, true)
	outcome := "no_match"
	if matched != nil {
		outcome = "match"
	}
	r.log().InfoContext(ctx, "login: registry lookup", "outcome", outcome, "status", status, "attempts", attempts, "latency", latency)
	if matched == nil {
		// The failure is recorded under the internal ID of a record kept
		// from an earlier match, if any.
		prior, err := r.Store.CitizenByPID(ctx, q.PID)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return RegistryMatch{}, err
		}
		return RegistryMatch{Citizen: prior}, nil
	}
	// Kept in the citizens table: the face step, enrolment and the claims
	// released later read the record by the citizen's internal ID. A store
	// failure is ours, not the registry's.
	id, err := keys.RandomToken(16)
	if err != nil {
		return RegistryMatch{}, err
	}
	now := r.now()
	c.ID, c.CreatedAt, c.UpdatedAt = id, now, now
	c.ContentHash = c.ComputeContentHash("")
	if _, err := r.Store.UpsertCitizens(ctx, []storage.Citizen{c}); err != nil {
		return RegistryMatch{}, fmt.Errorf("keep registry record: %w", err)
	}
	stored, err := r.Store.CitizenByPID(ctx, c.PID)
	if err != nil {
		return RegistryMatch{}, fmt.Errorf("keep registry record: %w", err)
	}
	return RegistryMatch{OK: true, Citizen: stored, Matched: matched}, nil
}

// call makes one attempt.
func (r *HTTPRegistry) call(ctx context.Context, body []byte) (registryAnswer, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(body))
	if err != nil {
		return registryAnswer{}, 0, fmt.Errorf("registry request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	resp, err := r.Client.Do(req)
	if err != nil {
		// The URL error repeats nothing personal: the body is not in it.
		return registryAnswer{}, 0, fmt.Errorf("%w: %w", errTransient, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusGatewayTimeout:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return registryAnswer{}, resp.StatusCode, fmt.Errorf("%w: status %d", errTransient, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return registryAnswer{}, resp.StatusCode, fmt.Errorf("status %d", resp.StatusCode)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return registryAnswer{}, resp.StatusCode, errors.New("answer is not application/json")
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10+1))
	if err != nil {
		return registryAnswer{}, resp.StatusCode, fmt.Errorf("%w: read answer: %w", errTransient, err)
	}
	if len(raw) > 64<<10 {
		return registryAnswer{}, resp.StatusCode, errors.New("answer larger than 64 KiB")
	}
	var ans registryAnswer
	if err := json.Unmarshal(raw, &ans); err != nil {
		return registryAnswer{}, resp.StatusCode, errors.New("answer is not the registry's JSON object")
	}
	return ans, resp.StatusCode, nil
}

// answer checks a decoded answer: the record and the fields that matched,
// or no fields for a no.
func (r *HTTPRegistry) answer(q RegistryQuery, ans registryAnswer) (storage.Citizen, []string, error) {
	if ans.Match == nil {
		return storage.Citizen{}, nil, errors.New("answer: match missing")
	}
	if !*ans.Match {
		return storage.Citizen{}, nil, nil
	}
	if ans.NameScript != "th" && ans.NameScript != "en" {
		return storage.Citizen{}, nil, errors.New("answer: name_script must be th or en")
	}
	c, rowErrs := storage.ParseRegistryRecord(ans.Record)
	if len(rowErrs) > 0 {
		// RowError reasons name the field, never its value.
		return storage.Citizen{}, nil, fmt.Errorf("answer: record: %s: %s", rowErrs[0].Field, rowErrs[0].Reason)
	}
	if subtle.ConstantTimeCompare([]byte(c.PID), []byte(q.PID)) != 1 {
		return storage.Citizen{}, nil, errors.New("answer: record is for another ID number")
	}
	if !c.Alive() {
		return storage.Citizen{}, nil, nil
	}
	return c, matchedFields(ans.NameScript == "th", q.Laser != ""), nil
}
