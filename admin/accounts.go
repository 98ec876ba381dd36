package admin

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/crypto/argon2"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
)

// Roles lists the administrator roles.
var Roles = []string{storage.RoleOfficer, storage.RoleApprover, storage.RoleAuditor, storage.RoleSupervisor}

// TOTPIssuer names the administrators' TOTP accounts in authenticator apps.
const TOTPIssuer = "DOPA-Digital ID admin"

// Sign-in throttling: after maxFailures failed sign-ins within lockFor, a
// username is locked for lockFor. The counters live in the store, so every
// replica sees them.
const (
	maxFailures = 5
	lockFor     = 15 * time.Minute
)

// Password rules: long enough to resist guessing, bounded so that hashing
// cannot be made expensive.
const (
	minPassword = 12
	maxPassword = 256
)

var username = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{2,63}$`)

// InvitationTTL is how long an invitation to enrol stays good.
const InvitationTTL = 72 * time.Hour

// Invitation is what an approver hands a new administrator: a one-time
// token for EnrolPath. Only its hash is stored.
type Invitation struct {
	Token     string
	ExpiresAt time.Time
}

// EnrolPath is the console page an invitation opens (with ?token=).
const EnrolPath = Path + "/enrol"

// Link returns the invitation's console address under issuer (the
// provider's https origin; empty for the path alone).
func (i Invitation) Link(issuer string) string {
	return strings.TrimRight(issuer, "/") + EnrolPath + "?token=" + url.QueryEscape(i.Token)
}

// inviteHash is what the store keeps of an invitation token. The token is
// 256 random bits, so a plain SHA-256 cannot be reversed by guessing.
func inviteHash(token string) string {
	sum := sha256.Sum256([]byte("dopaid admin invitation\x00" + token))
	return hex.EncodeToString(sum[:])
}

// Bootstrap creates one of the first two administrator accounts, both
// approvers, and returns it with the otpauth:// URL that enrols its TOTP
// secret in an authenticator app (shown once). The person who runs it is
// the account's holder and sets its password.
//
// Every later account is made by CreateAdmin, enrolled by its own holder
// and confirmed by an approver other than its creator (ConfirmAdmin). That
// takes two approvers, so bootstrap makes two, each by its own holder: it
// is allowed while the store holds no more than one bootstrap approver and
// no confirmed account made by invitation.
func (s *Service) Bootstrap(ctx context.Context, user, name, role, password string) (out storage.Admin, otpURL string, err error) {
	ev := event{actor: "system", detail: "bootstrap_admin"}
	defer func() { err = s.record(ctx, storage.Admin{}, ev, err) }()
	if err = s.mayBootstrap(ctx); err != nil {
		return storage.Admin{}, "", err
	}
	p := problems{}
	user, name, _, err = s.checkAccount(ctx, p, user, name, role, "")
	if err != nil {
		return storage.Admin{}, "", err
	}
	if _, ok := p["role"]; !ok && role != storage.RoleApprover {
		p.add("role", "the first administrators must be approvers, who can then create and confirm the others")
	}
	checkPassword(p, user, password)
	if err = p.err(); err != nil {
		return storage.Admin{}, "", err
	}
	now := s.now()
	a := storage.Admin{Username: user, Name: name, Role: role, CreatedAt: now, UpdatedAt: now}
	if a.ID, err = newID(); err != nil {
		return storage.Admin{}, "", err
	}
	if otpURL, err = s.setCredentials(&a, password); err != nil {
		return storage.Admin{}, "", err
	}
	// The account and its entry commit together.
	created := ev
	created.actor = "admin:" + a.ID
	if err = s.ps.CreateAdmin(ctx, a, s.recordOf(storage.Admin{}, created)); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return storage.Admin{}, "", &ValidationError{Fields: map[string]string{"username": "is taken"}}
		}
		return storage.Admin{}, "", fmt.Errorf("store administrator: %w", err)
	}
	ev = created
	ev.recorded = true
	return public(a), otpURL, nil
}

// mayBootstrap allows Bootstrap while the store holds at most one account
// made at bootstrap, an approver, and no account made by invitation has
// been confirmed: the two first approvers, who confirm each other's
// invitations from then on.
func (s *Service) mayBootstrap(ctx context.Context) error {
	all, err := s.ps.Admins(ctx)
	if err != nil {
		return fmt.Errorf("list administrators: %w", err)
	}
	boot := 0
	for _, a := range all {
		switch {
		case a.CreatedBy == "" && a.Role == storage.RoleApprover:
			boot++
		case a.CreatedBy == "", a.Confirmed():
			boot = 2 // an officer of old, or a confirmed account: bootstrap is over
		}
	}
	if boot >= 2 {
		return fmt.Errorf("administrators exist already; an approver must create the account: %w", ErrForbidden)
	}
	return nil
}

// CreateAdmin creates an administrator account that its holder must enrol
// before it can sign in, and returns it with the invitation to hand them
// (good once, for InvitationTTL). Only approvers create accounts.
// Supervisors are bound to an agency, and only the supervisors a permit of
// that agency appoints (clause 9) get an account: the name must be one of
// theirs. DOPA staff are bound to no agency.
//
// The creator learns neither the password nor the TOTP secret: the holder
// chooses the one and receives the other at enrolment (Enrol,
// ConfirmEnrolment). Even so the account cannot act until an approver
// other than its creator has confirmed it (ConfirmAdmin): whoever holds an
// invitation link cannot also make the account act (clause 5).
func (s *Service) CreateAdmin(ctx context.Context, actor storage.Admin, user, name, role, agencyID string) (out storage.Admin, inv Invitation, err error) {
	ev := event{detail: "invite_admin", agencyID: agencyID}
	defer func() { err = s.record(ctx, actor, ev, err) }()
	by, err := s.authorize(ctx, actor, storage.RoleApprover)
	if err != nil {
		return storage.Admin{}, Invitation{}, err
	}
	p := problems{}
	user, name, agencyID, err = s.checkAccount(ctx, p, user, name, role, agencyID)
	if err != nil {
		return storage.Admin{}, Invitation{}, err
	}
	if role == storage.RoleSupervisor && agencyID != "" && p["agency_id"] == "" && p["name"] == "" {
		if ev.permitID, err = s.appointingPermit(ctx, p, agencyID, name); err != nil {
			return storage.Admin{}, Invitation{}, err
		}
	}
	if err = p.err(); err != nil {
		return storage.Admin{}, Invitation{}, err
	}
	now := s.now()
	a := storage.Admin{Username: user, Name: name, Role: role, AgencyID: agencyID, CreatedBy: by.ID, CreatedAt: now, UpdatedAt: now}
	if a.ID, err = newID(); err != nil {
		return storage.Admin{}, Invitation{}, err
	}
	if inv.Token, err = keys.RandomToken(32); err != nil {
		return storage.Admin{}, Invitation{}, fmt.Errorf("invitation token: %w", err)
	}
	inv.ExpiresAt = now.Add(InvitationTTL)
	a.InviteHash, a.InviteExpiresAt = inviteHash(inv.Token), inv.ExpiresAt
	// The account and its entry commit together: no account is invited
	// that the trail has not recorded.
	if err = s.ps.CreateAdmin(ctx, a, s.recordOf(by, ev)); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return storage.Admin{}, Invitation{}, &ValidationError{Fields: map[string]string{"username": "is taken"}}
		}
		return storage.Admin{}, Invitation{}, fmt.Errorf("store administrator: %w", err)
	}
	ev.recorded = true
	return public(a), inv, nil
}

// appointingPermit returns the permit of the agency, approved or
// suspended, that appoints a supervisor of that name (compared without
// regard to case and runs of spaces), or adds a problem to p.
func (s *Service) appointingPermit(ctx context.Context, p problems, agencyID, name string) (string, error) {
	pms, err := s.ps.Permits(ctx, agencyID)
	if err != nil {
		return "", fmt.Errorf("list permits: %w", err)
	}
	want := strings.Join(strings.Fields(name), " ")
	for _, pm := range pms {
		if pm.State != storage.PermitApproved && pm.State != storage.PermitSuspended {
			continue
		}
		for _, sv := range pm.Supervisors {
			if strings.EqualFold(strings.Join(strings.Fields(sv.Name), " "), want) {
				return pm.ID, nil
			}
		}
	}
	p.add("name", "is not a supervisor appointed by a permit of this agency: supervisors get accounts only as the permit appoints them (clause 9)")
	return "", nil
}

// ConfirmAdmin lets an enrolled account act: the second person of clause
// 5's maker-checker. Only an approver confirms, never the approver who
// created the account nor the account itself. The audit entry names both
// the confirming approver (its actor) and the creator.
func (s *Service) ConfirmAdmin(ctx context.Context, actor storage.Admin, id string) (out storage.Admin, err error) {
	ev := event{detail: "confirm_admin admin:" + id}
	defer func() { err = s.record(ctx, actor, ev, err) }()
	by, err := s.authorize(ctx, actor, storage.RoleApprover)
	if err != nil {
		return storage.Admin{}, err
	}
	a, err := s.ps.Admin(ctx, id)
	if err != nil {
		return storage.Admin{}, notFound(err, "administrator", id)
	}
	ev.agencyID = a.AgencyID
	if a.CreatedBy != "" {
		ev.detail += " created_by admin:" + a.CreatedBy
	}
	// Not only the creator: whoever created the creator (and so on up) may
	// hold the accounts below them — an approver who enrolled an invitee's
	// account himself could otherwise have it create a third account and
	// confirm that one himself.
	lineage, err := s.lineage(ctx, a)
	if err != nil {
		return storage.Admin{}, err
	}
	now := s.now()
	a, err = s.ps.UpdateAdmin(ctx, id, func(cur storage.Admin) (storage.Admin, error) {
		switch {
		case cur.ID == by.ID || cur.CreatedBy == by.ID || slices.Contains(lineage, by.ID):
			return cur, ErrSameApprover
		case cur.Disabled:
			return cur, fmt.Errorf("confirm a disabled account: %w", ErrState)
		case !cur.Enrolled():
			return cur, fmt.Errorf("confirm an account whose holder has not enrolled: %w", ErrState)
		case cur.Confirmed():
			return cur, fmt.Errorf("confirm an account that is confirmed already: %w", ErrState)
		}
		cur.ConfirmedBy, cur.ConfirmedAt, cur.UpdatedAt = by.ID, now, now
		return cur, nil
	}, s.recordOf(actor, ev))
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			err = notFound(err, "administrator", id)
		}
		return storage.Admin{}, err
	}
	ev.recorded = true
	return public(a), nil
}

// lineage returns the accounts that created a's creator, its creator, and
// so on up to an account nobody created (bootstrap, or before creators were
// recorded).
func (s *Service) lineage(ctx context.Context, a storage.Admin) ([]string, error) {
	var ids []string
	for by := a.CreatedBy; by != "" && !slices.Contains(ids, by) && len(ids) < 64; {
		ids = append(ids, by)
		up, err := s.ps.Admin(ctx, by)
		if errors.Is(err, storage.ErrNotFound) {
			break
		}
		if err != nil {
			return nil, err
		}
		by = up.CreatedBy
	}
	return ids, nil
}

// checkAccount checks a new account's username, name, role and agency into
// p and returns them trimmed.
func (s *Service) checkAccount(ctx context.Context, p problems, user, name, role, agencyID string) (string, string, string, error) {
	user = strings.TrimSpace(user)
	if !username.MatchString(user) {
		p.add("username", "must be 3 to 64 characters: lower-case letters, digits, '.', '_' and '-', starting with a letter or digit")
	}
	name = p.text("name", name, true, maxName)
	if !slices.Contains(Roles, role) {
		p.add("role", "must be one of %s", strings.Join(Roles, ", "))
	}
	agencyID = strings.TrimSpace(agencyID)
	switch {
	case role == storage.RoleSupervisor && agencyID == "":
		p.add("agency_id", "a supervisor is bound to the agency that appointed them")
	case role != storage.RoleSupervisor && agencyID != "" && slices.Contains(Roles, role):
		p.add("agency_id", "only supervisors belong to an agency")
	case agencyID != "":
		if _, err := s.ps.Agency(ctx, agencyID); errors.Is(err, storage.ErrNotFound) {
			p.add("agency_id", "no agency has this ID")
		} else if err != nil {
			return "", "", "", fmt.Errorf("load agency: %w", err)
		}
	}
	if _, ok := p["username"]; !ok {
		if _, err := s.ps.AdminByUsername(ctx, user); err == nil {
			p.add("username", "is taken")
		} else if !errors.Is(err, storage.ErrNotFound) {
			return "", "", "", fmt.Errorf("load administrator: %w", err)
		}
	}
	return user, name, agencyID, nil
}

// checkPassword checks a password the account's holder chose into p.
func checkPassword(p problems, user, password string) {
	switch n := utf8.RuneCountInString(password); {
	case !utf8.ValidString(password):
		p.add("password", "is not valid UTF-8")
	case n < minPassword:
		p.add("password", "must be at least %d characters", minPassword)
	case n > maxPassword:
		p.add("password", "must be at most %d characters", maxPassword)
	case strings.Contains(strings.ToLower(password), user) && user != "":
		p.add("password", "must not contain the username")
	}
}

// setCredentials hashes password into a and gives it a fresh TOTP secret,
// sealed; it returns the secret's otpauth:// URL.
func (s *Service) setCredentials(a *storage.Admin, password string) (string, error) {
	var err error
	if a.PasswordHash, err = hashPassword(password); err != nil {
		return "", err
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: TOTPIssuer, AccountName: a.Username, Period: totpPeriod, Digits: otp.DigitsSix,
		Algorithm: otp.AlgorithmSHA1, SecretSize: 20,
	})
	if err != nil {
		return "", fmt.Errorf("totp secret: %w", err)
	}
	if a.TOTPSecret, err = s.cfg.Envelope.Seal([]byte(key.Secret()), totpAD(a.ID)); err != nil {
		return "", fmt.Errorf("seal totp secret: %w", err)
	}
	return key.URL(), nil
}

// invitation finds the account awaiting enrolment with token and checks
// its invitation is good at now and not throttled. The throttle key is
// returned for fail.
func (s *Service) invitation(ctx context.Context, token string, now time.Time) (storage.Admin, string, error) {
	if token == "" || len(token) > 256 {
		return storage.Admin{}, "", ErrInvitation
	}
	h := inviteHash(token)
	a, err := s.ps.AdminByInvite(ctx, h)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.Admin{}, "", ErrInvitation
	}
	if err != nil {
		return storage.Admin{}, "", fmt.Errorf("load administrator: %w", err)
	}
	key := "admin-enrol:" + h
	t, err := s.store.Throttle(ctx, key, now)
	if err != nil {
		return a, "", fmt.Errorf("load throttle: %w", err)
	}
	switch {
	case a.Disabled:
		return a, key, ErrInvitation
	case !now.Before(a.InviteExpiresAt):
		return a, key, ErrInvitationExpired
	case now.Before(t.LockedUntil):
		return a, key, ErrThrottled
	}
	return a, key, nil
}

// recordFailure counts a failed attempt under key, as sign-in does.
func (s *Service) recordFailure(ctx context.Context, key string, now time.Time) error {
	_, err := s.store.RecordFailure(ctx, key, now, func(t storage.Throttle) storage.Throttle {
		if t.WindowStart.IsZero() || now.Sub(t.WindowStart) > lockFor {
			t.Failures, t.WindowStart = 0, now
		}
		t.Failures++
		if t.Failures >= maxFailures {
			t.LockedUntil = now.Add(lockFor)
		}
		return t
	})
	if err != nil {
		return fmt.Errorf("record failed attempt: %w", err)
	}
	return nil
}

// Enrol is the first step of enrolment, by the holder of an invitation:
// it sets the account's password (the same rules as everywhere) and gives
// it a fresh TOTP secret, returning its otpauth:// URL for their
// authenticator app. The account stays unable to sign in until
// ConfirmEnrolment; calling Enrol again before then starts over with a new
// secret.
func (s *Service) Enrol(ctx context.Context, token, password string) (otpURL string, err error) {
	ev := event{actor: "anonymous", detail: "enrol_admin"}
	defer func() { err = s.record(ctx, storage.Admin{}, ev, err) }()
	now := s.now()
	a, key, err := s.invitation(ctx, token, now)
	if a.ID != "" {
		ev.actor, ev.agencyID = "admin:"+a.ID, a.AgencyID
	}
	if err != nil {
		return "", err
	}
	p := problems{}
	checkPassword(p, a.Username, password)
	if err := p.err(); err != nil {
		if ferr := s.recordFailure(ctx, key, now); ferr != nil {
			return "", ferr
		}
		return "", err
	}
	hash := a.InviteHash
	_, err = s.ps.UpdateAdmin(ctx, a.ID, func(cur storage.Admin) (storage.Admin, error) {
		if cur.InviteHash != hash {
			return cur, ErrInvitation // enrolled meanwhile
		}
		if otpURL, err = s.setCredentials(&cur, password); err != nil {
			return cur, err
		}
		cur.UpdatedAt = now
		return cur, nil
	}, s.recordOf(storage.Admin{}, ev))
	if err != nil {
		return "", err
	}
	ev.recorded = true
	return otpURL, nil
}

// ConfirmEnrolment completes enrolment: with a valid code of the TOTP
// secret Enrol gave, the account becomes able to sign in and the
// invitation is spent. Wrong codes are throttled per invitation as
// sign-ins are per username.
func (s *Service) ConfirmEnrolment(ctx context.Context, token, code string) (out storage.Admin, err error) {
	ev := event{actor: "anonymous", detail: "confirm_enrolment"}
	defer func() { err = s.record(ctx, storage.Admin{}, ev, err) }()
	now := s.now()
	a, key, err := s.invitation(ctx, token, now)
	if a.ID != "" {
		ev.actor, ev.agencyID = "admin:"+a.ID, a.AgencyID
	}
	if err != nil {
		return storage.Admin{}, err
	}
	if a.PasswordHash == "" || len(a.TOTPSecret) == 0 {
		return storage.Admin{}, &ValidationError{Fields: map[string]string{"password": "set a password first"}}
	}
	secret, err := s.cfg.Envelope.Open(a.TOTPSecret, totpAD(a.ID))
	if err != nil {
		return storage.Admin{}, fmt.Errorf("open totp secret: %w", err)
	}
	step, ok := matchTOTP(string(secret), strings.TrimSpace(code), now)
	if !ok {
		if ferr := s.recordFailure(ctx, key, now); ferr != nil {
			return storage.Admin{}, ferr
		}
		return storage.Admin{}, &ValidationError{Fields: map[string]string{"code": "does not match: check the authenticator app's clock and try the next code"}}
	}
	// The code is spent for sign-in too.
	exp := time.Unix((step+2)*totpPeriod, 0)
	if err := s.store.UseOnce(ctx, "admin-totp:"+a.ID, strconv.FormatInt(step, 10), exp, now); err != nil && !errors.Is(err, storage.ErrAlreadyExists) {
		return storage.Admin{}, fmt.Errorf("record totp step: %w", err)
	}
	hash, sealed := a.InviteHash, a.TOTPSecret
	a, err = s.ps.UpdateAdmin(ctx, a.ID, func(cur storage.Admin) (storage.Admin, error) {
		// Enrol again meanwhile (a new secret) or confirmed by another
		// request: this code confirmed nothing.
		if cur.InviteHash != hash || !bytes.Equal(cur.TOTPSecret, sealed) {
			return cur, ErrInvitation
		}
		cur.InviteHash, cur.InviteExpiresAt, cur.UpdatedAt = "", time.Time{}, now
		return cur, nil
	}, s.recordOf(storage.Admin{}, ev))
	if err != nil {
		return storage.Admin{}, err
	}
	ev.recorded = true
	if err := s.store.ClearThrottle(ctx, key); err != nil {
		s.log.ErrorContext(ctx, "admin: clear enrolment throttle", "err", err)
	}
	return public(a), nil
}

// Authenticate checks an administrator's password and TOTP code and
// returns the account. Every failure is ErrAuthFailed, whatever was wrong;
// the reason goes to the audit trail. A username with maxFailures failed
// sign-ins in a row is locked for lockFor, and a TOTP code is good once.
func (s *Service) Authenticate(ctx context.Context, user, password, code string) (_ storage.Admin, err error) {
	ev := event{actor: "anonymous", detail: "sign_in"}
	var why string
	user = strings.ToLower(strings.TrimSpace(user))
	var a storage.Admin
	defer func() {
		if err != nil && why != "" {
			ev.detail += " (" + why + ")"
		}
		err = s.record(ctx, a, ev, err)
	}()
	now := s.now()
	if !username.MatchString(user) || len(password) > 4*maxPassword {
		why = "malformed"
		return storage.Admin{}, ErrAuthFailed
	}
	key := "admin-sign-in:" + user
	t, err := s.store.Throttle(ctx, key, now)
	if err != nil {
		return storage.Admin{}, fmt.Errorf("load throttle: %w", err)
	}
	if now.Before(t.LockedUntil) {
		why = "locked"
		return storage.Admin{}, ErrAuthFailed
	}
	fail := func(reason string) (storage.Admin, error) {
		why = reason
		if _, err := s.store.RecordFailure(ctx, key, now, func(t storage.Throttle) storage.Throttle {
			if t.WindowStart.IsZero() || now.Sub(t.WindowStart) > lockFor {
				t.Failures, t.WindowStart = 0, now
			}
			t.Failures++
			if t.Failures >= maxFailures {
				t.LockedUntil = now.Add(lockFor)
			}
			return t
		}); err != nil {
			return storage.Admin{}, fmt.Errorf("record failed sign-in: %w", err)
		}
		return storage.Admin{}, ErrAuthFailed
	}

	a, err = s.ps.AdminByUsername(ctx, user)
	if errors.Is(err, storage.ErrNotFound) {
		// Spend the time a real check takes, so that timing does not tell
		// which usernames exist.
		verifyPassword(dummyHash(), password)
		return fail("unknown_user")
	}
	if err != nil {
		return storage.Admin{}, fmt.Errorf("load administrator: %w", err)
	}
	ev.actor = "admin:" + a.ID
	ev.agencyID = a.AgencyID
	if !a.Enrolled() {
		// An invited account's holder has not confirmed their TOTP code
		// yet (and its creator knows no password): it cannot sign in.
		verifyPassword(dummyHash(), password)
		return fail("not_enrolled")
	}
	if !verifyPassword(a.PasswordHash, password) {
		return fail("password")
	}
	secret, err := s.cfg.Envelope.Open(a.TOTPSecret, totpAD(a.ID))
	if err != nil {
		s.log.ErrorContext(ctx, "admin: open totp secret", "admin", a.ID, "err", err)
		return fail("totp_secret")
	}
	step, ok := matchTOTP(string(secret), code, now)
	if !ok {
		return fail("totp")
	}
	// A code is good for one sign-in, on every replica.
	exp := time.Unix((step+2)*totpPeriod, 0)
	if err := s.store.UseOnce(ctx, "admin-totp:"+a.ID, strconv.FormatInt(step, 10), exp, now); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return fail("totp_replayed")
		}
		return storage.Admin{}, fmt.Errorf("record totp step: %w", err)
	}
	if a.Disabled {
		return fail("disabled")
	}
	if err := s.store.ClearThrottle(ctx, key); err != nil {
		s.log.ErrorContext(ctx, "admin: clear sign-in throttle", "err", err)
	}
	if !a.Confirmed() {
		// The credentials are right, so the holder may know why: another
		// approver has yet to confirm the account.
		return storage.Admin{}, ErrPending
	}
	return public(a), nil
}

// AdminByID returns an account without its secrets (for a session's
// administrator). The caller checks Disabled.
func (s *Service) AdminByID(ctx context.Context, id string) (storage.Admin, error) {
	a, err := s.ps.Admin(ctx, id)
	if err != nil {
		return storage.Admin{}, notFound(err, "administrator", id)
	}
	return public(a), nil
}

// public drops an account's secrets (their hash and sealed form too): no
// view needs them.
func public(a storage.Admin) storage.Admin {
	a.PasswordHash, a.TOTPSecret, a.InviteHash = "", nil, ""
	return a
}

func totpAD(id string) []byte { return []byte("admin-totp:" + id) }

// TOTP parameters: the RFC 6238 defaults every authenticator app reads.
const totpPeriod = 30

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// matchTOTP checks code against the step of now and one either side (clock
// drift) and returns the step it matched.
func matchTOTP(secret, code string, now time.Time) (int64, bool) {
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return 0, false
	}
	cur := now.Unix() / totpPeriod
	for _, step := range []int64{cur, cur - 1, cur + 1} {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totpOpts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step, true
		}
	}
	return 0, false
}

// Password hashing: argon2id (RFC 9106) in the PHC string format
// $argon2id$v=19$m=65536,t=3,p=2$salt$hash, salt and hash in unpadded
// standard base64. Verification reads the parameters from the string, so
// that they can be raised later without breaking stored hashes.
const (
	argonMemory  = 64 * 1024 // KiB
	argonTime    = 3
	argonThreads = 2
	argonSaltLen = 16
	argonKeyLen  = 32
)

var b64 = base64.RawStdEncoding

func hashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	return phc(password, salt, argonMemory, argonTime, argonThreads, argonKeyLen), nil
}

func phc(password string, salt []byte, m, t uint32, p uint8, keyLen uint32) string {
	key := argon2.IDKey([]byte(password), salt, t, m, p, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, m, t, p, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// dummyHash is checked against when the username is unknown; made on
// first use, not at start.
var dummyHash = sync.OnceValue(func() string {
	return phc("", make([]byte, argonSaltLen), argonMemory, argonTime, argonThreads, argonKeyLen)
})

// verifyPassword reports whether password matches a PHC argon2id hash, in
// time independent of where they differ. Parameters outside sane bounds
// (a damaged row) fail rather than exhaust memory.
func verifyPassword(encoded, password string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return false
	}
	var m, t uint32
	var p uint8
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || n != 3 {
		return false
	}
	if m < 8*uint32(p) || m > 1<<21 || t < 1 || t > 16 || p < 1 || p > 16 {
		return false
	}
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(want) < 16 || len(want) > 64 {
		return false
	}
	// At most a few hashings at once: each takes tens of MiB, and sign-in is
	// open to anyone — a flood must queue, not exhaust memory.
	argonSlots <- struct{}{}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	<-argonSlots
	return subtle.ConstantTimeCompare(got, want) == 1
}

// argonSlots bounds concurrent password hashing (4 × 64 MiB).
var argonSlots = make(chan struct{}, 4)
