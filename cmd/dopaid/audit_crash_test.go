package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/dopaid/dopaid/op"
	"github.com/dopaid/dopaid/storage"
)

// buildDopaid builds this command into a temporary directory, so that a
// test can run the server as an operator does: in its own OS process.
func buildDopaid(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dopaid")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freeAddr returns a loopback address that nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// process is a dopaid server running in its own OS process.
type process struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed when the process has exited
}

// startDopaid runs `dopaid serve` at addr with the configuration of seed
// (issuer, data directory, database, master key) and args, and waits until
// it answers discovery.
func startDopaid(t *testing.T, bin string, seed *testServer, addr string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", addr, "--issuer", seed.Config.Issuer,
		"--data-dir", seed.Config.DataDir, "--log-level", "debug"}, args...)...)
	cmd.Env = append(os.Environ(), "DOPAID_MASTER_KEY="+seed.Config.MasterKey, "DOPAID_DATABASE_URL="+seed.Config.Database,
		"DOPAID_AUDIT_PUBLISH_DIR=")
	p := &process{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.signal(t, syscall.SIGKILL) })
	// Ready when discovery answers; the generous deadline only fails.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		select {
		case <-p.done:
			t.Fatalf("dopaid serve exited before it was ready (%v):\n%s", cmd.ProcessState, p.out)
		default:
		}
		// Its own address: replicas share the issuer, not the listener.
		resp, err := http.Get("http://" + addr + "/.well-known/openid-configuration")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("dopaid serve not ready (%v):\n%s", err, p.out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// signal sends sig to the process, unless it has exited, and waits for it
// to exit.
func (p *process) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Errorf("signal %v: %v", sig, err)
	}
	<-p.done
}

// TestAuditCrashBetweenActionAndIntegration: the server, its own OS
// process, issues tokens over HTTP and is killed with SIGKILL before it
// integrates the release's entry (it runs with --audit-integrate=false, so
// "before" is certain, not a matter of timing). The tokens and their entry
// were committed together: the entry waits, unintegrated. Restarted with
// integration on, the server integrates it exactly once, and `dopaid audit
// verify` passes.
func TestAuditCrashBetweenActionAndIntegration(t *testing.T) {
	bin := buildDopaid(t)
	forEachBackend(t, func(t *testing.T, database string) {
		ctx := context.Background()
		addr := freeAddr(t)
		// The test's own replica, in this process, shares the database: it
		// seeds the client and permit and reads the store. It never
		// integrates, and publishes to a directory of its own.
		seed := boot(t, database, func(m *Main) {
			m.Config.Issuer = "http://" + addr
			m.Config.AuditNoIntegrate = true
			m.Config.AuditPublishDir = filepath.Join(m.Config.DataDir, "test-replica-checkpoints")
		})
		c := newTestClient(t, seed, storage.Client{ID: "crash", AuthMethod: storage.AuthMethodSecretBasic})

		first := startDopaid(t, bin, seed, addr, "--audit-integrate=false")
		tokens := c.signIn(t, seed, newBrowser(t), "citizen-crash")
		seed.secret(tokens.AccessToken, tokens.RefreshToken, tokens.IDToken)
		first.signal(t, syscall.SIGKILL)

		if _, err := seed.Store.AccessToken(ctx, op.HashToken(tokens.AccessToken), time.Now()); err != nil {
			t.Fatalf("the issued access token after the crash: %v", err)
		}
		es, err := seed.Store.AuditEntries(ctx, storage.AuditFilter{ClientID: c.ID, Types: []string{storage.AuditTokenIssued}})
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 1 || es[0].Outcome != "success" || es[0].CitizenID != "citizen-crash" {
			t.Fatalf("token_issued entries after the crash = %+v, want the one release", es)
		}
		if es[0].Seq != 0 {
			t.Fatalf("the entry was integrated (seq %d) by a server that must not integrate", es[0].Seq)
		}
		id := es[0].ID

		second := startDopaid(t, bin, seed, addr)
		deadline := time.Now().Add(2 * time.Minute)
		for {
			e, err := seed.Store.LogEntry(ctx, id)
			if err != nil {
				t.Fatalf("LogEntry: %v", err)
			}
			if e.Index != storage.NotIntegrated {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the restarted server did not integrate the entry:\n%s", second.out)
			}
			time.Sleep(20 * time.Millisecond)
		}
		second.signal(t, syscall.SIGTERM)

		head, err := seed.Store.LogHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		all, err := seed.Store.LogEntries(ctx, 0, head.Size)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(all)) != head.Size {
			t.Fatalf("log of size %d holds %d entries", head.Size, len(all))
		}
		n := 0
		for i, e := range all {
			if e.Index != int64(i) {
				t.Errorf("entry %d has index %d", i, e.Index)
			}
			if e.ID == id {
				n++
			}
		}
		if n != 1 {
			t.Errorf("the release's entry is in the log %d times, want once", n)
		}

		env := map[string]string{"DOPAID_DATA_DIR": seed.Config.DataDir, "DOPAID_DATABASE_URL": database, "DOPAID_LOG_LEVEL": "warn"}
		var out, errOut bytes.Buffer
		if code := run(t.Context(), []string{"audit", "verify"}, &out, &errOut, func(k string) string { return env[k] }); code != 0 {
			t.Errorf("dopaid audit verify = %d:\n%s%s", code, out.String(), errOut.String())
		}
	})
}
