package postgres

import (
	"context"
	"errors"
	"fmt"
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
// is done, and then returns ctx's error. It holds a connection of its own,
// outside the pool, and calls fn on its own goroutine, one notification at a
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
	const minWait, maxWait = 100 * time.Millisecond, 10 * time.Second
	wait := minWait
	for {
		connected, err := s.listen(ctx, channel, fn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if connected {
			wait = minWait
		}
		s.log.WarnContext(ctx, "postgres listen: connection lost, reconnecting",
			"channel", channel, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, maxWait)
	}
}

// listen runs one connection's life: connect, LISTEN, deliver. It reports
// whether LISTEN took effect, so that Listen can reset its backoff.
func (s *Store) listen(ctx context.Context, channel string, fn func(payload string)) (connected bool, err error) {
	cfg := s.pool.Config().ConnConfig
	if cfg.RuntimeParams["application_name"] == "" {
		// Lets an operator find listeners in pg_stat_activity.
		cfg.RuntimeParams["application_name"] = "dopaid listen " + channel
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return false, fmt.Errorf("listen: %w", err)
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, s.listenCheck)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if n != nil {
			fn(n.Payload)
		}
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return true, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			// Silence: make sure the server is still there. Notifications
			// arriving meanwhile are queued by pgx for the next wait.
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return true, fmt.Errorf("health check: %w", err)
			}
		default:
			return true, fmt.Errorf("wait: %w", err)
		}
	}
}
