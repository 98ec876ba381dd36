package audit_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dopaid/dopaid/audit"
	"github.com/dopaid/dopaid/storage"
)

// Run with
//
//	go test ./audit/ -run '^$' -bench . -benchtime 5000x
//
// (DOPAID_TEST_DATABASE_URL set for PostgreSQL). entries/s is the metric
// that matters; ns/op is per entry.

func benchBackends(b *testing.B, f func(b *testing.B, newBackend func(testing.TB) backend)) {
	b.Run("sqlite", func(b *testing.B) { f(b, newSQLite) })
	b.Run("postgres", func(b *testing.B) { f(b, newPostgres) })
}

var benchSeq atomic.Int64

func benchEntry(b testing.TB) storage.LogEntry {
	e := entry(b, "bench", int(benchSeq.Add(1)))
	e.ID = fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), benchSeq.Add(1))
	return e
}

// BenchmarkAppend: writers inserting one entry each call, as an action's
// transaction would, 8 goroutines per CPU, with no integrator running.
func BenchmarkAppend(b *testing.B) {
	benchBackends(b, func(b *testing.B, newBackend func(testing.TB) backend) {
		s := newBackend(b).store
		ctx := context.Background()
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := s.AppendLogEntries(ctx, []storage.LogEntry{benchEntry(b)}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	})
}

// BenchmarkAppendWhileIntegrating: the same writers while an integrator
// runs beside them: writers take no lock the integrator holds.
func BenchmarkAppendWhileIntegrating(b *testing.B) {
	benchBackends(b, func(b *testing.B, newBackend func(testing.TB) backend) {
		s := newBackend(b).store
		ctx, cancel := context.WithCancel(context.Background())
		in := audit.NewIntegrator(s, testKey(b, "bench.example/audit"), audit.IntegratorConfig{})
		done := make(chan struct{})
		go func() { in.Run(ctx, 50*time.Millisecond); close(done) }()
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := s.AppendLogEntries(ctx, []storage.LogEntry{benchEntry(b)}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		cancel()
		<-done
	})
}

// BenchmarkIntegrate: integrating b.N pending entries in rounds of the
// given batch size (one transaction and one signed head per round).
func BenchmarkIntegrate(b *testing.B) {
	benchBackends(b, func(b *testing.B, newBackend func(testing.TB) backend) {
		for _, batch := range []int{64, 256, 512, 1024} {
			b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
				s := newBackend(b).store
				ctx := context.Background()
				for i := 0; i < b.N; i += 500 {
					es := make([]storage.LogEntry, 0, 500)
					for j := i; j < min(i+500, b.N); j++ {
						es = append(es, benchEntry(b))
					}
					if err := s.AppendLogEntries(ctx, es); err != nil {
						b.Fatal(err)
					}
				}
				in := audit.NewIntegrator(s, testKey(b, "bench.example/audit"), audit.IntegratorConfig{Batch: batch})
				b.ResetTimer()
				n, err := in.Integrate(ctx)
				b.StopTimer()
				if err != nil || n != b.N {
					b.Fatalf("Integrate = %d, %v; want %d", n, err, b.N)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
			})
		}
	})
}

// BenchmarkInclusionProof: a receipt's proof in a log of 20,000 entries.
func BenchmarkInclusionProof(b *testing.B) {
	benchBackends(b, func(b *testing.B, newBackend func(testing.TB) backend) {
		s := newBackend(b).store
		ctx := context.Background()
		const size = 20000
		for i := 0; i < size; i += 500 {
			es := make([]storage.LogEntry, 0, 500)
			for range 500 {
				es = append(es, benchEntry(b))
			}
			if err := s.AppendLogEntries(ctx, es); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := audit.NewIntegrator(s, testKey(b, "bench.example/audit"), audit.IntegratorConfig{Batch: 1024}).Integrate(ctx); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := range b.N {
			if _, err := audit.InclusionProof(ctx, s, int64(i*7919%size), size); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAppendChain is today's hash-chained trail (storage.AuditStore,
// one global lock per append) under the same writers, for comparison.
func BenchmarkAppendChain(b *testing.B) {
	benchBackends(b, func(b *testing.B, newBackend func(testing.TB) backend) {
		s := newBackend(b).store.(storage.AuditStore)
		ctx := context.Background()
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				e := benchEntry(b)
				if _, err := s.AppendAudit(ctx, storage.AuditEntry{At: e.At, Type: e.Type, Actor: e.Actor, CitizenID: e.CitizenID,
					AgencyID: e.AgencyID, PermitID: e.PermitID, ClientID: e.ClientID, Purpose: e.Purpose, Claims: e.Claims,
					IAL: e.IAL, Outcome: e.Outcome, Detail: e.Detail}); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	})
}

// BenchmarkIntegrationDelay: the time from the start of an entry's write
// to the commit of the head that integrates it (p50, p90, p99, max), and
// how many entries a second were written and integrated (integrated/s:
// from the first write's start to the head that holds the last entry),
// while an integrator runs with the server's 200 ms tick: "wake" with
// writers waking it after each commit (as the server wires it), "tick"
// without; "1" with one writer writing one entry after another, "16" and
// "64" with that many writers without pause, each write its own
// transaction as a recorded action's would be. Run with
//
//	nice -n 10 go test ./audit/ -run '^$' -bench IntegrationDelay -benchtime 3000x
func BenchmarkIntegrationDelay(b *testing.B) {
	benchBackends(b, func(b *testing.B, newBackend func(testing.TB) backend) {
		for _, writers := range []int{1, 16, 64} {
			for _, wake := range []bool{true, false} {
				name := fmt.Sprintf("tick/%d", writers)
				if wake {
					name = fmt.Sprintf("wake/%d", writers)
				}
				b.Run(name, func(b *testing.B) { benchDelay(b, newBackend(b).store, wake, writers) })
			}
		}
	})
}

func benchDelay(b *testing.B, s audit.Store, wake bool, writers int) {
	ctx, cancel := context.WithCancel(context.Background())
	in := audit.NewIntegrator(s, testKey(b, "bench.example/audit"), audit.IntegratorConfig{})
	if h, ok := s.(interface{ OnLogAppend(func()) }); ok && wake {
		h.OnLogAppend(in.Wake)
	}
	var written sync.Map // ID → time the write began
	var mu sync.Mutex
	var delays []time.Duration
	var size int64
	var last time.Time // the newest head's measuring
	measure := func(ctx context.Context) error {
		h, err := s.LogHead(ctx)
		if err != nil {
			return err
		}
		now := time.Now()
		es, err := s.LogEntries(ctx, size, h.Size)
		if err != nil {
			return err
		}
		size = h.Size
		mu.Lock()
		defer mu.Unlock()
		last = now
		for _, e := range es {
			if t, ok := written.Load(e.ID); ok {
				delays = append(delays, now.Sub(t.(time.Time)))
			}
		}
		return nil
	}
	done := make(chan struct{})
	go func() { defer close(done); in.Run(ctx, 200*time.Millisecond, measure) }()
	write := func() bool {
		e := benchEntry(b)
		written.Store(e.ID, time.Now())
		if err := s.AppendLogEntries(ctx, []storage.LogEntry{e}); err != nil {
			b.Error(err)
			return false
		}
		return true
	}
	b.ResetTimer()
	began := time.Now()
	if writers == 1 {
		for range b.N {
			if !write() {
				break
			}
		}
	} else {
		b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() && write() {
			}
		})
	}
	b.StopTimer()
	for b.Failed() == false {
		mu.Lock()
		n := len(delays)
		mu.Unlock()
		if n >= b.N {
			break
		}
		in.Wake()
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	slices.Sort(delays)
	ms := func(q float64) float64 { return float64(delays[int(q*float64(len(delays)-1))].Microseconds()) / 1000 }
	b.ReportMetric(ms(0.5), "p50-ms")
	b.ReportMetric(ms(0.9), "p90-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
	b.ReportMetric(ms(1), "max-ms")
	within := sort.Search(len(delays), func(i int) bool { return delays[i] > time.Second })
	b.ReportMetric(100*float64(within)/float64(len(delays)), "%within-1s")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	b.ReportMetric(float64(len(delays))/last.Sub(began).Seconds(), "integrated/s")
}
