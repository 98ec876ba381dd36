package main

import (
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// privatePostgres is a PostgreSQL server of one test's own, in a temporary
// directory, that the test may shut down and start again without
// disturbing any other test on the machine's shared server.
type privatePostgres struct {
	bin  string // the server's binaries
	dir  string // data directory
	sock string // socket directory
	port string
	url  string
	cred *syscall.Credential // whom to run as (the postgres user when we are root)
	cmd  *exec.Cmd
	done chan struct{}
	out  *syncBuffer
}

// startPrivatePostgres initialises and starts a private server with the
// binaries of the installed PostgreSQL 15. Without them the test skips,
// except under CI=true, where it fails.
func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	bin := "/usr/lib/postgresql/15/bin"
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if b := strings.TrimSpace(string(out)); fileExists(filepath.Join(b, "initdb")) {
			bin = b
		}
	}
	if !fileExists(filepath.Join(bin, "initdb")) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL server binaries (initdb, postgres) not found in %s: the database restart test needs them", bin)
		}
		t.Skipf("PostgreSQL server binaries not found in %s: skipping the database restart test (it runs in CI)", bin)
	}
	root := t.TempDir()
	pg := &privatePostgres{bin: bin, dir: filepath.Join(root, "data"), sock: root, out: &syncBuffer{}}
	if os.Geteuid() == 0 {
		// initdb refuses to run as root: run the server as postgres.
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, and no postgres user to run the server as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		pg.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(root, uid, gid); err != nil {
			t.Fatal(err)
		}
		// t.TempDir's parent is private to root; let postgres through.
		if err := os.Chmod(filepath.Dir(root), 0o711); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pg.port = strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", pg.dir, "-U", "dopaid", "--auth=trust", "-E", "UTF8", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	pg.url = "postgres://dopaid@127.0.0.1:" + pg.port + "/postgres?sslmode=disable"
	pg.start(t)
	t.Cleanup(func() { pg.stop(t) })
	return pg
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// start runs the server and waits until it accepts connections.
func (pg *privatePostgres) start(t *testing.T) {
	t.Helper()
	pg.cmd = exec.Command(filepath.Join(pg.bin, "postgres"), "-D", pg.dir, "-p", pg.port, "-k", pg.sock,
		"-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200", "-c", "fsync=off")
	pg.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred}
	pg.cmd.Stdout, pg.cmd.Stderr = pg.out, pg.out
	pg.done = make(chan struct{})
	if err := pg.cmd.Start(); err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	done := pg.done
	go func() {
		_ = pg.cmd.Wait()
		close(done)
	}()
	waitFor(t, "the private PostgreSQL server accepts connections", func() bool {
		select {
		case <-done:
			t.Fatalf("postgres exited:\n%s", pg.out)
		default:
		}
		return exec.Command(filepath.Join(pg.bin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", pg.port).Run() == nil
	})
}

// stop shuts the server down as `pg_ctl stop -m fast` does (SIGINT: abort
// transactions, disconnect clients, write a checkpoint) and waits for it.
func (pg *privatePostgres) stop(t *testing.T) {
	t.Helper()
	select {
	case <-pg.done:
		return
	default:
	}
	if err := pg.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Errorf("stop postgres: %v", err)
	}
	<-pg.done
}

// restart stops and starts the server on the same port and data.
func (pg *privatePostgres) restart(t *testing.T) {
	t.Helper()
	start := time.Now()
	pg.stop(t)
	pg.start(t)
	t.Logf("PostgreSQL restarted in %v", time.Since(start))
}
