package storagetest

import "github.com/dopaid/dopaid/storage"

// normList normalizes every element and makes nil and empty equal.
func normList[T any](s []T, norm func(T) T) []T {
	if len(s) == 0 {
		return nil
	}
	out := make([]T, len(s))
	for i, v := range s {
		out[i] = norm(v)
	}
	return out
}

func normAgency(a storage.Agency) storage.Agency {
	a.Contacts = normList(a.Contacts, identity)
	a.CreatedAt = normTime(a.CreatedAt)
	a.UpdatedAt = normTime(a.UpdatedAt)
	return a
}

func normPurpose(p storage.Purpose) storage.Purpose {
	p.Claims = normStrings(p.Claims)
	return p
}

func normSystem(s storage.System) storage.System {
	s.RedirectURIs = normStrings(s.RedirectURIs)
	s.PostLogoutRedirectURIs = normStrings(s.PostLogoutRedirectURIs)
	s.JWKS = normBytes(s.JWKS)
	s.NetworkRanges = normStrings(s.NetworkRanges)
	return s
}

func normApplication(a storage.Application) storage.Application {
	a.Purposes = normList(a.Purposes, normPurpose)
	a.Systems = normList(a.Systems, normSystem)
	a.Acceptance.At = normTime(a.Acceptance.At)
	a.CreatedAt = normTime(a.CreatedAt)
	return a
}

func normPermit(p storage.Permit) storage.Permit {
	p.ValidFrom = normTime(p.ValidFrom)
	p.ValidUntil = normTime(p.ValidUntil)
	p.Purposes = normList(p.Purposes, normPurpose)
	p.Supervisors = normList(p.Supervisors, identity)
	p.CreatedAt = normTime(p.CreatedAt)
	p.UpdatedAt = normTime(p.UpdatedAt)
	return p
}

func normDecision(d storage.Decision) storage.Decision {
	d.RecordedAt = normTime(d.RecordedAt)
	d.EffectiveAt = normTime(d.EffectiveAt)
	d.AppliedAt = normTime(d.AppliedAt)
	d.Payload = normBytes(d.Payload)
	return d
}

func normAdmin(a storage.Admin) storage.Admin {
	a.TOTPSecret = normBytes(a.TOTPSecret)
	a.InviteExpiresAt = normTime(a.InviteExpiresAt)
	a.ConfirmedAt = normTime(a.ConfirmedAt)
	a.CreatedAt = normTime(a.CreatedAt)
	a.UpdatedAt = normTime(a.UpdatedAt)
	return a
}

func normConsent(c storage.Consent) storage.Consent {
	c.Claims = normStrings(c.Claims)
	c.GivenAt = normTime(c.GivenAt)
	c.WithdrawnAt = normTime(c.WithdrawnAt)
	return c
}

// normAudit makes nil and empty Claims equal and compares At to the
// millisecond.
func normAudit(e storage.AuditEntry) storage.AuditEntry {
	e.Claims = normStrings(e.Claims)
	e.At = normTime(e.At)
	return e
}

// ids returns the IDs of records, in order.
func ids[T any](rs []T, id func(T) string) []string {
	var out []string
	for _, r := range rs {
		out = append(out, id(r))
	}
	return out
}

func normAdminToken(t storage.AdminToken) storage.AdminToken {
	t.CreatedAt = normTime(t.CreatedAt)
	t.ExpiresAt = normTime(t.ExpiresAt)
	t.RevokedAt = normTime(t.RevokedAt)
	return t
}
