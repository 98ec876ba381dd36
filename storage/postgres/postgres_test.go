package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/postgres/pgtest"
	"github.com/dopaid/dopaid/storage/storagetest"
)

func TestStore(t *testing.T) {
	pgtest.URL(t) // skip (or fail in CI) once, not in every subtest
	storagetest.Run(t, func(t *testing.T) storage.Store { return newTestStore(t) })
}

// newTestStore returns a migrated store in a schema of its own, dropped when
// t ends, so that tests and packages can share one database concurrently.
// Its pool is small: many stores run at once.
func newTestStore(t *testing.T) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, pgtest.Schema(t, 4))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}
