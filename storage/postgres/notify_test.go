package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage/postgres/pgtest"
)

// TestListenNotify checks that notifications reach a listener, that a
// listener survives the loss of its connection, and that it stops with its
// context. Channels are per database, so each test uses a random one.
func TestListenNotify(t *testing.T) {
	pgtest.URL(t)
	tests := []struct {
		name  string
		check time.Duration // the silence after which Listen pings
	}{
		{"default health check", 30 * time.Second},
		// Many health checks while waiting: a timed-out wait must leave the
		// connection usable.
		{"frequent health checks", 20 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestStore(t)
			s.listenCheck = tt.check
			b := make([]byte, 6)
			rand.Read(b)
			channel := "dopaid test " + hex.EncodeToString(b) // needs quoting

			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			got := make(chan string, 10)
			done := make(chan error, 1)
			go func() {
				done <- s.Listen(ctx, channel, func(p string) {
					select {
					case got <- p:
					default: // never block the listener on a slow test
					}
				})
			}()

			// LISTEN takes effect some time after Listen starts, and
			// notifications before that are lost: send until one arrives.
			deliver(t, s, channel, "first", got)

			// Kill the listening connection; Listen must come back.
			killListener(t, s)
			deliver(t, s, channel, "after reconnect", got)

			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Listen returned %v, want context.Canceled", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Listen did not return after its context was canceled")
			}
		})
	}
}

func TestListenEmptyChannel(t *testing.T) {
	// Refused before any connection is made.
	var s Store
	if err := s.Listen(context.Background(), "", func(string) {}); err == nil {
		t.Error("Listen with an empty channel: no error")
	}
}

// deliver notifies channel with payload until the listener reports it, and
// fails t if that does not happen within a few seconds. Other payloads (from
// earlier rounds) are skipped.
func deliver(t *testing.T, s *Store, channel, payload string, got <-chan string) {
	t.Helper()
	ctx := context.Background()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := s.Notify(ctx, channel, payload); err != nil {
			t.Fatalf("Notify: %v", err)
		}
		select {
		case p := <-got:
			if p == payload {
				return
			}
		case <-tick.C:
		case <-deadline:
			t.Fatalf("notification %q not received", payload)
		}
	}
}

// killListener terminates the store's listening backend.
func killListener(t *testing.T, s *Store) {
	t.Helper()
	pid := s.listener.pid.Load()
	if pid == 0 {
		t.Fatal("no listening connection")
	}
	var ok bool
	if err := s.pool.QueryRow(context.Background(), `SELECT pg_terminate_backend($1)`, int32(pid)).Scan(&ok); err != nil || !ok {
		t.Fatalf("terminate listener %d: %v %v", pid, ok, err)
	}
}

// TestListenSharesOneConnection: three channels listened to on one store use
// one connection, which LISTENs to each; a channel nobody listens to any
// more is UNLISTENed while the others go on; when the last listener stops,
// the connection closes.
func TestListenSharesOneConnection(t *testing.T) {
	pgtest.URL(t)
	s := newTestStore(t)
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "dopaid test " + hex.EncodeToString(b)
	type ch struct {
		name   string
		got    chan string
		cancel context.CancelFunc
		done   chan error
	}
	var chans []*ch
	for i := range 3 {
		c := &ch{name: fmt.Sprintf("%s %d", prefix, i), got: make(chan string, 10), done: make(chan error, 1)}
		ctx, cancel := context.WithCancel(context.Background())
		c.cancel = cancel
		t.Cleanup(cancel)
		go func() {
			c.done <- s.Listen(ctx, c.name, func(p string) {
				select {
				case c.got <- p:
				default:
				}
			})
		}()
		chans = append(chans, c)
	}
	for _, c := range chans {
		deliver(t, s, c.name, "hello", c.got)
	}
	pid := s.listener.pid.Load()
	var n int
	err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dopaid listen' AND pid = $1`, int32(pid)).Scan(&n)
	if err != nil || n != 1 {
		t.Fatalf("listening backend %d: found %d (%v), want 1", pid, n, err)
	}

	// One channel stops; the others still hear, on the same connection.
	chans[0].cancel()
	if err := <-chans[0].done; !errors.Is(err, context.Canceled) {
		t.Errorf("Listen returned %v, want context.Canceled", err)
	}
	for _, c := range chans[1:] {
		deliver(t, s, c.name, "still here", c.got)
	}
	if got := s.listener.pid.Load(); got != pid {
		t.Errorf("listening backend changed from %d to %d when one channel stopped", pid, got)
	}

	// Every channel comes back after the connection is lost.
	killListener(t, s)
	for _, c := range chans[1:] {
		deliver(t, s, c.name, "after reconnect", c.got)
	}

	// The last listeners stop: the connection closes.
	for _, c := range chans[1:] {
		c.cancel()
		<-c.done
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.listener.pid.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the listening connection stayed open after every Listen returned")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
