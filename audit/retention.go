package audit

import (
	"context"
	"fmt"
	"time"
)

// Redact applies a retention period: it drops the contents of every
// integrated entry written before before, in rounds of DefaultBatch (one
// statement each), and returns how many entries it redacted. The leaves
// and the tree stay as they are, so every proof, every checkpoint and
// Verify still hold for what remains; Verify reports the redacted entries
// and checks their kept leaf hashes against the tree. Entries not yet
// integrated are redacted once they are.
func Redact(ctx context.Context, s Redacting, before time.Time) (int, error) {
	total := 0
	for {
		n, err := s.RedactLogEntries(ctx, before, DefaultBatch)
		total += n
		if err != nil {
			return total, fmt.Errorf("audit: redact: %w", err)
		}
		if n < DefaultBatch {
			return total, nil
		}
	}
}
