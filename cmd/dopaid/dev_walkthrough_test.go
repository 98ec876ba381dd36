package main

import (
	"strings"
	"testing"
)

// TestDevWalkthrough follows the README as a new user would: `serve --dev`,
// open the demo application, prove identity as the first demo citizen with
// the face simulator, enrol TOTP, consent, land back at the demo with its
// claims shown — then, in another browser, sign in again with the ID number
// and a TOTP code only.
func TestDevWalkthrough(t *testing.T) {
	ts := boot(t, "", func(m *Main) { m.Config.Dev = true })
	somchai := demoCitizens[0]
	ts.secret(somchai.PID, somchai.LaserCode)
	c := newChrome(t)

	b := c.newTab(t)
	b.open(t, ts.URL+"/demo/")
	b.click(t, "signin")
	b.click(t, "prove")
	submitProof(t, b, proofDetails{PID: somchai.PID, First: somchai.FirstTH, Last: somchai.LastTH,
		Day: "15", Month: "1", Year: "2530", Laser: somchai.LaserCode})
	b.need(t, "sim-match")
	b.click(t, "sim-match")
	phone := enrol(t, ts, b)
	b.click(t, "continue")
	if !b.has(t, "consent-allow") {
		t.Fatalf("no consent page after enrolment (%s)", b.where(t))
	}
	if got := b.text(t, "consent-permit"); got != "DEV-demo-agency" {
		t.Errorf("consent names permit %q, want DEV-demo-agency", got)
	}
	b.click(t, "consent-allow")
	claims, userinfo := b.text(t, "claims"), b.text(t, "userinfo")
	// The plain sign-in named no level: acr is the default, and the level
	// reached is the ial claim, which the demo permit grants.
	for _, want := range []string{`"acr": "urn:dopa:digital-id:ial:1.2"`, `"ial": "2.3"`} {
		if !strings.Contains(claims, want) {
			t.Errorf("demo's ID token claims lack %s:\n%s", want, claims)
		}
	}
	for _, want := range []string{"สมชาย", "ใจดี", "Somchai", `"birthdate": "1987-01-15"`} {
		if !strings.Contains(userinfo, want) {
			t.Errorf("demo's userinfo lacks %s:\n%s", want, userinfo)
		}
	}
	if strings.Contains(claims+userinfo, somchai.PID) {
		t.Error("the plain sign-in released the ID number")
	}

	// Later, another browser: ID number and a code, no proofing, no consent.
	again := c.newTab(t)
	again.open(t, ts.URL+"/demo/")
	again.click(t, "signin")
	signIn(t, again, somchai.PID, phone.code(t))
	if !again.has(t, "claims") {
		t.Fatalf("second sign-in did not reach the demo's claims (%s)", again.where(t))
	}
	if got := again.text(t, "userinfo"); !strings.Contains(got, "สมชาย") {
		t.Errorf("second sign-in userinfo = %s", got)
	}
}
