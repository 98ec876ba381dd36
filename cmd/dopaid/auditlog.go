package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/dopaid/dopaid/audit"
)

// The verifiable audit log's commands (package audit). Only wiring: flags,
// files and the listener live here.

const witnessUsage = `Usage:
  dopaid audit witness --init NAME --key-file FILE
  dopaid audit witness --key-file FILE --state DIR --log-key VKEY [--log-key VKEY …] [--listen ADDR]

Runs a witness of dopaid's audit log (C2SP tlog-witness): an agency, a
supervisor or the data-protection regulator keeps the last checkpoint it
saw of each log it knows and cosigns a new one (POST /add-checkpoint) only
when the log's signature and a consistency proof from the last one check
out. A log that tried to cut its tail or show another history would need
its witnesses' cosignatures and cannot get them.

--init writes a new witness key to --key-file (which must not exist) and
prints the verifier key that logs and auditors pin. --log-key is the
public key of a log to witness ("origin+hash+base64", as published).

Flags:
`

const verifyReceiptUsage = `Usage:
  dopaid audit verify-receipt --log-key VKEY [--receipt FILE]

Checks a receipt (a C2SP tlog-proof carrying one audit log entry, from a
citizen's "my data" download or a supervisor's export) offline: the
checkpoint must be signed by the log key given here, pinned from the
provider's published key, never read from the receipt, and the entry must
be included in it. Prints the entry and exits 0, or says what failed and
exits 1. Reads the receipt from standard input without --receipt.

Flags:
`

// cmdAuditLog runs the audit subcommands of the verifiable log; ok is
// false for a subcommand it does not know.
func cmdAuditLog(ctx context.Context, sub string, args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) (ok bool, err error) {
	switch sub {
	case "witness":
		return true, cmdAuditWitness(ctx, args, stdout, stderr, env)
	case "verify-receipt":
		return true, cmdAuditVerifyReceipt(args, stdin, stdout, stderr, env)
	}
	return false, nil
}

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func cmdAuditWitness(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	var (
		initName, keyFile, state, listen string
		logKeys                          listFlag
	)
	fs := flag.NewFlagSet("dopaid audit witness", flag.ContinueOnError)
	fs.StringVar(&initName, "init", "", "create a witness key with this name (e.g. witness.pdpc.go.th) and exit")
	fs.StringVar(&keyFile, "key-file", env("DOPAID_WITNESS_KEY_FILE"), "the witness's private key (DOPAID_WITNESS_KEY_FILE)")
	fs.StringVar(&state, "state", env("DOPAID_WITNESS_STATE"), "directory for the last checkpoint seen of each log (DOPAID_WITNESS_STATE)")
	fs.StringVar(&listen, "listen", "127.0.0.1:8089", "address to serve POST /add-checkpoint on")
	fs.Var(&logKeys, "log-key", "public key of a log to witness (repeatable)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), witnessUsage)
		fs.PrintDefaults()
	}
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if keyFile == "" {
		return usageError{errors.New("audit witness: --key-file is required")}
	}
	if initName != "" {
		skey, vkey, err := audit.GenerateWitnessKey(initName)
		if err != nil {
			return usageError{fmt.Errorf("audit witness: --init: %w", err)}
		}
		f, err := os.OpenFile(keyFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintln(f, skey); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Fprintln(stdout, vkey)
		return nil
	}
	var problems []string
	if state == "" {
		problems = append(problems, "--state is required")
	}
	if len(logKeys) == 0 {
		problems = append(problems, "--log-key is required (at least one)")
	}
	if len(problems) > 0 {
		return usageError{fmt.Errorf("audit witness: %s", strings.Join(problems, "; "))}
	}
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	w, err := audit.NewWitness(strings.TrimSpace(string(b)), &audit.DirWitnessState{Dir: state}, logKeys...)
	if err != nil {
		return usageError{err}
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: audit.WitnessHandler(w), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "witness listening on %s\n", ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

func cmdAuditVerifyReceipt(args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) error {
	var logKey, file string
	fs := flag.NewFlagSet("dopaid audit verify-receipt", flag.ContinueOnError)
	fs.StringVar(&logKey, "log-key", env("DOPAID_AUDIT_LOG_KEY"), "the audit log's published public key (DOPAID_AUDIT_LOG_KEY)")
	fs.StringVar(&file, "receipt", "", "the receipt file (default: standard input)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), verifyReceiptUsage)
		fs.PrintDefaults()
	}
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if logKey == "" {
		return usageError{errors.New("audit verify-receipt: --log-key is required: the key is pinned, never taken from the receipt")}
	}
	v, err := note.NewVerifier(logKey)
	if err != nil {
		return usageError{fmt.Errorf("audit verify-receipt: --log-key: %w", err)}
	}
	var b []byte
	if file == "" {
		b, err = io.ReadAll(io.LimitReader(stdin, 1<<20))
	} else {
		b, err = os.ReadFile(file)
	}
	if err != nil {
		return err
	}
	var rc audit.Receipt
	if err := rc.UnmarshalText(b); err != nil {
		return err
	}
	cp, err := audit.VerifyReceipt(rc, v)
	if err != nil {
		return err
	}
	e := rc.Entry
	fmt.Fprintf(stdout, "ok: entry %d is in the log %s of %d entries (root %x)\n", rc.Index, cp.Origin, cp.Size, cp.Hash)
	fmt.Fprintf(stdout, "  id %s, at %s, type %s, actor %s\n", e.ID, e.At.Format(time.RFC3339Nano), e.Type, e.Actor)
	fmt.Fprintf(stdout, "  citizen %s, agency %s, permit %s, client %s, purpose %s\n", e.CitizenID, e.AgencyID, e.PermitID, e.ClientID, e.Purpose)
	fmt.Fprintf(stdout, "  claims %s, ial %s, outcome %s, detail %q\n", strings.Join(e.Claims, " "), e.IAL, e.Outcome, e.Detail)
	return nil
}
