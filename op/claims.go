package op

import (
	"context"
	"slices"
	"strings"

	"github.com/dopaid/dopaid/storage"
)

// claimScopes and citizenClaims are the domain's (storage/claims.go).
var (
	claimScopes   = storage.ClaimScopes
	citizenClaims = storage.ClaimNames
)

// claims returns the values of the named claims for a citizen. Empty
// values are left out (OIDC Core §5.3.2). ial comes from the grant: it is
// the level of this sign-in, not of the registry record.
func (p *Provider) claims(ctx context.Context, subject string, names []string, g storage.Grant) (map[string]any, error) {
	out := map[string]any{}
	if len(names) == 0 {
		return out, nil
	}
	if slices.Contains(names, "ial") && g.IAL != "" {
		out["ial"] = g.IAL
	}
	c, err := p.citizens.get(ctx, subject)
	if err != nil {
		if isNotFound(err) {
			return out, nil
		}
		return nil, err
	}
	set := func(name string, v any) {
		if s, ok := v.(string); ok && s == "" {
			return
		}
		if slices.Contains(names, name) {
			out[name] = v
		}
	}
	set("pid", c.PID)
	set("title", c.NameTH.Title)
	set("given_name", c.NameTH.First)
	set("middle_name", c.NameTH.Middle)
	set("family_name", c.NameTH.Last)
	set("name", joinName(c.NameTH))
	set("title_en", c.NameEN.Title)
	set("given_name_en", c.NameEN.First)
	set("middle_name_en", c.NameEN.Middle)
	set("family_name_en", c.NameEN.Last)
	set("name_en", joinName(c.NameEN))
	set("birthdate", c.Birthdate.OIDC())
	switch c.Sex {
	case storage.SexMale:
		set("gender", "male")
	case storage.SexFemale:
		set("gender", "female")
	}
	if a := c.Address; a != (storage.Address{}) && slices.Contains(names, "address") {
		out["address"] = addressClaim(a)
	}
	set("date_of_issuance", c.CardIssued.OIDC())
	if c.CardExpires.IsLifetime() {
		set("date_of_expiry", "lifetime")
	} else {
		set("date_of_expiry", c.CardExpires.OIDC())
	}
	p.setDerived(out, c, names)
	return out, nil
}

func joinName(n storage.Name) string {
	return strings.Join(strings.Fields(strings.Join([]string{n.Title, n.First, n.Middle, n.Last}, " ")), " ")
}

// addressClaim renders a Thai address as the OIDC address claim (§5.1.1),
// with the structured parts alongside.
func addressClaim(a storage.Address) map[string]any {
	var street []string
	add := func(label, v string) {
		if v != "" {
			street = append(street, label+v)
		}
	}
	add("", a.HouseNo)
	add("หมู่ ", a.Moo)
	add("ตรอก ", a.Trok)
	add("ซอย ", a.Soi)
	add("ถนน ", a.Road)
	add("", a.Subdistrict)
	streetAddr := strings.Join(street, " ")
	formatted := strings.Join(strings.Fields(strings.Join([]string{streetAddr, a.District, a.Province, a.PostalCode}, " ")), " ")
	m := map[string]any{
		"formatted":      formatted,
		"street_address": streetAddr,
		"locality":       a.District,
		"region":         a.Province,
		"postal_code":    a.PostalCode,
		"country":        "TH",
		"house_no":       a.HouseNo,
		"moo":            a.Moo,
		"trok":           a.Trok,
		"soi":            a.Soi,
		"road":           a.Road,
		"subdistrict":    a.Subdistrict,
		"district":       a.District,
		"province":       a.Province,
	}
	for k, v := range m {
		if v == "" {
			delete(m, k)
		}
	}
	return m
}
