package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	good := func() Config {
		return Config{Addr: "127.0.0.1:8080", DataDir: "d", MasterKey: "k", LogFormat: "text", LogLevel: "info", KeyRotation: 24 * time.Hour}
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{"valid", func(*Config) {}, nil},
		{"dev needs no key", func(c *Config) { c.MasterKey = ""; c.Dev = true }, nil},
		{"https issuer on any address", func(c *Config) { c.Addr = "0.0.0.0:443"; c.Issuer = "https://id.example.go.th" }, nil},
		{"no master key", func(c *Config) { c.MasterKey = "" }, []string{"master key is required"}},
		{"two master keys", func(c *Config) { c.MasterKeyFile = "f" }, []string{"not both"}},
		{"mysql", func(c *Config) { c.Database = "mysql://x" }, []string{"postgres://"}},
		{"bad addr", func(c *Config) { c.Addr = "8080" }, []string{"host:port"}},
		{"public addr without issuer", func(c *Config) { c.Addr = "0.0.0.0:8080" }, []string{"--issuer is required"}},
		{"http issuer off loopback", func(c *Config) { c.Issuer = "http://id.example.go.th" }, []string{"https"}},
		{"issuer with slash", func(c *Config) { c.Issuer = "https://id.example.go.th/" }, []string{"trailing slash"}},
		{"proxy header", func(c *Config) { c.ProxyHeader = "X-Forwarded-For" }, nil},
		{"unknown proxy header", func(c *Config) { c.ProxyHeader = "x-real-ip" }, []string{"--proxy-header"}},
		{"dev on loopback with sqlite", func(c *Config) { c.Dev = true; c.Addr = "localhost:8080"; c.Issuer = "http://127.0.0.1:8080" }, nil},
		{"dev on IPv6 loopback", func(c *Config) { c.Dev = true; c.Addr = "[::1]:8080" }, nil},
		{"dev on every interface", func(c *Config) { c.Dev = true; c.Addr = "0.0.0.0:8080"; c.Issuer = "http://127.0.0.1:8080" },
			[]string{"--dev", `--addr "0.0.0.0:8080" is not a loopback address`}},
		{"dev on an empty host", func(c *Config) { c.Dev = true; c.Addr = ":8080"; c.Issuer = "http://localhost:8080" },
			[]string{"--dev", "is not a loopback address"}},
		{"dev with a public issuer", func(c *Config) { c.Dev = true; c.Issuer = "https://id.example.go.th" },
			[]string{"--dev", `--issuer "https://id.example.go.th" is not on a loopback host`}},
		{"dev on postgres", func(c *Config) { c.Dev = true; c.Database = "postgres://h/db" },
			[]string{"--dev", "--database"}},
		{"dev in production as the issue found it", func(c *Config) {
			c.Dev = true
			c.Addr, c.Issuer, c.Database = "0.0.0.0:8080", "https://id.example.go.th", "postgres://h/db"
		}, []string{"--addr", "--issuer", "--database", "runs only on loopback with the embedded SQLite file"}},
		{"live registry with mutual TLS", func(c *Config) { liveRegistryConfig(c) }, nil},
		{"live registry with a token", func(c *Config) {
			liveRegistryConfig(c)
			c.RegistryClientCert, c.RegistryClientKey, c.RegistryTokenFile = "", "", "token"
		}, nil},
		{"live registry over http", func(c *Config) { liveRegistryConfig(c); c.RegistryURL = "http://registry.example.go.th/v1/match" },
			[]string{"--registry-url must be an https URL"}},
		{"live registry without a credential", func(c *Config) { liveRegistryConfig(c); c.RegistryClientCert, c.RegistryClientKey = "", "" },
			[]string{"--registry-url needs a credential"}},
		{"live registry certificate without key", func(c *Config) {
			liveRegistryConfig(c)
			c.RegistryClientKey, c.RegistryTimeout, c.RegistryBreakerFailures, c.RegistryBreakerCoolDown = "", 0, 0, 0
		}, []string{"go together", "--registry-timeout", "--registry-breaker-failures", "--registry-breaker-cooldown"}},
		{"registry credential without a registry", func(c *Config) { c.RegistryTokenFile = "token" }, []string{"need --registry-url"}},
		{"every problem at once", func(c *Config) {
			*c = Config{Addr: "x", DataDir: "", LogFormat: "xml", LogLevel: "loud", KeyRotation: time.Minute}
		}, []string{"--data-dir", "master key", "--log-format", "--log-level", "--addr", "--key-rotation"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			tt.mutate(&c)
			err := c.Validate(true, true)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q\nwant it to mention %q", err, w)
				}
			}
		})
	}
}

func TestFlagsFromEnvironment(t *testing.T) {
	env := map[string]string{"DOPAID_ADDR": "127.0.0.1:9999", "DOPAID_DEV": "true", "DOPAID_DATABASE_URL": "postgres://h/db", "DOPAID_KEY_ROTATION": "48h"}
	var c Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.bindFlags(fs, func(k string) string { return env[k] }, true)
	if err := fs.Parse([]string{"--addr", "127.0.0.1:7777"}); err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:7777" {
		t.Errorf("Addr = %q: a flag must override the environment", c.Addr)
	}
	if !c.Dev || c.Database != "postgres://h/db" || c.KeyRotation != 48*time.Hour {
		t.Errorf("environment not applied: %+v", c)
	}
}

// TestRegistryFlagsFromEnvironment: every live-registry flag has its
// environment variable.
func TestRegistryFlagsFromEnvironment(t *testing.T) {
	env := map[string]string{"DOPAID_REGISTRY_URL": "https://r.example.go.th/m", "DOPAID_REGISTRY_CLIENT_CERT": "c.pem",
		"DOPAID_REGISTRY_CLIENT_KEY": "k.pem", "DOPAID_REGISTRY_TOKEN_FILE": "tok", "DOPAID_REGISTRY_CA": "ca.pem",
		"DOPAID_REGISTRY_TIMEOUT": "3s", "DOPAID_REGISTRY_BREAKER_FAILURES": "7", "DOPAID_REGISTRY_BREAKER_COOLDOWN": "1m"}
	var c Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.bindFlags(fs, func(k string) string { return env[k] }, true)
	if err := fs.Parse([]string{"--registry-breaker-failures", "9"}); err != nil {
		t.Fatal(err)
	}
	got := []any{c.RegistryURL, c.RegistryClientCert, c.RegistryClientKey, c.RegistryTokenFile, c.RegistryCA, c.RegistryTimeout, c.RegistryBreakerFailures, c.RegistryBreakerCoolDown}
	want := []any{"https://r.example.go.th/m", "c.pem", "k.pem", "tok", "ca.pem", 3 * time.Second, 9, time.Minute}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("setting %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestRunReportsBadConfiguration(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"serve", "--addr", "nonsense", "--log-format", "xml"}, &out, &errOut, func(string) string { return "" })
	if code != 2 {
		t.Errorf("exit code = %d, want 2", code)
	}
	for _, w := range []string{"--addr", "--log-format", "master key"} {
		if !strings.Contains(errOut.String(), w) {
			t.Errorf("stderr does not mention %q:\n%s", w, errOut.String())
		}
	}
	if code := run(context.Background(), []string{"frobnicate"}, &out, &errOut, func(string) string { return "" }); code != 2 {
		t.Errorf("unknown command exit code = %d, want 2", code)
	}
}

// TestDevRefusedOffLoopback: DOPAID_DEV=true left in a production
// environment stops the server before it opens anything, with one line
// that says why.
func TestDevRefusedOffLoopback(t *testing.T) {
	env := map[string]string{"DOPAID_DEV": "true", "DOPAID_ADDR": "0.0.0.0:0", "DOPAID_ISSUER": "https://id.example.go.th"}
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	// Cancelled: a server that wrongly starts stops at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	code := run(ctx, []string{"serve", "--data-dir", dir}, &out, &errOut, func(k string) string { return env[k] })
	if code != 2 {
		t.Errorf("exit code = %d, want 2", code)
	}
	var lines []string
	for _, l := range strings.Split(errOut.String(), "\n") {
		if strings.Contains(l, "--dev") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "0.0.0.0:0") || !strings.Contains(lines[0], "https://id.example.go.th") {
		t.Errorf("want one line about --dev naming the address and the issuer, stderr:\n%s", errOut.String())
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("the data directory was touched: %v %v", entries, err)
	}
}

// TestMainRefusesDevOffLoopback: Main itself refuses development mode off
// loopback or on PostgreSQL, whoever built its Config (Validate is not the
// only guard), and creates nothing.
func TestMainRefusesDevOffLoopback(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"every interface", func(c *Config) { c.Addr = "0.0.0.0:0" }, "--addr"},
		{"public issuer", func(c *Config) { c.Issuer = "https://id.example.go.th" }, "--issuer"},
		{"postgres", func(c *Config) { c.Database = "postgres://127.0.0.1:1/none" }, "--database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			cfg := Config{Addr: "127.0.0.1:0", DataDir: dir, Dev: true, LogFormat: "text", LogLevel: "info", KeyRotation: 24 * time.Hour}
			tt.mutate(&cfg)
			m := NewMain(cfg, io.Discard, io.Discard)
			err := m.Run(context.Background())
			defer m.Close()
			if err == nil {
				t.Fatal("Run in development mode off loopback: no error")
			}
			if !strings.Contains(err.Error(), "--dev") || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("Run() = %q, want one line mentioning %s", err, tt.want)
			}
			if m.Store != nil || m.URL != "" {
				t.Error("Run opened the store or listened before refusing")
			}
			if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the data directory was created: %v", err)
			}
		})
	}
}

// TestAuditIntegrateFlag: a server integrates the audit log unless told
// not to, by flag or environment; the flag wins over the environment.
func TestAuditIntegrateFlag(t *testing.T) {
	for _, tt := range []struct {
		name      string
		env       string
		args      []string
		integrate bool
	}{
		{"default", "", nil, true},
		{"flag false", "", []string{"--audit-integrate=false"}, false},
		{"environment false", "false", nil, false},
		{"flag over environment", "false", []string{"--audit-integrate"}, true},
		{"flag true", "", []string{"--audit-integrate=true"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			c.bindFlags(fs, func(k string) string {
				if k == "DOPAID_AUDIT_INTEGRATE" {
					return tt.env
				}
				return ""
			}, true)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if got := !c.AuditNoIntegrate; got != tt.integrate {
				t.Errorf("integrate = %v, want %v", got, tt.integrate)
			}
		})
	}
}

func liveRegistryConfig(c *Config) {
	c.RegistryURL = "https://registry.example.go.th/v1/match"
	c.RegistryClientCert, c.RegistryClientKey, c.RegistryCA = "client.pem", "client-key.pem", "ca.pem"
	c.RegistryTimeout, c.RegistryBreakerFailures, c.RegistryBreakerCoolDown = 5*time.Second, 5, 30*time.Second
}
