package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"time"
)

// report is the outcome of a run.
type report struct {
	cfg         Config
	phases      []*phase
	interrupted bool
	// citizens is the size of the pool; exhausted says it ran out.
	citizens  int
	exhausted bool
}

// failed is how many scenario iterations failed.
func (r *report) failed() int {
	n := 0
	for _, p := range r.phases {
		for _, t := range p.tallies {
			n += t.series[0].failed
		}
	}
	return n
}

// tally returns the results of one scenario, or nil.
func (r *report) tally(scenario string) *tally {
	for _, p := range r.phases {
		for _, t := range p.tallies {
			if t.scenario == scenario {
				return t
			}
		}
	}
	return nil
}

const rowFormat = "%-18s %9s %7s %9s %9s %9s %9s %9s\n"

// print writes one line per scenario (and per step of the code flow):
// successful operations, errors, successful operations per second and
// latency percentiles of the successful ones; then each phase's CPU use
// (the server's and the bench's); then the errors by kind with a few
// (redacted) messages.
func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, rowFormat, "scenario", "ok", "errors", "ok/s", "p50", "p90", "p99", "max")
	for _, p := range r.phases {
		for _, t := range p.tallies {
			for i, s := range t.series {
				name := s.name
				if i > 0 && s.requests == 0 {
					continue // a step no flow took (the provider's callback, when the login pages answer)
				}
				if i > 0 {
					name = "  " + name
				}
				sorted := slices.Clone(s.latencies)
				slices.Sort(sorted)
				fmt.Fprintf(w, rowFormat, name,
					fmt.Sprint(s.requests-s.failed), fmt.Sprint(s.failed), rate(s.requests-s.failed, p.elapsed),
					ms(percentile(sorted, 0.50)), ms(percentile(sorted, 0.90)), ms(percentile(sorted, 0.99)), ms(percentile(sorted, 1)))
			}
		}
	}
	for _, p := range r.phases {
		line := fmt.Sprintf("phase %v: %.2fs", p.scenarios, p.elapsed.Seconds())
		if p.serverCPU > 0 && p.elapsed > 0 {
			line += fmt.Sprintf("; server used %.2f CPU-s (%.2f cores)", p.serverCPU.Seconds(), p.serverCPU.Seconds()/p.elapsed.Seconds())
		} else {
			line += "; server CPU unknown"
		}
		if p.cpu > 0 && p.elapsed > 0 {
			line += fmt.Sprintf("; the bench process itself used %.2f CPU-s (%.2f cores)", p.cpu.Seconds(), p.cpu.Seconds()/p.elapsed.Seconds())
		}
		fmt.Fprintln(w, line)
	}
	if r.exhausted {
		fmt.Fprintf(w, "the citizen pool ran out: %s\n", poolCapacity(r.citizens))
	}
	if r.interrupted {
		fmt.Fprintln(w, "interrupted: the results cover only the time before the interrupt")
	}
	if r.failed() == 0 {
		fmt.Fprintln(w, "errors: none; every response verified")
		return
	}
	fmt.Fprintln(w, "errors by kind:")
	for _, p := range r.phases {
		for _, t := range p.tallies {
			kinds := make([]string, 0, len(t.errs))
			for k := range t.errs {
				kinds = append(kinds, k)
			}
			slices.Sort(kinds)
			for _, k := range kinds {
				e := t.errs[k]
				fmt.Fprintf(w, "  %7d  %s/%s\n", e.n, t.scenario, k)
				for _, m := range e.samples {
					fmt.Fprintf(w, "           e.g. %s\n", m)
				}
			}
		}
	}
}

// percentile returns the nearest-rank percentile p (0 < p <= 1) of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

func rate(n int, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(n)/d.Seconds())
}
