package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// newSession returns a session created at created, idle-expiring 30 minutes
// later and absolutely expiring 8 hours later.
func newSession(id, subject string, created time.Time) storage.Session {
	return storage.Session{
		ID:            id,
		Subject:       subject,
		AuthTime:      created,
		AMR:           []string{"face", "otp"},
		ACR:           "urn:dopa:aal2",
		IAL:           "1.3",
		IdleExpiresAt: created.Add(30 * time.Minute),
		ExpiresAt:     created.Add(8 * time.Hour),
		CreatedAt:     created,
		LastSeenAt:    created,
		UserAgent:     "Mozilla/5.0 (X11; Linux x86_64)",
	}
}

func testSessions(t *testing.T, su suite) {
	ctx := context.Background()

	t.Run("round trip", func(t *testing.T) {
		minimal := storage.Session{ID: "minimal", Subject: "alice", IdleExpiresAt: at(time.Minute), ExpiresAt: at(time.Hour)}
		tests := []struct {
			name string
			s    storage.Session
		}{
			{"every field", newSession("full", "alice", base)},
			{"minimal", minimal},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				wantErr(t, "CreateSession", s.CreateSession(ctx, tt.s, nil), nil)
				got, err := s.Session(ctx, tt.s.ID, base)
				wantErr(t, "Session", err, nil)
				check(t, "Session", got, tt.s, normSession)
			})
		}
	})

	t.Run("duplicate ID", func(t *testing.T) {
		s := su.store(t)
		first := newSession("a", "alice", base)
		wantErr(t, "CreateSession", s.CreateSession(ctx, first, nil), nil)
		wantErr(t, "CreateSession again", s.CreateSession(ctx, newSession("a", "bob", base), nil), storage.ErrAlreadyExists)
		got, err := s.Session(ctx, "a", base)
		wantErr(t, "Session", err, nil)
		check(t, "Session", got, first, normSession)
	})

	t.Run("lookup", func(t *testing.T) {
		// short has an absolute lifetime below its idle lifetime.
		short := newSession("short", "alice", base)
		short.IdleExpiresAt = at(time.Hour)
		short.ExpiresAt = at(20 * time.Minute)
		tests := []struct {
			name string
			id   string
			now  time.Time
			err  error
		}{
			{"live", "normal", at(time.Minute), nil},
			{"before idle expiry", "normal", at(30*time.Minute - time.Millisecond), nil},
			{"at idle expiry", "normal", at(30 * time.Minute), storage.ErrNotFound},
			{"after absolute expiry", "normal", at(9 * time.Hour), storage.ErrNotFound},
			{"absolute before idle: live", "short", at(19 * time.Minute), nil},
			{"absolute before idle: at absolute expiry", "short", at(20 * time.Minute), storage.ErrNotFound},
			{"missing", "absent", base, storage.ErrNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				wantErr(t, "CreateSession", s.CreateSession(ctx, newSession("normal", "alice", base), nil), nil)
				wantErr(t, "CreateSession", s.CreateSession(ctx, short, nil), nil)
				_, err := s.Session(ctx, tt.id, tt.now)
				wantErr(t, "Session", err, tt.err)
			})
		}
	})

	t.Run("delete", func(t *testing.T) {
		s := su.store(t)
		wantErr(t, "CreateSession", s.CreateSession(ctx, newSession("a", "alice", base), nil), nil)
		wantErr(t, "CreateSession", s.CreateSession(ctx, newSession("b", "alice", base), nil), nil)
		wantErr(t, "DeleteSession", s.DeleteSession(ctx, "a", nil), nil)
		_, err := s.Session(ctx, "a", base)
		wantErr(t, "Session after delete", err, storage.ErrNotFound)
		_, err = s.Session(ctx, "b", base)
		wantErr(t, "other Session", err, nil)
		wantErr(t, "DeleteSession again", s.DeleteSession(ctx, "a", nil), nil)
		wantErr(t, "DeleteSession of a missing session", s.DeleteSession(ctx, "absent", nil), nil)
	})
}

func testTouchSession(t *testing.T, su suite) {
	ctx := context.Background()
	tests := []struct {
		name     string
		idle     time.Time // the idle expiry asked for
		now      time.Time
		err      error
		wantIdle time.Time // zero: the touch is refused
	}{
		{"moves idle expiry", at(50 * time.Minute), at(20 * time.Minute), nil, at(50 * time.Minute)},
		{"capped at ExpiresAt", at(9 * time.Hour), at(20 * time.Minute), nil, at(8 * time.Hour)},
		{"idle-expired session stays dead", at(time.Hour), at(31 * time.Minute), storage.ErrNotFound, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := su.store(t)
			orig := newSession("a", "alice", base)
			wantErr(t, "CreateSession", s.CreateSession(ctx, orig, nil), nil)
			err := s.TouchSession(ctx, "a", tt.idle, tt.now)
			wantErr(t, "TouchSession", err, tt.err)
			if tt.wantIdle.IsZero() {
				_, err := s.Session(ctx, "a", tt.now)
				wantErr(t, "Session after a refused touch", err, storage.ErrNotFound)
				return
			}
			got, err := s.Session(ctx, "a", tt.now)
			wantErr(t, "Session", err, nil)
			want := orig
			want.IdleExpiresAt = tt.wantIdle
			want.LastSeenAt = tt.now
			check(t, "touched Session", got, want, normSession)
			_, err = s.Session(ctx, "a", tt.wantIdle)
			wantErr(t, "Session at the new idle expiry", err, storage.ErrNotFound)
		})
	}

	// Touching every 20 minutes keeps the session alive, never past ExpiresAt.
	t.Run("repeated touches", func(t *testing.T) {
		s := su.store(t)
		wantErr(t, "CreateSession", s.CreateSession(ctx, newSession("a", "alice", base), nil), nil)
		for now := at(20 * time.Minute); now.Before(at(8 * time.Hour)); now = now.Add(20 * time.Minute) {
			wantErr(t, "TouchSession at "+now.Format(time.TimeOnly), s.TouchSession(ctx, "a", now.Add(30*time.Minute), now), nil)
		}
		_, err := s.Session(ctx, "a", at(8*time.Hour-time.Millisecond))
		wantErr(t, "Session before ExpiresAt", err, nil)
		_, err = s.Session(ctx, "a", at(8*time.Hour))
		wantErr(t, "Session at ExpiresAt", err, storage.ErrNotFound)
	})

	t.Run("missing", func(t *testing.T) {
		s := su.store(t)
		wantErr(t, "TouchSession", s.TouchSession(ctx, "absent", at(time.Hour), base), storage.ErrNotFound)
	})
}

func testSessionsBySubject(t *testing.T, su suite) {
	ctx := context.Background()
	expired := newSession("alice-expired", "alice", at(-2*time.Hour))
	sessions := []storage.Session{
		newSession("alice-2", "alice", at(-2*time.Minute)),
		newSession("alice-3", "alice", at(-time.Minute)),
		newSession("bob-1", "bob", at(-time.Minute)),
		newSession("alice-1", "alice", at(-3*time.Minute)),
		expired,
	}
	tests := []struct {
		name    string
		subject string
		want    []storage.Session
	}{
		{"newest first, live only", "alice", []storage.Session{sessions[1], sessions[0], sessions[3]}},
		{"one", "bob", []storage.Session{sessions[2]}},
		{"none", "carol", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := su.store(t)
			for _, ss := range sessions {
				wantErr(t, "CreateSession", s.CreateSession(ctx, ss, nil), nil)
			}
			got, err := s.SessionsBySubject(ctx, tt.subject, base)
			wantErr(t, "SessionsBySubject", err, nil)
			check(t, "SessionsBySubject", got, tt.want, normSessions)
		})
	}
}
