package sqlite

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// msArg encodes t as Unix milliseconds, and the zero time as NULL.
func msArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// timeCol scans what msArg stored.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*c.t = time.Time{}
	case int64:
		*c.t = time.UnixMilli(v).UTC()
	default:
		return fmt.Errorf("time column holds %T", v)
	}
	return nil
}

// listArg encodes a slice as JSON text: "null" for nil, "[]" for empty.
func listArg(s []string) string {
	b, _ := json.Marshal(s) // a []string always marshals
	return string(b)
}

// listCol scans what listArg stored.
type listCol struct{ s *[]string }

func (c listCol) Scan(v any) error {
	var b []byte
	switch v := v.(type) {
	case nil:
		*c.s = nil
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("list column holds %T", v)
	}
	var s []string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("list column: %w", err)
	}
	*c.s = s
	return nil
}

// durationArg encodes an optional duration as nanoseconds, nil as NULL.
func durationArg(d *time.Duration) any {
	if d == nil {
		return nil
	}
	return int64(*d)
}

// durationCol scans what durationArg stored.
type durationCol struct{ d **time.Duration }

func (c durationCol) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*c.d = nil
	case int64:
		d := time.Duration(v)
		*c.d = &d
	default:
		return fmt.Errorf("duration column holds %T", v)
	}
	return nil
}

// textArg stores "" as NULL, for optional unique columns.
func textArg(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// textCol scans what textArg stored.
type textCol struct{ s *string }

func (c textCol) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*c.s = ""
	case string:
		*c.s = v
	case []byte:
		*c.s = string(v)
	default:
		return fmt.Errorf("text column holds %T", v)
	}
	return nil
}

// dateArg encodes a registry date in its YYYYMMDD form, "" for no date.
func dateArg(d storage.BEDate) string { return d.String() }

// dateCol scans what dateArg stored. It does not validate: a stored date
// comes back as it went in.
type dateCol struct{ d *storage.BEDate }

func (c dateCol) Scan(v any) error {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Errorf("date column holds %T", v)
	}
	if s == "" {
		*c.d = storage.BEDate{}
		return nil
	}
	n, err := strconv.Atoi(s)
	if len(s) != 8 || err != nil || n < 0 {
		return fmt.Errorf("date column holds %q", s)
	}
	*c.d = storage.BEDate{Year: n / 10000, Month: n / 100 % 100, Day: n % 100}
	return nil
}

// faceJSON is how a storage.FaceResult is stored: JSON with fixed names,
// its time as Unix milliseconds.
type faceJSON struct {
	Vendor        string  `json:"vendor"`
	ModelVersion  string  `json:"model_version"`
	Score         float64 `json:"score"`
	Threshold     float64 `json:"threshold"`
	Match         bool    `json:"match"`
	Liveness      string  `json:"liveness"`
	LivenessScore float64 `json:"liveness_score"`
	Simulated     bool    `json:"simulated"`
	At            *int64  `json:"at"` // nil: zero time
}

// faceArg encodes a face result as JSON text, nil as NULL.
func faceArg(f *storage.FaceResult) (any, error) {
	if f == nil {
		return nil, nil
	}
	j := faceJSON{
		Vendor: f.Vendor, ModelVersion: f.ModelVersion, Score: f.Score, Threshold: f.Threshold,
		Match: f.Match, Liveness: f.Liveness, LivenessScore: f.LivenessScore, Simulated: f.Simulated,
	}
	if !f.At.IsZero() {
		ms := f.At.UnixMilli()
		j.At = &ms
	}
	b, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("face result: %w", err)
	}
	return string(b), nil
}

// faceCol scans what faceArg stored.
type faceCol struct{ f **storage.FaceResult }

func (c faceCol) Scan(v any) error {
	var b []byte
	switch v := v.(type) {
	case nil:
		*c.f = nil
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("face column holds %T", v)
	}
	var j faceJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("face column: %w", err)
	}
	f := &storage.FaceResult{
		Vendor: j.Vendor, ModelVersion: j.ModelVersion, Score: j.Score, Threshold: j.Threshold,
		Match: j.Match, Liveness: j.Liveness, LivenessScore: j.LivenessScore, Simulated: j.Simulated,
	}
	if j.At != nil {
		f.At = time.UnixMilli(*j.At).UTC()
	}
	*c.f = f
	return nil
}

// Nested records are stored as JSON with fixed names. Each form converts
// to and from its storage type, so a field added there fails to compile
// here until the stored form has it too.
type (
	contactJSON struct {
		Name     string `json:"name"`
		Position string `json:"position"`
		Email    string `json:"email"`
		Phone    string `json:"phone"`
	}
	purposeJSON struct {
		Code          string   `json:"code"`
		DescriptionTH string   `json:"description_th"`
		DescriptionEN string   `json:"description_en"`
		Claims        []string `json:"claims"`
		ConsentFrom   int      `json:"consent_from,omitempty"`
	}
	systemJSON struct {
		Name                   string   `json:"name"`
		RedirectURIs           []string `json:"redirect_uris"`
		PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
		AuthMethod             string   `json:"auth_method"`
		JWKS                   []byte   `json:"jwks"`
		JWKSURI                string   `json:"jwks_uri"`
		NetworkRanges          []string `json:"network_ranges"`
		AnyNetwork             bool     `json:"any_network,omitempty"`
		SigningAlg             string   `json:"signing_alg"`

		IDTokenEncryptedResponseAlg      string `json:"id_token_encrypted_response_alg,omitempty"`
		IDTokenEncryptedResponseEnc      string `json:"id_token_encrypted_response_enc,omitempty"`
		UserinfoEncryptedResponseAlg     string `json:"userinfo_encrypted_response_alg,omitempty"`
		UserinfoEncryptedResponseEnc     string `json:"userinfo_encrypted_response_enc,omitempty"`
		RequirePAR                       bool   `json:"require_par,omitempty"`
		FAPI                             bool   `json:"fapi,omitempty"`
		BackchannelLogoutURI             string `json:"backchannel_logout_uri,omitempty"`
		BackchannelLogoutSessionRequired bool   `json:"backchannel_logout_session_required,omitempty"`
	}
	supervisorJSON struct {
		Name     string `json:"name"`
		Position string `json:"position"`
		Email    string `json:"email"`
		Phone    string `json:"phone"`
		OrderRef string `json:"order_ref"`
	}
)

// recordsArg encodes records as JSON text in their stored form J: "null"
// for nil, "[]" for empty.
func recordsArg[T, J any](rs []T, form func(T) J) string {
	var js []J
	if rs != nil {
		js = make([]J, len(rs))
		for i, r := range rs {
			js[i] = form(r)
		}
	}
	b, _ := json.Marshal(js) // strings, byte slices and string slices always marshal
	return string(b)
}

// recordsCol scans what recordsArg stored.
type recordsCol[T, J any] struct {
	rs   *[]T
	from func(J) T
}

func (c recordsCol[T, J]) Scan(v any) error {
	var b []byte
	switch v := v.(type) {
	case nil:
		*c.rs = nil
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("records column holds %T", v)
	}
	var js []J
	if err := json.Unmarshal(b, &js); err != nil {
		return fmt.Errorf("records column: %w", err)
	}
	var rs []T
	if js != nil {
		rs = make([]T, len(js))
		for i, j := range js {
			rs[i] = c.from(j)
		}
	}
	*c.rs = rs
	return nil
}

func contactsArg(cs []storage.Contact) string {
	return recordsArg(cs, func(c storage.Contact) contactJSON { return contactJSON(c) })
}

func contactsCol(cs *[]storage.Contact) recordsCol[storage.Contact, contactJSON] {
	return recordsCol[storage.Contact, contactJSON]{cs, func(j contactJSON) storage.Contact { return storage.Contact(j) }}
}

func purposesArg(ps []storage.Purpose) string {
	return recordsArg(ps, func(p storage.Purpose) purposeJSON { return purposeJSON(p) })
}

func purposesCol(ps *[]storage.Purpose) recordsCol[storage.Purpose, purposeJSON] {
	return recordsCol[storage.Purpose, purposeJSON]{ps, func(j purposeJSON) storage.Purpose { return storage.Purpose(j) }}
}

func systemsArg(ss []storage.System) string {
	return recordsArg(ss, func(s storage.System) systemJSON { return systemJSON(s) })
}

func systemsCol(ss *[]storage.System) recordsCol[storage.System, systemJSON] {
	return recordsCol[storage.System, systemJSON]{ss, func(j systemJSON) storage.System { return storage.System(j) }}
}

func supervisorsArg(ss []storage.Supervisor) string {
	return recordsArg(ss, func(s storage.Supervisor) supervisorJSON { return supervisorJSON(s) })
}

func supervisorsCol(ss *[]storage.Supervisor) recordsCol[storage.Supervisor, supervisorJSON] {
	return recordsCol[storage.Supervisor, supervisorJSON]{ss, func(j supervisorJSON) storage.Supervisor { return storage.Supervisor(j) }}
}
