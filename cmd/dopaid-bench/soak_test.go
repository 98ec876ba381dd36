package main

import (
	"bytes"
	"context"
	"math"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestSlope(t *testing.T) {
	var ss []soakSample
	for i := range 10 {
		// 1 MiB every 10 s, around 100 MiB.
		ss = append(ss, soakSample{at: time.Duration(i) * 10 * time.Second, rss: int64(100<<20 + i<<20)})
	}
	b, mean, ok := slope(ss, func(s soakSample) float64 { return float64(s.rss) })
	if !ok || math.Abs(b-float64(1<<20)/10) > 1e-6 || math.Abs(mean-(100+4.5)*(1<<20)) > 1e-3 {
		t.Errorf("slope = %v, mean %v, ok %v; want %v, %v", b, mean, ok, float64(1<<20)/10, (100+4.5)*(1<<20))
	}
	if _, _, ok := slope(ss[:2], func(s soakSample) float64 { return float64(s.rss) }); ok {
		t.Error("a slope from two samples")
	}
	if _, _, ok := slope(ss, func(soakSample) float64 { return -1 }); ok {
		t.Error("a slope of unknown values")
	}
}

func TestSoakConfig(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(*Config)
		want string
	}{
		"no rate":      {func(c *Config) { c.Soak = time.Minute }, "--soak needs --peak"},
		"both":         {func(c *Config) { c.Soak, c.Peak, c.Rate = time.Minute, 10, 8 }, "not both"},
		"no samples":   {func(c *Config) { c.Soak, c.Peak, c.SampleEvery = time.Minute, 10, 0 }, "--sample-every"},
		"remote admin": {func(c *Config) { c.AdminURL = "http://10.0.0.1:9090" }, "not a loopback"},
		"admin path":   {func(c *Config) { c.AdminURL = "http://127.0.0.1:9090/metrics" }, "must be http://host:port"},
	} {
		t.Run(name, func(t *testing.T) {
			c := validConfig()
			c.SampleEvery = 10 * time.Second
			tc.edit(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want it to say %q", err, tc.want)
			}
		})
	}
	c := validConfig()
	c.Soak, c.Peak, c.SampleEvery, c.AdminURL = time.Minute, 50, 10*time.Second, "http://127.0.0.1:9090"
	if err := c.Validate(); err != nil {
		t.Errorf("a valid soak: %v", err)
	}
}

// TestSoakAgainstServer: a short soak against the real server (its own
// process, with its admin listener) runs at the fixed rate with zero
// errors and prints the server's memory and goroutines every sample and
// the slopes at the end. Whether memory is flat over a few seconds says
// nothing, so the verdict is printed, not asserted.
func TestSoakAgainstServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	admin := ln.Addr().String()
	ln.Close()
	s := startServer(t, ctx, buildServer(t), "", testCitizens, "--admin-listen", admin)
	cfg := s.benchConfig()
	cfg.Soak, cfg.Rate, cfg.SampleEvery, cfg.AdminURL = 4*time.Second, 20, 500*time.Millisecond, "http://"+admin
	var out bytes.Buffer
	err = run(ctx, cfg, &out)
	t.Logf("output:\n%s", out.String())
	if err != nil && !strings.Contains(err.Error(), "memory grew") {
		t.Fatalf("soak: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "errors (zero expected)") {
		t.Fatalf("soak had errors: %v", err)
	}
	o := out.String()
	samples := regexp.MustCompile(`(?m)^\s+\d+\.\ds  ops +\d+  errors 0  rss \d+\.\d MiB  goroutines \d+$`).FindAllString(o, -1)
	if len(samples) < 5 {
		t.Errorf("%d samples with the server's memory and goroutines, want one every 500ms", len(samples))
	}
	for _, want := range []string{"errors: none", "memory: ", "MiB/h over", "goroutines: slope", "soak: "} {
		if !strings.Contains(o, want) {
			t.Errorf("the soak's output does not say %q", want)
		}
	}
}
