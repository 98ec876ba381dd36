package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	_ "modernc.org/sqlite"

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

func auditTrail(t *testing.T, ts *testServer) storage.AuditStore {
	t.Helper()
	as, err := ts.auditStore()
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// appendAudit appends n varied entries through the server's store.
func appendAudit(t *testing.T, ts *testServer, n int) []storage.AuditEntry {
	t.Helper()
	as := auditTrail(t, ts)
	types := []string{storage.AuditSignIn, storage.AuditTokenIssued, storage.AuditUserinfo, storage.AuditConsentGiven}
	var out []storage.AuditEntry
	for i := range n {
		e, err := as.AppendAudit(context.Background(), storage.AuditEntry{
			At:        ts.auditNow(),
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
			Detail:    fmt.Sprintf("step %d", i),
		})
		if err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
		out = append(out, e)
	}
	return out
}

func checkpointNow(t *testing.T, ts *testServer) {
	t.Helper()
	if err := ts.checkpointAudit(context.Background()); err != nil {
		t.Fatalf("checkpointAudit: %v", err)
	}
}

func checkpoints(t *testing.T, ts *testServer) []storage.AuditCheckpoint {
	t.Helper()
	cs, err := auditTrail(t, ts).AuditCheckpoints(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// tamperAudit runs SQL on the server's database behind the store's back,
// as someone holding the database could: on PostgreSQL as the tables'
// owner, who can disable the append-only triggers.
func tamperAudit(t *testing.T, ts *testServer, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	if ts.Config.Database == "" {
		db, err := sql.Open("sqlite", ts.Config.sqlitePath()+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
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
	all := append(append([]string{"ALTER TABLE audit_entries DISABLE TRIGGER USER"}, stmts...),
		"ALTER TABLE audit_entries ENABLE TRIGGER USER")
	pgtest.Exec(t, ctx, u.String(), strings.Join(all, "; "))
}

// auditCmd runs `dopaid audit ARGS` against the server's store, as an
// operator would.
func auditCmd(t *testing.T, ts *testServer, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	env := map[string]string{
		"DOPAID_MASTER_KEY":   ts.Config.MasterKey,
		"DOPAID_DATA_DIR":     ts.Config.DataDir,
		"DOPAID_DATABASE_URL": ts.Config.Database,
		"DOPAID_LOG_LEVEL":    "warn",
	}
	var out, errOut bytes.Buffer
	code = run(t.Context(), append([]string{"audit"}, args...), &out, &errOut, func(k string) string { return env[k] })
	return code, out.String(), errOut.String()
}

// offline runs `dopaid audit verify --file` with an empty environment.
func offline(t *testing.T, file string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), []string{"audit", "verify", "--file", file}, &out, &errOut, func(string) string { return "" })
	return code, out.String(), errOut.String()
}

// verifyInProcess verifies with a small page, so that breaks fall on page
// boundaries too, and returns what the command would print.
func verifyInProcess(t *testing.T, ts *testServer, page int) string {
	t.Helper()
	var b bytes.Buffer
	s, err := ts.verifyAudit(context.Background(), 0, 0, page)
	if err := reportAudit(&b, s, err); err != nil && !errors.Is(err, errAuditBroken) {
		t.Fatalf("verifyAudit: %v", err)
	}
	return b.String()
}

func TestAuditVerifyTamper(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		tests := []struct {
			name string
			// tamper changes the database; nil for an untouched trail.
			tamper func(t *testing.T, ts *testServer)
			want   string // the line verify prints
		}{
			{name: "untouched", want: "ok: 30 entries, seq 1..30, 2 checkpoints verified\n"},
			{
				name:   "field changed",
				tamper: sqlTamper(`UPDATE audit_entries SET outcome = 'failure' WHERE seq = 12`),
				want:   "entry 12: changed\n",
			},
			{
				name:   "row deleted",
				tamper: sqlTamper(`DELETE FROM audit_entries WHERE seq = 17`),
				want:   "entry 17: missing\n",
			},
			{
				name: "rows reordered",
				tamper: sqlTamper(
					`UPDATE audit_entries SET seq = -1 WHERE seq = 5`,
					`UPDATE audit_entries SET seq = 5 WHERE seq = 9`,
					`UPDATE audit_entries SET seq = 9 WHERE seq = -1`),
				want: "entry 5: changed\n",
			},
			{
				name:   "last row deleted",
				tamper: sqlTamper(`DELETE FROM audit_entries WHERE seq = 30`),
				want:   "entry 30: missing\n",
			},
			{
				name:   "first rows deleted",
				tamper: sqlTamper(`DELETE FROM audit_entries WHERE seq <= 3`),
				want:   "entry 3: missing (the trail starts at 4, and no checkpoint there vouches for the entries before it having been pruned)\n",
			},
			{
				name: "rewritten to the end with valid hashes",
				tamper: func(t *testing.T, ts *testServer) {
					tamperAudit(t, ts, rewriteFrom(t, ts, 20)...)
				},
				want: "entry 30: changed (its hash is not the one its signed checkpoint states: an entry after 15 was rewritten)\n",
			},
			{
				name: "checkpoint signature",
				tamper: func(t *testing.T, ts *testServer) {
					cs := checkpoints(t, ts)
					a, b := strings.Split(cs[0].JWS, "."), strings.Split(cs[1].JWS, ".")
					forged := b[0] + "." + b[1] + "." + a[2]
					tamperAudit(t, ts, fmt.Sprintf(`UPDATE audit_checkpoints SET jws = '%s' WHERE seq = 30`, forged))
				},
				want: "checkpoint 30: signature does not verify\n",
			},
			{
				name: "checkpoint hash",
				tamper: func(t *testing.T, ts *testServer) {
					es, _ := auditTrail(t, ts).AuditEntries(context.Background(), storage.AuditFilter{FromSeq: 14, ToSeq: 14})
					tamperAudit(t, ts, fmt.Sprintf(`UPDATE audit_checkpoints SET hash = '%s' WHERE seq = 15`, es[0].Hash))
				},
				want: "checkpoint 15: does not match its signed statement",
			},
			{
				name: "checkpoint signed by another key",
				tamper: func(t *testing.T, ts *testServer) {
					es, _ := auditTrail(t, ts).AuditEntries(context.Background(), storage.AuditFilter{FromSeq: 20, ToSeq: 20})
					at := time.Now().UTC().Truncate(time.Second)
					c := storage.AuditCheckpoint{Seq: 20, Hash: es[0].Hash, At: at, JWS: foreignCheckpoint(t, 20, es[0].Hash, at)}
					if err := auditTrail(t, ts).CreateAuditCheckpoint(context.Background(), c); err != nil {
						t.Fatal(err)
					}
				},
				want: `checkpoint 20: signed by key "forger", which neither the provider's keys nor a later checkpoint vouch for` + "\n",
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ts := boot(t, freshDatabase(t, database))
				appendAudit(t, ts, 15)
				checkpointNow(t, ts)
				appendAudit(t, ts, 15)
				checkpointNow(t, ts)
				if tt.tamper != nil {
					tt.tamper(t, ts)
				}

				code, stdout, stderr := auditCmd(t, ts, "verify")
				if !strings.HasPrefix(stdout, tt.want) {
					t.Errorf("audit verify printed %q, want %q (stderr %s)", stdout, tt.want, stderr)
				}
				if wantCode := map[bool]int{true: 0, false: 1}[tt.tamper == nil]; code != wantCode {
					t.Errorf("audit verify: exit %d, want %d; stderr %s", code, wantCode, stderr)
				}
				// The same break wherever pages end.
				for _, page := range []int{1, 4, 7} {
					if got := verifyInProcess(t, ts, page); got != stdout {
						t.Errorf("verify with pages of %d printed %q, want %q", page, got, stdout)
					}
				}
			})
		}
	})
}

func sqlTamper(stmts ...string) func(t *testing.T, ts *testServer) {
	return func(t *testing.T, ts *testServer) { tamperAudit(t, ts, stmts...) }
}

// rewriteFrom returns statements that change entry seq and recompute the
// chain from there to the end, as a forger who knows the scheme would.
func rewriteFrom(t *testing.T, ts *testServer, seq int64) []string {
	t.Helper()
	es, err := auditTrail(t, ts).AuditEntries(context.Background(), storage.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var stmts []string
	prev := es[seq-2].Hash
	for _, e := range es[seq-1:] {
		if e.Seq == seq {
			e.Detail = "nothing to see"
		}
		e.PrevHash = prev
		e.Hash = e.ComputeHash()
		prev = e.Hash
		stmts = append(stmts, fmt.Sprintf(`UPDATE audit_entries SET detail = '%s', prev_hash = '%s', hash = '%s' WHERE seq = %d`,
			e.Detail, e.PrevHash, e.Hash, e.Seq))
	}
	return stmts
}

// foreignCheckpoint signs a checkpoint statement with a key of its own.
func foreignCheckpoint(t *testing.T, seq int64, hash string, at time.Time) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k, KeyID: "forger"}},
		(&jose.SignerOptions{}).WithType(checkpointType))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(checkpointStatement{Seq: seq, Hash: hash, At: at.Format(time.RFC3339)})
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	c, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAuditVerifyRange(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		appendAudit(t, ts, 15)
		checkpointNow(t, ts)
		appendAudit(t, ts, 15)
		checkpointNow(t, ts)
		appendAudit(t, ts, 3)
		tamperAudit(t, ts, `UPDATE audit_entries SET detail = 'x' WHERE seq = 25`)

		for _, tt := range []struct {
			args []string
			code int
			want string
		}{
			{[]string{"--from", "10", "--to", "20"}, 0, "ok: 11 entries, seq 10..20, 1 checkpoints verified\nnote: no checkpoint verified here vouches for entries 16..20 yet\n"},
			{[]string{"--to", "24"}, 0, "ok: 24 entries, seq 1..24, 1 checkpoints verified\nnote: no checkpoint verified here vouches for entries 16..24 yet\n"},
			{[]string{"--from", "27"}, 0, "ok: 7 entries, seq 27..33, 1 checkpoints verified\nnote: no checkpoint verified here vouches for entries 31..33 yet\n"},
			{[]string{"--from", "20", "--to", "30"}, 1, "entry 25: changed\n"},
			// The entry before a range is checked too: the range's first
			// entry must link to it.
			{[]string{"--from", "26", "--to", "30"}, 1, "entry 25: changed\n"},
		} {
			code, stdout, stderr := auditCmd(t, ts, append([]string{"verify"}, tt.args...)...)
			if stdout != tt.want || code != tt.code {
				t.Errorf("audit verify %v: exit %d, printed %q; want %d, %q (stderr %s)", tt.args, code, stdout, tt.code, tt.want, stderr)
			}
		}
		if code, _, stderr := auditCmd(t, ts, "verify", "--from", "40"); code != 2 || !strings.Contains(stderr, "no entries in that range") {
			t.Errorf("audit verify --from 40: exit %d, %s", code, stderr)
		}
	})
}

func TestAuditExport(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		ts := boot(t, database)
		written := appendAudit(t, ts, 15)
		checkpointNow(t, ts)
		written = append(written, appendAudit(t, ts, 15)...)
		checkpointNow(t, ts)
		written = append(written, appendAudit(t, ts, 5)...) // 31..35: signed by export

		file := filepath.Join(t.TempDir(), "segment.json")
		code, stdout, stderr := auditCmd(t, ts, "export", "--from", "5", "--to", "20", "--out", file, "--issuer", ts.URL)
		if code != 0 {
			t.Fatalf("audit export: exit %d\n%s", code, stderr)
		}
		if want := file + ": 26 entries, seq 5..30, 2 checkpoints\n"; stdout != want {
			t.Errorf("audit export printed %q, want %q", stdout, want)
		}
		if cs := checkpoints(t, ts); len(cs) != 3 || cs[2].Seq != 35 {
			t.Errorf("after export, checkpoints %v; want the head (35) signed", cs)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var seg map[string]any
		if err := json.Unmarshal(b, &seg); err != nil {
			t.Fatalf("segment is not JSON: %v\n%s", err, b)
		}
		if seg["issuer"] != ts.URL || seg["prev_hash"] != written[3].Hash || seg["first_seq"] != 5.0 || seg["last_seq"] != 30.0 ||
			seg["format"] != segmentFormat || len(seg["entries"].([]any)) != 26 || len(seg["checkpoints"].([]any)) != 2 {
			t.Errorf("segment header: %.600s", b)
		}
		if keys := seg["jwks"].(map[string]any)["keys"].([]any); len(keys) != 2 || strings.Contains(string(b), `"d":`) {
			t.Errorf("jwks %v: want the two public keys only", keys)
		}

		// Offline: the file alone, no database, no master key.
		code, stdout, stderr = offline(t, file)
		if want := "ok: 26 entries, seq 5..30, 2 checkpoints verified\n"; code != 0 || stdout != want {
			t.Errorf("verify --file: exit %d, printed %q; want %q (stderr %s)", code, stdout, want, stderr)
		}

		// To stdout, the whole trail.
		code, stdout, stderr = auditCmd(t, ts, "export")
		if code != 0 {
			t.Fatalf("audit export to stdout: exit %d\n%s", code, stderr)
		}
		all := filepath.Join(t.TempDir(), "all.json")
		if err := os.WriteFile(all, []byte(stdout), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, stdout, _ := offline(t, all); code != 0 || stdout != "ok: 35 entries, seq 1..35, 3 checkpoints verified\n" {
			t.Errorf("verify --file of the whole trail: exit %d, printed %q", code, stdout)
		}

		// A changed file fails, naming what changed.
		for _, tt := range []struct {
			name string
			edit func(seg map[string]any)
			want string
		}{
			{"entry field", func(s map[string]any) { entry(s, 7)["outcome"] = "failure" }, "entry 12: changed\n"},
			{"entry removed", func(s map[string]any) {
				es := s["entries"].([]any)
				s["entries"] = append(es[:10:10], es[11:]...)
			}, "entry 15: missing\n"},
			{"entries swapped", func(s map[string]any) {
				es := s["entries"].([]any)
				es[2], es[6] = es[6], es[2]
			}, "entry 7: out of order\n"},
			{"last entries cut", func(s map[string]any) {
				s["entries"] = s["entries"].([]any)[:20]
			}, "entry 25: missing\n"},
			{"prev_hash", func(s map[string]any) { s["prev_hash"] = written[2].Hash }, "entry 5: does not follow entry 4\n"},
			{"checkpoint hash", func(s map[string]any) {
				s["checkpoints"].([]any)[0].(map[string]any)["hash"] = written[13].Hash
			}, "checkpoint 15: does not match its signed statement"},
			// Cut where no checkpoint is left to say otherwise: it
			// verifies, but says what no signature covers.
			{"cut after the last checkpoint kept", func(s map[string]any) {
				s["checkpoints"] = s["checkpoints"].([]any)[:1]
				s["entries"] = s["entries"].([]any)[:22]
				s["last_seq"] = 26
			}, "ok: 22 entries, seq 5..26, 1 checkpoints verified\nnote: no checkpoint verified here vouches for entries 16..26 yet\n"},
			{"another jwks", func(s map[string]any) {
				s["jwks"] = map[string]any{"keys": []any{}}
			}, `checkpoint 30: signed by key`},
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
				code, stdout, stderr := offline(t, f)
				if !strings.HasPrefix(stdout, tt.want) {
					t.Errorf("verify --file printed %q, want %q (stderr %s)", stdout, tt.want, stderr)
				}
				if ok := strings.HasPrefix(tt.want, "ok:"); (code == 0) != ok {
					t.Errorf("verify --file: exit %d", code)
				}
			})
		}
	})
}

func entry(seg map[string]any, i int) map[string]any {
	return seg["entries"].([]any)[i].(map[string]any)
}

func TestAuditRetention(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		clk := newFakeClock()
		ts := boot(t, database, withClock(clk), func(m *Main) { m.Config.AuditRetention = time.Hour })
		ctx := context.Background()
		as := auditTrail(t, ts)

		appendAudit(t, ts, 10)
		checkpointNow(t, ts) // at 10, now
		if n, err := ts.pruneAudit(ctx); err != nil || n != 0 {
			t.Fatalf("pruneAudit within the retention period = %d, %v; want nothing pruned", n, err)
		}
		clk.Advance(2 * time.Hour)
		appendAudit(t, ts, 10)
		if n, err := ts.pruneAudit(ctx); err != nil || n != 9 {
			t.Fatalf("pruneAudit = %d, %v; want 9 (the entries before the checkpoint at 10)", n, err)
		}
		checkpointNow(t, ts) // at 20, two hours later

		// Pruning needs a checkpoint where the trail is to start.
		if _, err := as.PruneAudit(ctx, 15); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("PruneAudit(15) without a checkpoint: %v, want ErrNotFound", err)
		}
		if n, err := ts.pruneAudit(ctx); err != nil || n != 0 {
			t.Errorf("pruneAudit again = %d, %v; want nothing more", n, err)
		}

		// What remains verifies from the checkpoint.
		want := "ok: 11 entries, seq 10..20, 2 checkpoints verified\n"
		if got := verifyInProcess(t, ts, 3); got != want {
			t.Errorf("verify after pruning printed %q, want %q", got, want)
		}
		if code, stdout, stderr := auditCmd(t, ts, "verify"); code != 0 || stdout != want {
			t.Errorf("audit verify after pruning: exit %d, printed %q (stderr %s)", code, stdout, stderr)
		}
		file := filepath.Join(t.TempDir(), "segment.json")
		if code, _, stderr := auditCmd(t, ts, "export", "--out", file); code != 0 {
			t.Fatalf("audit export: %s", stderr)
		}
		if code, stdout, _ := offline(t, file); code != 0 || stdout != want {
			t.Errorf("verify --file of a pruned trail: exit %d, printed %q", code, stdout)
		}
		if code, _, stderr := auditCmd(t, ts, "export", "--from", "5"); code != 2 || !strings.Contains(stderr, "pruned") {
			t.Errorf("audit export --from 5: exit %d, %s", code, stderr)
		}

		// Removing the checkpoint's entry too is not pruning.
		tamperAudit(t, ts, `DELETE FROM audit_entries WHERE seq = 10`)
		if got := verifyInProcess(t, ts, 3); !strings.HasPrefix(got, "entry 10: missing") {
			t.Errorf("verify with the checkpoint's entry removed printed %q", got)
		}
	})
}

// TestAuditKeyRotation checks that checkpoints signed by a key that has
// since left the JWKS still verify, through the keys later checkpoints
// endorse, in the store and in an exported segment.
func TestAuditKeyRotation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		clk := newFakeClock()
		ts := boot(t, database, withClock(clk))
		ctx := context.Background()

		appendAudit(t, ts, 5)
		checkpointNow(t, ts) // 5, by the first key
		old, err := ts.Keys.Signer(ctx, "ES256")
		if err != nil {
			t.Fatal(err)
		}
		if err := ts.Keys.Rotate(ctx, "ES256"); err != nil {
			t.Fatal(err)
		}
		clk.Advance(11 * time.Minute)
		appendAudit(t, ts, 5)
		checkpointNow(t, ts) // 10, by the second key, endorsing the first
		clk.Advance(25 * time.Hour)
		pub, err := ts.Keys.PublicKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range pub {
			if k.KeyID == old.ID() {
				t.Fatalf("the retired key %s is still published", old.ID())
			}
		}
		if got, want := verifyInProcess(t, ts, 100), "ok: 10 entries, seq 1..10, 2 checkpoints verified\n"; got != want {
			t.Errorf("verify after the first key left the JWKS printed %q, want %q", got, want)
		}

		var b bytes.Buffer
		if _, err := ts.exportAudit(ctx, &b, 1, 5, ts.URL); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "segment.json")
		if err := os.WriteFile(file, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, stdout, stderr := offline(t, file); code != 0 || stdout != "ok: 5 entries, seq 1..5, 1 checkpoints verified\n" {
			t.Errorf("verify --file of an old segment: exit %d, printed %q (%s)", code, stdout, stderr)
		}
		var seg map[string]any
		if err := json.Unmarshal(b.Bytes(), &seg); err != nil {
			t.Fatal(err)
		}
		if es := seg["endorsements"].([]any); len(es) != 1 {
			t.Fatalf("endorsements %v, want the checkpoint at 10", es)
		}
		seg["endorsements"] = []any{}
		nb, _ := json.Marshal(seg)
		if err := os.WriteFile(file, nb, 0o600); err != nil {
			t.Fatal(err)
		}
		if code, stdout, _ := offline(t, file); code != 1 || !strings.HasPrefix(stdout, "checkpoint 5: signed by key") {
			t.Errorf("verify --file without the endorsement: exit %d, printed %q", code, stdout)
		}

		// Idle across a rotation: the new key still vouches for the old.
		if err := ts.Keys.Rotate(ctx, "ES256"); err != nil {
			t.Fatal(err)
		}
		clk.Advance(11 * time.Minute)
		checkpointNow(t, ts)
		head, err := auditTrail(t, ts).AuditHead(ctx)
		if err != nil || head.Seq != 11 || head.Detail != "audit checkpoint key changed" {
			t.Fatalf("head after an idle rotation = %+v, %v", head, err)
		}
		clk.Advance(25 * time.Hour)
		if got, want := verifyInProcess(t, ts, 100), "ok: 11 entries, seq 1..11, 3 checkpoints verified\n"; got != want {
			t.Errorf("verify after an idle rotation printed %q, want %q", got, want)
		}
		checkpointNow(t, ts) // nothing new: nothing to do
		if cs := checkpoints(t, ts); len(cs) != 3 {
			t.Errorf("checkpoints %d, want 3", len(cs))
		}
	})
}

// TestAuditConcurrentWriters appends from many goroutines (and on
// PostgreSQL from two servers on one database) while checkpoints are
// taken, and checks that the trail is one valid chain.
func TestAuditConcurrentWriters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		first := boot(t, database)
		servers := []*testServer{first}
		perServer, workers := 400, 16
		if database != "" {
			second := boot(t, database, func(m *Main) { m.Config.MasterKey = first.Config.MasterKey })
			servers = append(servers, second)
			perServer, workers = 100, 8
		}
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make(chan error, len(servers)*(workers+1))
		done := make(chan struct{})
		var cpWG sync.WaitGroup
		for _, ts := range servers {
			as := auditTrail(t, ts)
			for w := range workers {
				wg.Go(func() {
					for i := w; i < perServer; i += workers {
						if _, err := as.AppendAudit(ctx, storage.AuditEntry{
							At: time.Now(), Type: storage.AuditUserinfo, Actor: "client:c", ClientID: "c",
							Claims: []string{"given_name"}, Detail: fmt.Sprintf("%s %d", ts.URL, i),
						}); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			cpWG.Go(func() {
				for {
					select {
					case <-done:
						return
					default:
					}
					if err := ts.checkpointAudit(ctx); err != nil {
						errs <- fmt.Errorf("checkpoint: %w", err)
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
			})
		}
		wg.Wait()
		close(done)
		cpWG.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for _, ts := range servers {
			checkpointNow(t, ts)
		}

		n := perServer * len(servers)
		code, stdout, stderr := auditCmd(t, first, "verify")
		if want := fmt.Sprintf("ok: %d entries, seq 1..%d, ", n, n); code != 0 || !strings.HasPrefix(stdout, want) || strings.Contains(stdout, "note:") {
			t.Errorf("audit verify: exit %d, printed %q, want %q… (stderr %s)", code, stdout, want, stderr)
		}
		if len(checkpoints(t, first)) < 1 {
			t.Error("no checkpoints")
		}
	})
}
