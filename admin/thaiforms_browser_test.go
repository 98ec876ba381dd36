package admin

import (
	"regexp"
	"testing"

	"github.com/dopaid/dopaid/storage"
)

// englishSentence is a run of four or more ASCII words: English prose.
var englishSentence = regexp.MustCompile(`[A-Za-z']+(?:[ ,;:]+[A-Za-z']+){3,}`)

// TestConsoleBrowserThaiFormErrors submits each of the console's forms
// that earlier tests leave out — an API token, the audit filter, the
// pseudonym lookup, the usage statement, a new administrator — with a bad
// value, past the browser's own checks, in Thai: the refusal is in Thai,
// with no English sentence.
func TestConsoleBrowserThaiFormErrors(t *testing.T) {
	browser := newBrowser(t)
	s := newServer(t, openSQLite(t), false)
	b := newTab(t, browser)
	b.open(s.srv.URL + Path + "/")
	b.signIn(s, s.first)
	if b.lang() != "th" {
		t.Fatalf("lang %q", b.lang())
	}
	noChecks := `document.querySelectorAll("input,select,textarea").forEach(e => ["required", "min", "max", "pattern", "maxlength"].forEach(a => e.removeAttribute(a))), ""`
	for _, f := range []struct {
		name, page string
		fill       map[string]string
		submit     string
	}{
		{"token", "/tokens", map[string]string{"token-name": "ci", "token-days": "999"}, "token-create"},
		{"audit filter", "/audit", map[string]string{"audit-since": "yesterday"}, "audit-filter"},
		{"pseudonym lookup", "/audit", map[string]string{"lookup-pid": "1234"}, "lookup-submit"},
		{"usage", "/usage", map[string]string{"usage-month": "December"}, "usage-show"},
		{"administrator", "/admins", map[string]string{"admin-username": "Not A Name", "admin-name": "x"}, "admin-create"},
	} {
		b.open(s.srv.URL + Path + f.page)
		b.eval(noChecks)
		for id, v := range f.fill {
			b.eval(`document.getElementById("` + id + `").value = "", ""`)
			b.fill(id, v)
		}
		if f.name == "administrator" {
			b.choose("admin-role", storage.RoleOfficer)
		}
		b.submit(f.submit)
		if !b.has("error") {
			t.Errorf("%s: no error shown (%s)", f.name, b.where())
			continue
		}
		got := b.text("error")
		if !thaiScript.MatchString(got) || englishWords.MatchString(got) || englishSentence.MatchString(got) {
			t.Errorf("%s: the Thai console shows %q", f.name, got)
		}
	}
}
