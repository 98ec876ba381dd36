package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/dopaid/dopaid/admin"
	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
)

// adminCLI runs `dopaid admin` against one SQLite data directory.
type adminCLI struct {
	dataDir, masterKey string
}

func (a adminCLI) run(t *testing.T, env map[string]string, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	all := map[string]string{"DOPAID_MASTER_KEY": a.masterKey, "DOPAID_DATA_DIR": a.dataDir}
	for k, v := range env {
		all[k] = v
	}
	adminStdin = strings.NewReader(stdin)
	t.Cleanup(func() { adminStdin = os.Stdin })
	var out, errOut bytes.Buffer
	code = run(t.Context(), append([]string{"admin"}, args...), &out, &errOut, func(k string) string { return all[k] })
	return code, out.String(), errOut.String()
}

// ok runs the command, fails t unless it succeeds, and returns the
// "key: value" lines of its output.
func (a adminCLI) ok(t *testing.T, env map[string]string, stdin string, args ...string) map[string]string {
	t.Helper()
	code, stdout, stderr := a.run(t, env, stdin, args...)
	if code != 0 {
		t.Fatalf("dopaid admin %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
	}
	out := map[string]string{}
	for _, line := range strings.Split(stdout, "\n") {
		if k, v, found := strings.Cut(line, ": "); found {
			out[k] = v
		}
	}
	return out
}

// fails runs the command and fails t unless it exits with code and says
// every one of want on stderr.
func (a adminCLI) fails(t *testing.T, code int, env map[string]string, args []string, want ...string) {
	t.Helper()
	got, stdout, stderr := a.run(t, env, "", args...)
	if got != code {
		t.Errorf("dopaid admin %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), got, code, stdout, stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("dopaid admin %s: stderr does not say %q:\n%s", strings.Join(args, " "), w, stderr)
		}
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// open returns the store, keys and service the commands used, with clock now.
func (a adminCLI) open(t *testing.T, now time.Time) *Main {
	t.Helper()
	m := NewMain(Config{DataDir: a.dataDir, MasterKey: a.masterKey, LogFormat: "text", LogLevel: "warn"}, &bytes.Buffer{}, &bytes.Buffer{})
	m.Now = func() time.Time { return now }
	t.Cleanup(func() { m.Close() })
	if err := m.openAdmin(t.Context()); err != nil {
		t.Fatal(err)
	}
	return m
}

// withAs returns args (a command and its flags) with --as name.
func withAs(args []string, name string) []string {
	return append([]string{args[0], "--as", name}, args[1:]...)
}

// totpCodes hands out codes of an account's TOTP secret, each of a step
// (the current one or one either side) not handed out before: a code is
// good once.
type totpCodes struct {
	secret string
	used   map[int64]bool
}

func newTOTPCodes(t *testing.T, otpURL string) *totpCodes {
	t.Helper()
	key, err := otp.NewKeyFromURL(otpURL)
	if err != nil {
		t.Fatal(err)
	}
	return &totpCodes{secret: key.Secret(), used: map[int64]bool{}}
}

func (c *totpCodes) next(t *testing.T) string {
	t.Helper()
	cur := time.Now().Unix() / 30
	for _, step := range []int64{cur, cur + 1, cur - 1} {
		if c.used[step] {
			continue
		}
		c.used[step] = true
		code, err := totp.GenerateCode(c.secret, time.Unix(step*30, 0))
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	t.Fatal("no unused TOTP step left")
	return ""
}

func TestAdminCLI(t *testing.T) {
	mk, err := keys.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	cli := adminCLI{dataDir: t.TempDir(), masterKey: mk}
	const pw = "a long enough password"

	// Usage mistakes exit 2 before anything is opened.
	cli.fails(t, 2, nil, nil, "Usage: dopaid admin COMMAND")
	cli.fails(t, 2, nil, []string{"frobnicate"}, `unknown command "frobnicate"`)
	cli.fails(t, 2, nil, []string{"decide", "--as", "x"}, "missing --permit, --action")
	cli.fails(t, 2, nil, []string{"create-user"}, "missing --username, --name, --role")
	if code, _, _ := cli.run(t, nil, "", "help"); code != 0 {
		t.Errorf("dopaid admin help: exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(cli.dataDir, "dopaid.db")); !os.IsNotExist(err) {
		t.Errorf("a usage mistake created the database (%v)", err)
	}

	// Bootstrap, without credentials: the two first approvers, each by its
	// holder (password on standard input, or in the environment).
	cli.fails(t, 2, nil, []string{"create-user", "--username", "boss", "--name", "B", "--role", "officer"}, "no password")
	boss := cli.ok(t, nil, pw+"\n", "create-user", "--username", "boss", "--name", "Somchai the Approver", "--role", "approver")
	if !strings.HasPrefix(boss["otpauth_url"], "otpauth://totp/") || boss["admin_id"] == "" {
		t.Fatalf("create-user printed %v", boss)
	}
	deputy := cli.ok(t, map[string]string{"DOPAID_ADMIN_PASSWORD": pw}, "", "create-user", "--username", "deputy", "--name", "Malee the Approver", "--role", "approver")
	cli.fails(t, 1, map[string]string{"DOPAID_ADMIN_PASSWORD": pw}, []string{"create-user", "--username", "sneaky", "--name", "S", "--role", "approver"}, "not allowed")
	bossCodes, deputyCodes := newTOTPCodes(t, boss["otpauth_url"]), newTOTPCodes(t, deputy["otpauth_url"])

	// Every other command acts only with the account's credentials.
	clerkArgs := []string{"create-user", "--username", "clerk", "--name", "Somsri the Officer", "--role", "officer", "--issuer", "https://id.dopa.go.th"}
	cli.fails(t, 2, nil, []string{"list-agencies"}, "no credentials")
	cli.fails(t, 2, nil, withAs(clerkArgs, "boss"), "give the account's password and TOTP code")
	cli.fails(t, 1, map[string]string{"DOPAID_ADMIN_PASSWORD": pw, "DOPAID_ADMIN_TOTP": "000000"}, withAs(clerkArgs, "boss"), `--as "boss": not accepted`)
	cli.fails(t, 1, map[string]string{"DOPAID_ADMIN_PASSWORD": pw, "DOPAID_ADMIN_TOTP": "123456"}, withAs(clerkArgs, "nobody"), `--as "nobody": not accepted`)
	cli.fails(t, 1, map[string]string{"DOPAID_ADMIN_TOKEN": "dopaid_admin_forged"}, clerkArgs, "DOPAID_ADMIN_TOKEN: not accepted")

	// A token, issued with the password and a code (here from the
	// environment); a token cannot issue another.
	bt := cli.ok(t, map[string]string{"DOPAID_ADMIN_PASSWORD": pw, "DOPAID_ADMIN_TOTP": bossCodes.next(t)}, "", "issue-token", "--as", "boss", "--name", "provisioning")
	bossEnv := map[string]string{"DOPAID_ADMIN_TOKEN": bt["token"]}
	if !strings.HasPrefix(bt["token"], admin.TokenPrefix) || bt["token_id"] == "" {
		t.Fatalf("issue-token printed %v", bt)
	}
	cli.fails(t, 2, bossEnv, []string{"issue-token", "--name", "another"}, "a token cannot issue tokens")
	cli.fails(t, 1, bossEnv, withAs(clerkArgs, "deputy"), "belongs to another account")

	// An approver's new account is an invitation: the approver chooses no
	// password and sees no TOTP secret.
	cli.fails(t, 1, bossEnv, []string{"create-user", "--username", "Clerk!", "--name", "C", "--role", "officer"},
		"invalid input; nothing was changed:", "  - username: must be 3 to 64 characters")
	code, out, stderr := cli.run(t, bossEnv, "", clerkArgs...)
	if code != 0 {
		t.Fatalf("create-user by boss: exit %d\n%s", code, stderr)
	}
	if strings.Contains(out, "otpauth") || strings.Contains(out, "password") || !strings.Contains(stderr, "works once") || !strings.Contains(stderr, "confirm-user") {
		t.Errorf("create-user by boss printed\n%s\n%s", out, stderr)
	}
	clerk := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, found := strings.Cut(line, ": "); found {
			clerk[k] = v
		}
	}
	token, found := strings.CutPrefix(clerk["invitation_url"], "https://id.dopa.go.th/admin/enrol?token=")
	if !found || token == "" || clerk["admin_id"] == "" {
		t.Fatalf("create-user by boss printed %v", clerk)
	}
	// The holder enrols (in the console, here through the service).
	var clerkCodes *totpCodes
	{
		m := cli.open(t, time.Now())
		otpURL, err := m.Admin.Enrol(t.Context(), token, pw)
		if err != nil {
			t.Fatalf("Enrol: %v", err)
		}
		clerkCodes = newTOTPCodes(t, otpURL)
		if _, err := m.Admin.ConfirmEnrolment(t.Context(), token, clerkCodes.next(t)); err != nil {
			t.Fatalf("ConfirmEnrolment: %v", err)
		}
		m.Close()
	}
	// Enrolled, the account still cannot act: another approver than its
	// creator must confirm it (clause 5).
	cli.fails(t, 1, map[string]string{"DOPAID_ADMIN_PASSWORD": pw, "DOPAID_ADMIN_TOTP": clerkCodes.next(t)},
		[]string{"create-agency", "--as", "clerk", "--name-th", "ก", "--name-en", "A", "--category", "government_department"},
		`--as "clerk": the account awaits confirmation`)
	_, users, _ := cli.run(t, bossEnv, "", "list-users")
	if !regexp.MustCompile(`clerk\s+Somsri the Officer\s+officer\s+-\s+pending\s+boss\s+-`).MatchString(users) {
		t.Errorf("list-users:\n%s", users)
	}
	cli.fails(t, 1, bossEnv, []string{"confirm-user", "--username", "clerk"}, "another approver must confirm clerk")
	// The deputy confirms, with password and code on standard input.
	code, out, stderr = cli.run(t, nil, pw+"\n"+deputyCodes.next(t)+"\n", "confirm-user", "--as", "deputy", "--username", "clerk")
	if code != 0 || !strings.Contains(out, "state: active") || !strings.Contains(out, "confirmed_by: deputy") {
		t.Fatalf("confirm-user by the deputy: exit %d\n%s\n%s", code, out, stderr)
	}
	ct := cli.ok(t, map[string]string{"DOPAID_ADMIN_PASSWORD": pw, "DOPAID_ADMIN_TOTP": clerkCodes.next(t)}, "", "issue-token", "--as", "clerk", "--name", "records", "--days", "30")
	clerkEnv := map[string]string{"DOPAID_ADMIN_TOKEN": ct["token"]}

	// Agencies.
	cli.fails(t, 1, clerkEnv, []string{"create-agency", "--name-th", "บริษัท", "--name-en", "Company", "--category", "private"}, "registration_no: is required")
	ag := cli.ok(t, clerkEnv, "", "create-agency", "--as", "clerk", "--name-th", "กรมที่ดิน", "--name-en", "Department of Lands", "--category", "government_department")
	bankFile := writeFile(t, "agency.json", `{"name_th":"ธนาคารตัวอย่าง","name_en":"Example Bank","category":"private","registration_no":"0107536000315",
		"contacts":[{"name":"Khun A","email":"a@bank.example"}]}`)
	cli.ok(t, clerkEnv, "", "create-agency", "--file", bankFile)
	cli.fails(t, 1, clerkEnv, []string{"create-agency", "--file", writeFile(t, "typo.json", `{"name_th":"x","nmae_en":"y"}`)}, `unknown field "nmae_en"`)

	// The application.
	appFile := writeFile(t, "application.json", `{
		"agency_id": "`+ag["agency_id"]+`",
		"mission": "Land registration", "reason": "Online services", "necessity": "Identify deed holders",
		"purposes": [{"code": "e-land", "description_th": "จดทะเบียน", "description_en": "Registration", "claims": ["pid", "given_name", "family_name"]}],
		"systems": [{"name": "e-Land", "redirect_uris": ["https://eland.dol.go.th/cb"], "auth_method": "client_secret_basic"},
			{"name": "e-Land keys", "redirect_uris": ["https://eland.dol.go.th/cb"], "auth_method": "private_key_jwt", "jwks_uri": "https://eland.dol.go.th/jwks"}],
		"acceptance": {"name": "Director", "position": "Director-General", "terms_version": "2565-1"}
	}`)
	cli.fails(t, 1, clerkEnv, []string{"record-application", "--file", writeFile(t, "bad.json", `{"agency_id":"`+ag["agency_id"]+`","purposes":[{"code":"X","claims":["email"]}]}`)},
		"  - mission: is required", "  - purposes[0].claims: unknown claim \"email\"", "  - acceptance.terms_version: is required")
	app := cli.ok(t, clerkEnv, "", "record-application", "--file", appFile)
	if !regexp.MustCompile(`^DOPA-DID-25\d\d-0001$`).MatchString(app["permit_number"]) || app["state"] != "pending" {
		t.Errorf("record-application printed %v", app)
	}
	permit := app["permit_id"]

	// The decision: not by the maker, not by an officer, and with a grant.
	grantFile := writeFile(t, "grant.json", `{
		"purposes": [{"code": "e-land", "claims": ["pid", "given_name"]}],
		"valid_from": "`+time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)+`",
		"valid_until": "`+time.Now().AddDate(1, 0, 0).UTC().Format(time.RFC3339)+`",
		"supervisors": [{"name": "DPO", "position": "Data protection officer", "order_ref": "คำสั่ง 1/2569"}]
	}`)
	cli.fails(t, 1, clerkEnv, []string{"decide", "--permit", permit, "--action", "approve", "--grant", grantFile}, "not allowed for this administrator")
	cli.fails(t, 1, bossEnv, []string{"decide", "--permit", permit, "--action", "approve"}, "grant: an approval needs the grant")
	cli.fails(t, 2, bossEnv, []string{"decide", "--permit", permit, "--action", "approve", "--effective", "tomorrow"}, "not an RFC 3339 time")
	d := cli.ok(t, bossEnv, "", "decide", "--permit", permit, "--action", "approve", "--grant", grantFile)
	if d["state"] != "approved" || d["decision_id"] == "" || d["agency"] != "Department of Lands ("+ag["agency_id"]+")" || !strings.HasSuffix(d["effective_at"], "(UTC+7)") {
		t.Errorf("decide printed %v", d)
	}
	// Supervisors: only the one the permit appoints, of that agency.
	cli.fails(t, 1, bossEnv, []string{"create-user", "--username", "dpo", "--name", "Someone Else", "--role", "supervisor", "--agency", ag["agency_id"]},
		"name: is not a supervisor appointed by a permit of this agency")
	cli.ok(t, bossEnv, "", "create-user", "--username", "dpo", "--name", "DPO", "--role", "supervisor", "--agency", ag["agency_id"])

	// A system, its secret shown once, and a new one. Clause 10: a secret
	// only with network ranges.
	sysFile := writeFile(t, "system.json", `{"name": "e-Land", "redirect_uris": ["https://eland.dol.go.th/cb"], "auth_method": "client_secret_basic", "network_ranges": ["203.0.113.0/24"]}`)
	cli.fails(t, 1, bossEnv, []string{"register-system", "--permit", permit, "--file", writeFile(t, "sys.json", `{"name":"x","redirect_uris":["http://eland.dol.go.th/cb"],"auth_method":"client_secret_basic","network_ranges":["203.0.113.0/24"]}`)},
		"redirect_uris[0]: must use https")
	cli.fails(t, 1, bossEnv, []string{"register-system", "--permit", permit, "--file", writeFile(t, "other.json", `{"name":"x","redirect_uris":["https://other.dol.go.th/cb"],"auth_method":"client_secret_basic","network_ranges":["203.0.113.0/24"]}`)},
		"redirect_uris: not among the systems the agency applied for")
	cli.fails(t, 1, bossEnv, []string{"register-system", "--permit", permit, "--file", writeFile(t, "open.json", `{"name":"x","redirect_uris":["https://eland.dol.go.th/cb"],"auth_method":"client_secret_basic"}`)},
		"network_ranges: a system that authenticates with a client secret must name the network ranges")
	code, stdout, stderr := cli.run(t, bossEnv, "", "register-system", "--permit", permit, "--file", sysFile)
	if code != 0 {
		t.Fatalf("register-system: exit %d\n%s", code, stderr)
	}
	sys := map[string]string{}
	for _, line := range strings.Split(stdout, "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok {
			sys[k] = v
		}
	}
	if sys["system"] != "e-Land" || sys["permit"] != app["permit_number"]+" ("+permit+")" || sys["client_id"] == "" || len(sys["client_secret"]) < 43 || sys["scopes"] != "openid offline_access given_name pid profile" {
		t.Errorf("register-system printed %v", sys)
	}
	if !strings.Contains(stderr, "not shown again") {
		t.Errorf("register-system does not warn that the secret is shown once: %q", stderr)
	}
	rotated := cli.ok(t, bossEnv, "", "rotate-secret", "--client", sys["client_id"])

	m := cli.open(t, time.Now())
	c, err := m.Store.Client(t.Context(), sys["client_id"])
	if err != nil {
		t.Fatal(err)
	}
	if m.Secrets.Verify(sys["client_secret"], c.SecretHash) || !m.Secrets.Verify(rotated["client_secret"], c.SecretHash) {
		t.Error("after rotate-secret the old secret verifies or the new one does not")
	}
	if c.PermitID != permit {
		t.Errorf("client's permit = %q, want %q", c.PermitID, permit)
	}
	// From a secret to keys published at a jwks_uri; never both. Without
	// ranges only by the explicit any_network decision.
	const jwksURI = "https://eland.dol.go.th/.well-known/jwks.json"
	uriFile := writeFile(t, "jwks-uri.json", `{"name": "e-Land", "redirect_uris": ["https://eland.dol.go.th/cb"], "auth_method": "private_key_jwt", "jwks_uri": "`+jwksURI+`", "any_network": true}`)
	cli.fails(t, 1, bossEnv, []string{"change-system", "--client", sys["client_id"], "--file", writeFile(t, "both.json",
		`{"name": "e-Land", "redirect_uris": ["https://eland.dol.go.th/cb"], "auth_method": "private_key_jwt", "jwks_uri": "`+jwksURI+`", "jwks": {"keys": []}, "any_network": true}`)},
		"jwks_uri: give either a JWKS or a jwks_uri, not both")
	cli.fails(t, 1, bossEnv, []string{"change-system", "--client", sys["client_id"], "--file", writeFile(t, "noranges.json",
		`{"name": "e-Land", "redirect_uris": ["https://eland.dol.go.th/cb"], "auth_method": "private_key_jwt", "jwks_uri": "`+jwksURI+`"}`)},
		"network_ranges: name the network ranges")
	cli.ok(t, bossEnv, "", "change-system", "--client", sys["client_id"], "--file", uriFile)
	if c, err := m.Store.Client(t.Context(), sys["client_id"]); err != nil || c.JWKSURI != jwksURI || c.SecretHash != "" || c.AuthMethod != storage.AuthMethodPrivateKeyJWT {
		t.Errorf("after change-system to a jwks_uri: %+v, %v", c, err)
	}
	// Encrypted ID tokens to the key at that jwks_uri (A256GCM unless said).
	cli.fails(t, 1, bossEnv, []string{"change-system", "--client", sys["client_id"], "--file", writeFile(t, "rsa15.json",
		`{"name": "e-Land", "redirect_uris": ["https://eland.dol.go.th/cb"], "auth_method": "private_key_jwt", "jwks_uri": "`+jwksURI+`", "any_network": true, "userinfo_encrypted_response_alg": "RSA1_5"}`)},
		"userinfo_encrypted_response_alg: must be RSA-OAEP-256 or ECDH-ES")
	cli.ok(t, bossEnv, "", "change-system", "--client", sys["client_id"], "--file", writeFile(t, "encrypted.json",
		`{"name": "e-Land", "redirect_uris": ["https://eland.dol.go.th/cb"], "auth_method": "private_key_jwt", "jwks_uri": "`+jwksURI+`", "any_network": true, "id_token_encrypted_response_alg": "ECDH-ES"}`))
	if c, err := m.Store.Client(t.Context(), sys["client_id"]); err != nil || c.IDTokenEncryptedResponseAlg != "ECDH-ES" || c.IDTokenEncryptedResponseEnc != "A256GCM" || c.UserinfoEncryptedResponseAlg != "" {
		t.Errorf("after change-system to encrypted ID tokens: %+v, %v", c, err)
	}
	// The FAPI 2.0 profile and PAR, switched on from the file.
	cli.ok(t, bossEnv, "", "change-system", "--client", sys["client_id"], "--file", writeFile(t, "fapi.json",
		`{"name": "e-Land", "redirect_uris": ["https://eland.dol.go.th/cb"], "auth_method": "private_key_jwt", "jwks_uri": "`+jwksURI+`", "any_network": true, "fapi": true, "require_par": true}`))
	if c, err := m.Store.Client(t.Context(), sys["client_id"]); err != nil || !c.FAPI || !c.RequirePAR {
		t.Errorf("after change-system to the FAPI profile: %+v, %v", c, err)
	}

	// Renewal (clause 5): the clerk records the request, an approver
	// renews; the permit keeps its number and the system its client ID.
	renewFile := writeFile(t, "renew.json", `{
		"purposes": [{"code": "e-land", "claims": ["pid", "given_name"]}],
		"valid_from": "`+time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)+`",
		"valid_until": "`+time.Now().AddDate(3, 0, 0).UTC().Format(time.RFC3339)+`",
		"supervisors": [{"name": "DPO", "position": "Data protection officer", "order_ref": "คำสั่ง 1/2569"}]
	}`)
	cli.fails(t, 1, bossEnv, []string{"decide", "--permit", permit, "--action", "renew"}, "not allowed in the current state")
	rq := cli.ok(t, clerkEnv, "", "request-renewal", "--permit", permit, "--grant", renewFile)
	if rq["permit"] != app["permit_number"]+" ("+permit+")" || rq["requested_until"] != admin.FormatDate("en", time.Now().AddDate(3, 0, 0)) {
		t.Errorf("request-renewal printed %v", rq)
	}
	rn := cli.ok(t, bossEnv, "", "decide", "--permit", permit, "--action", "renew")
	if rn["state"] != "approved" || rn["permit_number"] != app["permit_number"] || !strings.HasSuffix(rn["valid"], admin.FormatDate("en", time.Now().AddDate(3, 0, 0))) {
		t.Errorf("decide renew printed %v", rn)
	}
	if c, err := m.Store.Client(t.Context(), sys["client_id"]); err != nil || c.PermitID != permit {
		t.Errorf("the system after renewal: %+v, %v", c, err)
	}

	// One system is disabled and enabled again, the permit untouched; the
	// output names the system and the permit.
	cli.fails(t, 1, clerkEnv, []string{"disable-system", "--client", sys["client_id"]}, "not allowed")
	off := cli.ok(t, bossEnv, "", "disable-system", "--client", sys["client_id"])
	if off["state"] != "disabled" || off["system"] != "e-Land" || off["permit"] != app["permit_number"]+" ("+permit+")" {
		t.Errorf("disable-system printed %v", off)
	}
	if c, _ := m.Store.Client(t.Context(), sys["client_id"]); !c.Disabled {
		t.Error("disable-system left the client enabled")
	}
	cli.fails(t, 1, bossEnv, []string{"disable-system", "--client", sys["client_id"]}, "disabled already")
	if on := cli.ok(t, bossEnv, "", "enable-system", "--client", sys["client_id"]); on["state"] != "active" {
		t.Errorf("enable-system printed %v", on)
	}
	// An account is disabled (its token stops working) and enabled again.
	dt := cli.ok(t, map[string]string{"DOPAID_ADMIN_PASSWORD": pw, "DOPAID_ADMIN_TOTP": deputyCodes.next(t)}, "", "issue-token", "--as", "deputy", "--name", "spare")
	deputyEnv := map[string]string{"DOPAID_ADMIN_TOKEN": dt["token"]}
	cli.ok(t, deputyEnv, "", "list-agencies")
	cli.fails(t, 1, bossEnv, []string{"disable-user", "--username", "boss"}, "not allowed")
	if u := cli.ok(t, bossEnv, "", "disable-user", "--username", "deputy"); u["state"] != "disabled" || u["name"] != "Malee the Approver" || u["by"] != "boss" {
		t.Errorf("disable-user printed %v", u)
	}
	cli.fails(t, 1, deputyEnv, []string{"list-agencies"}, "DOPAID_ADMIN_TOKEN: not accepted")
	cli.ok(t, bossEnv, "", "enable-user", "--username", "deputy")
	cli.fails(t, 1, deputyEnv, []string{"list-agencies"}, "DOPAID_ADMIN_TOKEN: not accepted")

	// A suspension with advance notice: scheduled now, applied when due.
	cli.fails(t, 1, bossEnv, []string{"decide", "--permit", permit, "--action", "suspend"}, "notice: a written notice is required to suspend a permit (clause 11)")
	when := time.Now().Add(time.Hour).Truncate(time.Second)
	code, stdout, stderr = cli.run(t, bossEnv, "", "decide", "--permit", permit, "--action", "suspend",
		"--notice", "หนังสือแจ้งล่วงหน้า 30 วัน", "--effective", when.Format(time.RFC3339))
	if code != 0 || !strings.Contains(stdout, "state: approved") || !strings.Contains(stderr, "scheduled") {
		t.Errorf("scheduled suspend: exit %d\n%s\n%s", code, stdout, stderr)
	}
	_, list, _ := cli.run(t, clerkEnv, "", "list-permits")
	// Names beside IDs, dates as the console shows them (Bangkok).
	if !regexp.MustCompile(app["permit_number"] + `\s+` + permit + `\s+Department of Lands \(` + ag["agency_id"] + `\)\s+approved\s+` +
		regexp.QuoteMeta(admin.FormatDate("en", time.Now().Add(-time.Minute)))).MatchString(list) {
		t.Errorf("list-permits:\n%s", list)
	}
	later := cli.open(t, when.Add(time.Second))
	if n, err := later.Admin.ApplyDue(t.Context()); n != 1 || err != nil {
		t.Errorf("ApplyDue = %d, %v; want 1", n, err)
	}
	_, list, _ = cli.run(t, clerkEnv, "", "list-permits", "--agency", ag["agency_id"])
	if !strings.Contains(list, " suspended ") {
		t.Errorf("list-permits after the suspension fell due:\n%s", list)
	}
	_, agencies, _ := cli.run(t, clerkEnv, "", "list-agencies")
	if !strings.Contains(agencies, "Department of Lands") || !strings.Contains(agencies, "Example Bank") {
		t.Errorf("list-agencies:\n%s", agencies)
	}

	// Tokens are listed and revoked: the clerk's by an approver (as when
	// someone leaves), the boss's by himself. Revoked, they act no more.
	_, tokens, _ := cli.run(t, bossEnv, "", "list-tokens", "--username", "clerk")
	if !regexp.MustCompile(ct["token_id"]+`\s+records\s+.*\(UTC\+7\).*\(UTC\+7\)\s+live`).MatchString(tokens) || strings.Contains(tokens, ct["token"]) {
		t.Errorf("list-tokens --username clerk:\n%s", tokens)
	}
	cli.fails(t, 1, clerkEnv, []string{"list-tokens", "--username", "boss"}, "not allowed")
	cli.ok(t, bossEnv, "", "revoke-token", "--username", "clerk", "--id", ct["token_id"])
	cli.fails(t, 1, clerkEnv, []string{"list-agencies"}, "DOPAID_ADMIN_TOKEN: not accepted")
	cli.ok(t, bossEnv, "", "revoke-token", "--id", bt["token_id"])
	cli.fails(t, 1, bossEnv, []string{"list-agencies"}, "DOPAID_ADMIN_TOKEN: not accepted")

	// The audit trail names whose authority each action used.
	ps := m.Store.(storage.PlatformStores)
	entries, err := ps.AuditEntries(context.Background(), storage.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, e := range entries {
		seen = append(seen, e.Actor+" "+e.Detail+" "+e.Outcome)
	}
	for _, want := range []string{
		"admin:" + boss["admin_id"] + " bootstrap_admin success",
		"admin:" + deputy["admin_id"] + " bootstrap_admin success",
		"system bootstrap_admin: forbidden failure",
		"admin:" + boss["admin_id"] + " issue_token " + bt["token_id"] + " success",
		"admin:" + boss["admin_id"] + " invite_admin success",
		"admin:" + clerk["admin_id"] + " confirm_enrolment success",
		"admin:" + clerk["admin_id"] + " sign_in: pending_confirmation failure",
		"admin:" + boss["admin_id"] + " confirm_admin admin:" + clerk["admin_id"] + " created_by admin:" + boss["admin_id"] + ": maker_checker failure",
		"admin:" + deputy["admin_id"] + " confirm_admin admin:" + clerk["admin_id"] + " created_by admin:" + boss["admin_id"] + " success",
		"admin:" + clerk["admin_id"] + " create_agency success",
		"admin:" + clerk["admin_id"] + " record_application success",
		"admin:" + clerk["admin_id"] + " approve: forbidden failure",
		"admin:" + boss["admin_id"] + " approve success",
		"admin:" + boss["admin_id"] + " register_system success",
		"admin:" + boss["admin_id"] + " rotate_client_secret success",
		"admin:" + boss["admin_id"] + " change_system any_network success",
		"admin:" + clerk["admin_id"] + " request_renewal success",
		"admin:" + boss["admin_id"] + " renew success",
		"admin:" + boss["admin_id"] + " disable_system success",
		"admin:" + boss["admin_id"] + " enable_system success",
		"admin:" + boss["admin_id"] + " disable_admin admin:" + deputy["admin_id"] + " success",
		"admin:" + boss["admin_id"] + " enable_admin admin:" + deputy["admin_id"] + " success",
		"admin:" + boss["admin_id"] + " suspend scheduled success",
		"system suspend applied success",
		"admin:" + boss["admin_id"] + " revoke_token " + ct["token_id"] + " success",
		"admin:" + clerk["admin_id"] + " sign_in token " + ct["token_id"] + " (revoked_or_expired): auth_failed failure",
	} {
		found := false
		for _, s := range seen {
			found = found || s == want
		}
		if !found {
			t.Errorf("no audit entry %q in:\n%s", want, strings.Join(seen, "\n"))
		}
	}
}

// TestServeAppliesDecisions: a running server applies a scheduled decision
// when it falls due, and its Admin service is wired to the store.
func TestServeAppliesDecisions(t *testing.T) {
	ts := boot(t, "")
	ctx := context.Background()
	if ts.Admin == nil {
		t.Fatal("Main.Admin is nil after Run")
	}
	ps := ts.Store.(storage.PlatformStores)
	for _, a := range []storage.Admin{{ID: "officer-1", Username: "officer1", Role: storage.RoleOfficer}, {ID: "approver-1", Username: "approver1", Role: storage.RoleApprover}} {
		if err := ps.CreateAdmin(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
	}
	officer, _ := ps.Admin(ctx, "officer-1")
	approver, _ := ps.Admin(ctx, "approver-1")
	ag, err := ts.Admin.CreateAgency(ctx, officer, storage.Agency{NameTH: "กรม", NameEN: "Department", Category: storage.CategoryGovernmentDepartment})
	if err != nil {
		t.Fatal(err)
	}
	_, pm, err := ts.Admin.RecordApplication(ctx, officer, storage.Application{AgencyID: ag.ID, Mission: "m", Reason: "r", Necessity: "n",
		Purposes:   []storage.Purpose{{Code: "login", DescriptionTH: "เข้าสู่ระบบ", DescriptionEN: "Sign in", Claims: []string{"ial"}}},
		Acceptance: storage.Acceptance{Name: "A", Position: "B", At: time.Now(), TermsVersion: "1"}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	_, _, err = ts.Admin.Decide(ctx, approver, pm.ID, approval(now.Add(time.Second), now))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := ps.Permit(ctx, pm.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State == storage.PermitApproved {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scheduled approval was not applied within 10 s (permit %s)", got.State)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// approval approves the purpose "login" with effect at at.
func approval(at, now time.Time) admin.DecisionRequest {
	return admin.DecisionRequest{Action: storage.DecisionApprove, EffectiveAt: at, Grant: &admin.Grant{
		Purposes:  []storage.Purpose{{Code: "login", Claims: []string{"ial"}}},
		ValidFrom: now, ValidUntil: now.AddDate(1, 0, 0),
		Supervisors: []storage.Supervisor{{Name: "Supervisor", Position: "DPO", OrderRef: "order 1/2569"}},
	}}
}
