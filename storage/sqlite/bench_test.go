//go:build unix

package sqlite_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/sqlite"
)

// BenchmarkAppendAudit measures the audit log's write path as requests meet
// it: 8 writers append entries (as 8 concurrent requests each record one),
// sharing group commits, while an integrator integrates and indexes them
// every 200 ms as the server's does; the rest is drained before the clock
// stops. It reports the process's CPU time per entry (user + system, which
// includes the WAL writes and fsyncs), the number to compare, since
// wall-clock rates on a shared machine vary from run to run:
//
//	go test -run '^$' -bench AppendAudit -benchtime 20000x ./storage/sqlite/
func BenchmarkAppendAudit(b *testing.B) {
	ctx := b.Context()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "dopaid.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	drain := func() {
		for {
			n, err := s.IntegrateLog(ctx, 512, integration)
			if err != nil {
				b.Error(err)
				return
			}
			if n == 0 {
				return
			}
		}
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			drain()
		}
	}()
	const writers = 8
	cpu0 := cpuTime()
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < b.N; i += writers {
				if _, err := s.AppendAudit(ctx, storage.AuditEntry{Type: storage.AuditUserinfo, Actor: "client:c-1",
					CitizenID: fmt.Sprintf("citizen-%d", i%5000), AgencyID: "agency-1", PermitID: "permit-1", ClientID: "c-1",
					Purpose: "loan", Claims: []string{"given_name", "birthdate"}, IAL: "2.3", Outcome: "success"}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-stopped
	drain()
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/entry")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
