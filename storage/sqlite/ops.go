package sqlite

import (
	"context"
	"fmt"

	"github.com/dopaid/dopaid/storage"
)

// PendingMigrations names the embedded migrations that the database has not
// applied yet (all of them before the first Migrate), in version order.
func (s *Store) PendingMigrations(ctx context.Context) ([]string, error) {
	ms, err := migrations()
	if err != nil {
		return nil, fmt.Errorf("sqlite: pending migrations: %w", err)
	}
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n); err != nil {
		return nil, fmt.Errorf("sqlite: pending migrations: %w", err)
	}
	done := map[int]bool{}
	if n > 0 {
		rows, err := s.r.QueryContext(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return nil, fmt.Errorf("sqlite: pending migrations: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				return nil, fmt.Errorf("sqlite: pending migrations: %w", err)
			}
			done[v] = true
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("sqlite: pending migrations: %w", err)
		}
	}
	var pending []string
	for _, m := range ms {
		if !done[m.version] {
			pending = append(pending, m.name)
		}
	}
	return pending, nil
}

// Stats reports the connections to the file: the one writer and the
// readers together.
func (s *Store) Stats() storage.PoolStats {
	w, r := s.w.Stats(), s.r.Stats()
	return storage.PoolStats{
		MaxOpen:      w.MaxOpenConnections + r.MaxOpenConnections,
		Open:         w.OpenConnections + r.OpenConnections,
		InUse:        w.InUse + r.InUse,
		Idle:         w.Idle + r.Idle,
		WaitCount:    w.WaitCount + r.WaitCount,
		WaitDuration: w.WaitDuration + r.WaitDuration,
	}
}
