package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/dopaid/dopaid/admin"
	"github.com/dopaid/dopaid/storage"
)

// TestReceiptsBrowser: a citizen's "my data" download carries, for every
// release of their data, a receipt that `dopaid audit verify-receipt`
// accepts against the log key the provider publishes (pinned from
// /audit/key, never read from the file), and rejects once tampered with;
// an auditor's export over the admin API carries the same receipts.
func TestReceiptsBrowser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ctx := context.Background()
		c := newChrome(t)
		ts := boot(t, database, devMode)
		seedCitizens(t, ts, somchai)
		_, app := newLicenceApp(t, ts)
		ps, ok := ts.Store.(storage.PlatformStores)
		if !ok {
			t.Fatal("the store does not hold the audit trail")
		}

		home := c.newTab(t)
		proveAndEnrol(t, ts, home, app, somchai, true)
		home.click(t, "continue")
		onConsentPage(t, ts, home)
		home.click(t, "consent-allow")
		tok := app.signedIn(t, ts, home)
		if status, _, _ := appUserinfo(t, app, tok.AccessToken); status != http.StatusOK {
			t.Fatalf("userinfo: status %d", status)
		}
		entries, err := ps.AuditEntries(ctx, storage.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		settle(t, ts, int64(len(entries)))

		// The key is pinned from what the provider publishes.
		status, _, vkey := fetch(t, ts, "/audit/key")
		if status != http.StatusOK {
			t.Fatalf("/audit/key: %d", status)
		}
		vkey = strings.TrimSpace(vkey)
		verify := func(t *testing.T, what, receipt string) (int, string) {
			t.Helper()
			file := filepath.Join(t.TempDir(), "receipt.txt")
			if err := os.WriteFile(file, []byte(receipt), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := runCLI(t, "audit", "verify-receipt", "--log-key", vkey, "--receipt", file)
			return code, out + errOut
		}
		checkReceipt := func(t *testing.T, what, receipt, wantType string) {
			t.Helper()
			if code, out := verify(t, what, receipt); code != 0 || !strings.Contains(out, "type "+wantType) {
				t.Errorf("%s: verify-receipt exit %d: %s", what, code, out)
			}
			// Tampered: the entry's leaf (base64 after "extra") changed.
			tampered := regexp.MustCompile(`(?m)^(extra )(.)`).ReplaceAllStringFunc(receipt, func(s string) string {
				if strings.HasSuffix(s, "A") {
					return s[:len(s)-1] + "B"
				}
				return s[:len(s)-1] + "A"
			})
			if tampered == receipt {
				t.Fatalf("%s: no entry to tamper with in %q", what, receipt)
			}
			if code, out := verify(t, what, tampered); code == 0 {
				t.Errorf("%s: a tampered receipt verifies: %s", what, out)
			}
			// Moved to another place in the log.
			moved := regexp.MustCompile(`(?m)^index (\d+)$`).ReplaceAllString(receipt, "index 999")
			if code, out := verify(t, what, moved); code == 0 {
				t.Errorf("%s: a receipt with another index verifies: %s", what, out)
			}
		}

		t.Run("the citizen's download", func(t *testing.T) {
			home.open(t, ts.URL+"/login/me")
			resp, body := home.download(t, ts.URL+"/login/me/history.json")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("history.json: %d", resp.StatusCode)
			}
			var rs []struct {
				Seq           int64  `json:"seq"`
				Event         string `json:"event"`
				ReceiptStatus string `json:"receipt_status"`
				Receipt       string `json:"receipt"`
			}
			if err := json.Unmarshal(body, &rs); err != nil {
				t.Fatalf("history.json: %v", err)
			}
			if len(rs) != 2 {
				t.Fatalf("history.json lists %d releases, want the token and the userinfo:\n%s", len(rs), body)
			}
			for _, r := range rs {
				if r.ReceiptStatus != "included" {
					t.Fatalf("release %d (%s): receipt %q, want included", r.Seq, r.Event, r.ReceiptStatus)
				}
				checkReceipt(t, "release "+r.Event, r.Receipt, r.Event)
			}
		})

		t.Run("an auditor's export", func(t *testing.T) {
			// A DOPA approver signs in to the JSON API, as an auditor's
			// tools do.
			_, otpURL, err := ts.Admin.Bootstrap(ctx, "approver1", "Approver One", storage.RoleApprover, "a long enough password")
			if err != nil {
				t.Fatal(err)
			}
			key, err := otp.NewKeyFromURL(otpURL)
			if err != nil {
				t.Fatal(err)
			}
			ts.secret(key.Secret())
			code, _ := totp.GenerateCode(key.Secret(), time.Now())
			req, _ := http.NewRequest(http.MethodPost, ts.URL+admin.APIPath+"/session",
				strings.NewReader(`{"username":"approver1","password":"a long enough password","totp":"`+code+`"}`))
			req.Header.Set("Content-Type", "application/json")
			var session struct{ Token string }
			if r := do(t, req); r.status != http.StatusCreated || json.Unmarshal(r.body, &session) != nil || session.Token == "" {
				t.Fatalf("API sign-in: status %d: %.300s", r.status, r.body)
			}
			ts.secret(session.Token)
			req, _ = http.NewRequest(http.MethodGet, ts.URL+admin.APIPath+"/audit/export.json?type=userinfo&client="+licenceSystem.ID, nil)
			req.Header.Set("Authorization", "Bearer "+session.Token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var x struct {
				Entries []struct {
					Type    string `json:"type"`
					Status  string `json:"status"`
					Receipt string `json:"receipt"`
				} `json:"entries"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&x); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("export: %d, %v", resp.StatusCode, err)
			}
			if len(x.Entries) != 1 || x.Entries[0].Status != "integrated" {
				t.Fatalf("export = %+v, want the one userinfo release, integrated", x.Entries)
			}
			checkReceipt(t, "export", x.Entries[0].Receipt, storage.AuditUserinfo)
		})
	})
}
