package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/dopaid/dopaid/op"
)

// The bench's client is a system registered, like any agency's, through
// the administrators' JSON API: an agency, its application (recorded by
// one approver, the maker), the permit approved by another (the checker),
// and the system registered under it by the checker, who gets its client
// secret once. The names below find them again on the next run.
const (
	benchAgencyNameEN = "dopaid-bench"
	benchAgencyNameTH = "เครื่องมือวัดประสิทธิภาพ dopaid-bench"
	benchSystemName   = "dopaid-bench load generator"
	// benchTermsVersion is the terms the bench's "agency" accepts.
	benchTermsVersion = "dopaid-bench"
)

// adminAPIPath is where the server serves the administrators' JSON API
// (admin.APIPath; the bench does not link the admin package).
const adminAPIPath = "/admin/api/v1"

// adminCredential is an administrator account the bench signs in with:
// a file of "key: value" lines holding username, password and otpauth_url
// (the lines `dopaid admin create-user` prints, plus the password). Other
// keys are ignored. Nothing of it is ever printed.
type adminCredential struct {
	flag, file string // where it came from, for errors
	username   string
	password   string
	totpSecret string
}

func (c adminCredential) String() string {
	return fmt.Sprintf("administrator %q (%s %s)", c.username, c.flag, c.file)
}

// readAdminCredential reads an administrator's credential file.
func readAdminCredential(flagName, path string) (adminCredential, error) {
	c := adminCredential{flag: flagName, file: path}
	data, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("%s: %w", flagName, err)
	}
	var otpURL string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "username":
			c.username = v
		case "password":
			c.password = v
		case "otpauth_url":
			otpURL = v
		}
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"username", c.username}, {"password", c.password}, {"otpauth_url", otpURL}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("%s %s: no %s line (want \"username: …\", \"password: …\" and \"otpauth_url: otpauth://…\", as `dopaid admin create-user` prints them plus the password)",
			flagName, path, strings.Join(missing, ", "))
	}
	key, err := otp.NewKeyFromURL(otpURL)
	if err != nil || key.Type() != "totp" || key.Secret() == "" {
		return c, fmt.Errorf("%s %s: otpauth_url is not an otpauth://totp/ URL with a secret", flagName, path)
	}
	c.totpSecret = key.Secret()
	return c, nil
}

// adminSession is a signed-in administrator's session of the JSON API.
type adminSession struct {
	b     *bench
	cred  adminCredential
	token string
}

// apiErrorBody is the admin API's error object.
type apiErrorBody struct {
	Error       string            `json:"error"`
	Description string            `json:"error_description"`
	Fields      map[string]string `json:"fields"`
}

// adminSignIn opens an API session with the account's password and a
// TOTP code. A code is good for one sign-in: if the current step's was
// spent (a run a moment ago), the next step's is tried, which the server
// also accepts.
func (b *bench) adminSignIn(ctx context.Context, cred adminCredential) (*adminSession, error) {
	cur := time.Now().Unix() / totpPeriod
	var last error
	for _, step := range []int64{cur, cur + 1} {
		code, err := totp.GenerateCodeCustom(cred.totpSecret, time.Unix(step*totpPeriod, 0), totpOpts)
		if err != nil {
			return nil, fmt.Errorf("%s: TOTP code: %v", cred, err)
		}
		var out struct {
			Token string `json:"token"`
		}
		s := &adminSession{b: b, cred: cred}
		status, err := s.call(ctx, http.MethodPost, "/session", map[string]string{"username": cred.username, "password": cred.password, "totp": code}, &out)
		if err == nil && out.Token != "" {
			s.token = out.Token
			return s, nil
		}
		if err == nil {
			return nil, fmt.Errorf("%s: the admin API's sign-in answer holds no token", cred)
		}
		last = err
		if status != http.StatusUnauthorized {
			break
		}
	}
	return nil, fmt.Errorf("%s: the admin API refused the sign-in: %w\nhint: check the username, password and otpauth_url in %s; the account must be an approver. "+
		"A TOTP code is good once, so a third run within a minute may be refused too, and five refusals lock the account for 15 minutes", cred, last, cred.file)
}

// signOut ends the session; the bench needs it only for its setup.
func (s *adminSession) signOut(ctx context.Context) {
	if s != nil && s.token != "" {
		_, _ = s.call(ctx, http.MethodDelete, "/session", nil, nil)
	}
}

// call sends one request to the admin API with a JSON body (if in is not
// nil) and decodes a 2xx answer into out (if not nil). Any other answer is
// an error naming the API's error code, description and fields, which
// never hold a secret.
func (s *adminSession) call(ctx context.Context, method, path string, in, out any) (int, error) {
	var body io.Reader
	ctype := ""
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body, ctype = bytes.NewReader(data), "application/json"
	}
	prepare := func(r *http.Request) {
		r.Header.Set("Accept", "application/json")
		if s.token != "" {
			r.Header.Set("Authorization", "Bearer "+s.token)
		}
	}
	step := "admin API " + method + " " + path
	u := s.b.issuer + adminAPIPath + path
	resp, data, _, err := s.b.sendBody(ctx, s.b.api, step, method, u, body, ctype, prepare)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode/100 != 2 {
		var e apiErrorBody
		_ = json.Unmarshal(data, &e)
		msg := fmt.Sprintf("%s: status %d", step, resp.StatusCode)
		if e.Error != "" {
			msg += " " + e.Error
		}
		if e.Description != "" {
			msg += ": " + e.Description
		}
		if len(e.Fields) > 0 {
			var fs []string
			for k, v := range e.Fields {
				fs = append(fs, k+": "+v)
			}
			sort.Strings(fs)
			msg += " (" + strings.Join(fs, "; ") + ")"
		}
		return resp.StatusCode, errors.New(redact(msg))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s: malformed JSON answer: %v", step, err)
		}
	}
	return resp.StatusCode, nil
}

// The parts of the admin API's answers the bench reads.
type (
	apiPurposeBody struct {
		Code          string   `json:"code"`
		DescriptionTH string   `json:"description_th"`
		DescriptionEN string   `json:"description_en"`
		Claims        []string `json:"claims"`
	}
	apiSystemBody struct {
		Name          string   `json:"name"`
		RedirectURIs  []string `json:"redirect_uris"`
		AuthMethod    string   `json:"auth_method"`
		NetworkRanges []string `json:"network_ranges,omitempty"`
		SigningAlg    string   `json:"signing_alg,omitempty"`
	}
	apiPermitBody struct {
		ID       string           `json:"id"`
		State    string           `json:"state"`
		Active   bool             `json:"active"`
		Purposes []apiPurposeBody `json:"purposes"`
	}
	apiClientBody struct {
		ClientID      string   `json:"client_id"`
		Name          string   `json:"name"`
		RedirectURIs  []string `json:"redirect_uris"`
		AuthMethod    string   `json:"auth_method"`
		NetworkRanges []string `json:"network_ranges"`
		SigningAlg    string   `json:"signing_alg"`
		Disabled      bool     `json:"disabled"`
	}
)

// benchSystem is the system the bench registers: a confidential client
// whose secret works only from the bench's network ranges (clause 10).
func (b *bench) benchSystem() apiSystemBody {
	return apiSystemBody{Name: benchSystemName, RedirectURIs: []string{benchRedirectURI}, AuthMethod: "client_secret_basic",
		NetworkRanges: b.cfg.ClientRanges, SigningAlg: b.cfg.Alg}
}

// register provisions the bench's client through the admin API and keeps
// its ID and secret: the agency, permit and system of an earlier run are
// reused (the system's secret rotated, its settings changed if they
// differ); whatever is missing is created, with maker-checker approval.
func (b *bench) register(ctx context.Context) (err error) {
	checker, err := b.adminSignIn(ctx, b.checker)
	if err != nil {
		return err
	}
	defer checker.signOut(context.WithoutCancel(ctx))

	agencyID, permitID, err := b.findPermit(ctx, checker)
	if err != nil {
		return err
	}
	if permitID == "" {
		maker, err := b.adminSignIn(ctx, b.maker)
		if err != nil {
			return err
		}
		defer maker.signOut(context.WithoutCancel(ctx))
		if permitID, err = b.applyForPermit(ctx, maker, checker, agencyID); err != nil {
			return err
		}
	}

	var pv struct {
		Systems []apiClientBody `json:"systems"`
	}
	if _, err := checker.call(ctx, http.MethodGet, "/permits/"+url.PathEscape(permitID), nil, &pv); err != nil {
		return err
	}
	want := b.benchSystem()
	for _, c := range pv.Systems {
		if c.Name != benchSystemName || c.Disabled || c.AuthMethod != want.AuthMethod {
			continue
		}
		if !slices.Equal(c.RedirectURIs, want.RedirectURIs) || c.SigningAlg != want.SigningAlg || !sameSet(c.NetworkRanges, want.NetworkRanges) {
			if _, err := checker.call(ctx, http.MethodPut, "/systems/"+url.PathEscape(c.ClientID), want, nil); err != nil {
				return fmt.Errorf("change the bench's system: %w", err)
			}
		}
		var rot struct {
			ClientSecret string `json:"client_secret"`
		}
		if _, err := checker.call(ctx, http.MethodPost, "/systems/"+url.PathEscape(c.ClientID)+"/secret", nil, &rot); err != nil {
			return fmt.Errorf("rotate the bench system's secret: %w", err)
		}
		if rot.ClientSecret == "" {
			return errors.New("the admin API's rotation answer holds no client secret")
		}
		b.clientID, b.secret = c.ClientID, rot.ClientSecret
		// The provider caches clients for up to op.DefaultClientCacheTTL:
		// wait until any replica has forgotten the old secret.
		select {
		case <-time.After(op.DefaultClientCacheTTL + 100*time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	}
	var reg struct {
		Client       apiClientBody `json:"client"`
		ClientSecret string        `json:"client_secret"`
	}
	if _, err := checker.call(ctx, http.MethodPost, "/permits/"+url.PathEscape(permitID)+"/systems", want, &reg); err != nil {
		return fmt.Errorf("register the bench's system: %w", err)
	}
	if reg.Client.ClientID == "" || reg.ClientSecret == "" {
		return errors.New("the admin API's registration answer holds no client ID or secret")
	}
	b.clientID, b.secret = reg.Client.ClientID, reg.ClientSecret
	return nil
}

// findPermit finds the bench's agency and an active permit of it that
// grants the bench's purpose and whose application lists the bench's
// system; either is "" if there is none.
func (b *bench) findPermit(ctx context.Context, s *adminSession) (agencyID, permitID string, err error) {
	var ags struct {
		Agencies []struct {
			ID     string `json:"id"`
			NameEN string `json:"name_en"`
		} `json:"agencies"`
	}
	if _, err := s.call(ctx, http.MethodGet, "/agencies", nil, &ags); err != nil {
		return "", "", err
	}
	for _, a := range ags.Agencies {
		if a.NameEN != benchAgencyNameEN {
			continue
		}
		agencyID = a.ID
		var av struct {
			Permits []apiPermitBody `json:"permits"`
		}
		if _, err := s.call(ctx, http.MethodGet, "/agencies/"+url.PathEscape(a.ID), nil, &av); err != nil {
			return "", "", err
		}
		for _, p := range av.Permits {
			if !p.Active || !grantsBenchPurpose(p.Purposes) {
				continue
			}
			var pv struct {
				Application *struct {
					Systems []apiSystemBody `json:"systems"`
				} `json:"application"`
			}
			if _, err := s.call(ctx, http.MethodGet, "/permits/"+url.PathEscape(p.ID), nil, &pv); err != nil {
				return "", "", err
			}
			if pv.Application != nil && slices.ContainsFunc(pv.Application.Systems, func(sys apiSystemBody) bool {
				return slices.Contains(sys.RedirectURIs, benchRedirectURI) && (sys.AuthMethod == "" || sys.AuthMethod == "client_secret_basic")
			}) {
				return agencyID, p.ID, nil
			}
		}
	}
	return agencyID, "", nil
}

func grantsBenchPurpose(ps []apiPurposeBody) bool {
	return slices.ContainsFunc(ps, func(p apiPurposeBody) bool { return p.Code == benchPurpose && slices.Contains(p.Claims, "ial") })
}

// applyForPermit records, as the maker, the bench agency (if agencyID is
// "") and its application, and has the checker approve it: one purpose
// that releases one claim (ial), which citizens consent to once.
func (b *bench) applyForPermit(ctx context.Context, maker, checker *adminSession, agencyID string) (string, error) {
	if agencyID == "" {
		var ag struct {
			ID string `json:"id"`
		}
		if _, err := maker.call(ctx, http.MethodPost, "/agencies", map[string]any{
			"name_th": benchAgencyNameTH, "name_en": benchAgencyNameEN, "category": "government_department",
		}, &ag); err != nil {
			return "", fmt.Errorf("create the bench agency: %w", err)
		}
		agencyID = ag.ID
	}
	var app struct {
		Permit apiPermitBody `json:"permit"`
	}
	sys := b.benchSystem()
	sys.NetworkRanges, sys.SigningAlg = nil, ""
	if _, err := maker.call(ctx, http.MethodPost, "/applications", map[string]any{
		"agency_id": agencyID,
		"mission":   "Measure the provider's throughput",
		"reason":    "Load testing by the operator",
		"necessity": "Sign-ins must be measured as citizens make them",
		"purposes": []apiPurposeBody{{Code: benchPurpose, DescriptionTH: "วัดประสิทธิภาพ", DescriptionEN: "Load testing",
			Claims: []string{"ial"}}},
		"systems":    []apiSystemBody{sys},
		"acceptance": map[string]string{"name": "dopaid-bench", "position": "operator", "terms_version": benchTermsVersion},
	}, &app); err != nil {
		return "", fmt.Errorf("record the bench's application: %w", err)
	}
	now := time.Now().UTC()
	if _, err := checker.call(ctx, http.MethodPost, "/permits/"+url.PathEscape(app.Permit.ID)+"/decisions", map[string]any{
		"action": "approve",
		"notice": "Approved for load testing by dopaid-bench",
		"grant": map[string]any{
			"purposes":    []map[string]any{{"code": benchPurpose, "claims": []string{"ial"}}},
			"valid_from":  now.Add(-time.Minute).Format(time.RFC3339),
			"valid_until": now.AddDate(1, 0, 0).Format(time.RFC3339),
			"supervisors": []map[string]string{{"name": "dopaid-bench", "position": "operator", "order_ref": "dopaid-bench"}},
		},
	}, nil); err != nil {
		return "", fmt.Errorf("approve the bench's permit (as the checker): %w", err)
	}
	return app.Permit.ID, nil
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
