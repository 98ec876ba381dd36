package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Notify sends payload to every listener of channel, on every replica, when
// the caller's transaction commits (here: at once). PostgreSQL limits a
// payload to just under 8000 bytes and collapses identical notifications sent
// in one transaction. Channels are per database, not per schema.
func (s *Store) Notify(ctx context.Context, channel, payload string) error {
	if _, err := s.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, channel, payload); err != nil {
		return fmt.Errorf("postgres: notify %q: %w", channel, err)
	}
	return nil
}

// Listen calls fn with the payload of every notification on channel until ctx
// is done, and then returns ctx's error. Every Listen of a Store shares one
// connection of its own, outside the pool (LISTEN on each channel in use),
// and fn is called on that connection's goroutine, one notification at a
// time: fn should be quick.
//
// A lost connection is re-established with backoff and logged. Notifications
// sent while it was down are lost, so a cache kept coherent by Listen should
// also expire its entries on its own, within the time it may be stale.
// A connection that stays silent is checked every so often so that a dead
// peer is noticed within a minute rather than when TCP gives up.
func (s *Store) Listen(ctx context.Context, channel string, fn func(payload string)) error {
	if channel == "" {
		return errors.New("postgres: listen: empty channel name")
	}
	l := &s.listener
	sub := &subscription{fn: fn}
	l.mu.Lock()
	if l.subs == nil {
		l.subs = map[string]map[*subscription]bool{}
	}
	if l.subs[channel] == nil {
		l.subs[channel] = map[*subscription]bool{}
	}
	l.subs[channel][sub] = true
	start := !l.running
	l.running = true
	l.mu.Unlock()
	l.changed()
	if start {
		go s.listenLoop()
	}

	<-ctx.Done()
	l.mu.Lock()
	delete(l.subs[channel], sub)
	if len(l.subs[channel]) == 0 {
		delete(l.subs, channel)
	}
	l.mu.Unlock()
	l.changed()
	return ctx.Err()
}

// listener is the state of a Store's one listening connection.
type listener struct {
	mu      sync.Mutex
	subs    map[string]map[*subscription]bool // channel → its listeners
	running bool                              // listenLoop runs
	// wake interrupts the connection's wait for a notification so that it
	// LISTENs to new channels and UNLISTENs the ones nobody listens to.
	wake context.CancelFunc
	// dirty says the channels changed since the loop last read them.
	dirty bool
	// pid is the listening backend's process ID (0: none), for tests.
	pid atomic.Uint32
}

type subscription struct{ fn func(payload string) }

func (l *listener) changed() {
	l.mu.Lock()
	l.dirty = true
	if l.wake != nil {
		l.wake()
	}
	l.mu.Unlock()
}

// wanted returns the channels listened to; it marks the loop stopped, under
// the same lock, when there are none.
func (l *listener) wanted() map[string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dirty = false
	if len(l.subs) == 0 {
		l.running = false
		return nil
	}
	w := make(map[string]bool, len(l.subs))
	for c := range l.subs {
		w[c] = true
	}
	return w
}

func (l *listener) deliver(channel, payload string) {
	l.mu.Lock()
	fns := make([]func(string), 0, len(l.subs[channel]))
	for sub := range l.subs[channel] {
		fns = append(fns, sub.fn)
	}
	l.mu.Unlock()
	for _, fn := range fns {
		fn(payload)
	}
}

// listenLoop keeps the listening connection up while anyone listens.
func (s *Store) listenLoop() {
	const minWait, maxWait = 100 * time.Millisecond, 10 * time.Second
	wait := minWait
	for {
		connected, err := s.listen()
		if err == nil {
			return // nobody listens any more
		}
		if connected {
			wait = minWait
		}
		s.log.Warn("postgres listen: connection lost, reconnecting", "retry_in", wait, "err", err)
		time.Sleep(wait)
		if s.listener.wanted() == nil {
			return
		}
		wait = min(2*wait, maxWait)
	}
}

// listen runs one connection's life: connect, LISTEN, deliver, following
// the channels wanted. It returns nil when nobody listens any more, and
// reports whether LISTEN took effect, so that listenLoop can reset its
// backoff.
func (s *Store) listen() (connected bool, err error) {
	l := &s.listener
	ctx := context.Background()
	cfg := s.pool.Config().ConnConfig
	if cfg.RuntimeParams["application_name"] == "" {
		// Lets an operator find the listener in pg_stat_activity.
		cfg.RuntimeParams["application_name"] = "dopaid listen"
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	l.pid.Store(conn.PgConn().PID())
	defer func() {
		l.pid.Store(0)
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	on := map[string]bool{}
	for {
		want := l.wanted()
		if want == nil {
			return connected, nil
		}
		for c := range want {
			if !on[c] {
				if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{c}.Sanitize()); err != nil {
					return connected, fmt.Errorf("listen: %w", err)
				}
				on[c] = true
				connected = true
			}
		}
		for c := range on {
			if !want[c] {
				if _, err := conn.Exec(ctx, "UNLISTEN "+pgx.Identifier{c}.Sanitize()); err != nil {
					return connected, fmt.Errorf("unlisten: %w", err)
				}
				delete(on, c)
			}
		}

		wctx, cancel := context.WithTimeout(ctx, s.listenCheck)
		l.mu.Lock()
		l.wake = cancel
		if l.dirty {
			cancel() // changed since wanted: follow at once
		}
		l.mu.Unlock()
		n, err := conn.WaitForNotification(wctx)
		l.mu.Lock()
		l.wake = nil
		l.mu.Unlock()
		woken := errors.Is(wctx.Err(), context.Canceled)
		cancel()
		if n != nil {
			l.deliver(n.Channel, n.Payload)
		}
		switch {
		case err == nil:
		case woken && !conn.IsClosed():
			// The channels changed: follow them.
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			// Silence: make sure the server is still there. Notifications
			// arriving meanwhile are queued by pgx for the next wait.
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return connected, fmt.Errorf("health check: %w", err)
			}
		default:
			return connected, fmt.Errorf("wait: %w", err)
		}
	}
}
