package login

import (
	"net/http/httptest"
	"testing"
)

// TestProofFields: each format error is named at its field with its own
// message; a well-formed form names none.
func TestProofFields(t *testing.T) {
	ok := proofData{PID: "1-1001-00000-01-8", FirstName: "สมชาย", LastName: "ใจดี", Day: "12", Month: "5", Year: "๒๕๓๐", Laser: "jt0-1234567-89"}
	tests := []struct {
		name   string
		change func(*proofData)
		want   map[string]string
	}{
		{"well formed", func(*proofData) {}, map[string]string{}},
		{"check digit", func(d *proofData) { d.PID = "1100100000019" }, map[string]string{"pid": "err_pid_check"}},
		{"twelve digits", func(d *proofData) { d.PID = "110010000001" }, map[string]string{"pid": "err_pid_format"}},
		{"Common Era year", func(d *proofData) { d.Year = "1987" }, map[string]string{"birth_year": "err_year_ce"}},
		{"not a year", func(d *proofData) { d.Year = "87" }, map[string]string{"birth_year": "err_year"}},
		{"month 13", func(d *proofData) { d.Month = "13" }, map[string]string{"birth_month": "err_month"}},
		{"31 February", func(d *proofData) { d.Day, d.Month = "31", "2" }, map[string]string{"birth_day": "err_day"}},
		{"day without month", func(d *proofData) { d.Month = "" }, map[string]string{"birth_day": "err_day"}},
		{"laser too short", func(d *proofData) { d.Laser = "JT0-12345" }, map[string]string{"laser": "err_laser"}},
		{"no laser is fine", func(d *proofData) { d.Laser = "" }, map[string]string{}},
		{"no names", func(d *proofData) { d.FirstName, d.LastName = " ", "" }, map[string]string{"first_name": "err_first_name", "last_name": "err_last_name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ok
			tt.change(&d)
			_, _, _, _, _, got := proofFields(d)
			if len(got) != len(tt.want) {
				t.Fatalf("fields = %v, want %v", got, tt.want)
			}
			for f, k := range tt.want {
				if got[f] != k {
					t.Errorf("field %s = %q, want %q", f, got[f], k)
				}
				if messages["th"][k] == "" || messages["en"][k] == "" {
					t.Errorf("message %s is missing in a language", k)
				}
			}
		})
	}
}

// TestStepURL: the language switch returns to the step a page belongs to,
// never to another site.
func TestStepURL(t *testing.T) {
	tests := []struct{ method, target, id, want string }{
		{"GET", "/login/face", "", "/login/face"},
		{"GET", "/login/recovery?authRequestID=abc", "abc", "/login/recovery?authRequestID=abc"},
		{"POST", "/login/proof", "a b", "/login/proof?authRequestID=a+b"},
		{"POST", "/login/face/check", "x", "/login/face"},
		{"POST", "/login/enrol", "x", "/login/enrol"},
		{"POST", "/login/signin", "x", "/login?authRequestID=x"},
		{"POST", "/login/me/signin", "", "/login/me"},
		{"POST", "/login/me/consents/1/withdraw", "", "/login/me"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.target, nil)
		if got := stepURL(r, tt.id); got != tt.want {
			t.Errorf("%s %s: stepURL = %q, want %q", tt.method, tt.target, got, tt.want)
		}
	}
}
