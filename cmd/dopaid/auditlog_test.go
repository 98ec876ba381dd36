package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/dopaid/dopaid/audit"
	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/sqlite"
)

// auditLog is a verifiable audit log in a SQLite file, built with package
// audit as the server will.
type auditLog struct {
	store *sqlite.Store
	key   *audit.Key
	in    *audit.Integrator
}

func newAuditLog(t *testing.T) auditLog {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "dopaid.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	skey, vkey, err := audit.GenerateKey("id.example.go.th/audit")
	if err != nil {
		t.Fatal(err)
	}
	key, err := audit.NewKey(skey, vkey)
	if err != nil {
		t.Fatal(err)
	}
	return auditLog{store: s, key: key, in: audit.NewIntegrator(s, key, audit.IntegratorConfig{})}
}

// add writes n entries, integrates them and returns the first one's ID.
func (l auditLog) add(t *testing.T, n int) string {
	t.Helper()
	var first string
	for i := range n {
		e, err := audit.Prepare(storage.LogEntry{
			Type: storage.AuditTokenIssued, Actor: "client:c-1", CitizenID: "pseudonym-1", AgencyID: "agency-1",
			PermitID: "permit-1", ClientID: "c-1", Purpose: "loan", Claims: []string{"given_name"}, Outcome: "success",
		}, time.Date(2024, 2, 29, 10, 0, i, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		if first == "" {
			first = e.ID
		}
		if err := l.store.AppendLogEntries(t.Context(), []storage.LogEntry{e}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.in.Integrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return first
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(t.Context(), args, &out, &errOut, func(string) string { return "" })
	return code, out.String(), errOut.String()
}

func TestAuditVerifyReceiptCommand(t *testing.T) {
	l := newAuditLog(t)
	id := l.add(t, 6)
	rc, err := audit.NewReceipt(t.Context(), l.store, id)
	if err != nil {
		t.Fatal(err)
	}
	text, err := rc.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "receipt.txt")
	os.WriteFile(good, text, 0o600)
	changed := filepath.Join(dir, "changed.txt")
	rc.Entry.Purpose = "marketing"
	ctext, _ := rc.MarshalText()
	os.WriteFile(changed, ctext, 0o600)
	_, otherKey, _ := audit.GenerateKey("id.example.go.th/audit")

	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"valid", []string{"--log-key", l.key.VerifierKey(), "--receipt", good}, 0, "ok: entry 0 is in the log id.example.go.th/audit of 6 entries"},
		{"changed entry", []string{"--log-key", l.key.VerifierKey(), "--receipt", changed}, 1, "not in the log"},
		{"another key", []string{"--log-key", otherKey, "--receipt", good}, 1, "checkpoint"},
		{"no key", []string{"--receipt", good}, 2, "--log-key is required"},
		{"bad key", []string{"--log-key", "nonsense", "--receipt", good}, 2, "--log-key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, append([]string{"audit", "verify-receipt"}, tt.args...)...)
			if code != tt.code || !strings.Contains(out+errOut, tt.want) {
				t.Errorf("exit %d, output %q %q; want %d and %q", code, out, errOut, tt.code, tt.want)
			}
		})
	}
}

// lineWriter passes what a command prints, line by line, to a channel.
type lineWriter struct {
	w     *io.PipeWriter
	lines chan string
}

func newLineWriter() *lineWriter {
	r, w := io.Pipe()
	lw := &lineWriter{w: w, lines: make(chan string, 10)}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lw.lines <- sc.Text()
		}
		close(lw.lines)
	}()
	return lw
}

func (lw *lineWriter) Write(p []byte) (int, error) { return lw.w.Write(p) }

func TestAuditWitnessCommand(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "witness.key")
	code, out, errOut := runCLI(t, "audit", "witness", "--init", "witness.pdpc.example", "--key-file", keyFile)
	if code != 0 {
		t.Fatalf("witness --init: %d %s", code, errOut)
	}
	wvkey := strings.TrimSpace(out)
	if code, _, _ := runCLI(t, "audit", "witness", "--init", "again", "--key-file", keyFile); code == 0 {
		t.Error("witness --init over an existing key file succeeded")
	}
	if code, _, errOut := runCLI(t, "audit", "witness", "--key-file", keyFile); code != 2 || !strings.Contains(errOut, "--state") || !strings.Contains(errOut, "--log-key") {
		t.Errorf("witness without --state and --log-key: %d %q", code, errOut)
	}

	l := newAuditLog(t)
	ctx, cancel := context.WithCancel(t.Context())
	stdout := newLineWriter()
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"audit", "witness", "--key-file", keyFile, "--state", filepath.Join(dir, "state"),
			"--log-key", l.key.VerifierKey(), "--listen", "127.0.0.1:0"}, stdout, io.Discard, func(string) string { return "" })
	}()
	line := <-stdout.lines
	addr, ok := strings.CutPrefix(line, "witness listening on ")
	if !ok {
		t.Fatalf("witness said %q", line)
	}

	l.add(t, 5)
	head, _ := l.store.LogHead(t.Context())
	resp, err := http.Post("http://"+addr+"/add-checkpoint", "text/plain", bytes.NewReader(audit.AddCheckpointBody(0, nil, head.Checkpoint)))
	if err != nil {
		t.Fatal(err)
	}
	cosig, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("add-checkpoint: %d %s", resp.StatusCode, cosig)
	}
	wv, err := audit.NewWitnessVerifier(wvkey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(append(bytes.Clone(head.Checkpoint), cosig...), note.VerifierList(wv)); err != nil {
		t.Errorf("cosignature does not verify with the key --init printed: %v", err)
	}
	// The log goes on; the witness wants the proof from the size it saw.
	l.add(t, 3)
	head2, _ := l.store.LogHead(t.Context())
	resp, err = http.Post("http://"+addr+"/add-checkpoint", "text/plain", bytes.NewReader(audit.AddCheckpointBody(0, nil, head2.Checkpoint)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || string(body) != "5\n" {
		t.Errorf("add-checkpoint with the wrong old size: %d %q, want 409 \"5\"", resp.StatusCode, body)
	}

	cancel()
	if code := <-done; code != 0 {
		t.Errorf("witness exited %d after its context ended", code)
	}
}
