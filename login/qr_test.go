package login

import (
	"bytes"
	"html/template"
	"regexp"
	"testing"
)

// TestQRCodeAltTranslated: the enrolment page's QR code is described in
// the page's language, and says what to do when it cannot be scanned.
func TestQRCodeAltTranslated(t *testing.T) {
	alt := regexp.MustCompile(`<img id="qr"[^>]* alt="([^"]*)"`)
	want := map[string]string{
		"th": "คิวอาร์โค้ดสำหรับตั้งค่าแอปยืนยันตัวตน หากสแกนไม่ได้ ให้กรอกรหัสด้านล่างในแอปแทน",
		"en": "QR code to set up your authenticator app; if you cannot scan it, enter the key below in the app instead",
	}
	for l, w := range want {
		var b bytes.Buffer
		p := page{Lang: l, T: messages[l], Data: map[string]any{"QR": template.URL("data:image/png;base64,AA=="), "Secret": "JBSWY3DPEHPK3PXP"}}
		if err := pages.ExecuteTemplate(&b, "enrol.html", p); err != nil {
			t.Fatal(err)
		}
		m := alt.FindStringSubmatch(b.String())
		if m == nil {
			t.Fatalf("%s: no QR code image with alternative text", l)
		}
		if got := template.HTMLEscapeString(w); m[1] != got {
			t.Errorf("%s: alt = %q, want %q", l, m[1], got)
		}
	}
}
