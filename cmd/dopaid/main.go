// Command dopaid is the DOPA-Digital ID OpenID provider: one binary that
// serves, migrates the database and manages signing keys.
//
//	dopaid serve [--dev] [--addr 127.0.0.1:8080] [--issuer URL] [--database postgres://…]
//	dopaid migrate
//	dopaid keys rotate [--alg ES256|RS256]
//	dopaid keys generate-master
//	dopaid registry import FILE
//	dopaid audit verify [--log-key VKEY] [--file SEGMENT.json]
//	dopaid audit export [--from N] [--to N] [--out FILE]
//	dopaid audit witness --key-file FILE --state DIR --log-key VKEY
//	dopaid audit verify-receipt --log-key VKEY [--receipt FILE]
//	dopaid admin create-user|create-agency|record-application|decide|register-system|rotate-secret|list-permits …
//
// Every flag has an environment equivalent (see --help). cmd is the only
// package that reads flags, files and the environment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	tuneGC(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

const usage = `dopaid — OpenID Connect provider for DOPA-Digital ID

Usage:
  dopaid serve [flags]          run the server (--dev for a local demo)
  dopaid migrate [flags]        apply database migrations
  dopaid keys rotate [flags]    start a signing key rotation now
  dopaid keys generate-master   print a new random master key
  dopaid registry import FILE   import a civil registry extract (CSV)
  dopaid audit verify [flags]   check the audit log against its published checkpoints
  dopaid audit export [flags]   write a segment of the audit log for offline verification
  dopaid audit witness [flags]  run a witness that cosigns consistent audit log checkpoints
  dopaid audit verify-receipt [flags]  check an audit log receipt against the pinned log key
  dopaid admin COMMAND          administrators, agencies, permits, systems
                                ('dopaid admin help' lists the commands)

Run 'dopaid COMMAND --help' for a command's flags.
`

// gcPercent is the collector's target (GOGC) when the environment sets
// none. The server's live heap is small (10–15 MiB under load) and nearly
// all it allocates dies with its request, so Go's default of 100 collects
// every few milliseconds under load: measured with cmd/dopaid-bench
// (userinfo, 8 workers, server pinned to one core), collection took a sixth
// of the server's CPU, and 400 gave 6–17 % more requests a second for a
// heap a few tens of MiB larger. GOGC and GOMEMLIMIT still override it.
const gcPercent = 400

func tuneGC(env func(string) string) {
	if env("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = cmdServe(ctx, args[1:], stdout, stderr, env)
	case "migrate":
		err = cmdMigrate(ctx, args[1:], stdout, stderr, env)
	case "keys":
		err = cmdKeys(ctx, args[1:], stdout, stderr, env)
	case "registry":
		err = cmdRegistry(ctx, args[1:], stdout, stderr, env)
	case "audit":
		err = cmdAudit(ctx, args[1:], stdout, stderr, env)
	case "admin":
		err = cmdAdmin(ctx, args[1:], stdout, stderr, env)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "dopaid: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "dopaid: %v\n", err)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "dopaid: %v\n", err)
		return 1
	}
	return 0
}

// usageError is a mistake in the command line or configuration.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func parse(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	var cfg Config
	fs := flag.NewFlagSet("dopaid serve", flag.ContinueOnError)
	cfg.bindFlags(fs, env, true)
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	if err := cfg.Validate(true, true); err != nil {
		return usageError{fmt.Errorf("invalid configuration:\n%w", indent(err))}
	}
	m := NewMain(cfg, stdout, stderr)
	// zitadel/oidc logs through the default logger.
	slog.SetDefault(m.Logger)
	if err := m.Run(ctx); err != nil {
		_ = m.Close()
		return err
	}
	<-ctx.Done()
	m.Logger.Info("shutting down")
	return m.Close()
}

func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	var cfg Config
	fs := flag.NewFlagSet("dopaid migrate", flag.ContinueOnError)
	cfg.bindFlags(fs, env, false)
	if err := parse(fs, args, stderr); err != nil {
		return err
	}
	// Migrations need no master key.
	if err := cfg.Validate(false, false); err != nil {
		return usageError{fmt.Errorf("invalid configuration:\n%w", indent(err))}
	}
	m := NewMain(cfg, stdout, stderr)
	defer m.Close()
	if err := m.openStore(ctx, true); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "migrations applied")
	return nil
}

func cmdKeys(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) == 0 {
		return usageError{errors.New("keys: want 'rotate' or 'generate-master'")}
	}
	switch args[0] {
	case "generate-master":
		k, err := generateMasterKey()
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, k)
		return nil
	case "rotate":
	default:
		return usageError{fmt.Errorf("keys: unknown subcommand %q", args[0])}
	}
	var cfg Config
	var alg string
	fs := flag.NewFlagSet("dopaid keys rotate", flag.ContinueOnError)
	cfg.bindFlags(fs, env, false)
	fs.StringVar(&alg, "alg", "", "rotate only this algorithm (ES256 or RS256); default both")
	if err := parse(fs, args[1:], stderr); err != nil {
		return err
	}
	if err := cfg.Validate(false, true); err != nil {
		return usageError{fmt.Errorf("invalid configuration:\n%w", indent(err))}
	}
	if alg != "" && alg != "ES256" && alg != "RS256" {
		return usageError{fmt.Errorf("--alg must be ES256 or RS256, not %q", alg)}
	}
	m := NewMain(cfg, stdout, stderr)
	defer m.Close()
	if err := m.Open(ctx); err != nil {
		return err
	}
	algs := []string{"ES256", "RS256"}
	if alg != "" {
		algs = []string{alg}
	}
	for _, a := range algs {
		if err := m.Keys.Rotate(ctx, a); err != nil {
			return fmt.Errorf("rotate %s key: %w", a, err)
		}
		fmt.Fprintf(stdout, "%s: new key published; it signs after the pre-publication period, when the old key retires\n", a)
	}
	return nil
}

// indent renders a joined error one problem per indented line.
func indent(err error) error {
	var lines []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			lines = append(lines, "  - "+e.Error())
		}
	} else {
		lines = append(lines, "  - "+err.Error())
	}
	return errors.New(joinLines(lines))
}

func joinLines(l []string) string {
	out := ""
	for i, s := range l {
		if i > 0 {
			out += "\n"
		}
		out += s
	}
	return out
}
