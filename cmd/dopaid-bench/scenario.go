package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// phase is a group of scenarios run at the same time.
type phase struct {
	scenarios []string
	elapsed   time.Duration
	// cpu is the CPU time the bench process itself used (0 if unknown): on
	// a small machine the load generator competes with the server.
	cpu time.Duration
	// serverCPU is the CPU time the server process used (0 if unknown).
	serverCPU time.Duration
	tallies   []*tally
}

// renewBefore is how long before its expiry a worker replaces its access
// token (untimed), so that long runs do not fail on expired tokens.
const renewBefore = 30 * time.Second

// phase runs scenarios with cfg.Concurrency workers each until the
// duration is over or ctx is cancelled. Workers that need tokens get them
// first, untimed. Requests under way at the deadline are completed and
// counted; requests cut off by cancellation are not.
func (b *bench) phase(ctx context.Context, scenarios []string) (*phase, error) {
	type job struct {
		scenario string
		w        *worker
		t        *tally
	}
	var jobs []job
	for _, s := range scenarios {
		for range b.cfg.Concurrency {
			jobs = append(jobs, job{s, b.newWorker(), newTally(s)})
		}
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, j := range jobs {
		if j.scenario == scenarioCode {
			continue
		}
		wg.Go(func() {
			t, err := j.w.codeFlow(ctx, nil)
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			j.w.tok = t
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return &phase{scenarios: scenarios}, nil
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%d of the sign-ins that give workers their first tokens failed, e.g.: %w", len(errs), errs[0])
	}

	// The workers run for the warm-up first (caches filled, connections
	// open, the server's runtime grown to its load); what they do then
	// is not measured, except that its errors count all the same.
	warmEnd := time.Now().Add(b.cfg.Warmup)
	deadline := warmEnd.Add(b.cfg.Duration)
	var (
		startMu          sync.Mutex
		start            time.Time
		cpu0, server0    time.Duration
		warmed           = make(chan struct{})
		warmTallies      = make([]*tally, len(jobs))
		markStartOnce    sync.Once
		markMeasuredFrom = func() {
			markStartOnce.Do(func() {
				startMu.Lock()
				start, cpu0, server0 = time.Now(), cpuTime(), processCPU(b.serverPID)
				startMu.Unlock()
				close(warmed)
			})
		}
	)
	timer := time.AfterFunc(time.Until(warmEnd), markMeasuredFrom)
	defer timer.Stop()
	for i, j := range jobs {
		warmTallies[i] = newTally(j.scenario)
		wg.Go(func() {
			j.w.loop(ctx, j.scenario, warmEnd, warmTallies[i])
			select { // a worker's last warm-up request may end early
			case <-warmed:
			case <-ctx.Done():
				return
			}
			j.w.loop(ctx, j.scenario, deadline, j.t)
		})
	}
	wg.Wait()
	markMeasuredFrom() // interrupted during the warm-up
	startMu.Lock()
	ph := &phase{scenarios: scenarios, elapsed: time.Since(start)}
	startMu.Unlock()
	if c := cpuTime(); c > 0 {
		ph.cpu = c - cpu0
	}
	if c := processCPU(b.serverPID); c > 0 && server0 > 0 {
		ph.serverCPU = c - server0
	}
	for i, j := range jobs {
		j.t.mergeErrors(warmTallies[i])
	}
	for _, s := range scenarios {
		sum := newTally(s)
		for _, j := range jobs {
			if j.scenario == s {
				sum.merge(j.t)
			}
		}
		ph.tallies = append(ph.tallies, sum)
	}
	return ph, nil
}

// loop runs one scenario's iterations until deadline.
func (w *worker) loop(ctx context.Context, scenario string, deadline time.Time, t *tally) {
	for ctx.Err() == nil && time.Now().Before(deadline) {
		if !w.once(ctx, scenario, t) {
			return
		}
	}
}

// once runs one iteration of scenario and counts it in t. It returns false
// when the worker must stop (interrupted, or no citizen left to sign in).
func (w *worker) once(ctx context.Context, scenario string, t *tally) bool {
	var (
		d   time.Duration
		err error
	)
	switch scenario {
	case scenarioCode:
		start := time.Now()
		_, err = w.codeFlow(ctx, func(i int, d time.Duration) { t.ok(stepNames[i], d) })
		d = time.Since(start)
	case scenarioRefresh:
		d, err = w.refresh(ctx)
	case scenarioUserinfo, scenarioIntrospect:
		if time.Until(w.tok.accessExpires) < renewBefore {
			if err = w.renew(ctx, scenario); err != nil {
				break
			}
		}
		if scenario == scenarioUserinfo {
			d, err = w.userinfo(ctx)
		} else {
			d, err = w.introspect(ctx)
		}
	}
	if ctx.Err() != nil {
		return false // interrupted: the last result is not a failure of the server
	}
	if err == nil {
		t.ok(scenario, d)
		w.b.soakOps.Add(1)
		return true
	}
	t.fail(err)
	w.b.soakOps.Add(1)
	w.b.soakErrs.Add(1)
	if w.b.exhausted.Load() {
		return false // no citizen left to sign in: the report says so
	}
	if scenario == scenarioRefresh {
		// The refresh token may be spent: start a new grant.
		if err := w.renew(ctx, scenario); err != nil && ctx.Err() == nil {
			t.fail(err)
		}
	}
	// Do not spin against a server that answers with errors only.
	select {
	case <-time.After(10 * time.Millisecond):
	case <-ctx.Done():
	}
	return true
}

// renew replaces the worker's tokens by a new sign-in (untimed).
func (w *worker) renew(ctx context.Context, scenario string) error {
	t, err := w.codeFlow(ctx, nil)
	if err != nil {
		var f *failure
		if errors.As(err, &f) {
			return &failure{step: scenario, kind: scenario + ": renew tokens: " + f.kind, msg: f.msg}
		}
		return err
	}
	w.tok = t
	return nil
}

// series is one line of the report: latencies of successful requests,
// and how many requests there were and how many failed.
type series struct {
	name      string
	latencies []time.Duration
	requests  int
	failed    int
}

// tally is one scenario's results: its own series first, then the code
// flow's steps.
type tally struct {
	scenario string
	series   []*series
	errs     map[string]*errorKind
}

type errorKind struct {
	n       int
	samples []string
}

const maxSamples = 3

func newTally(scenario string) *tally {
	t := &tally{scenario: scenario, series: []*series{{name: scenario}}, errs: map[string]*errorKind{}}
	if scenario == scenarioCode {
		for _, n := range stepNames {
			t.series = append(t.series, &series{name: n})
		}
	}
	return t
}

func (t *tally) find(name string) *series {
	for _, s := range t.series {
		if s.name == name {
			return s
		}
	}
	return nil
}

func (t *tally) ok(name string, d time.Duration) {
	if s := t.find(name); s != nil {
		s.requests++
		s.latencies = append(s.latencies, d)
	}
}

// fail counts a failed iteration of the scenario, and of the step of the
// code flow that failed.
func (t *tally) fail(err error) {
	s := t.series[0]
	s.requests++
	s.failed++
	kind, msg := err.Error(), ""
	var f *failure
	if errors.As(err, &f) {
		kind, msg = f.kind, f.msg
		if st := t.find(f.step); st != nil && st != s {
			st.requests++
			st.failed++
		}
	} else {
		kind = redact(kind)
	}
	e := t.errs[kind]
	if e == nil {
		e = &errorKind{}
		t.errs[kind] = e
	}
	e.n++
	if msg != "" && len(e.samples) < maxSamples {
		e.samples = append(e.samples, msg)
	}
}

// mergeErrors adds o's failures, not its successes, to t: a warm-up's.
func (t *tally) mergeErrors(o *tally) {
	for i, s := range o.series {
		t.series[i].requests += s.failed
		t.series[i].failed += s.failed
	}
	empty := make([]*series, len(o.series))
	for i := range empty {
		empty[i] = &series{}
	}
	t.merge(&tally{series: empty, errs: o.errs})
}

func (t *tally) merge(o *tally) {
	for i, s := range o.series {
		d := t.series[i]
		d.requests += s.requests
		d.failed += s.failed
		d.latencies = append(d.latencies, s.latencies...)
	}
	for k, e := range o.errs {
		d := t.errs[k]
		if d == nil {
			d = &errorKind{}
			t.errs[k] = d
		}
		d.n += e.n
		for _, m := range e.samples {
			if len(d.samples) < maxSamples {
				d.samples = append(d.samples, m)
			}
		}
	}
}
