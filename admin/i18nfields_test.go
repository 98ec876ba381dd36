package admin

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// thaiScript matches a Thai letter.
var thaiScript = regexp.MustCompile(`\p{Thai}`)

// englishWords are words of the service's messages that must not reach a
// Thai page.
var englishWords = regexp.MustCompile(`\b(is|must|the|required|not|be|a|an|of|at least|after|before|only|give)\b`)

func TestFieldMessagesThai(t *testing.T) {
	for _, f := range thaiFieldFormats {
		args := []any{}
		for range strings.Count(f[0], "%") {
			args = append(args, 7)
		}
		en := fmt.Sprintf(strings.ReplaceAll(f[0], "%q", "%d"), args...)
		if strings.Contains(f[0], "%q") || strings.Contains(f[0], "%s") {
			en = fmt.Sprintf(strings.NewReplacer("%q", "%v", "%s", "%v").Replace(f[0]), args...)
		}
		got := fieldMessage("th", en)
		if got == messages["th"]["field_invalid"] || !thaiScript.MatchString(got) || englishWords.MatchString(got) {
			t.Errorf("%q shows in Thai as %q", en, got)
		}
		if fieldMessage("en", en) != en {
			t.Errorf("English console changed %q", en)
		}
	}
	if got := fieldMessage("th", "some message nobody translated"); got != messages["th"]["field_invalid"] {
		t.Errorf("an unknown message shows as %q, want the generic Thai one", got)
	}
	if got, want := fieldMessage("th", `claim "email" was not asked for this purpose`), `คำขอไม่ได้ขอข้อมูล "email" สำหรับวัตถุประสงค์นี้`; got != want {
		t.Errorf("arguments: %q, want %q", got, want)
	}
}

// TestConsoleThaiValidationInBrowser: the Thai console's refusals are
// Thai from the message to every field error.
func TestConsoleThaiValidationInBrowser(t *testing.T) {
	browser := newBrowser(t)
	s := newServer(t, openSQLite(t), false)
	o := s.account("olivia", storage.RoleOfficer, "")
	approver := s.account("arthur", storage.RoleApprover, "")
	officer, at := s.token(o), s.token(approver)

	b := newTab(t, browser)
	b.open(s.srv.URL + Path + "/agencies")
	b.signIn(s, o)
	if b.lang() != "th" {
		t.Fatalf("lang %q", b.lang())
	}
	noEnglish := func(what string) {
		t.Helper()
		got := b.text("error")
		if !thaiScript.MatchString(got) || englishWords.MatchString(got) {
			t.Errorf("%s: the Thai console shows %q", what, got)
		}
	}
	// A private agency without its registration number; a bad email.
	b.open(s.srv.URL + Path + "/agencies")
	b.fill("agency-name-th", "บริษัทตัวอย่าง")
	b.fill("agency-name-en", "Example Co")
	b.choose("agency-category", storage.CategoryPrivate)
	b.fill("contact-name", "สมหญิง")
	b.submit("agency-create")
	if !strings.Contains(b.text("error"), "ต้องกรอกสำหรับนิติบุคคลเอกชน") {
		t.Errorf("agency error %q", b.text("error"))
	}
	noEnglish("agency")

	// A renewal that does not extend the permit.
	sys := apiSystem{Name: "Tax portal", RedirectURIs: []string{"https://tax.example.go.th/callback"},
		AuthMethod: storage.AuthMethodSecretBasic, NetworkRanges: []string{"203.0.113.0/24"}}
	_, pm := s.pendingPermit(officer, "Revenue Department", sys)
	s.call(at, http.MethodPost, "/permits/"+pm.ID+"/decisions", apiDecisionRequest{Action: "approve", Grant: grantBody(s.clock.Now())}).want(http.StatusCreated)
	b.open(s.srv.URL + Path + "/permits/" + pm.ID)
	b.eval(`(() => { document.getElementById("renew-valid-until").value = "` + s.clock.Now().In(bangkok).AddDate(0, 1, 0).Format(time.DateOnly) + `"; return "" })()`)
	b.submit("renewal-submit")
	noEnglish("renewal")

	// The approver's decision without a supervisor.
	_, pending := s.pendingPermit(officer, "Land Department", sys)
	a := newTab(t, browser)
	a.open(s.srv.URL + Path + "/permits/" + pending.ID)
	a.signIn(s, approver)
	a.submit("decision-submit")
	b = a // noEnglish reads the approver's page now
	if !strings.Contains(a.text("error"), "ผู้กำกับดูแล") {
		t.Errorf("decision error %q", a.text("error"))
	}
	noEnglish("decision")
}
