package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dopaid/dopaid/admin"
	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
)

const adminUsage = `Usage: dopaid admin COMMAND [flags]

The DOPA administrator's commands, for scripting. They run with direct
access to the database, yet act as an administrator account only with that
account's credentials, and the audit trail records that account:

  - an API token issued to the account (DOPAID_ADMIN_TOKEN; issue one with
    'issue-token' or in the console), or
  - --as USERNAME with its password and a current TOTP code: from
    DOPAID_ADMIN_PASSWORD and DOPAID_ADMIN_TOTP, or else the first two lines
    of standard input (password, then code). A code is good once.

The one exception is bootstrap: 'create-user' without credentials creates
one of the first two approvers of an empty store.

  create-user --username U --name N --role R [--agency ID] [--issuer URL]
        create an administrator account (officer, approver, auditor, or
        supervisor of --agency, named as a permit of that agency appoints
        them). Without credentials (bootstrap): one of the two first
        approvers, each run by its own holder; its password is read from
        DOPAID_ADMIN_PASSWORD or the first line of standard input, and the
        otpauth:// URL that enrols its TOTP secret is printed (shown once).
        With an approver's credentials: an invitation. The command prints a
        one-time link, under --issuer (DOPAID_ISSUER) or as a path, good for
        72 hours, with which the new administrator sets their own password
        and authenticator; the approver learns neither. The account acts
        only once an approver other than its creator confirms it.
  list-users
        list the accounts with their state (invited, pending, active,
        disabled) and who created and confirmed them
  confirm-user --username U
        confirm an enrolled account (an approver other than its creator)
  issue-token --name N [--days D]
        issue an API token to the account (password and code only; default
        90 days, at most 365); printed once
  list-tokens [--username U]
  revoke-token --id ID [--username U]
        revoke a token at once (one's own; an approver: anyone's)
  create-agency (--file agency.json | --name-th T --name-en E --category C [--registration-no N])
  record-application --file application.json
        record an agency's application; opens a pending permit
  decide --permit ID --action A [--notice TEXT] [--effective RFC3339] [--grant grant.json]
        approve, reject, suspend, reinstate, revoke or renew (a recorded
        renewal request, by another approver) a permit; a decision
        effective later is applied by a running server when it falls due
  request-renewal --permit ID --grant grant.json
        record an agency's request to renew or extend an approved permit
        (clause 5): the grant asked for, ending after the current one.
        Another approver decides it: decide --permit ID --action renew. The
        permit keeps its number and systems; consents carry over for the
        purposes that do not widen
  register-system --permit ID --file system.json
        register a system (OAuth client); prints client_id and, once, the
        secret. A system with a client secret names its network_ranges; a
        private_key_jwt system without them needs "any_network": true
  change-system --client ID --file system.json
  rotate-secret --client ID
        give a system a new client secret (printed once)
  disable-system --client ID
  enable-system --client ID
        disable one system (refused at every endpoint, its tokens revoked)
        or enable it again; the permit and its other systems are untouched
  disable-user --username U
  enable-user --username U
        disable another administrator account (it cannot sign in; its
        sessions and API tokens end at once) or enable it again (approver)
  list-agencies
  list-permits [--agency ID]

The JSON files are the request bodies of the admin API (see its OpenAPI
document): snake_case fields, times in RFC 3339.

Every command also takes the database and master key flags of 'dopaid
migrate' and 'dopaid serve' (--data-dir, --database, --master-key-file).
`

// adminStdin is where create-user reads a password; tests replace it.
var adminStdin io.Reader = os.Stdin

func cmdAdmin(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, adminUsage)
		if len(args) == 0 {
			return usageError{errors.New("admin: want a command")}
		}
		return flag.ErrHelp
	}
	sub, args := args[0], args[1:]
	c := &adminCmd{stdout: stdout, stderr: stderr, env: env}
	c.fs = flag.NewFlagSet("dopaid admin "+sub, flag.ContinueOnError)
	c.cfg.bindFlags(c.fs, env, false)
	c.fs.StringVar(&c.as, "as", "", "username of the administrator whose authority the action uses (with their password and TOTP code)")
	var run func(context.Context) error
	switch sub {
	case "create-user":
		run = c.createUser
	case "create-agency":
		run = c.createAgency
	case "record-application":
		run = c.recordApplication
	case "decide":
		run = c.decide
	case "request-renewal":
		run = c.requestRenewal
	case "register-system":
		run = c.registerSystem
	case "change-system":
		run = c.changeSystem
	case "rotate-secret":
		run = c.rotateSecret
	case "disable-system", "enable-system":
		run = c.setSystemDisabled(sub == "disable-system")
	case "disable-user", "enable-user":
		run = c.setUserDisabled(sub == "disable-user")
	case "list-agencies":
		run = c.listAgencies
	case "list-permits":
		run = c.listPermits
	case "list-users":
		run = c.listUsers
	case "confirm-user":
		run = c.confirmUser
	case "issue-token":
		run = c.issueToken
	case "list-tokens":
		run = c.listTokens
	case "revoke-token":
		run = c.revokeToken
	default:
		return usageError{fmt.Errorf("admin: unknown command %q (see 'dopaid admin help')", sub)}
	}
	c.bind(sub)
	if err := parse(c.fs, args, stderr); err != nil {
		return err
	}
	if err := c.cfg.Validate(false, true); err != nil {
		return usageError{fmt.Errorf("invalid configuration:\n%w", indent(err))}
	}
	if err := c.check(sub); err != nil {
		return usageError{err}
	}
	c.m = NewMain(c.cfg, stdout, stderr)
	defer c.m.Close()
	if err := c.m.openAdmin(ctx); err != nil {
		return err
	}
	return describe(run(ctx))
}

// adminCmd is one `dopaid admin` command: its flags and the opened server.
type adminCmd struct {
	stdout, stderr io.Writer
	env            func(string) string
	fs             *flag.FlagSet
	cfg            Config
	m              *Main

	as, file, permit, client, agency string
	// create-user
	username, name, role, issuer string
	// create-agency
	nameTH, nameEN, category, registrationNo string
	// decide
	action, notice, effective, grant string
	// tokens
	tokenName, tokenID string
	days               int
	// viaToken: the acting account was authenticated by an API token.
	viaToken bool
}

// bind registers the flags of one command.
func (c *adminCmd) bind(sub string) {
	fs := c.fs
	switch sub {
	case "create-user":
		fs.StringVar(&c.username, "username", "", "the new account's username")
		fs.StringVar(&c.name, "name", "", "the person's name")
		fs.StringVar(&c.role, "role", "", "officer, approver, auditor or supervisor")
		fs.StringVar(&c.agency, "agency", "", "the agency a supervisor belongs to")
		fs.StringVar(&c.issuer, "issuer", c.env("DOPAID_ISSUER"), "the provider's issuer URL, to print the invitation link under (DOPAID_ISSUER)")
	case "create-agency":
		fs.StringVar(&c.file, "file", "", "agency JSON file")
		fs.StringVar(&c.nameTH, "name-th", "", "name in Thai")
		fs.StringVar(&c.nameEN, "name-en", "", "name in English")
		fs.StringVar(&c.category, "category", "", strings.Join(storage.Categories, ", "))
		fs.StringVar(&c.registrationNo, "registration-no", "", "juristic person registration number (private agencies)")
	case "record-application":
		fs.StringVar(&c.file, "file", "", "application JSON file")
	case "decide":
		fs.StringVar(&c.permit, "permit", "", "permit ID")
		fs.StringVar(&c.action, "action", "", strings.Join(admin.Actions, ", "))
		fs.StringVar(&c.notice, "notice", "", "the written notice or reason (required to reject, suspend or revoke)")
		fs.StringVar(&c.effective, "effective", "", "when the decision takes effect (RFC 3339); default now")
		fs.StringVar(&c.grant, "grant", "", "grant JSON file (approve only)")
	case "request-renewal":
		fs.StringVar(&c.permit, "permit", "", "permit ID")
		fs.StringVar(&c.grant, "grant", "", "grant JSON file: purposes, valid_from, valid_until, conditions, supervisors")
	case "register-system":
		fs.StringVar(&c.permit, "permit", "", "permit ID")
		fs.StringVar(&c.file, "file", "", "system JSON file")
	case "change-system":
		fs.StringVar(&c.client, "client", "", "client ID of the system")
		fs.StringVar(&c.file, "file", "", "system JSON file")
	case "rotate-secret", "disable-system", "enable-system":
		fs.StringVar(&c.client, "client", "", "client ID of the system")
	case "disable-user", "enable-user":
		fs.StringVar(&c.username, "username", "", "the account to disable or enable")
	case "list-permits":
		fs.StringVar(&c.agency, "agency", "", "only this agency's permits")
	case "confirm-user":
		fs.StringVar(&c.username, "username", "", "the account to confirm")
	case "issue-token":
		fs.StringVar(&c.tokenName, "name", "", "what the token is for")
		fs.IntVar(&c.days, "days", 90, "how many days the token is good for (at most 365)")
	case "list-tokens":
		fs.StringVar(&c.username, "username", "", "another account's tokens (approvers)")
	case "revoke-token":
		fs.StringVar(&c.tokenID, "id", "", "the token's ID")
		fs.StringVar(&c.username, "username", "", "the account the token belongs to, if not one's own (approvers)")
	}
}

// check reports missing flags before anything is opened.
func (c *adminCmd) check(sub string) error {
	var missing []string
	need := func(v, name string) {
		if v == "" {
			missing = append(missing, "--"+name)
		}
	}
	switch sub {
	case "create-user":
		need(c.username, "username")
		need(c.name, "name")
		need(c.role, "role")
	case "create-agency":
		if c.file == "" {
			need(c.nameTH, "name-th")
			need(c.nameEN, "name-en")
			need(c.category, "category")
		} else if c.nameTH != "" || c.nameEN != "" || c.category != "" || c.registrationNo != "" {
			return errors.New("create-agency: give either --file or the name and category flags, not both")
		}
	case "record-application":
		need(c.file, "file")
	case "decide":
		need(c.permit, "permit")
		need(c.action, "action")
	case "request-renewal":
		need(c.permit, "permit")
		need(c.grant, "grant")
	case "register-system":
		need(c.permit, "permit")
		need(c.file, "file")
	case "change-system":
		need(c.client, "client")
		need(c.file, "file")
	case "rotate-secret", "disable-system", "enable-system":
		need(c.client, "client")
	case "confirm-user", "disable-user", "enable-user":
		need(c.username, "username")
	case "issue-token":
		need(c.tokenName, "name")
	case "revoke-token":
		need(c.tokenID, "id")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: missing %s", sub, strings.Join(missing, ", "))
	}
	return nil
}

// openAdmin opens what the admin commands need: the store (migrated), the
// master key and the service. Signing keys are not needed.
func (m *Main) openAdmin(ctx context.Context) error {
	if err := m.openRegistry(ctx); err != nil {
		return err
	}
	m.Secrets = keys.NewSecretHasher(m.Envelope.DeriveKey(purposeClientSecret))
	s, err := m.newAdminService()
	if err != nil {
		return err
	}
	m.Admin = s
	return nil
}

// newAdminService builds the administrators' service on the open store
// with keys derived exactly as the provider derives them, so that the
// secrets it hashes verify at the token endpoint and the subs it shows
// supervisors are the ones their systems received.
func (m *Main) newAdminService() (*admin.Service, error) {
	return admin.NewService(admin.ServiceConfig{
		Store:           m.Store,
		Secrets:         m.Secrets,
		Envelope:        m.Envelope,
		PairwiseKey:     m.Envelope.DeriveKey(purposePairwise),
		Notify:          m.notifyPermit,
		DevLoopbackHTTP: m.Config.Dev,
		Logger:          m.Logger,
		Now:             m.Now,
	})
}

// applyDecisions applies scheduled permit decisions as they fall due.
// Every replica runs it; the store lets one apply each decision.
func (m *Main) applyDecisions(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := m.Admin.ApplyDue(ctx)
			if err != nil && ctx.Err() == nil {
				m.Logger.Error("apply scheduled permit decisions", "err", err)
			}
			if n > 0 {
				m.Logger.Info("applied scheduled permit decisions", "count", n)
			}
		}
	}
}

// credentialed reports whether the command was given credentials: a
// token, or --as.
func (c *adminCmd) credentialed() bool { return c.env("DOPAID_ADMIN_TOKEN") != "" || c.as != "" }

// actor authenticates the acting administrator: by the API token in
// DOPAID_ADMIN_TOKEN (whose account --as must name, if given), or by --as
// with the account's password and TOTP code. Without them the command
// acts as nobody.
func (c *adminCmd) actor(ctx context.Context) (storage.Admin, error) {
	if tok := c.env("DOPAID_ADMIN_TOKEN"); tok != "" {
		a, err := c.m.Admin.AuthenticateToken(ctx, strings.TrimSpace(tok))
		if err != nil {
			return storage.Admin{}, c.authError("DOPAID_ADMIN_TOKEN", err)
		}
		if c.as != "" && !strings.EqualFold(c.as, a.Username) {
			return storage.Admin{}, fmt.Errorf("--as %q: DOPAID_ADMIN_TOKEN belongs to another account", c.as)
		}
		c.viaToken = true
		return a, nil
	}
	if c.as == "" {
		return storage.Admin{}, usageError{errors.New("no credentials: set DOPAID_ADMIN_TOKEN to an API token, or give --as USERNAME with the account's password and TOTP code (see 'dopaid admin help')")}
	}
	pw, code := c.env("DOPAID_ADMIN_PASSWORD"), c.env("DOPAID_ADMIN_TOTP")
	if pw == "" || code == "" {
		rd := bufio.NewReader(adminStdin)
		line := func() string {
			l, _ := rd.ReadString('\n')
			return strings.TrimRight(l, "\r\n")
		}
		if pw == "" {
			pw = line()
		}
		if code == "" {
			code = line()
		}
	}
	if pw == "" || code == "" {
		return storage.Admin{}, usageError{fmt.Errorf("--as %q: give the account's password and TOTP code (DOPAID_ADMIN_PASSWORD and DOPAID_ADMIN_TOTP, or two lines on standard input)", c.as)}
	}
	a, err := c.m.Admin.Authenticate(ctx, c.as, pw, strings.TrimSpace(code))
	if err != nil {
		return storage.Admin{}, c.authError("--as "+strconv.Quote(c.as), err)
	}
	return a, nil
}

// authError says why credentials were refused, as far as it may.
func (c *adminCmd) authError(what string, err error) error {
	switch {
	case errors.Is(err, admin.ErrPending):
		return fmt.Errorf("%s: the account awaits confirmation by an approver other than the one who created it", what)
	case errors.Is(err, admin.ErrAuthFailed):
		return fmt.Errorf("%s: not accepted (wrong or expired credentials, a code used already, or an account that is disabled or not enrolled)", what)
	}
	return err
}

func (c *adminCmd) createUser(ctx context.Context) error {
	if !c.credentialed() {
		// The first account: the operator is its holder.
		pw, err := c.password()
		if err != nil {
			return err
		}
		a, otpURL, err := c.m.Admin.Bootstrap(ctx, c.username, c.name, c.role, pw)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "admin_id: %s\nusername: %s\nrole: %s\notpauth_url: %s\n", a.ID, a.Username, a.Role, otpURL)
		fmt.Fprintln(c.stderr, "Enrol the otpauth URL in an authenticator app now: it is not shown again.")
		return nil
	}
	by, err := c.actor(ctx)
	if err != nil {
		return err
	}
	a, inv, err := c.m.Admin.CreateAdmin(ctx, by, c.username, c.name, c.role, c.agency)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "admin_id: %s\nusername: %s\nrole: %s\ninvitation_url: %s\ninvitation_expires_at: %s\n",
		a.ID, a.Username, a.Role, inv.Link(c.issuer), cliTime(inv.ExpiresAt))
	fmt.Fprintln(c.stderr, "Hand the invitation link to the new administrator: they set their own password and authenticator there. "+
		"It works once, expires, and is not shown again. Once they have enrolled, an approver other than you must confirm the account "+
		"('dopaid admin confirm-user') before it can act.")
	return nil
}

// byUsername finds an account's ID among those the actor may list.
func (c *adminCmd) byUsername(ctx context.Context, a storage.Admin, username string) (storage.Admin, error) {
	list, err := c.m.Admin.Admins(ctx, a)
	if err != nil {
		return storage.Admin{}, err
	}
	for _, ad := range list {
		if ad.Username == strings.ToLower(strings.TrimSpace(username)) {
			return ad, nil
		}
	}
	return storage.Admin{}, fmt.Errorf("--username %q: no such administrator", username)
}

func (c *adminCmd) listUsers(ctx context.Context) error {
	a, err := c.actor(ctx)
	if err != nil {
		return err
	}
	list, err := c.m.Admin.Admins(ctx, a)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, ad := range list {
		names[ad.ID] = ad.Username
	}
	or := func(id, none string) string {
		if id == "" {
			return none
		}
		if n, ok := names[id]; ok {
			return n
		}
		return id
	}
	w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "USERNAME\tNAME\tROLE\tAGENCY\tSTATE\tCREATED BY\tCONFIRMED BY")
	for _, ad := range list {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ad.Username, ad.Name, ad.Role, c.agencyName(ctx, a, ad.AgencyID), ad.State(), or(ad.CreatedBy, "(bootstrap)"), or(ad.ConfirmedBy, "-"))
	}
	return w.Flush()
}

func (c *adminCmd) confirmUser(ctx context.Context) error {
	a, err := c.actor(ctx)
	if err != nil {
		return err
	}
	target, err := c.byUsername(ctx, a, c.username)
	if err != nil {
		return err
	}
	got, err := c.m.Admin.ConfirmAdmin(ctx, a, target.ID)
	if err != nil {
		if errors.Is(err, admin.ErrSameApprover) {
			return fmt.Errorf("confirm-user: %w; another approver must confirm %s", err, target.Username)
		}
		return err
	}
	fmt.Fprintf(c.stdout, "admin_id: %s\nusername: %s\nstate: %s\nconfirmed_by: %s\n", got.ID, got.Username, got.State(), a.Username)
	return nil
}

func (c *adminCmd) issueToken(ctx context.Context) error {
	a, err := c.actor(ctx)
	if err != nil {
		return err
	}
	if c.viaToken {
		return usageError{errors.New("issue-token: sign in with --as, the password and a TOTP code; a token cannot issue tokens")}
	}
	t, token, err := c.m.Admin.IssueToken(ctx, a, c.tokenName, time.Duration(c.days)*24*time.Hour)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "token_id: %s\ntoken: %s\nexpires_at: %s\n", t.ID, token, cliTime(t.ExpiresAt))
	fmt.Fprintln(c.stderr, "Store the token now (as DOPAID_ADMIN_TOKEN): it is not shown again. Revoke it with 'dopaid admin revoke-token'.")
	return nil
}

// tokenAccount is the account whose tokens --username names ("" for the
// actor's own).
func (c *adminCmd) tokenAccount(ctx context.Context, a storage.Admin) (string, error) {
	if c.username == "" {
		return "", nil
	}
	t, err := c.byUsername(ctx, a, c.username)
	if err != nil {
		return "", err
	}
	return t.ID, nil
}

func (c *adminCmd) listTokens(ctx context.Context) error {
	a, err := c.actor(ctx)
	if err != nil {
		return err
	}
	id, err := c.tokenAccount(ctx, a)
	if err != nil {
		return err
	}
	list, err := c.m.Admin.Tokens(ctx, a, id)
	if err != nil {
		return err
	}
	now := c.now()
	w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tCREATED\tEXPIRES\tSTATE")
	for _, t := range list {
		state := "live"
		switch {
		case !t.RevokedAt.IsZero():
			state = "revoked"
		case !t.Live(now):
			state = "expired"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, cliTime(t.CreatedAt), cliTime(t.ExpiresAt), state)
	}
	return w.Flush()
}

func (c *adminCmd) revokeToken(ctx context.Context) error {
	a, err := c.actor(ctx)
	if err != nil {
		return err
	}
	id, err := c.tokenAccount(ctx, a)
	if err != nil {
		return err
	}
	t, err := c.m.Admin.RevokeToken(ctx, a, id, c.tokenID)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "token_id: %s\nrevoked_at: %s\n", t.ID, cliTime(t.RevokedAt))
	return nil
}

// password reads the new account's password from the environment or the
// first line of standard input.
func (c *adminCmd) password() (string, error) {
	if pw := c.env("DOPAID_ADMIN_PASSWORD"); pw != "" {
		return pw, nil
	}
	line, err := bufio.NewReader(adminStdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", usageError{errors.New("create-user: no password: set DOPAID_ADMIN_PASSWORD or write it on standard input")}
	}
	return pw, nil
}

func (c *adminCmd) createAgency(ctx context.Context) error {
	a, err := c.actor(ctx)
	if err != nil {
		return err
	}
	ag := storage.Agency{NameTH: c.nameTH, NameEN: c.nameEN, Category: c.category, RegistrationNo: c.registrationNo}
	if c.file != "" {
		var f agencyFile
		if err := readJSON(c.file, &f); err != nil {
			return err
		}
		ag = f.agency()
	}
	ag, err = c.m.Admin.CreateAgency(ctx, a, ag)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "agency_id: %s\n", ag.ID)
	return nil
}

func (c *adminCmd) recordApplication(ctx context.Context) error {
	a, err := c.actor(ctx)
	if err != nil {
		return err
	}
	var f applicationFile
	if err := readJSON(c.file, &f); err != nil {
		return err
	}
	app, err := f.application(c.now())
	if err != nil {
		return err
	}
	app, pm, err := c.m.Admin.RecordApplication(ctx, a, app)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "application_id: %s\npermit_id: %s\npermit_number: %s\nagency: %s\nstate: %s\n", app.ID, pm.ID, pm.Number, c.agencyName(ctx, a, pm.AgencyID), pm.State)
	return nil
}

func (c *adminCmd) decide(ctx context.Context) error {
	a, err := c.actor(ctx)
	if err != nil {
		return err
	}
	req := admin.DecisionRequest{Action: c.action, Notice: c.notice}
	if c.effective != "" {
		if req.EffectiveAt, err = time.Parse(time.RFC3339, c.effective); err != nil {
			return usageError{fmt.Errorf("--effective %q is not an RFC 3339 time such as 2026-03-01T09:00:00+07:00", c.effective)}
		}
	}
	if c.grant != "" {
		var f grantFile
		if err := readJSON(c.grant, &f); err != nil {
			return err
		}
		g, err := f.grant()
		if err != nil {
			return err
		}
		req.Grant = &g
	}
	d, pm, err := c.m.Admin.Decide(ctx, a, c.permit, req)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "decision_id: %s\npermit_id: %s\npermit_number: %s\nagency: %s\nstate: %s\neffective_at: %s\nvalid: %s – %s\n",
		d.ID, pm.ID, pm.Number, c.agencyName(ctx, a, pm.AgencyID), pm.State, cliTime(d.EffectiveAt), cliDate(pm.ValidFrom), cliDate(pm.ValidUntil))
	if d.AppliedAt.IsZero() {
		fmt.Fprintln(c.stderr, "The decision is scheduled: a running server applies it when it falls due.")
	}
	return nil
}

func (c *adminCmd) requestRenewal(ctx context.Context) error {
	a, err := c.actor(ctx)
	if err != nil {
		return err
	}
	var f grantFile
	if err := readJSON(c.grant, &f); err != nil {
		return err
	}
	g, err := f.grant()
	if err != nil {
		return err
	}
	d, err := c.m.Admin.RequestRenewal(ctx, a, c.permit, g)
	if err != nil {
		return err
	}
	pm, err := c.m.Admin.Permit(ctx, a, d.PermitID)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "decision_id: %s\npermit: %s (%s)\nrequested_until: %s\nstate: %s\n", d.ID, pm.Number, pm.ID, cliDate(g.ValidUntil), pm.State)
	fmt.Fprintln(c.stderr, "Another approver decides it: dopaid admin decide --permit "+pm.ID+" --action renew")
	return nil
}

func (c *adminCmd) registerSystem(ctx context.Context) error {
	a, err := c.actor(ctx)
	if err != nil {
		return err
	}
	var f systemFile
	if err := readJSON(c.file, &f); err != nil {
		return err
	}
	cl, secret, err := c.m.Admin.RegisterSystem(ctx, a, c.permit, f.system())
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "client_id: %s\nsystem: %s\npermit: %s\n", cl.ID, cl.Name, c.permitName(ctx, a, cl.PermitID))
	if secret != "" {
		fmt.Fprintf(c.stdout, "client_secret: %s\n", secret)
		fmt.Fprintln(c.stderr, "Store the client secret now: it is not shown again.")
	}
	fmt.Fprintf(c.stdout, "scopes: %s\n", strings.Join(cl.Scopes, " "))
	return nil
}

func (c *adminCmd) changeSystem(ctx context.Context) error {
	a, err := c.actor(ctx)
	if err != nil {
		return err
	}
	var f systemFile
	if err := readJSON(c.file, &f); err != nil {
		return err
	}
	cl, err := c.m.Admin.ChangeSystem(ctx, a, c.client, f.system())
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "client_id: %s\nsystem: %s\npermit: %s\nscopes: %s\n", cl.ID, cl.Name, c.permitName(ctx, a, cl.PermitID), strings.Join(cl.Scopes, " "))
	return nil
}

func (c *adminCmd) rotateSecret(ctx context.Context) error {
	a, err := c.actor(ctx)
	if err != nil {
		return err
	}
	secret, err := c.m.Admin.RotateClientSecret(ctx, a, c.client)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "client_id: %s\nclient_secret: %s\n", c.client, secret)
	fmt.Fprintln(c.stderr, "Store the client secret now: it is not shown again. The old one no longer works.")
	return nil
}

// setSystemDisabled disables or enables one system.
func (c *adminCmd) setSystemDisabled(disabled bool) func(context.Context) error {
	return func(ctx context.Context) error {
		a, err := c.actor(ctx)
		if err != nil {
			return err
		}
		cl, err := c.m.Admin.SetSystemDisabled(ctx, a, c.client, disabled)
		if err != nil {
			return err
		}
		pm, err := c.m.Admin.Permit(ctx, a, cl.PermitID)
		if err != nil {
			return err
		}
		state := "active"
		if cl.Disabled {
			state = "disabled"
		}
		fmt.Fprintf(c.stdout, "client_id: %s\nsystem: %s\npermit: %s (%s)\nstate: %s\n", cl.ID, cl.Name, pm.Number, pm.ID, state)
		return nil
	}
}

// setUserDisabled disables or enables another administrator account.
func (c *adminCmd) setUserDisabled(disabled bool) func(context.Context) error {
	return func(ctx context.Context) error {
		a, err := c.actor(ctx)
		if err != nil {
			return err
		}
		target, err := c.byUsername(ctx, a, c.username)
		if err != nil {
			return err
		}
		got, err := c.m.Admin.SetAdminDisabled(ctx, a, target.ID, disabled)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "admin_id: %s\nusername: %s\nname: %s\nstate: %s\nby: %s\n", got.ID, got.Username, got.Name, got.State(), a.Username)
		return nil
	}
}

// reader is the account the listing commands read as: the authenticated
// one, like every other command.
func (c *adminCmd) reader(ctx context.Context) (storage.Admin, error) { return c.actor(ctx) }

func (c *adminCmd) listAgencies(ctx context.Context) error {
	a, err := c.reader(ctx)
	if err != nil {
		return err
	}
	ags, err := c.m.Admin.Agencies(ctx, a)
	if err != nil {
		return err
	}
	sort.Slice(ags, func(i, j int) bool { return ags[i].NameEN < ags[j].NameEN })
	w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tCATEGORY\tNAME (EN)\tNAME (TH)")
	for _, ag := range ags {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", ag.ID, ag.Category, ag.NameEN, ag.NameTH)
	}
	return w.Flush()
}

func (c *adminCmd) listPermits(ctx context.Context) error {
	a, err := c.reader(ctx)
	if err != nil {
		return err
	}
	ps, err := c.m.Admin.Permits(ctx, a, c.agency)
	if err != nil {
		return err
	}
	now := c.now()
	w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NUMBER\tID\tAGENCY\tSTATUS\tVALID FROM\tVALID UNTIL")
	for _, p := range ps {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Number, p.ID, c.agencyName(ctx, a, p.AgencyID), admin.Status(p, now), cliDate(p.ValidFrom), cliDate(p.ValidUntil))
	}
	return w.Flush()
}

// agencyName is an agency's English name with its ID, as the CLI shows
// every record: by name, with the ID to use in commands.
func (c *adminCmd) agencyName(ctx context.Context, a storage.Admin, id string) string {
	if id == "" {
		return "-"
	}
	ag, err := c.m.Admin.Agency(ctx, a, id)
	if err != nil {
		return id
	}
	return ag.NameEN + " (" + id + ")"
}

// permitName is a permit's number with its ID.
func (c *adminCmd) permitName(ctx context.Context, a storage.Admin, id string) string {
	pm, err := c.m.Admin.Permit(ctx, a, id)
	if err != nil {
		return id
	}
	return pm.Number + " (" + id + ")"
}

// cliTime and cliDate show times as the console does (English):
// Asia/Bangkok, "6 Dec 2026 21:50 (UTC+7)" and "6 Dec 2026".
func cliTime(t time.Time) string { return admin.FormatTime("en", t) }
func cliDate(t time.Time) string { return admin.FormatDate("en", t) }

func (c *adminCmd) now() time.Time {
	if c.m != nil && c.m.Now != nil {
		return c.m.Now()
	}
	return time.Now()
}

// describe renders a service error for a terminal: field errors one per
// line.
func describe(err error) error {
	var ve *admin.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	fields := make([]string, 0, len(ve.Fields))
	for f := range ve.Fields {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	lines := []string{"invalid input; nothing was changed:"}
	for _, f := range fields {
		lines = append(lines, "  - "+f+": "+ve.Fields[f])
	}
	return errors.New(strings.Join(lines, "\n"))
}

// readJSON decodes a file strictly: unknown fields are mistakes.
func readJSON(path string, v any) error {
	b, err := readFile(path)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if dec.More() {
		return fmt.Errorf("%s: more than one JSON value", path)
	}
	return nil
}

// The files' formats: the admin API's request bodies.

type contactFile struct {
	Name     string `json:"name"`
	Position string `json:"position"`
	Email    string `json:"email"`
	Phone    string `json:"phone"`
}

type agencyFile struct {
	NameTH         string        `json:"name_th"`
	NameEN         string        `json:"name_en"`
	Category       string        `json:"category"`
	RegistrationNo string        `json:"registration_no"`
	Contacts       []contactFile `json:"contacts"`
}

func (f agencyFile) agency() storage.Agency {
	a := storage.Agency{NameTH: f.NameTH, NameEN: f.NameEN, Category: f.Category, RegistrationNo: f.RegistrationNo}
	for _, c := range f.Contacts {
		a.Contacts = append(a.Contacts, storage.Contact(c))
	}
	return a
}

type purposeFile struct {
	Code          string   `json:"code"`
	DescriptionTH string   `json:"description_th"`
	DescriptionEN string   `json:"description_en"`
	Claims        []string `json:"claims"`
}

type systemFile struct {
	AnyNetwork             bool            `json:"any_network"`
	Name                   string          `json:"name"`
	RedirectURIs           []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs []string        `json:"post_logout_redirect_uris"`
	AuthMethod             string          `json:"auth_method"`
	JWKS                   json.RawMessage `json:"jwks"`
	JWKSURI                string          `json:"jwks_uri"`
	NetworkRanges          []string        `json:"network_ranges"`
	SigningAlg             string          `json:"signing_alg"`

	IDTokenEncryptedResponseAlg  string `json:"id_token_encrypted_response_alg"`
	IDTokenEncryptedResponseEnc  string `json:"id_token_encrypted_response_enc"`
	UserinfoEncryptedResponseAlg string `json:"userinfo_encrypted_response_alg"`
	UserinfoEncryptedResponseEnc string `json:"userinfo_encrypted_response_enc"`
	RequirePAR                   bool   `json:"require_par"`
	FAPI                         bool   `json:"fapi"`
}

func (f systemFile) system() storage.System {
	s := storage.System{Name: f.Name, RedirectURIs: f.RedirectURIs, PostLogoutRedirectURIs: f.PostLogoutRedirectURIs,
		AuthMethod: f.AuthMethod, JWKSURI: f.JWKSURI, NetworkRanges: f.NetworkRanges, AnyNetwork: f.AnyNetwork, SigningAlg: f.SigningAlg,
		IDTokenEncryptedResponseAlg: f.IDTokenEncryptedResponseAlg, IDTokenEncryptedResponseEnc: f.IDTokenEncryptedResponseEnc,
		UserinfoEncryptedResponseAlg: f.UserinfoEncryptedResponseAlg, UserinfoEncryptedResponseEnc: f.UserinfoEncryptedResponseEnc,
		RequirePAR: f.RequirePAR, FAPI: f.FAPI}
	if len(f.JWKS) > 0 && string(f.JWKS) != "null" {
		s.JWKS = f.JWKS
	}
	return s
}

type applicationFile struct {
	AgencyID   string        `json:"agency_id"`
	Mission    string        `json:"mission"`
	Reason     string        `json:"reason"`
	Necessity  string        `json:"necessity"`
	Purposes   []purposeFile `json:"purposes"`
	Systems    []systemFile  `json:"systems"`
	Acceptance struct {
		Name         string `json:"name"`
		Position     string `json:"position"`
		At           string `json:"at"` // default: now
		TermsVersion string `json:"terms_version"`
	} `json:"acceptance"`
}

func (f applicationFile) application(now time.Time) (storage.Application, error) {
	app := storage.Application{AgencyID: f.AgencyID, Mission: f.Mission, Reason: f.Reason, Necessity: f.Necessity}
	for _, p := range f.Purposes {
		app.Purposes = append(app.Purposes, storage.Purpose{Code: p.Code, DescriptionTH: p.DescriptionTH, DescriptionEN: p.DescriptionEN, Claims: p.Claims})
	}
	for _, s := range f.Systems {
		app.Systems = append(app.Systems, s.system())
	}
	a := f.Acceptance
	app.Acceptance = storage.Acceptance{Name: a.Name, Position: a.Position, At: now, TermsVersion: a.TermsVersion}
	if a.At != "" {
		at, err := time.Parse(time.RFC3339, a.At)
		if err != nil {
			return storage.Application{}, &admin.ValidationError{Fields: map[string]string{"acceptance.at": "is not an RFC 3339 time"}}
		}
		app.Acceptance.At = at
	}
	return app, nil
}

type grantFile struct {
	Purposes []struct {
		Code   string   `json:"code"`
		Claims []string `json:"claims"`
	} `json:"purposes"`
	ValidFrom   string `json:"valid_from"`
	ValidUntil  string `json:"valid_until"`
	Conditions  string `json:"conditions"`
	Supervisors []struct {
		Name     string `json:"name"`
		Position string `json:"position"`
		Email    string `json:"email"`
		Phone    string `json:"phone"`
		OrderRef string `json:"order_ref"`
	} `json:"supervisors"`
}

func (f grantFile) grant() (admin.Grant, error) {
	g := admin.Grant{Conditions: f.Conditions}
	fields := map[string]string{}
	parse := func(field, v string) time.Time {
		if v == "" {
			return time.Time{} // the service says it is required
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			fields["grant."+field] = "is not an RFC 3339 time"
		}
		return t
	}
	g.ValidFrom = parse("valid_from", f.ValidFrom)
	g.ValidUntil = parse("valid_until", f.ValidUntil)
	if len(fields) > 0 {
		return admin.Grant{}, &admin.ValidationError{Fields: fields}
	}
	for _, p := range f.Purposes {
		g.Purposes = append(g.Purposes, storage.Purpose{Code: p.Code, Claims: p.Claims})
	}
	for _, s := range f.Supervisors {
		g.Supervisors = append(g.Supervisors, storage.Supervisor(s))
	}
	return g, nil
}
