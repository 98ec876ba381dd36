// Command dopaid-demo-rp runs the demo relying party on its own: a small
// agency application that signs in to a dopaid server and shows the ID
// token's claims and the userinfo response. Agency developers can run it on
// their own machine against a provider to see what their application will
// receive, and read cmd/internal/demorp as an integration example.
//
// With a server started by "dopaid serve --dev", whose demo client already
// registers http://127.0.0.1:9090/callback:
//
//	DEMO_CLIENT_SECRET=… go run ./cmd/dopaid-demo-rp --issuer http://127.0.0.1:8080
//
// then open http://127.0.0.1:9090/. Against another provider, register a
// client with client_secret_basic, the redirect URI BASE_URL/callback and
// the post-logout redirect URI BASE_URL/, and pass --client-id and
// --base-url. The secret is better given in DEMO_CLIENT_SECRET than with
// --client-secret, which other users of the machine can see.
//
// Like every command it is the only place that reads flags and the
// environment; it imports only demorp.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/dopaid/dopaid/cmd/internal/demorp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// options are the command's flags.
type options struct {
	Addr   string
	Config demorp.Config
}

func parseFlags(args []string, stderr io.Writer, env func(string) string) (options, error) {
	var o options
	fs := flag.NewFlagSet("dopaid-demo-rp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Config.Issuer, "issuer", "http://127.0.0.1:8080", "the provider's issuer URL")
	fs.StringVar(&o.Config.ClientID, "client-id", "dopaid-demo", "client ID")
	fs.StringVar(&o.Config.ClientSecret, "client-secret", "", "client secret (client_secret_basic); default $DEMO_CLIENT_SECRET")
	fs.StringVar(&o.Addr, "addr", "127.0.0.1:9090", "address to listen on")
	fs.StringVar(&o.Config.BaseURL, "base-url", "", "URL the demo is reached at (default http://ADDR); BASE_URL/callback is the redirect URI")
	scopes := fs.String("scopes", strings.Join(demorp.DefaultScopes, " "), "scopes of a plain sign-in, space-separated")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if o.Config.ClientSecret == "" {
		o.Config.ClientSecret = env("DEMO_CLIENT_SECRET")
	}
	if o.Config.BaseURL == "" {
		o.Config.BaseURL = "http://" + o.Addr
	}
	o.Config.Scopes = strings.Fields(*scopes)
	// A new key each start: flows under way when it restarts must start again.
	o.Config.CookieKey = make([]byte, 32)
	rand.Read(o.Config.CookieKey)
	var errs []error
	if _, _, err := net.SplitHostPort(o.Addr); err != nil {
		errs = append(errs, errors.New("--addr must be host:port"))
	}
	if err := o.Config.Validate(); err != nil {
		errs = append(errs, err)
	}
	return o, errors.Join(errs...)
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) int {
	o, err := parseFlags(args, stderr, env)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "dopaid-demo-rp: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	o.Config.Logger = log
	o.Config.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	// Lazily: the demo may start before the provider does.
	h, err := demorp.NewLazy(o.Config)
	if err != nil {
		fmt.Fprintf(stderr, "dopaid-demo-rp: %v\n", err)
		return 2
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		fmt.Fprintf(stderr, "dopaid-demo-rp: %v\n", err)
		return 1
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	base := strings.TrimSuffix(o.Config.BaseURL, "/")
	fmt.Fprintf(stdout, "Demo relying party of %s (client %s)\nOpen %s/ to try a sign-in\n", o.Config.Issuer, o.Config.ClientID, base)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		fmt.Fprintf(stderr, "dopaid-demo-rp: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		fmt.Fprintf(stderr, "dopaid-demo-rp: shutdown: %v\n", err)
		return 1
	}
	return 0
}
