package sqlite

import "context"

// MigrateTo applies the migrations up to version v only, so that a test
// can build a database as an older dopaid left it.
func (s *Store) MigrateTo(ctx context.Context, v int) error { return s.migrate(ctx, v) }
