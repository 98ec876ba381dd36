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

	// The first account: no --as, password on standard input.
	cli.fails(t, 2, nil, []string{"create-user", "--username", "boss", "--name", "B", "--role", "officer"}, "no password")
	boss := cli.ok(t, nil, pw+"\n", "create-user", "--username", "boss", "--name", "Somchai the Approver", "--role", "approver")
	if !strings.HasPrefix(boss["otpauth_url"], "otpauth://totp/") || boss["admin_id"] == "" {
		t.Fatalf("create-user printed %v", boss)
	}
	// Later accounts need an approver's authority.
	cli.fails(t, 1, map[string]string{"DOPAID_ADMIN_PASSWORD": pw}, []string{"create-user", "--username", "sneaky", "--name", "S", "--role", "approver"}, "not allowed")
	cli.fails(t, 1, nil, []string{"create-user", "--as", "nobody", "--username", "clerk", "--name", "C", "--role", "officer"}, `--as "nobody": no such administrator`)
	// An approver's new account is an invitation: the approver chooses no
	// password and sees no TOTP secret.
	cli.fails(t, 2, map[string]string{"DOPAID_ADMIN_PASSWORD": pw}, []string{"create-user", "--as", "boss", "--username", "clerk", "--name", "C", "--role", "officer"},
		"chooses their own password")
	cli.fails(t, 1, nil, []string{"create-user", "--as", "boss", "--username", "Clerk!", "--name", "C", "--role", "officer"},
		"invalid input; nothing was changed:", "  - username: must be 3 to 64 characters")
	code, out, stderr := cli.run(t, nil, "", "create-user", "--as", "boss", "--username", "clerk", "--name", "Somsri the Officer", "--role", "officer",
		"--issuer", "https://id.dopa.go.th")
	if code != 0 {
		t.Fatalf("create-user --as boss: exit %d\n%s", code, stderr)
	}
	if strings.Contains(out, "otpauth") || strings.Contains(out, "password") || !strings.Contains(stderr, "works once") {
		t.Errorf("create-user --as boss printed\n%s\n%s", out, stderr)
	}
	clerk := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, found := strings.Cut(line, ": "); found {
			clerk[k] = v
		}
	}
	token, found := strings.CutPrefix(clerk["invitation_url"], "https://id.dopa.go.th/admin/enrol?token=")
	if !found || token == "" || clerk["admin_id"] == "" {
		t.Fatalf("create-user --as boss printed %v", clerk)
	}
	// Not yet enrolled, the account cannot act.
	cli.fails(t, 1, nil, []string{"create-agency", "--as", "clerk", "--name-th", "ก", "--name-en", "A", "--category", "government_department"},
		`--as "clerk": the account's holder has not enrolled yet`)
	// The holder enrols (in the console, here through the service).
	{
		now := time.Now()
		m := cli.open(t, now)
		otpURL, err := m.Admin.Enrol(t.Context(), token, pw)
		if err != nil {
			t.Fatalf("Enrol: %v", err)
		}
		key, err := otp.NewKeyFromURL(otpURL)
		if err != nil {
			t.Fatal(err)
		}
		c, err := totp.GenerateCode(key.Secret(), now)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Admin.ConfirmEnrolment(t.Context(), token, c); err != nil {
			t.Fatalf("ConfirmEnrolment: %v", err)
		}
		m.Close()
	}

	// Agencies.
	cli.fails(t, 1, nil, []string{"create-agency", "--as", "clerk", "--name-th", "บริษัท", "--name-en", "Company", "--category", "private"}, "registration_no: is required")
	ag := cli.ok(t, nil, "", "create-agency", "--as", "clerk", "--name-th", "กรมที่ดิน", "--name-en", "Department of Lands", "--category", "government_department")
	bankFile := writeFile(t, "agency.json", `{"name_th":"ธนาคารตัวอย่าง","name_en":"Example Bank","category":"private","registration_no":"0107536000315",
		"contacts":[{"name":"Khun A","email":"a@bank.example"}]}`)
	cli.ok(t, nil, "", "create-agency", "--as", "clerk", "--file", bankFile)
	cli.fails(t, 1, nil, []string{"create-agency", "--as", "clerk", "--file", writeFile(t, "typo.json", `{"name_th":"x","nmae_en":"y"}`)}, `unknown field "nmae_en"`)

	// The application.
	appFile := writeFile(t, "application.json", `{
		"agency_id": "`+ag["agency_id"]+`",
		"mission": "Land registration", "reason": "Online services", "necessity": "Identify deed holders",
		"purposes": [{"code": "e-land", "description_th": "จดทะเบียน", "description_en": "Registration", "claims": ["pid", "given_name", "family_name"]}],
		"systems": [{"name": "e-Land", "redirect_uris": ["https://eland.dol.go.th/cb"], "auth_method": "client_secret_basic"},
			{"name": "e-Land keys", "redirect_uris": ["https://eland.dol.go.th/cb"], "auth_method": "private_key_jwt", "jwks_uri": "https://eland.dol.go.th/jwks"}],
		"acceptance": {"name": "Director", "position": "Director-General", "terms_version": "2565-1"}
	}`)
	cli.fails(t, 1, nil, []string{"record-application", "--as", "clerk", "--file", writeFile(t, "bad.json", `{"agency_id":"`+ag["agency_id"]+`","purposes":[{"code":"X","claims":["email"]}]}`)},
		"  - mission: is required", "  - purposes[0].claims: unknown claim \"email\"", "  - acceptance.terms_version: is required")
	app := cli.ok(t, nil, "", "record-application", "--as", "clerk", "--file", appFile)
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
	cli.fails(t, 1, nil, []string{"decide", "--as", "clerk", "--permit", permit, "--action", "approve", "--grant", grantFile}, "not allowed for this administrator")
	cli.fails(t, 1, nil, []string{"decide", "--as", "boss", "--permit", permit, "--action", "approve"}, "grant: an approval needs the grant")
	cli.fails(t, 2, nil, []string{"decide", "--as", "boss", "--permit", permit, "--action", "approve", "--effective", "tomorrow"}, "not an RFC 3339 time")
	d := cli.ok(t, nil, "", "decide", "--as", "boss", "--permit", permit, "--action", "approve", "--grant", grantFile)
	if d["state"] != "approved" || d["decision_id"] == "" {
		t.Errorf("decide printed %v", d)
	}

	// A system, its secret shown once, and a new one.
	sysFile := writeFile(t, "system.json", `{"name": "e-Land", "redirect_uris": ["https://eland.dol.go.th/cb"], "auth_method": "client_secret_basic", "network_ranges": ["203.0.113.0/24"]}`)
	cli.fails(t, 1, nil, []string{"register-system", "--as", "boss", "--permit", permit, "--file", writeFile(t, "sys.json", `{"name":"x","redirect_uris":["http://eland.dol.go.th/cb"],"auth_method":"client_secret_basic"}`)},
		"redirect_uris[0]: must use https")
	cli.fails(t, 1, nil, []string{"register-system", "--as", "boss", "--permit", permit, "--file", writeFile(t, "other.json", `{"name":"x","redirect_uris":["https://other.dol.go.th/cb"],"auth_method":"client_secret_basic"}`)},
		"redirect_uris: not among the systems the agency applied for")
	code, stdout, stderr := cli.run(t, nil, "", "register-system", "--as", "boss", "--permit", permit, "--file", sysFile)
	if code != 0 {
		t.Fatalf("register-system: exit %d\n%s", code, stderr)
	}
	sys := map[string]string{}
	for _, line := range strings.Split(stdout, "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok {
			sys[k] = v
		}
	}
	if sys["client_id"] == "" || len(sys["client_secret"]) < 43 || sys["scopes"] != "openid offline_access given_name pid profile" {
		t.Errorf("register-system printed %v", sys)
	}
	if !strings.Contains(stderr, "not shown again") {
		t.Errorf("register-system does not warn that the secret is shown once: %q", stderr)
	}
	rotated := cli.ok(t, nil, "", "rotate-secret", "--as", "boss", "--client", sys["client_id"])

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
	// From a secret to keys published at a jwks_uri; never both.
	const jwksURI = "https://eland.dol.go.th/.well-known/jwks.json"
	uriFile := writeFile(t, "jwks-uri.json", `{"name": "e-Land", "redirect_uris": ["https://eland.dol.go.th/cb"], "auth_method": "private_key_jwt", "jwks_uri": "`+jwksURI+`"}`)
	cli.fails(t, 1, nil, []string{"change-system", "--as", "boss", "--client", sys["client_id"], "--file", writeFile(t, "both.json",
		`{"name": "e-Land", "redirect_uris": ["https://eland.dol.go.th/cb"], "auth_method": "private_key_jwt", "jwks_uri": "`+jwksURI+`", "jwks": {"keys": []}}`)},
		"jwks_uri: give either a JWKS or a jwks_uri, not both")
	cli.ok(t, nil, "", "change-system", "--as", "boss", "--client", sys["client_id"], "--file", uriFile)
	if c, err := m.Store.Client(t.Context(), sys["client_id"]); err != nil || c.JWKSURI != jwksURI || c.SecretHash != "" || c.AuthMethod != storage.AuthMethodPrivateKeyJWT {
		t.Errorf("after change-system to a jwks_uri: %+v, %v", c, err)
	}

	// A suspension with advance notice: scheduled now, applied when due.
	cli.fails(t, 1, nil, []string{"decide", "--as", "boss", "--permit", permit, "--action", "suspend"}, "notice: a written notice is required to suspend a permit (clause 11)")
	when := time.Now().Add(time.Hour).Truncate(time.Second)
	code, stdout, stderr = cli.run(t, nil, "", "decide", "--as", "boss", "--permit", permit, "--action", "suspend",
		"--notice", "หนังสือแจ้งล่วงหน้า 30 วัน", "--effective", when.Format(time.RFC3339))
	if code != 0 || !strings.Contains(stdout, "state: approved") || !strings.Contains(stderr, "scheduled") {
		t.Errorf("scheduled suspend: exit %d\n%s\n%s", code, stdout, stderr)
	}
	_, list, _ := cli.run(t, nil, "", "list-permits")
	if !regexp.MustCompile(app["permit_number"] + `\s+` + permit + `\s+` + ag["agency_id"] + `\s+approved\s`).MatchString(list) {
		t.Errorf("list-permits:\n%s", list)
	}
	later := cli.open(t, when.Add(time.Second))
	if n, err := later.Admin.ApplyDue(t.Context()); n != 1 || err != nil {
		t.Errorf("ApplyDue = %d, %v; want 1", n, err)
	}
	_, list, _ = cli.run(t, nil, "", "list-permits", "--agency", ag["agency_id"])
	if !strings.Contains(list, " suspended ") {
		t.Errorf("list-permits after the suspension fell due:\n%s", list)
	}
	_, agencies, _ := cli.run(t, nil, "", "list-agencies")
	if !strings.Contains(agencies, "Department of Lands") || !strings.Contains(agencies, "Example Bank") {
		t.Errorf("list-agencies:\n%s", agencies)
	}

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
		"system bootstrap_admin: forbidden failure",
		"admin:" + boss["admin_id"] + " invite_admin success",
		"admin:" + clerk["admin_id"] + " confirm_enrolment success",
		"admin:" + clerk["admin_id"] + " create_agency success",
		"admin:" + clerk["admin_id"] + " record_application success",
		"admin:" + clerk["admin_id"] + " approve: forbidden failure",
		"admin:" + boss["admin_id"] + " approve success",
		"admin:" + boss["admin_id"] + " register_system success",
		"admin:" + boss["admin_id"] + " rotate_client_secret success",
		"admin:" + boss["admin_id"] + " suspend scheduled success",
		"system suspend applied success",
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
		if err := ps.CreateAdmin(ctx, a); err != nil {
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
