package main

import (
	"bytes"
	"context"
	"flag"
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
