package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The soak (--soak DURATION): all scenarios at once at a fixed rate — by
// default 80 % of the peak the operator measured with --mix and passes in
// --peak — for a long time, with zero errors expected, while the server's
// resident memory (/proc/<pid>/status) and goroutines (go_goroutines on
// its --admin-listen /metrics, --admin-url) are sampled every
// --sample-every. At the end it prints the samples' least-squares slopes
// over the run after its first fifth (warm-up) and whether memory stayed
// flat: its fitted growth over that window within max(5 % of its mean,
// 8 MiB). It fails (exit 1) on any error, on falling behind the rate, or on
// memory that did not stay flat.

// soakSample is one reading of the server.
type soakSample struct {
	at         time.Duration // since the start
	ops        int64
	errors     int64
	rss        int64 // bytes; 0 unknown
	goroutines int64 // -1 unknown
}

// soak runs the soak and prints its figures; it returns an error when the
// soak failed.
func (b *bench) soak(ctx context.Context, stdout io.Writer) error {
	cfg := b.cfg
	rate := cfg.Rate
	if rate == 0 {
		rate = 0.8 * cfg.Peak
	}
	fmt.Fprintf(stdout, "dopaid-bench: soak %v at %.1f ops/s (%s), scenarios %s, concurrency %d per scenario, server pid %d, metrics %s\n",
		cfg.Soak, rate, rateOrigin(cfg), strings.Join(cfg.Scenarios, ","), cfg.Concurrency, b.serverPID, orUnknown(cfg.AdminURL))

	type lane struct {
		scenario string
		jobs     chan struct{}
		t        []*tally
	}
	var lanes []*lane
	var wg sync.WaitGroup
	for _, s := range cfg.Scenarios {
		l := &lane{scenario: s, jobs: make(chan struct{}, cfg.Concurrency)}
		lanes = append(lanes, l)
		for range cfg.Concurrency {
			w, t := b.newWorker(), newTally(s)
			l.t = append(l.t, t)
			if s != scenarioCode {
				tok, err := w.codeFlow(ctx, nil)
				if err != nil {
					return fmt.Errorf("the sign-in that gives a soak worker its first tokens failed: %w", err)
				}
				w.tok = tok
			}
			wg.Go(func() {
				for range l.jobs {
					if !w.once(ctx, s, t) {
						return
					}
				}
			})
		}
	}
	counts := func() (ops, errs int64) { return b.soakOps.Load(), b.soakErrs.Load() }

	start := time.Now()
	end := start.Add(cfg.Soak)
	interval := time.Duration(float64(time.Second) / rate)
	tick := time.NewTicker(interval)
	sample := time.NewTicker(cfg.SampleEvery)
	var samples []soakSample
	take := func() {
		ops, errs := counts()
		s := soakSample{at: time.Since(start), ops: ops, errors: errs, rss: processRSS(b.serverPID), goroutines: b.goroutines(ctx)}
		samples = append(samples, s)
		fmt.Fprintf(stdout, "  %7.1fs  ops %8d  errors %d  rss %s  goroutines %s\n", s.at.Seconds(), s.ops, s.errors, mib(s.rss), count(s.goroutines))
	}
	take()
	var behind int64
	n := 0
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case now := <-tick.C:
			if now.After(end) {
				break loop
			}
			l := lanes[n%len(lanes)]
			n++
			select {
			case l.jobs <- struct{}{}:
			default:
				behind++ // every worker of the lane busy and its queue full
			}
		case <-sample.C:
			take()
		}
	}
	tick.Stop()
	sample.Stop()
	for _, l := range lanes {
		close(l.jobs)
	}
	wg.Wait()
	take()
	elapsed := time.Since(start)

	rep := &report{cfg: cfg, citizens: len(b.pool.citizens), interrupted: ctx.Err() != nil, exhausted: b.exhausted.Load()}
	ph := &phase{scenarios: cfg.Scenarios, elapsed: elapsed}
	for _, l := range lanes {
		sum := newTally(l.scenario)
		for _, t := range l.t {
			sum.merge(t)
		}
		ph.tallies = append(ph.tallies, sum)
	}
	rep.phases = []*phase{ph}
	rep.print(stdout)

	// Slopes over the run after warm-up (its first fifth).
	var steady []soakSample
	for _, s := range samples {
		if s.at >= elapsed/5 {
			steady = append(steady, s)
		}
	}
	var problems []string
	if failed := rep.failed(); failed > 0 {
		problems = append(problems, fmt.Sprintf("%d errors (zero expected)", failed))
	}
	if behind > 0 {
		problems = append(problems, fmt.Sprintf("fell behind the rate %d times: every worker of a scenario was busy (raise --concurrency, or the rate is above what the server sustains)", behind))
	}
	rssSlope, rssMean, ok := slope(steady, func(s soakSample) float64 { return float64(s.rss) })
	if !ok || rssMean == 0 {
		fmt.Fprintln(stdout, "memory: unknown (no server pid, or fewer than 3 samples after warm-up)")
	} else {
		window := (steady[len(steady)-1].at - steady[0].at).Seconds()
		growth := rssSlope * window
		limit := max(0.05*rssMean, 8<<20)
		verdict := "flat"
		if growth > limit {
			verdict = "NOT flat"
			problems = append(problems, fmt.Sprintf("memory grew %s over %.0fs after warm-up (limit %s)", mib(int64(growth)), window, mib(int64(limit))))
		}
		fmt.Fprintf(stdout, "memory: %s — rss slope %+.2f MiB/h over %.0fs after warm-up (fitted growth %+.1f MiB, mean %s)\n",
			verdict, rssSlope*3600/(1<<20), window, growth/(1<<20), mib(int64(rssMean)))
	}
	if gSlope, gMean, ok := slope(steady, func(s soakSample) float64 { return float64(s.goroutines) }); ok && steady[0].goroutines >= 0 {
		fmt.Fprintf(stdout, "goroutines: slope %+.1f/h, mean %.0f\n", gSlope*3600, gMean)
	} else {
		fmt.Fprintln(stdout, "goroutines: unknown (no --admin-url)")
	}
	ops, _ := counts()
	fmt.Fprintf(stdout, "soak: %d operations in %.0fs (%.1f ops/s, target %.1f)\n", ops, elapsed.Seconds(), float64(ops)/elapsed.Seconds(), rate)
	if rep.interrupted {
		problems = append(problems, "interrupted")
	}
	if rep.exhausted {
		problems = append(problems, "ran out of citizens to sign in (raise --citizens)")
	}
	if len(problems) > 0 {
		return fmt.Errorf("soak failed: %s", strings.Join(problems, "; "))
	}
	fmt.Fprintln(stdout, "soak: passed (zero errors, rate held, memory flat)")
	return nil
}

func rateOrigin(cfg Config) string {
	if cfg.Rate != 0 {
		return "--rate"
	}
	return fmt.Sprintf("80 %% of --peak %.1f", cfg.Peak)
}

func orUnknown(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// slope fits y = a + b·t by least squares over the samples (t in seconds)
// and returns b and the mean of y; ok is false for fewer than 3 samples or
// when y is unknown (negative, or zero for all).
func slope(ss []soakSample, y func(soakSample) float64) (b, mean float64, ok bool) {
	if len(ss) < 3 {
		return 0, 0, false
	}
	var st, sy float64
	for _, s := range ss {
		if y(s) < 0 {
			return 0, 0, false
		}
		st += s.at.Seconds()
		sy += y(s)
	}
	n := float64(len(ss))
	mt, my := st/n, sy/n
	var num, den float64
	for _, s := range ss {
		dt := s.at.Seconds() - mt
		num += dt * (y(s) - my)
		den += dt * dt
	}
	if den == 0 {
		return 0, my, false
	}
	return num / den, my, true
}

// processRSS is VmRSS of /proc/<pid>/status in bytes, 0 when unknown.
func processRSS(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return 0
}

// goroutines reads go_goroutines from the server's admin listener, -1 when
// unknown.
func (b *bench) goroutines(ctx context.Context) int64 {
	if b.cfg.AdminURL == "" {
		return -1
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.cfg.AdminURL+"/metrics", nil)
	if err != nil {
		return -1
	}
	resp, err := b.client(nil).Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return int64(f)
			}
		}
	}
	return -1
}

func mib(n int64) string {
	if n <= 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func count(n int64) string {
	if n < 0 {
		return "?"
	}
	return strconv.FormatInt(n, 10)
}
