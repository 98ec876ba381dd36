package admin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
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

// CreateAdmin creates an administrator account and returns it with the
// otpauth:// URL that enrols its TOTP secret in an authenticator app (shown
// once). An approver creates accounts; actor may be nil only while no
// account exists, to bootstrap the first, which must be an approver.
// Supervisors are bound to an agency; DOPA staff are not.
func (s *Service) CreateAdmin(ctx context.Context, actor *storage.Admin, user, name, role, agencyID, password string) (out storage.Admin, otpURL string, err error) {
	ev := event{detail: "create_admin", agencyID: agencyID}
	var by storage.Admin
	if actor == nil {
		ev.actor, ev.detail = "system", "bootstrap_admin"
	} else {
		by = *actor
	}
	defer func() { s.record(ctx, by, ev, err) }()
	if actor == nil {
		n, err := s.ps.CountAdmins(ctx)
		if err != nil {
			return storage.Admin{}, "", fmt.Errorf("count administrators: %w", err)
		}
		if n > 0 {
			return storage.Admin{}, "", fmt.Errorf("administrators exist already; an approver must create the account: %w", ErrForbidden)
		}
	} else if _, err = s.authorize(ctx, *actor, storage.RoleApprover); err != nil {
		return storage.Admin{}, "", err
	}

	p := problems{}
	user = strings.TrimSpace(user)
	if !username.MatchString(user) {
		p.add("username", "must be 3 to 64 characters: lower-case letters, digits, '.', '_' and '-', starting with a letter or digit")
	}
	name = p.text("name", name, true, maxName)
	switch {
	case !slices.Contains(Roles, role):
		p.add("role", "must be one of %s", strings.Join(Roles, ", "))
	case actor == nil && role != storage.RoleApprover:
		p.add("role", "the first administrator must be an approver, who can then create the others")
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
			return storage.Admin{}, "", fmt.Errorf("load agency: %w", err)
		}
	}
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
	if _, ok := p["username"]; !ok {
		if _, err := s.ps.AdminByUsername(ctx, user); err == nil {
			p.add("username", "is taken")
		} else if !errors.Is(err, storage.ErrNotFound) {
			return storage.Admin{}, "", fmt.Errorf("load administrator: %w", err)
		}
	}
	if err = p.err(); err != nil {
		return storage.Admin{}, "", err
	}

	now := s.now()
	a := storage.Admin{Username: user, Name: name, Role: role, AgencyID: agencyID, CreatedAt: now, UpdatedAt: now}
	if a.ID, err = newID(); err != nil {
		return storage.Admin{}, "", err
	}
	if a.PasswordHash, err = hashPassword(password); err != nil {
		return storage.Admin{}, "", err
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: TOTPIssuer, AccountName: user, Period: totpPeriod, Digits: otp.DigitsSix,
		Algorithm: otp.AlgorithmSHA1, SecretSize: 20,
	})
	if err != nil {
		return storage.Admin{}, "", fmt.Errorf("totp secret: %w", err)
	}
	if a.TOTPSecret, err = s.cfg.Envelope.Seal([]byte(key.Secret()), totpAD(a.ID)); err != nil {
		return storage.Admin{}, "", fmt.Errorf("seal totp secret: %w", err)
	}
	if err = s.ps.CreateAdmin(ctx, a); err != nil {
		if errors.Is(err, storage.ErrAlreadyExists) {
			return storage.Admin{}, "", &ValidationError{Fields: map[string]string{"username": "is taken"}}
		}
		return storage.Admin{}, "", fmt.Errorf("store administrator: %w", err)
	}
	if actor == nil {
		ev.actor = "admin:" + a.ID
	}
	return public(a), key.URL(), nil
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
		s.record(ctx, a, ev, err)
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
	a.PasswordHash, a.TOTPSecret = "", nil
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
