package sqlite

import (
	"context"

	"github.com/dopaid/dopaid/storage"
)

// MigrateTo applies the migrations up to version v only, so that a test
// can build a database as an older dopaid left it.
func (s *Store) MigrateTo(ctx context.Context, v int) error { return s.migrate(ctx, v) }

// SetWALRestartFrames sets the WAL size, in pages, beyond which the
// checkpointer has the writer start the WAL over, and returns the previous
// value.
func SetWALRestartFrames(n int64) int64 { return walRestartFrames.Swap(n) }

// SetWALTruncateFrames sets the WAL size, in pages, beyond which the
// checkpointer empties the WAL, and returns the previous value.
func SetWALTruncateFrames(n int64) int64 { return walTruncateFrames.Swap(n) }

// IntegrateLogUnindexed is IntegrateLog without the readers' index
// (indexLog): the state between an integration round and its indexing.
func (s *Store) IntegrateLogUnindexed(ctx context.Context, max int,
	fn func(storage.LogHead, []storage.LogEntry) (storage.LogIntegration, error),
) (int, error) {
	return s.integrateLog(ctx, max, fn)
}
