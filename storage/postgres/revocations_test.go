package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
	"github.com/dopaid/dopaid/storage/postgres/pgtest"
)

// TestRevocationCommittedLate revokes a grant in a transaction that stays
// open while another revocation commits and the feed is read past it: the
// late commit must still be reported by a read from the cursor that read
// returned. (With a plain sequence the cursor would have moved past the
// late row's number and lost it for good.)
func TestRevocationCommittedLate(t *testing.T) {
	pgtest.URL(t)
	ctx := context.Background()
	s := newTestStore(t)
	now := time.Now()
	for _, id := range []string{"late", "early"} {
		g := storage.Grant{ID: id, ClientID: "c", Subject: "s-" + id, Scopes: []string{"openid"}, AuthTime: now,
			Purpose: "p", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		a := storage.AccessToken{ID: "at-" + id, GrantID: id, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
		if err := s.IssueTokens(ctx, g, a, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	_, cursor, err := s.Revocations(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `UPDATE grants SET revoked_at = $2 WHERE id = $1`, "late", now); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeGrant(ctx, "early", now); err != nil {
		t.Fatal(err)
	}
	rs, next, err := s.Revocations(ctx, cursor)
	if err != nil {
		t.Fatal(err)
	}
	if !reports(rs, "early") || reports(rs, "late") {
		t.Fatalf("Revocations while late is open = %v, want early only", rs)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	rs, _, err = s.Revocations(ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	if !reports(rs, "late") {
		t.Errorf("Revocations(%d) after the late commit = %v, want it to report grant late", next, rs)
	}
}

func reports(rs []storage.Revocation, grantID string) bool {
	for _, r := range rs {
		if r.Grant && r.ID == grantID {
			return true
		}
	}
	return false
}
