package storagetest

import (
	"context"
	"testing"

	"github.com/dopaid/dopaid/storage"
)

// OpsStore is what an operator's readiness check and metrics read from a
// backend besides Store: whether its schema is current, and its pool.
type OpsStore interface {
	Migrate(ctx context.Context) error
	PendingMigrations(ctx context.Context) ([]string, error)
	Stats() storage.PoolStats
}

// Ops checks a freshly opened, not yet migrated store: every migration is
// pending, none after Migrate, and the pool reports open connections within
// its limit, none held once the calls returned.
func Ops(t *testing.T, s OpsStore) {
	ctx := t.Context()
	before, err := s.PendingMigrations(ctx)
	if err != nil {
		t.Fatalf("PendingMigrations before Migrate: %v", err)
	}
	if len(before) == 0 {
		t.Errorf("PendingMigrations before Migrate = none, want every migration")
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	after, err := s.PendingMigrations(ctx)
	if err != nil {
		t.Fatalf("PendingMigrations after Migrate: %v", err)
	}
	if len(after) != 0 {
		t.Errorf("PendingMigrations after Migrate = %v, want none", after)
	}
	st := s.Stats()
	if st.Open < 1 || (st.MaxOpen > 0 && st.Open > st.MaxOpen) {
		t.Errorf("Stats() = %+v, want at least one open connection within MaxOpen", st)
	}
	if st.InUse != 0 || st.Idle != st.Open {
		t.Errorf("Stats() = %+v, want every open connection idle between calls", st)
	}
}
