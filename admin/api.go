package admin

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/dopaid/dopaid/storage"
)

// The JSON API. Clients authenticate with a bearer token from POST
// /session; no cookie is read, so no CSRF defence is needed and none of
// the console's browser machinery applies. Request bodies are JSON objects
// decoded strictly (unknown fields refused); a field tagged without
// omitempty / omitzero is required. The OpenAPI document (openapi.json)
// describes every route, and a test holds it to the router and to these
// structs.

//go:embed openapi.json
var openAPIDocument []byte

const maxJSONBytes = 256 << 10

// Error codes of the API's error object.
const (
	errInvalidRequest    = "invalid_request" // 400: malformed JSON, wrong types, unknown or missingFields fields
	errUnauthorized      = "unauthorized"    // 401: no or dead bearer token
	errAuthFailed        = "authentication_failed"
	errForbidden         = "forbidden"          // 403: the role may not do this
	errMakerChecker      = "maker_checker"      // 403: the maker of an application cannot decide it
	errNotFound          = "not_found"          // 404
	errMethodNotAllowed  = "method_not_allowed" // 405
	errConflict          = "conflict"           // 409: the permit's state forbids it, or a duplicate
	errTooLarge          = "request_too_large"  // 413
	errMediaType         = "unsupported_media_type"
	errValidation        = "validation_failed"    // 422: the service refused values, per field
	errServer            = "server_error"         // 500: the cause is logged, never shown
	errInvitation        = "invitation_invalid"   // 410: no such invitation, or used already
	errInvitationExpired = "invitation_expired"   // 410
	errThrottled         = "too_many_attempts"    // 429
	errPending           = "pending_confirmation" // 403: another approver must confirm the account first
)

// apiError is the body of every error answer.
type apiError struct {
	Error       string            `json:"error"`
	Description string            `json:"error_description,omitempty"`
	Fields      map[string]string `json:"fields,omitempty"`
}

func (h *Handler) apiRouter() *mux.Router {
	rt := mux.NewRouter()
	rt.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, apiError{Error: errNotFound, Description: "no such resource"})
	})
	rt.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", strings.Join(allowedMethods(rt, r), ", "))
		writeError(w, http.StatusMethodNotAllowed, apiError{Error: errMethodNotAllowed, Description: "method not allowed on this resource"})
	})
	rt.HandleFunc(OpenAPIPath, h.openAPI).Methods(http.MethodGet)
	v1 := func(path string, fn func(http.ResponseWriter, *http.Request), method string) {
		rt.Handle(APIPath+path, h.bearer(http.HandlerFunc(fn))).Methods(method)
	}
	rt.HandleFunc(APIPath+"/session", h.apiSignIn).Methods(http.MethodPost)
	// Enrolment is by invitation token, before the holder can sign in.
	rt.HandleFunc(APIPath+"/enrol", h.apiEnrol).Methods(http.MethodPost)
	rt.HandleFunc(APIPath+"/enrol/confirm", h.apiConfirmEnrolment).Methods(http.MethodPost)
	v1("/session", h.apiWhoAmI, http.MethodGet)
	v1("/session", h.apiSignOut, http.MethodDelete)
	v1("/agencies", h.apiAgencies, http.MethodGet)
	v1("/agencies", h.apiCreateAgency, http.MethodPost)
	v1("/agencies/{id}", h.apiAgency, http.MethodGet)
	v1("/agencies/{id}/accesses", h.apiAccesses, http.MethodGet)
	v1("/audit", h.apiAudit, http.MethodGet)
	v1("/audit/export.json", h.apiAuditExport("json"), http.MethodGet)
	v1("/audit/export.csv", h.apiAuditExport("csv"), http.MethodGet)
	v1("/audit/citizen-lookup", h.apiCitizenLookup, http.MethodPost)
	v1("/usage", h.apiUsage(""), http.MethodGet)
	v1("/usage/export.json", h.apiUsage("json"), http.MethodGet)
	v1("/usage/export.csv", h.apiUsage("csv"), http.MethodGet)
	v1("/applications", h.apiRecordApplication, http.MethodPost)
	v1("/permits", h.apiPermits, http.MethodGet)
	v1("/permits/{id}", h.apiPermit, http.MethodGet)
	v1("/permits/{id}/decisions", h.apiDecide, http.MethodPost)
	v1("/permits/{id}/renewals", h.apiRequestRenewal, http.MethodPost)
	v1("/permits/{id}/systems", h.apiRegisterSystem, http.MethodPost)
	v1("/systems/{client_id}", h.apiSystem, http.MethodGet)
	v1("/systems/{client_id}", h.apiChangeSystem, http.MethodPut)
	v1("/systems/{client_id}/secret", h.apiRotateSecret, http.MethodPost)
	v1("/systems/{client_id}/disable", h.apiSetSystemDisabled(true), http.MethodPost)
	v1("/systems/{client_id}/enable", h.apiSetSystemDisabled(false), http.MethodPost)
	v1("/admins", h.apiAdmins, http.MethodGet)
	v1("/admins", h.apiCreateAdmin, http.MethodPost)
	v1("/admins/{id}/confirmation", h.apiConfirmAdmin, http.MethodPost)
	v1("/admins/{id}/disable", h.apiSetAdminDisabled(true), http.MethodPost)
	v1("/admins/{id}/enable", h.apiSetAdminDisabled(false), http.MethodPost)
	v1("/tokens", h.apiTokens, http.MethodGet)
	v1("/tokens", h.apiIssueToken, http.MethodPost)
	v1("/tokens/{id}", h.apiRevokeToken, http.MethodDelete)
	return rt
}

func (h *Handler) serveAPI(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	r.Body = http.MaxBytesReader(w, r.Body, maxJSONBytes)
	h.api.ServeHTTP(w, r)
}

func (h *Handler) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPIDocument)
}

// bearer admits requests that carry a live API session's token.
func (h *Handler) bearer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dopaid-admin"`)
			writeError(w, http.StatusUnauthorized, apiError{Error: errUnauthorized, Description: "a bearer token from POST " + APIPath + "/session is required"})
			return
		}
		a, s, err := h.resume(r.Context(), strings.TrimSpace(token), channelAPI)
		if errors.Is(err, errNoSession) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dopaid-admin", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, apiError{Error: errUnauthorized, Description: "the token is invalid or has expired"})
			return
		}
		if err != nil {
			h.apiFail(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(withAdmin(r.Context(), a, s)))
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, e apiError) { writeJSON(w, status, e) }

// apiFail answers a service error: the refusals the caller can act on by
// their own status and code, anything else as a generic 500 whose cause is
// only logged.
func (h *Handler) apiFail(w http.ResponseWriter, r *http.Request, err error) {
	var ve *ValidationError
	switch {
	case errors.As(err, &ve):
		writeError(w, http.StatusUnprocessableEntity, apiError{Error: errValidation, Description: "some values are not acceptable", Fields: ve.Fields})
	case errors.Is(err, ErrPending):
		writeError(w, http.StatusForbidden, apiError{Error: errPending, Description: "the account awaits confirmation by an approver other than the one who created it"})
	case errors.Is(err, ErrSameApprover):
		writeError(w, http.StatusForbidden, apiError{Error: errMakerChecker, Description: "the approver who created the account cannot confirm it, nor can the account itself; another approver must"})
	case errors.Is(err, ErrMakerChecker):
		writeError(w, http.StatusForbidden, apiError{Error: errMakerChecker, Description: "the administrator who recorded the application cannot decide it; another approver must"})
	case errors.Is(err, ErrForbidden):
		writeError(w, http.StatusForbidden, apiError{Error: errForbidden, Description: "your role does not allow this"})
	case errors.Is(err, ErrAuthFailed):
		writeError(w, http.StatusUnauthorized, apiError{Error: errAuthFailed, Description: "username, password or code not accepted"})
	case errors.Is(err, ErrInvitation):
		writeError(w, http.StatusGone, apiError{Error: errInvitation, Description: "the invitation is not valid or has been used already"})
	case errors.Is(err, ErrInvitationExpired):
		writeError(w, http.StatusGone, apiError{Error: errInvitationExpired, Description: "the invitation has expired: ask an approver to create the account again"})
	case errors.Is(err, ErrThrottled):
		writeError(w, http.StatusTooManyRequests, apiError{Error: errThrottled, Description: "too many failed attempts: try again later"})
	case errors.Is(err, ErrNotFound), errors.Is(err, storage.ErrNotFound):
		writeError(w, http.StatusNotFound, apiError{Error: errNotFound, Description: "no such resource"})
	case errors.Is(err, ErrState):
		writeError(w, http.StatusConflict, apiError{Error: errConflict, Description: "the state of the permit, system or account does not allow this"})
	case errors.Is(err, storage.ErrAlreadyExists), errors.Is(err, storage.ErrConflict):
		writeError(w, http.StatusConflict, apiError{Error: errConflict, Description: "it exists already or was changed meanwhile"})
	default:
		h.log.ErrorContext(r.Context(), "admin api", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, apiError{Error: errServer, Description: "the request could not be completed"})
	}
}

// decodeJSON reads the request body into v (a pointer to a request
// struct). It answers the request itself and returns false when the body
// is not acceptable: not JSON, a wrong type, an unknown or a missingFields field,
// each named by its path ("purposes[0].code"), as the service names them.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, apiError{Error: errMediaType, Description: "send application/json"})
			return false
		}
	}
	body, err := io.ReadAll(r.Body)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		writeError(w, http.StatusRequestEntityTooLarge, apiError{Error: errTooLarge, Description: fmt.Sprintf("the body exceeds %d bytes", tooLarge.Limit)})
		return false
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, apiError{Error: errInvalidRequest, Description: "the body could not be read"})
		return false
	}
	if fields := checkJSONBody(body, v); len(fields) > 0 {
		writeError(w, http.StatusBadRequest, apiError{Error: errInvalidRequest, Description: "the body is not a valid request", Fields: fields})
		return false
	}
	return true
}

// checkJSONBody decodes body into v and reports what is wrong, by field path
// ("" for the body as a whole).
func checkJSONBody(body []byte, v any) map[string]string {
	bad := func(path, msg string) map[string]string { return map[string]string{path: msg} }
	if len(bytes.TrimSpace(body)) == 0 {
		return bad("", "a JSON object is required")
	}
	var raw any
	rd := json.NewDecoder(bytes.NewReader(body))
	if err := rd.Decode(&raw); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return bad("", fmt.Sprintf("not valid JSON (at byte %d)", se.Offset))
		}
		return bad("", "not valid JSON")
	}
	if _, ok := raw.(map[string]any); !ok {
		return bad("", "a JSON object is required")
	}
	if rd.More() {
		return bad("", "one JSON object only")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return bad(te.Field, "must be "+jsonKindOf(te.Type))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
			return bad(name, "unknown field")
		default:
			var pe *time.ParseError
			if errors.As(err, &pe) {
				return bad("", "times must be RFC 3339, like 2026-01-31T09:00:00+07:00")
			}
			return bad("", "not a valid request")
		}
	}
	fields := map[string]string{}
	missingFields(reflect.TypeOf(v).Elem(), raw, "", fields)
	return fields
}

// missingFields records in fields every required field (tagged without
// omitempty or omitzero) that raw lacks or has as null, through nested
// objects and arrays of objects.
func missingFields(t reflect.Type, raw any, path string, fields map[string]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if t == reflect.TypeFor[time.Time]() {
			return
		}
		obj, ok := raw.(map[string]any)
		if !ok {
			return
		}
		for i := range t.NumField() {
			f := t.Field(i)
			name, required, ok := jsonFieldOf(f)
			if !ok {
				continue
			}
			p := joinFieldPath(path, name)
			val, present := obj[name]
			if !present || val == nil {
				if required {
					fields[p] = "required"
				}
				continue
			}
			missingFields(f.Type, val, p, fields)
		}
	case reflect.Slice:
		arr, ok := raw.([]any)
		if !ok {
			return
		}
		for i, el := range arr {
			missingFields(t.Elem(), el, path+"["+strconv.Itoa(i)+"]", fields)
		}
	}
}

// jsonFieldOf returns a struct field's JSON name and whether it is required.
func jsonFieldOf(f reflect.StructField) (name string, required, ok bool) {
	if !f.IsExported() {
		return "", false, false
	}
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", false, false
	}
	name, opts, _ := strings.Cut(tag, ",")
	if name == "" {
		name = f.Name
	}
	required = true
	for _, o := range strings.Split(opts, ",") {
		if o == "omitempty" || o == "omitzero" {
			required = false
		}
	}
	return name, required, true
}

func joinFieldPath(base, name string) string {
	if base == "" {
		return name
	}
	return base + "." + name
}

func jsonKindOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		if t == reflect.TypeFor[time.Time]() {
			return "an RFC 3339 time"
		}
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Slice:
		return "an array"
	case reflect.Struct, reflect.Map:
		if t == reflect.TypeFor[time.Time]() {
			return "an RFC 3339 time"
		}
		return "an object"
	}
	return "of another type"
}

// Request bodies. A field without omitempty is required (decodeJSON
// enforces it; the OpenAPI test holds the document to it). Times are
// RFC 3339 strings, parsed here so that a bad one is named by its field.

type apiSessionRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	TOTP     string `json:"totp"`
}

type apiAgencyRequest struct {
	NameTH         string       `json:"name_th"`
	NameEN         string       `json:"name_en"`
	Category       string       `json:"category"`
	RegistrationNo string       `json:"registration_no,omitempty"`
	Contacts       []apiContact `json:"contacts,omitempty"`
}

type apiContact struct {
	Name     string `json:"name"`
	Position string `json:"position,omitempty"`
	Email    string `json:"email,omitempty"`
	Phone    string `json:"phone,omitempty"`
}

type apiPurpose struct {
	Code          string   `json:"code"`
	DescriptionTH string   `json:"description_th"`
	DescriptionEN string   `json:"description_en"`
	Claims        []string `json:"claims"`
}

type apiSystem struct {
	Name                   string          `json:"name"`
	RedirectURIs           []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs []string        `json:"post_logout_redirect_uris,omitempty"`
	AuthMethod             string          `json:"auth_method"`
	JWKS                   json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                string          `json:"jwks_uri,omitempty"`
	NetworkRanges          []string        `json:"network_ranges,omitempty"`
	AnyNetwork             bool            `json:"any_network,omitempty"`
	SigningAlg             string          `json:"signing_alg,omitempty"`

	IDTokenEncryptedResponseAlg      string `json:"id_token_encrypted_response_alg,omitempty"`
	IDTokenEncryptedResponseEnc      string `json:"id_token_encrypted_response_enc,omitempty"`
	UserinfoEncryptedResponseAlg     string `json:"userinfo_encrypted_response_alg,omitempty"`
	UserinfoEncryptedResponseEnc     string `json:"userinfo_encrypted_response_enc,omitempty"`
	RequirePAR                       bool   `json:"require_par,omitempty"`
	FAPI                             bool   `json:"fapi,omitempty"`
	BackchannelLogoutURI             string `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired bool   `json:"backchannel_logout_session_required,omitempty"`
}

type apiAcceptanceRequest struct {
	Name         string `json:"name"`
	Position     string `json:"position"`
	At           string `json:"at,omitempty"` // default: now
	TermsVersion string `json:"terms_version"`
}

type apiApplicationRequest struct {
	AgencyID   string               `json:"agency_id"`
	Mission    string               `json:"mission"`
	Reason     string               `json:"reason"`
	Necessity  string               `json:"necessity"`
	Purposes   []apiPurpose         `json:"purposes"`
	Systems    []apiSystem          `json:"systems,omitempty"`
	Acceptance apiAcceptanceRequest `json:"acceptance"`
}

type apiSupervisor struct {
	Name     string `json:"name"`
	Position string `json:"position"`
	Email    string `json:"email,omitempty"`
	Phone    string `json:"phone,omitempty"`
	OrderRef string `json:"order_ref"`
}

type apiGrantedPurpose struct {
	Code   string   `json:"code"`
	Claims []string `json:"claims"`
}

type apiGrantRequest struct {
	Purposes    []apiGrantedPurpose `json:"purposes"`
	ValidFrom   string              `json:"valid_from"`
	ValidUntil  string              `json:"valid_until"`
	Conditions  string              `json:"conditions,omitempty"`
	Supervisors []apiSupervisor     `json:"supervisors"`
}

type apiDecisionRequest struct {
	Action      string           `json:"action"`
	Notice      string           `json:"notice,omitempty"`
	EffectiveAt string           `json:"effective_at,omitempty"` // default: at once
	Grant       *apiGrantRequest `json:"grant,omitempty"`
}

type apiAdminRequest struct {
	Username string `json:"username"`
	Name     string `json:"name"`
	Role     string `json:"role"`
	AgencyID string `json:"agency_id,omitempty"`
}

type apiEnrolRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

type apiConfirmEnrolmentRequest struct {
	Token string `json:"token"`
	Code  string `json:"code"`
}

// Response bodies.

type apiAgency struct {
	ID             string       `json:"id"`
	NameTH         string       `json:"name_th"`
	NameEN         string       `json:"name_en"`
	Category       string       `json:"category"`
	RegistrationNo string       `json:"registration_no,omitempty"`
	Contacts       []apiContact `json:"contacts"`
	CreatedAt      time.Time    `json:"created_at"`
	UpdatedAt      time.Time    `json:"updated_at"`
}

type apiAcceptance struct {
	Name         string    `json:"name"`
	Position     string    `json:"position,omitempty"`
	At           time.Time `json:"at"`
	TermsVersion string    `json:"terms_version"`
}

type apiApplication struct {
	ID         string        `json:"id"`
	AgencyID   string        `json:"agency_id"`
	Mission    string        `json:"mission"`
	Reason     string        `json:"reason"`
	Necessity  string        `json:"necessity"`
	Purposes   []apiPurpose  `json:"purposes"`
	Systems    []apiSystem   `json:"systems"`
	Acceptance apiAcceptance `json:"acceptance"`
	RecordedBy string        `json:"recorded_by"`
	CreatedAt  time.Time     `json:"created_at"`
}

type apiPermit struct {
	ID            string `json:"id"`
	Number        string `json:"number"`
	AgencyID      string `json:"agency_id"`
	ApplicationID string `json:"application_id"`
	State         string `json:"state"`
	// Status is State, or expired / not_yet_valid for an approved permit
	// outside its validity period.
	Status      string          `json:"status"`
	Active      bool            `json:"active"`
	ValidFrom   *time.Time      `json:"valid_from,omitempty"`
	ValidUntil  *time.Time      `json:"valid_until,omitempty"`
	Purposes    []apiPurpose    `json:"purposes"`
	Conditions  string          `json:"conditions,omitempty"`
	Supervisors []apiSupervisor `json:"supervisors"`
	Version     int             `json:"version"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

type apiDecision struct {
	ID          string          `json:"id"`
	PermitID    string          `json:"permit_id"`
	Action      string          `json:"action"`
	By          string          `json:"by"`
	Notice      string          `json:"notice"`
	RecordedAt  time.Time       `json:"recorded_at"`
	EffectiveAt time.Time       `json:"effective_at"`
	AppliedAt   *time.Time      `json:"applied_at,omitempty"`
	Payload     json.RawMessage `json:"payload,omitempty"`
}

type apiClient struct {
	ClientID               string          `json:"client_id"`
	Name                   string          `json:"name"`
	PermitID               string          `json:"permit_id"`
	AuthMethod             string          `json:"auth_method"`
	RedirectURIs           []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs []string        `json:"post_logout_redirect_uris"`
	NetworkRanges          []string        `json:"network_ranges"`
	SigningAlg             string          `json:"signing_alg,omitempty"`
	JWKS                   json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                string          `json:"jwks_uri,omitempty"`
	RequirePAR             bool            `json:"require_par"`
	FAPI                   bool            `json:"fapi"`
	Disabled               bool            `json:"disabled"`
	CreatedAt              time.Time       `json:"created_at"`
	UpdatedAt              time.Time       `json:"updated_at"`

	IDTokenEncryptedResponseAlg      string `json:"id_token_encrypted_response_alg,omitempty"`
	IDTokenEncryptedResponseEnc      string `json:"id_token_encrypted_response_enc,omitempty"`
	UserinfoEncryptedResponseAlg     string `json:"userinfo_encrypted_response_alg,omitempty"`
	UserinfoEncryptedResponseEnc     string `json:"userinfo_encrypted_response_enc,omitempty"`
	BackchannelLogoutURI             string `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired bool   `json:"backchannel_logout_session_required,omitempty"`
}

type apiAdmin struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	Role     string `json:"role"`
	AgencyID string `json:"agency_id,omitempty"`
	Disabled bool   `json:"disabled"`
	// Enrolled is false until the holder has enrolled by invitation.
	Enrolled            bool       `json:"enrolled"`
	InvitationExpiresAt *time.Time `json:"invitation_expires_at,omitempty"`
	// State is invited, pending (enrolled, awaiting another approver's
	// confirmation), active or disabled.
	State       string     `json:"state"`
	CreatedBy   string     `json:"created_by,omitempty"`
	ConfirmedBy string     `json:"confirmed_by,omitempty"`
	ConfirmedAt *time.Time `json:"confirmed_at,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
}

type apiTokenRequest struct {
	Name string `json:"name"`
	// ExpiresInDays is the token's lifetime (default 90, at most 365).
	ExpiresInDays int `json:"expires_in_days,omitempty"`
}

type apiToken struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

type apiTokensResponse struct {
	Tokens []apiToken `json:"tokens"`
}

type apiIssueTokenResponse struct {
	Token apiToken `json:"token"`
	// Secret is the token itself, shown in this answer only.
	Secret string `json:"secret"`
}

type apiAccess struct {
	At         time.Time `json:"at"`
	Type       string    `json:"type"`
	ClientID   string    `json:"client_id"`
	ClientName string    `json:"client_name,omitempty"`
	Purpose    string    `json:"purpose,omitempty"`
	Claims     []string  `json:"claims"`
	Subject    string    `json:"subject,omitempty"`
	PID        string    `json:"pid,omitempty"`
	IAL        string    `json:"ial,omitempty"`
	Outcome    string    `json:"outcome"`
	Detail     string    `json:"detail,omitempty"`
}

type apiSessionResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	// IdleTimeout is how long the token lives without use, in seconds.
	IdleTimeout int      `json:"idle_timeout"`
	Admin       apiAdmin `json:"admin"`
}

type apiWhoAmIResponse struct {
	Admin         apiAdmin  `json:"admin"`
	ExpiresAt     time.Time `json:"expires_at"`
	IdleExpiresAt time.Time `json:"idle_expires_at"`
}

type apiAgenciesResponse struct {
	Agencies []apiAgency `json:"agencies"`
}

type apiAgencyResponse struct {
	Agency  apiAgency   `json:"agency"`
	Permits []apiPermit `json:"permits"`
}

type apiApplicationResponse struct {
	Application apiApplication `json:"application"`
	Permit      apiPermit      `json:"permit"`
}

type apiPermitsResponse struct {
	Permits []apiPermit `json:"permits"`
}

type apiPermitResponse struct {
	Permit      apiPermit       `json:"permit"`
	Application *apiApplication `json:"application,omitempty"`
	Decisions   []apiDecision   `json:"decisions"`
	Systems     []apiClient     `json:"systems"`
}

type apiDecisionResponse struct {
	Decision apiDecision `json:"decision"`
	Permit   apiPermit   `json:"permit"`
}

type apiSystemResponse struct {
	Client apiClient `json:"client"`
	// ClientSecret is shown in this answer only, never again.
	ClientSecret string `json:"client_secret,omitempty"`
}

type apiSecretResponse struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

type apiAccessesResponse struct {
	Accesses []apiAccess `json:"accesses"`
}

type apiAdminsResponse struct {
	Admins []apiAdmin `json:"admins"`
}

type apiCreateAdminResponse struct {
	Admin apiAdmin `json:"admin"`
	// The invitation to hand the new administrator, good once: they enrol
	// with it (the console's page at InvitationPath, or POST /enrol).
	InvitationToken     string    `json:"invitation_token"`
	InvitationPath      string    `json:"invitation_path"`
	InvitationExpiresAt time.Time `json:"invitation_expires_at"`
}

type apiEnrolResponse struct {
	// OTPAuthURL carries the account's TOTP secret, for its holder's
	// authenticator app; confirm with a code of it.
	OTPAuthURL string `json:"otpauth_url"`
}

type apiConfirmEnrolmentResponse struct {
	Admin apiAdmin `json:"admin"`
}

// Conversions between the domain and the API's shapes.

func toAPIAgency(a storage.Agency) apiAgency {
	cs := make([]apiContact, 0, len(a.Contacts))
	for _, c := range a.Contacts {
		cs = append(cs, apiContact(c))
	}
	return apiAgency{ID: a.ID, NameTH: a.NameTH, NameEN: a.NameEN, Category: a.Category, RegistrationNo: a.RegistrationNo,
		Contacts: cs, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

func toAPIPurposes(ps []storage.Purpose) []apiPurpose {
	out := make([]apiPurpose, 0, len(ps))
	for _, p := range ps {
		out = append(out, apiPurpose{Code: p.Code, DescriptionTH: p.DescriptionTH, DescriptionEN: p.DescriptionEN, Claims: orEmpty(p.Claims)})
	}
	return out
}

func fromAPIPurposes(ps []apiPurpose) []storage.Purpose {
	out := make([]storage.Purpose, 0, len(ps))
	for _, p := range ps {
		out = append(out, storage.Purpose{Code: p.Code, DescriptionTH: p.DescriptionTH, DescriptionEN: p.DescriptionEN, Claims: p.Claims})
	}
	return out
}

func toAPISystem(s storage.System) apiSystem {
	a := apiSystem{Name: s.Name, RedirectURIs: orEmpty(s.RedirectURIs), PostLogoutRedirectURIs: s.PostLogoutRedirectURIs,
		AuthMethod: s.AuthMethod, JWKS: storedJSON(s.JWKS), JWKSURI: s.JWKSURI, NetworkRanges: s.NetworkRanges, AnyNetwork: s.AnyNetwork, SigningAlg: s.SigningAlg,
		IDTokenEncryptedResponseAlg: s.IDTokenEncryptedResponseAlg, IDTokenEncryptedResponseEnc: s.IDTokenEncryptedResponseEnc,
		UserinfoEncryptedResponseAlg: s.UserinfoEncryptedResponseAlg, UserinfoEncryptedResponseEnc: s.UserinfoEncryptedResponseEnc,
		RequirePAR: s.RequirePAR, FAPI: s.FAPI}
	a.BackchannelLogoutURI, a.BackchannelLogoutSessionRequired = s.BackchannelLogoutURI, s.BackchannelLogoutSessionRequired
	return a
}

func fromAPISystem(s apiSystem) storage.System {
	var jwks []byte
	if len(s.JWKS) > 0 && string(s.JWKS) != "null" {
		jwks = []byte(s.JWKS)
	}
	sys := storage.System{Name: s.Name, RedirectURIs: s.RedirectURIs, PostLogoutRedirectURIs: s.PostLogoutRedirectURIs,
		AuthMethod: s.AuthMethod, JWKS: jwks, JWKSURI: s.JWKSURI, NetworkRanges: s.NetworkRanges, AnyNetwork: s.AnyNetwork, SigningAlg: s.SigningAlg,
		IDTokenEncryptedResponseAlg: s.IDTokenEncryptedResponseAlg, IDTokenEncryptedResponseEnc: s.IDTokenEncryptedResponseEnc,
		UserinfoEncryptedResponseAlg: s.UserinfoEncryptedResponseAlg, UserinfoEncryptedResponseEnc: s.UserinfoEncryptedResponseEnc,
		RequirePAR: s.RequirePAR, FAPI: s.FAPI}
	sys.BackchannelLogoutURI, sys.BackchannelLogoutSessionRequired = s.BackchannelLogoutURI, s.BackchannelLogoutSessionRequired
	return sys
}

func toAPIApplication(a storage.Application) apiApplication {
	sys := make([]apiSystem, 0, len(a.Systems))
	for _, s := range a.Systems {
		sys = append(sys, toAPISystem(s))
	}
	return apiApplication{ID: a.ID, AgencyID: a.AgencyID, Mission: a.Mission, Reason: a.Reason, Necessity: a.Necessity,
		Purposes: toAPIPurposes(a.Purposes), Systems: sys,
		Acceptance: apiAcceptance{Name: a.Acceptance.Name, Position: a.Acceptance.Position, At: a.Acceptance.At, TermsVersion: a.Acceptance.TermsVersion},
		RecordedBy: a.RecordedBy, CreatedAt: a.CreatedAt}
}

func (h *Handler) toAPIPermit(p storage.Permit) apiPermit {
	sv := make([]apiSupervisor, 0, len(p.Supervisors))
	for _, s := range p.Supervisors {
		sv = append(sv, apiSupervisor(s))
	}
	return apiPermit{ID: p.ID, Number: p.Number, AgencyID: p.AgencyID, ApplicationID: p.ApplicationID, State: p.State,
		Status: Status(p, h.now()), Active: p.Active(h.now()), ValidFrom: timePtr(p.ValidFrom), ValidUntil: timePtr(p.ValidUntil),
		Purposes: toAPIPurposes(p.Purposes), Conditions: p.Conditions, Supervisors: sv, Version: p.Version,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

func toAPIDecision(d storage.Decision) apiDecision {
	return apiDecision{ID: d.ID, PermitID: d.PermitID, Action: d.Action, By: d.By, Notice: d.Notice,
		RecordedAt: d.RecordedAt, EffectiveAt: d.EffectiveAt, AppliedAt: timePtr(d.AppliedAt), Payload: storedJSON(d.Payload)}
}

func toAPIClient(c storage.Client) apiClient {
	a := apiClient{ClientID: c.ID, Name: c.Name, PermitID: c.PermitID, AuthMethod: c.AuthMethod,
		RedirectURIs: orEmpty(c.RedirectURIs), PostLogoutRedirectURIs: orEmpty(c.PostLogoutRedirectURIs),
		NetworkRanges: orEmpty(c.NetworkRanges), SigningAlg: c.SigningAlg, JWKS: storedJSON(c.JWKS), JWKSURI: c.JWKSURI, Disabled: c.Disabled,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		IDTokenEncryptedResponseAlg: c.IDTokenEncryptedResponseAlg, IDTokenEncryptedResponseEnc: c.IDTokenEncryptedResponseEnc,
		UserinfoEncryptedResponseAlg: c.UserinfoEncryptedResponseAlg, UserinfoEncryptedResponseEnc: c.UserinfoEncryptedResponseEnc,
		RequirePAR: c.RequirePAR, FAPI: c.FAPI}
	a.BackchannelLogoutURI, a.BackchannelLogoutSessionRequired = c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired
	return a
}

func toAPIAdmin(a storage.Admin) apiAdmin {
	return apiAdmin{ID: a.ID, Username: a.Username, Name: a.Name, Role: a.Role, AgencyID: a.AgencyID, Disabled: a.Disabled,
		Enrolled: a.InviteExpiresAt.IsZero(), InvitationExpiresAt: timePtr(a.InviteExpiresAt), State: a.State(),
		CreatedBy: a.CreatedBy, ConfirmedBy: a.ConfirmedBy, ConfirmedAt: timePtr(a.ConfirmedAt), CreatedAt: a.CreatedAt}
}

func toAPIToken(t storage.AdminToken) apiToken {
	return apiToken{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, RevokedAt: timePtr(t.RevokedAt)}
}

func toAPIAccess(a Access) apiAccess {
	return apiAccess{At: a.At, Type: a.Type, ClientID: a.ClientID, ClientName: a.ClientName, Purpose: a.Purpose,
		Claims: orEmpty(a.Claims), Subject: a.Subject, PID: a.PID, IAL: a.IAL, Outcome: a.Outcome, Detail: a.Detail}
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// storedJSON passes stored JSON through, or nothing when it is not JSON.
func storedJSON(b []byte) json.RawMessage {
	if len(b) == 0 || !json.Valid(b) {
		return nil
	}
	return json.RawMessage(b)
}

// parseAPITime reads an RFC 3339 time of a request field into fields.
func parseAPITime(v, field string, fields map[string]string) time.Time {
	if v == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		fields[field] = "must be an RFC 3339 time, like 2026-01-31T09:00:00+07:00"
	}
	return t
}

// The handlers.

func (h *Handler) apiSignIn(w http.ResponseWriter, r *http.Request) {
	var req apiSessionRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	a, err := h.svc.Authenticate(r.Context(), req.Username, req.Password, req.TOTP)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	token, s, err := h.startSession(r.Context(), a, channelAPI, r.UserAgent())
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, apiSessionResponse{Token: token, ExpiresAt: s.ExpiresAt, IdleTimeout: int(SessionIdle / time.Second), Admin: toAPIAdmin(a)})
}

func (h *Handler) apiWhoAmI(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	s, _ := currentSession(r.Context())
	writeJSON(w, http.StatusOK, apiWhoAmIResponse{Admin: toAPIAdmin(a), ExpiresAt: s.ExpiresAt, IdleExpiresAt: s.IdleExpiresAt})
}

func (h *Handler) apiSignOut(w http.ResponseWriter, r *http.Request) {
	s, _ := currentSession(r.Context())
	if err := h.store.DeleteSession(r.Context(), s.ID, nil); err != nil {
		h.apiFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) apiAgencies(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	list, err := h.svc.Agencies(r.Context(), a)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	out := apiAgenciesResponse{Agencies: []apiAgency{}}
	for _, ag := range list {
		out.Agencies = append(out.Agencies, toAPIAgency(ag))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) apiCreateAgency(w http.ResponseWriter, r *http.Request) {
	var req apiAgencyRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	a, _ := adminFrom(r.Context())
	ag := storage.Agency{NameTH: req.NameTH, NameEN: req.NameEN, Category: req.Category, RegistrationNo: req.RegistrationNo}
	for _, c := range req.Contacts {
		ag.Contacts = append(ag.Contacts, storage.Contact(c))
	}
	ag, err := h.svc.CreateAgency(r.Context(), a, ag)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	w.Header().Set("Location", APIPath+"/agencies/"+ag.ID)
	writeJSON(w, http.StatusCreated, toAPIAgency(ag))
}

func (h *Handler) apiAgency(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	id := mux.Vars(r)["id"]
	ag, err := h.svc.Agency(r.Context(), a, id)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	ps, err := h.svc.Permits(r.Context(), a, id)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	out := apiAgencyResponse{Agency: toAPIAgency(ag), Permits: []apiPermit{}}
	for _, p := range ps {
		out.Permits = append(out.Permits, h.toAPIPermit(p))
	}
	writeJSON(w, http.StatusOK, out)
}

// maxAccesses bounds one page of the accesses view.
const maxAccesses = 1000

func (h *Handler) apiAccesses(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAccesses {
			writeError(w, http.StatusBadRequest, apiError{Error: errInvalidRequest, Fields: map[string]string{"limit": fmt.Sprintf("must be an integer from 1 to %d", maxAccesses)}})
			return
		}
		limit = n
	}
	list, err := h.svc.AgencyAccesses(r.Context(), a, mux.Vars(r)["id"], limit)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	out := apiAccessesResponse{Accesses: []apiAccess{}}
	for _, ac := range list {
		out.Accesses = append(out.Accesses, toAPIAccess(ac))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) apiRecordApplication(w http.ResponseWriter, r *http.Request) {
	var req apiApplicationRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	fields := map[string]string{}
	at := parseAPITime(req.Acceptance.At, "acceptance.at", fields)
	if len(fields) > 0 {
		writeError(w, http.StatusBadRequest, apiError{Error: errInvalidRequest, Description: "the body is not a valid request", Fields: fields})
		return
	}
	if at.IsZero() {
		at = h.now()
	}
	app := storage.Application{AgencyID: req.AgencyID, Mission: req.Mission, Reason: req.Reason, Necessity: req.Necessity,
		Purposes:   fromAPIPurposes(req.Purposes),
		Acceptance: storage.Acceptance{Name: req.Acceptance.Name, Position: req.Acceptance.Position, At: at, TermsVersion: req.Acceptance.TermsVersion}}
	for _, s := range req.Systems {
		app.Systems = append(app.Systems, fromAPISystem(s))
	}
	a, _ := adminFrom(r.Context())
	app, p, err := h.svc.RecordApplication(r.Context(), a, app)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	w.Header().Set("Location", APIPath+"/permits/"+p.ID)
	writeJSON(w, http.StatusCreated, apiApplicationResponse{Application: toAPIApplication(app), Permit: h.toAPIPermit(p)})
}

func (h *Handler) apiPermits(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	ps, err := h.svc.Permits(r.Context(), a, r.URL.Query().Get("agency_id"))
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	out := apiPermitsResponse{Permits: []apiPermit{}}
	for _, p := range ps {
		out.Permits = append(out.Permits, h.toAPIPermit(p))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) apiPermit(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	v, err := h.permitView(r, a, mux.Vars(r)["id"])
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	out := apiPermitResponse{Permit: h.toAPIPermit(v.Permit), Decisions: []apiDecision{}, Systems: []apiClient{}}
	if v.Application != nil {
		aj := toAPIApplication(*v.Application)
		out.Application = &aj
	}
	for _, d := range v.Decisions {
		out.Decisions = append(out.Decisions, toAPIDecision(d))
	}
	for _, c := range v.Systems {
		out.Systems = append(out.Systems, toAPIClient(c))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) apiDecide(w http.ResponseWriter, r *http.Request) {
	var req apiDecisionRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	fields := map[string]string{}
	dr := DecisionRequest{Action: req.Action, Notice: req.Notice, EffectiveAt: parseAPITime(req.EffectiveAt, "effective_at", fields)}
	if g := req.Grant; g != nil {
		gr := grantOf(*g, fields)
		dr.Grant = &gr
	}
	if len(fields) > 0 {
		writeError(w, http.StatusBadRequest, apiError{Error: errInvalidRequest, Description: "the body is not a valid request", Fields: fields})
		return
	}
	a, _ := adminFrom(r.Context())
	d, p, err := h.svc.Decide(r.Context(), a, mux.Vars(r)["id"], dr)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, apiDecisionResponse{Decision: toAPIDecision(d), Permit: h.toAPIPermit(p)})
}

// grantOf reads a grant of the API; unreadable times go to fields.
func grantOf(g apiGrantRequest, fields map[string]string) Grant {
	gr := Grant{Conditions: g.Conditions,
		ValidFrom:  parseAPITime(g.ValidFrom, "grant.valid_from", fields),
		ValidUntil: parseAPITime(g.ValidUntil, "grant.valid_until", fields)}
	for _, p := range g.Purposes {
		gr.Purposes = append(gr.Purposes, storage.Purpose{Code: p.Code, Claims: p.Claims})
	}
	for _, s := range g.Supervisors {
		gr.Supervisors = append(gr.Supervisors, storage.Supervisor(s))
	}
	return gr
}

// apiRequestRenewal records an agency's request to renew or extend a
// permit; another approver decides it (action renew).
func (h *Handler) apiRequestRenewal(w http.ResponseWriter, r *http.Request) {
	var req apiGrantRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	fields := map[string]string{}
	g := grantOf(req, fields)
	if len(fields) > 0 {
		writeError(w, http.StatusBadRequest, apiError{Error: errInvalidRequest, Description: "the body is not a valid request", Fields: fields})
		return
	}
	a, _ := adminFrom(r.Context())
	d, err := h.svc.RequestRenewal(r.Context(), a, mux.Vars(r)["id"], g)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	p, err := h.svc.Permit(r.Context(), a, d.PermitID)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, apiDecisionResponse{Decision: toAPIDecision(d), Permit: h.toAPIPermit(p)})
}

func (h *Handler) apiRegisterSystem(w http.ResponseWriter, r *http.Request) {
	var req apiSystem
	if !decodeJSON(w, r, &req) {
		return
	}
	a, _ := adminFrom(r.Context())
	c, secret, err := h.svc.RegisterSystem(r.Context(), a, mux.Vars(r)["id"], fromAPISystem(req))
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	w.Header().Set("Location", APIPath+"/systems/"+c.ID)
	writeJSON(w, http.StatusCreated, apiSystemResponse{Client: toAPIClient(c), ClientSecret: secret})
}

func (h *Handler) apiSystem(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	c, err := h.svc.Client(r.Context(), a, mux.Vars(r)["client_id"])
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apiSystemResponse{Client: toAPIClient(c)})
}

func (h *Handler) apiChangeSystem(w http.ResponseWriter, r *http.Request) {
	var req apiSystem
	if !decodeJSON(w, r, &req) {
		return
	}
	a, _ := adminFrom(r.Context())
	c, err := h.svc.ChangeSystem(r.Context(), a, mux.Vars(r)["client_id"], fromAPISystem(req))
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apiSystemResponse{Client: toAPIClient(c)})
}

func (h *Handler) apiRotateSecret(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	id := mux.Vars(r)["client_id"]
	secret, err := h.svc.RotateClientSecret(r.Context(), a, id)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apiSecretResponse{ClientID: id, ClientSecret: secret})
}

// apiSetSystemDisabled disables or enables one system; its permit and
// the permit's other systems stay as they are.
func (h *Handler) apiSetSystemDisabled(disabled bool) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		a, _ := adminFrom(r.Context())
		c, err := h.svc.SetSystemDisabled(r.Context(), a, mux.Vars(r)["client_id"], disabled)
		if err != nil {
			h.apiFail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, apiSystemResponse{Client: toAPIClient(c)})
	}
}

// apiSetAdminDisabled disables or enables one administrator account.
func (h *Handler) apiSetAdminDisabled(disabled bool) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		a, _ := adminFrom(r.Context())
		got, err := h.svc.SetAdminDisabled(r.Context(), a, mux.Vars(r)["id"], disabled)
		if err != nil {
			h.apiFail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, apiConfirmEnrolmentResponse{Admin: toAPIAdmin(got)})
	}
}

func (h *Handler) apiAdmins(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	list, err := h.svc.Admins(r.Context(), a)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	out := apiAdminsResponse{Admins: []apiAdmin{}}
	for _, ad := range list {
		out.Admins = append(out.Admins, toAPIAdmin(ad))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) apiCreateAdmin(w http.ResponseWriter, r *http.Request) {
	var req apiAdminRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	a, _ := adminFrom(r.Context())
	created, inv, err := h.svc.CreateAdmin(r.Context(), a, req.Username, req.Name, req.Role, req.AgencyID)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, apiCreateAdminResponse{Admin: toAPIAdmin(created), InvitationToken: inv.Token,
		InvitationPath: inv.Link(""), InvitationExpiresAt: inv.ExpiresAt})
}

func (h *Handler) apiConfirmAdmin(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	got, err := h.svc.ConfirmAdmin(r.Context(), a, mux.Vars(r)["id"])
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apiConfirmEnrolmentResponse{Admin: toAPIAdmin(got)})
}

func (h *Handler) apiTokens(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	list, err := h.svc.Tokens(r.Context(), a, "")
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	out := apiTokensResponse{Tokens: []apiToken{}}
	for _, t := range list {
		out.Tokens = append(out.Tokens, toAPIToken(t))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) apiIssueToken(w http.ResponseWriter, r *http.Request) {
	var req apiTokenRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	if req.ExpiresInDays < 0 || req.ExpiresInDays > 10000 {
		h.apiFail(w, r, &ValidationError{Fields: map[string]string{"expires_in_days": "must be between 1 and 365"}})
		return
	}
	a, _ := adminFrom(r.Context())
	t, secret, err := h.svc.IssueToken(r.Context(), a, req.Name, time.Duration(req.ExpiresInDays)*24*time.Hour)
	var ve *ValidationError
	if errors.As(err, &ve) {
		if msg, ok := ve.Fields["expires_in"]; ok {
			delete(ve.Fields, "expires_in")
			ve.Fields["expires_in_days"] = msg
		}
	}
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, apiIssueTokenResponse{Token: toAPIToken(t), Secret: secret})
}

func (h *Handler) apiRevokeToken(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	if _, err := h.svc.RevokeToken(r.Context(), a, "", mux.Vars(r)["id"]); err != nil {
		h.apiFail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) apiEnrol(w http.ResponseWriter, r *http.Request) {
	var req apiEnrolRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	otpURL, err := h.svc.Enrol(r.Context(), req.Token, req.Password)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apiEnrolResponse{OTPAuthURL: otpURL})
}

func (h *Handler) apiConfirmEnrolment(w http.ResponseWriter, r *http.Request) {
	var req apiConfirmEnrolmentRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	a, err := h.svc.ConfirmEnrolment(r.Context(), req.Token, req.Code)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apiConfirmEnrolmentResponse{Admin: toAPIAdmin(a)})
}

// permitView is a permit with what its pages show.
type permitView struct {
	Permit      storage.Permit
	Application *storage.Application
	Decisions   []storage.Decision
	Systems     []storage.Client
}

func (h *Handler) permitView(r *http.Request, a storage.Admin, id string) (permitView, error) {
	ctx := r.Context()
	p, err := h.svc.Permit(ctx, a, id)
	if err != nil {
		return permitView{}, err
	}
	v := permitView{Permit: p}
	if p.ApplicationID != "" {
		app, err := h.svc.Application(ctx, a, p.ApplicationID)
		if err != nil {
			return permitView{}, err
		}
		v.Application = &app
	}
	if v.Decisions, err = h.svc.Decisions(ctx, a, id); err != nil {
		return permitView{}, err
	}
	if v.Systems, err = h.svc.Clients(ctx, a, id); err != nil {
		return permitView{}, err
	}
	return v, nil
}
