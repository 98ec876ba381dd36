package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
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
			killListener(t, s, channel)
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

// killListener terminates the backend that listens on channel, found by the
// application name Listen gives its connection.
func killListener(t *testing.T, s *Store, channel string) {
	t.Helper()
	ctx := context.Background()
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = left($1, 63)`, "dopaid listen "+channel).Scan(&n)
	if err != nil {
		t.Fatalf("terminate listener: %v", err)
	}
	if n != 1 {
		t.Fatalf("terminated %d listeners, want 1", n)
	}
}
