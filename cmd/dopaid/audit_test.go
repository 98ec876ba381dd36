package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "modernc.org/sqlite"

	"golang.org/x/mod/sumdb/note"

	"github.com/dopaid/dopaid/audit"
	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/postgres/pgtest"
)

// freshDatabase returns a database of its own for a server: "" (SQLite in
// the server's data directory) or a new PostgreSQL schema.
func freshDatabase(t *testing.T, database string) string {
	t.Helper()
	if database == "" {
		return ""
	}
	return pgtest.Schema(t, 8)
}

// appendAudit appends n varied entries through the server's store, as op,
// login and admin do.
func appendAudit(t *testing.T, ts *testServer, n int) []storage.AuditEntry {
	t.Helper()
	return appendAuditDetail(t, ts, n, "step")
}

// appendAuditDetail is appendAudit with entries whose details read
// "<detail> <i>": another detail makes entries that differ from
// appendAudit's whatever the clock says.
func appendAuditDetail(t *testing.T, ts *testServer, n int, detail string) []storage.AuditEntry {
	t.Helper()
	types := []string{storage.AuditSignIn, storage.AuditTokenIssued, storage.AuditUserinfo, storage.AuditConsentGiven}
	var out []storage.AuditEntry
	for i := range n {
		e, err := ts.Store.AppendAudit(context.Background(), storage.AuditEntry{
			At:        time.Now(),
			Type:      types[i%len(types)],
			Actor:     fmt.Sprintf("citizen:c-%d", i%5),
			CitizenID: fmt.Sprintf("c-%d", i%5),
			AgencyID:  "agency-1",
			PermitID:  "permit-1",
			ClientID:  "client-1",
			Purpose:   "loan",
			Claims:    []string{"family_name", "given_name", "birthdate"}[:i%4],
			IAL:       "2.3",
			Outcome:   "success",
			Detail:    fmt.Sprintf("%s %d", detail, i),
		})
		if err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
		out = append(out, e)
	}
	return out
}

// settle waits until the server's log holds size entries, every one of
// them published (and sent to the witnesses), helping the server's
// integrator along: rounds here and there take turns on the store.
func settle(t *testing.T, ts *testServer, size int64) {
	t.Helper()
	ctx := context.Background()
	for range 500 {
		if _, err := ts.audit.integrator.Integrate(ctx); err != nil && !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("Integrate: %v", err)
		}
		h, err := ts.audit.store.LogHead(ctx)
		if err == nil && h.Size == size {
			for _, f := range ts.audit.afterIntegration() {
				if err := f(ctx); err != nil {
					t.Fatalf("after integration: %v", err)
				}
			}
			return
		}
		if err == nil && h.Size > size {
			t.Fatalf("the log holds %d entries, want %d", h.Size, size)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the log never reached %d entries", size)
}

// tamperAudit runs SQL on the server's database behind the store's back,
// as someone holding the database could: with the tables' owner's rights,
// dropping the triggers that keep the log append-only (migration 0014)
// first.
func tamperAudit(t *testing.T, ts *testServer, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	if ts.Config.Database == "" {
		db, err := sql.Open("sqlite", ts.Config.sqlitePath()+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		stmts = append([]string{`DROP TRIGGER IF EXISTS audit_log_entries_no_delete`, `DROP TRIGGER IF EXISTS audit_log_entries_guard`,
			`DROP TRIGGER IF EXISTS audit_log_nodes_no_update`, `DROP TRIGGER IF EXISTS audit_log_nodes_no_delete`,
			`DROP TRIGGER IF EXISTS audit_log_heads_no_update`, `DROP TRIGGER IF EXISTS audit_log_heads_no_delete`,
			`DROP TRIGGER IF EXISTS audit_log_leaves_no_update`, `DROP TRIGGER IF EXISTS audit_log_leaves_no_delete`}, stmts...)
		for _, q := range stmts {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		return
	}
	// A plain connection: pool_* parameters would reach the server.
	u, err := url.Parse(ts.Config.Database)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Del("pool_max_conns")
	u.RawQuery = q.Encode()
	// The server's integration may hold the log's tables while this runs:
	// take all four at once, in the order the server takes them, and
	// start again if PostgreSQL still picks this side of a deadlock.
	stmts = append([]string{`BEGIN`,
		`LOCK TABLE audit_log_entries, audit_log_leaves, audit_log_nodes, audit_log_heads IN ACCESS EXCLUSIVE MODE`,
		`DROP TRIGGER IF EXISTS audit_log_entries_guard ON audit_log_entries`,
		`DROP TRIGGER IF EXISTS audit_log_nodes_append_only ON audit_log_nodes`,
		`DROP TRIGGER IF EXISTS audit_log_heads_append_only ON audit_log_heads`,
		`DROP TRIGGER IF EXISTS audit_log_leaves_append_only ON audit_log_leaves`}, append(stmts, `COMMIT`)...)
	script := strings.Join(stmts, "; ")
	for attempt := 1; ; attempt++ {
		err := pgtest.TryExec(ctx, u.String(), script)
		var pgErr *pgconn.PgError
		if err == nil {
			return
		}
		if !errors.As(err, &pgErr) || pgErr.Code != "40P01" || attempt == 5 {
			t.Fatalf("%s: %v", script, err)
		}
	}
}

// auditCmd runs `dopaid audit ARGS` against the server's store and data
// directory, as an operator would.
func auditCmd(t *testing.T, ts *testServer, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	env := map[string]string{
		"DOPAID_DATA_DIR":          ts.Config.DataDir,
		"DOPAID_DATABASE_URL":      ts.Config.Database,
		"DOPAID_AUDIT_PUBLISH_DIR": ts.Config.AuditPublishDir,
		"DOPAID_LOG_LEVEL":         "warn",
	}
	var out, errOut bytes.Buffer
	code = run(t.Context(), append([]string{"audit"}, args...), &out, &errOut, func(k string) string { return env[k] })
	return code, out.String(), errOut.String()
}

// offline runs `dopaid audit ARGS` with an empty environment.
func offline(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), append([]string{"audit"}, args...), &out, &errOut, func(string) string { return "" })
	return code, out.String(), errOut.String()
}

// fetch GETs a path of the server and returns the status, content type and
// body.
func fetch(t *testing.T, ts *testServer, path string) (int, string, string) {
	t.Helper()
	resp, err := http.Get(ts.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// TestAuditVerifyTamper changes the database behind the server's back and
// checks that `dopaid audit verify`, with no flags but the database's,
// fails naming the entry: a change, a deletion in the middle, a tail cut
// behind a published checkpoint, a reorder, and a fork re-signed with the
// log's own key.
func TestAuditVerifyTamper(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		tests := []struct {
			name string
			// tamper changes the database; nil for an untouched log.
			tamper func(t *testing.T, ts *testServer)
			want   string // what verify prints first
		}{
			{name: "untouched", want: "ok: 30 entries, "},
			{
				name:   "field changed",
				tamper: sqlTamper(`UPDATE audit_log_entries SET outcome = 'failure' WHERE seq = (SELECT seq FROM audit_log_leaves WHERE leaf_index = 11)`),
				want:   "entry 12: ",
			},
			{
				name: "entry deleted in the middle",
				tamper: sqlTamper(`DELETE FROM audit_log_entries WHERE seq = (SELECT seq FROM audit_log_leaves WHERE leaf_index = 16)`,
					`DELETE FROM audit_log_leaves WHERE leaf_index = 16`),
				want: "entry 17: missing",
			},
			{
				name: "tail cut behind the published checkpoint",
				// The tree nodes and signed heads go too: only the
				// published checkpoint remembers.
				tamper: sqlTamper(`DELETE FROM audit_log_entries WHERE seq IN (SELECT seq FROM audit_log_leaves WHERE leaf_index >= 27)`,
					`DELETE FROM audit_log_leaves WHERE leaf_index >= 27`,
					`DELETE FROM audit_log_nodes WHERE ((idx + 1) << level) > 27`,
					`DELETE FROM audit_log_heads WHERE size > 27`),
				want: "entry 28: missing: the published checkpoint of size 30 vouches for 30 entries, the log has 27 (its tail was cut)",
			},
			{
				name: "entries reordered",
				tamper: sqlTamper(`UPDATE audit_log_leaves SET leaf_index = 1000 WHERE leaf_index = 4`,
					`UPDATE audit_log_leaves SET leaf_index = 4 WHERE leaf_index = 8`,
					`UPDATE audit_log_leaves SET leaf_index = 8 WHERE leaf_index = 1000`),
				want: "entry 5: ",
			},
			{
				name: "fork",
				// Whoever holds the log key rewrites history from entry 16
				// and signs it: the database is consistent again, the
				// published checkpoint of 30 entries is not.
				tamper: func(t *testing.T, ts *testServer) {
					tamperAudit(t, ts, `DELETE FROM audit_log_entries WHERE seq IN (SELECT seq FROM audit_log_leaves WHERE leaf_index >= 15)`,
						`DELETE FROM audit_log_leaves WHERE leaf_index >= 15`,
						`DELETE FROM audit_log_nodes WHERE ((idx + 1) << level) > 15`,
						`DELETE FROM audit_log_heads WHERE size > 15`)
					appendAuditDetail(t, ts, 15, "forked step")
					for range 500 {
						_, err := ts.audit.integrator.Integrate(context.Background())
						if err != nil && !errors.Is(err, storage.ErrConflict) {
							t.Fatal(err)
						}
						if h, err := ts.audit.store.LogHead(context.Background()); err == nil && h.Size == 30 {
							return
						}
						time.Sleep(10 * time.Millisecond)
					}
					t.Fatal("the forked log never reached 30 entries")
				},
				// Which published checkpoint catches it first (one of 30, or
				// one the background integrator made between 15 and 30)
				// depends on timing; either way the first forked entry is
				// named.
				want: "entry 16: ",
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ts := boot(t, freshDatabase(t, database))
				appendAudit(t, ts, 15)
				settle(t, ts, 15)
				appendAudit(t, ts, 15)
				settle(t, ts, 30)
				if tt.tamper != nil {
					tt.tamper(t, ts)
				}
				code, stdout, stderr := auditCmd(t, ts, "verify")
				if !strings.HasPrefix(stdout, tt.want) {
					t.Errorf("audit verify printed %q, want %q… (stderr %s)", stdout, tt.want, stderr)
				}
				if wantCode := map[bool]int{true: 0, false: 1}[tt.tamper == nil]; code != wantCode {
					t.Errorf("audit verify: exit %d, want %d; stderr %s", code, wantCode, stderr)
				}
			})
		}
	})
}

func sqlTamper(stmts ...string) func(t *testing.T, ts *testServer) {
	return func(t *testing.T, ts *testServer) { tamperAudit(t, ts, stmts...) }
}

// TestAuditPublished checks that the server publishes every checkpoint to
// the directory outside the database (by default in the data directory;
// --audit-publish-dir elsewhere), pins its key there, and serves the newest
// checkpoint and the key.
func TestAuditPublished(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		for _, custom := range []bool{false, true} {
			t.Run(fmt.Sprintf("custom dir %v", custom), func(t *testing.T) {
				dir := ""
				if custom {
					dir = filepath.Join(t.TempDir(), "published")
				}
				ts := boot(t, freshDatabase(t, database), func(m *Main) { m.Config.AuditPublishDir = dir })
				if dir == "" {
					dir = filepath.Join(ts.Config.DataDir, "audit-checkpoints")
				}
				status, ctype, vkey := fetch(t, ts, "/audit/key")
				if status != http.StatusOK || ctype != "text/plain; charset=utf-8" {
					t.Fatalf("/audit/key: %d %s", status, ctype)
				}
				vkey = strings.TrimSpace(vkey)
				v, err := note.NewVerifier(vkey)
				if err != nil {
					t.Fatalf("/audit/key %q: %v", vkey, err)
				}
				if v.Name() != "127.0.0.1/audit" {
					t.Errorf("log origin %q, want 127.0.0.1/audit", v.Name())
				}
				if pinned, err := audit.PinnedKey(dir); err != nil || pinned != vkey {
					t.Errorf("key pinned in %s = %q, %v; want the served key", dir, pinned, err)
				}
				if status, _, _ := fetch(t, ts, "/audit/checkpoint"); status != http.StatusNotFound {
					t.Errorf("/audit/checkpoint of an empty log: %d, want 404", status)
				}

				appendAudit(t, ts, 3)
				settle(t, ts, 3)
				appendAudit(t, ts, 4)
				settle(t, ts, 7)

				status, ctype, body := fetch(t, ts, "/audit/checkpoint")
				if status != http.StatusOK || ctype != "text/plain; charset=utf-8" {
					t.Fatalf("/audit/checkpoint: %d %s", status, ctype)
				}
				cp, err := audit.ParseCheckpoint([]byte(body), v)
				if err != nil || cp.Size != 7 {
					t.Fatalf("/audit/checkpoint = %v, %v; want a checkpoint of 7 entries signed by the served key:\n%s", cp, err, body)
				}
				// One checkpoint per integration round, however the rounds
				// fell: at least one with 3 entries, the last with 7.
				published, err := audit.ReadPublished(dir)
				if err != nil || len(published) < 2 {
					t.Fatalf("published checkpoints = %d, %v; want at least 2", len(published), err)
				}
				if string(published[len(published)-1]) != body {
					t.Errorf("the newest published checkpoint is not the one served:\n%s\n%s", published[len(published)-1], body)
				}
				heads, err := ts.audit.store.LogHeads(context.Background(), 0, 100)
				if err != nil {
					t.Fatal(err)
				}
				for i, h := range heads {
					if i >= len(published) || string(published[i]) != string(h.Checkpoint) {
						t.Errorf("tree head %d (size %d) was not published in order", i+1, h.Size)
					}
				}
				want := fmt.Sprintf("ok: 7 entries, %d signed tree heads, %d published checkpoints verified\n", len(heads), len(heads))
				if code, stdout, stderr := auditCmd(t, ts, "verify"); code != 0 || stdout != want {
					t.Errorf("audit verify: exit %d, printed %q, want %q (stderr %s)", code, stdout, want, stderr)
				}
			})
		}
	})
}

// TestAuditExport exports a segment and checks it offline against the key
// served at /audit/key, never one from the file.
func TestAuditExport(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		appendAudit(t, ts, 20)
		settle(t, ts, 20)
		_, _, vkey := fetch(t, ts, "/audit/key")
		vkey = strings.TrimSpace(vkey)

		file := filepath.Join(t.TempDir(), "segment.json")
		code, stdout, stderr := auditCmd(t, ts, "export", "--from", "5", "--to", "12", "--out", file)
		if want := file + ": 8 entries, seq 5..12, in the log 127.0.0.1/audit of 20 entries\n"; code != 0 || stdout != want {
			t.Fatalf("audit export: exit %d, printed %q, want %q (stderr %s)", code, stdout, want, stderr)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}

		// Offline: the file and the pinned key, no database.
		if code, stdout, stderr := offline(t, "verify", "--file", file, "--log-key", vkey); code != 0 || !strings.HasPrefix(stdout, "ok: 8 entries") {
			t.Errorf("verify --file: exit %d, printed %q (stderr %s)", code, stdout, stderr)
		}
		if code, _, stderr := offline(t, "verify", "--file", file, "--data-dir", t.TempDir()); code != 2 || !strings.Contains(stderr, "no audit log key") {
			t.Errorf("verify --file without a pinned key: exit %d, %s; want 2: the key is never taken from the file", code, stderr)
		}
		_, otherKey, _ := audit.GenerateKey("127.0.0.1/audit")
		if code, stdout, _ := offline(t, "verify", "--file", file, "--log-key", otherKey); code != 1 {
			t.Errorf("verify --file with another key: exit %d, printed %q; want 1", code, stdout)
		}

		for _, tt := range []struct {
			name string
			edit func(seg map[string]any)
			want string
		}{
			{"entry field", func(s map[string]any) { segEntry(s, 3)["outcome"] = "failure" }, "entry 5: the entries from here to entry 12 do not give the signed checkpoint's root"},
			{"entry removed", func(s map[string]any) {
				es := s["entries"].([]any)
				s["entries"] = append(es[:3:3], es[4:]...)
			}, "entry 8: missing"},
			{"entries swapped", func(s map[string]any) {
				es := s["entries"].([]any)
				es[2], es[6] = es[6], es[2]
			}, "entry 7: missing"},
			{"entry swapped with its index", func(s map[string]any) {
				es := s["entries"].([]any)
				a, b := segEntry(s, 2), segEntry(s, 6)
				a["index"], b["index"] = b["index"], a["index"]
				es[2], es[6] = es[6], es[2]
			}, "entry 5: the entries from here to entry 12 do not give the signed checkpoint's root"},
			{"last entries cut", func(s map[string]any) {
				s["entries"] = s["entries"].([]any)[:5]
			}, "right range"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				var s map[string]any
				if err := json.Unmarshal(b, &s); err != nil {
					t.Fatal(err)
				}
				tt.edit(s)
				nb, err := json.Marshal(s)
				if err != nil {
					t.Fatal(err)
				}
				f := filepath.Join(t.TempDir(), "changed.json")
				if err := os.WriteFile(f, nb, 0o600); err != nil {
					t.Fatal(err)
				}
				code, stdout, stderr := offline(t, "verify", "--file", f, "--log-key", vkey)
				if code != 1 || !strings.Contains(stdout, tt.want) {
					t.Errorf("verify --file: exit %d, printed %q, want 1 and %q (stderr %s)", code, stdout, tt.want, stderr)
				}
			})
		}

		// The whole log, to stdout, with the key pinned in the data directory.
		code, stdout, stderr = auditCmd(t, ts, "export")
		if code != 0 {
			t.Fatalf("audit export to stdout: exit %d\n%s", code, stderr)
		}
		all := filepath.Join(t.TempDir(), "all.json")
		if err := os.WriteFile(all, []byte(stdout), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, stdout, _ := auditCmd(t, ts, "verify", "--file", all); code != 0 || !strings.HasPrefix(stdout, "ok: 20 entries, seq 1..20") {
			t.Errorf("verify --file of the whole log: exit %d, printed %q", code, stdout)
		}
	})
}

func segEntry(seg map[string]any, i int) map[string]any {
	return seg["entries"].([]any)[i].(map[string]any)
}

// TestAuditRetention: with --audit-retention, the server's periodic
// cleanup drops the contents of entries past the period and keeps their
// leaf hashes: `dopaid audit verify` still passes against every published
// checkpoint and reports the redacted entries, readers see them marked, and
// a period under a day is refused.
func TestAuditRetention(t *testing.T) {
	cfg := Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Dev: true, LogFormat: "text", LogLevel: "info",
		KeyRotation: 30 * 24 * time.Hour, AuditRetention: time.Hour}
	if err := cfg.Validate(true, true); err == nil || !strings.Contains(err.Error(), "--audit-retention must be 0 (keep for ever) or at least 24h") {
		t.Errorf("Validate with a retention of an hour: %v", err)
	}
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, freshDatabase(t, database), func(m *Main) { m.Config.AuditRetention = 24 * time.Hour })
		ctx := context.Background()
		appendAudit(t, ts, 12)
		settle(t, ts, 12)

		ts.redactAudit(ctx, time.Now()) // nothing is a day old
		if code, stdout, _ := auditCmd(t, ts, "verify"); code != 0 || strings.Contains(stdout, "redacted") {
			t.Fatalf("verify before the retention period: exit %d, printed %q", code, stdout)
		}
		ts.redactAudit(ctx, time.Now().Add(25*time.Hour))
		code, stdout, stderr := auditCmd(t, ts, "verify")
		if code != 0 || !strings.HasPrefix(stdout, "ok: 12 entries, ") || !strings.Contains(stdout, "\n12 entries redacted") {
			t.Errorf("verify after redaction: exit %d, printed %q, %q", code, stdout, stderr)
		}
		es, err := ts.Store.AuditEntries(ctx, storage.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if !e.Redacted || e.CitizenID != "" || e.Purpose != "" || e.Seq == 0 || e.Type == "" {
				t.Errorf("AuditEntries after redaction: %+v, want it redacted, keeping Seq and Type", e)
			}
		}
		// An export of redacted entries still verifies offline.
		out := filepath.Join(t.TempDir(), "segment.json")
		if code, _, stderr := auditCmd(t, ts, "export", "--out", out); code != 0 {
			t.Fatalf("export: exit %d, %s", code, stderr)
		}
		if code, stdout, stderr := auditCmd(t, ts, "verify", "--file", out); code != 0 || !strings.HasPrefix(stdout, "ok: 12 entries") {
			t.Errorf("verify --file of redacted entries: exit %d, printed %q, %q", code, stdout, stderr)
		}
	})
}

// TestAuditWitnessed sends the server's checkpoints to a witness, which
// cosigns each one consistent with the last it saw; the cosigned
// checkpoints land beside the published ones and count in verify.
func TestAuditWitnessed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		wskey, wvkey, err := audit.GenerateWitnessKey("witness.example.go.th")
		if err != nil {
			t.Fatal(err)
		}
		// The witness must know the log's key, which the server makes at
		// its first start: start the witness's server first, and give it
		// its Witness once the key is known.
		var mu sync.Mutex
		var handler http.Handler = http.NotFoundHandler()
		ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			h := handler
			mu.Unlock()
			h.ServeHTTP(w, r)
		}))
		defer ws.Close()
		wfile := filepath.Join(t.TempDir(), "witnesses.json")
		cfg, _ := json.Marshal([]audit.WitnessEndpoint{{URL: ws.URL, Key: wvkey}})
		if err := os.WriteFile(wfile, cfg, 0o600); err != nil {
			t.Fatal(err)
		}
		ts := boot(t, database, func(m *Main) { m.Config.AuditWitnesses = wfile })
		w, err := audit.NewWitness(wskey, &audit.MemoryWitnessState{}, ts.audit.key.VerifierKey())
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		handler = audit.WitnessHandler(w)
		mu.Unlock()

		appendAudit(t, ts, 5)
		settle(t, ts, 5)
		appendAudit(t, ts, 6)
		settle(t, ts, 11)

		dir := filepath.Join(ts.Config.DataDir, "audit-checkpoints")
		// The witness cosigned the newest checkpoint, and those it saw
		// before (as many as rounds went by between sends).
		witnessed, err := audit.ReadWitnessed(dir)
		if err != nil || len(witnessed) < 2 {
			t.Fatalf("witnessed checkpoints = %d, %v; want at least 2", len(witnessed), err)
		}
		if cp, err := audit.ParseCheckpoint(witnessed[len(witnessed)-1], ts.audit.key.Verifier()); err != nil || cp.Size != 11 {
			t.Errorf("newest witnessed checkpoint = %v, %v; want size 11", cp, err)
		}
		wv, err := audit.NewWitnessVerifier(wvkey)
		if err != nil {
			t.Fatal(err)
		}
		for i, cp := range witnessed {
			if _, err := note.Open(cp, note.VerifierList(ts.audit.key.Verifier(), wv)); err != nil {
				t.Errorf("witnessed checkpoint %d: %v", i+1, err)
			}
			n, _ := note.Open(cp, note.VerifierList(ts.audit.key.Verifier(), wv))
			if n == nil || len(n.Sigs) != 2 {
				t.Errorf("witnessed checkpoint %d is not signed by both the log and the witness", i+1)
			}
		}
		published, err := audit.ReadPublished(dir)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf(" signed tree heads, %d published checkpoints verified\n", len(published)+len(witnessed))
		if code, stdout, stderr := auditCmd(t, ts, "verify"); code != 0 || !strings.HasPrefix(stdout, "ok: 11 entries") ||
			!strings.HasSuffix(stdout, want) {
			t.Errorf("audit verify: exit %d, printed %q, want the %d published and witnessed checkpoints counted (stderr %s)", code, stdout, len(published)+len(witnessed), stderr)
		}
	})
}

// TestAuditConcurrentWriters appends from many goroutines (and on
// PostgreSQL from two servers on one database, each with its integrator)
// and checks that every entry is integrated exactly once into one tree
// that verifies.
func TestAuditConcurrentWriters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		first := boot(t, database)
		servers := []*testServer{first}
		perServer, workers := 400, 16
		if database != "" {
			second := boot(t, database, func(m *Main) {
				m.Config.MasterKey = first.Config.MasterKey
				m.Config.AuditPublishDir = filepath.Join(first.Config.DataDir, "audit-checkpoints-2")
			})
			servers = append(servers, second)
			perServer, workers = 100, 8
		}
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make(chan error, len(servers)*workers)
		ids := make(chan string, len(servers)*perServer)
		for _, ts := range servers {
			for w := range workers {
				wg.Go(func() {
					for i := w; i < perServer; i += workers {
						e, err := ts.Store.AppendAudit(ctx, storage.AuditEntry{
							At: time.Now(), Type: storage.AuditUserinfo, Actor: "client:c", ClientID: "c",
							Claims: []string{"given_name"}, Detail: fmt.Sprintf("%s %d", ts.URL, i),
						})
						if err != nil {
							errs <- err
							return
						}
						ids <- e.ID
					}
				})
			}
		}
		wg.Wait()
		close(errs)
		close(ids)
		for err := range errs {
			t.Error(err)
		}
		n := perServer * len(servers)
		settle(t, first, int64(n))
		es, err := first.Store.AuditEntries(ctx, storage.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		seqOf := map[string]int64{}
		for i, e := range es {
			if e.Seq != int64(i+1) {
				t.Fatalf("entry #%d has Seq %d", i, e.Seq)
			}
			seqOf[e.ID] = e.Seq
		}
		for id := range ids {
			if seqOf[id] == 0 {
				t.Errorf("entry %s was not integrated", id)
			}
		}
		if len(es) != n {
			t.Errorf("%d entries, want %d", len(es), n)
		}
		code, stdout, stderr := auditCmd(t, first, "verify")
		if want := fmt.Sprintf("ok: %d entries, ", n); code != 0 || !strings.HasPrefix(stdout, want) {
			t.Errorf("audit verify: exit %d, printed %q, want %q… (stderr %s)", code, stdout, want, stderr)
		}
	})
}
