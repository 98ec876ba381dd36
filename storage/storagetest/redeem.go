package storagetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

func testRedeemAuthCode(t *testing.T, su suite) {
	ctx := context.Background()
	now := at(time.Minute)
	issuance := func(ar storage.AuthRequest) storage.Issuance {
		g := newGrant(ar.GrantID)
		return storage.Issuance{Grant: g, Access: newAccess("at-"+g.ID, g.ID), Refresh: newRefresh("rt-"+g.ID, g.ID),
			Record: recordOf("e-"+g.ID, "tokens")}
	}
	live := func(t *testing.T, s storage.Store, id string) bool {
		t.Helper()
		_, err := s.AccessToken(ctx, id, now)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("AccessToken: %v", err)
		}
		return err == nil
	}

	t.Run("consumes the code and issues the tokens with their record", func(t *testing.T) {
		s, want := storeWithCode(t, su, "r")
		calls := 0
		got, err := s.RedeemAuthCode(ctx, "code-r", "client-1", now, func(ar storage.AuthRequest) (storage.Issuance, error) {
			calls++
			want.CodeUsedAt = now
			check(t, "request given to issue", ar, want, normAuthRequest)
			return issuance(ar), nil
		})
		wantErr(t, "RedeemAuthCode", err, nil)
		if calls != 1 {
			t.Fatalf("issue called %d times, want once", calls)
		}
		check(t, "RedeemAuthCode", got, want, normAuthRequest)
		if !live(t, s, "at-grant-r") {
			t.Error("the access token was not stored")
		}
		if _, err := s.RefreshToken(ctx, "rt-grant-r", now); err != nil {
			t.Errorf("RefreshToken: %v", err)
		}
		if !entryExists(t, s, "e-grant-r") {
			t.Error("the record was not written")
		}
		// Used now: a second redemption is a replay.
		again, err := s.RedeemAuthCode(ctx, "code-r", "client-1", now, func(storage.AuthRequest) (storage.Issuance, error) {
			t.Error("issue called for a code used before")
			return storage.Issuance{}, nil
		})
		wantErr(t, "RedeemAuthCode again", err, storage.ErrConflict)
		if again.ID != "r" || again.GrantID != "grant-r" {
			t.Errorf("replay returned request %q of grant %q, want r of grant-r", again.ID, again.GrantID)
		}
	})

	t.Run("an error from issue keeps the code used and issues nothing", func(t *testing.T) {
		s, _ := storeWithCode(t, su, "r")
		refused := errors.New("pkce mismatch")
		_, err := s.RedeemAuthCode(ctx, "code-r", "client-1", now, func(ar storage.AuthRequest) (storage.Issuance, error) {
			return issuance(ar), refused
		})
		if !errors.Is(err, refused) {
			t.Fatalf("RedeemAuthCode: %v, want issue's error as is", err)
		}
		if live(t, s, "at-grant-r") || entryExists(t, s, "e-grant-r") {
			t.Error("tokens or their record were stored although issue failed")
		}
		_, err = s.ConsumeAuthCode(ctx, "code-r", "client-1", now)
		wantErr(t, "ConsumeAuthCode after the failed redemption", err, storage.ErrConflict)
	})

	t.Run("a refused record undoes everything", func(t *testing.T) {
		s, _ := storeWithCode(t, su, "r")
		_, err := s.RedeemAuthCode(ctx, "code-r", "client-1", now, func(ar storage.AuthRequest) (storage.Issuance, error) {
			is := issuance(ar)
			is.Record = recordOf("pid", "citizen 1101700230708")
			return is, nil
		})
		if !errors.Is(err, storage.ErrUnrecorded) {
			t.Fatalf("RedeemAuthCode with a national ID number in the record: %v, want ErrUnrecorded", err)
		}
		if live(t, s, "at-grant-r") {
			t.Error("tokens stored without their record")
		}
		_, err = s.ConsumeAuthCode(ctx, "code-r", "client-1", now)
		wantErr(t, "ConsumeAuthCode: the code is unused", err, nil)
	})

	t.Run("unknown, expired and another client's codes", func(t *testing.T) {
		s, _ := storeWithCode(t, su, "r")
		never := func(storage.AuthRequest) (storage.Issuance, error) {
			t.Error("issue called")
			return storage.Issuance{}, nil
		}
		_, err := s.RedeemAuthCode(ctx, "code-x", "client-1", now, never)
		wantErr(t, "unknown code", err, storage.ErrNotFound)
		_, err = s.RedeemAuthCode(ctx, "code-r", "client-2", now, never)
		wantErr(t, "another client's code", err, storage.ErrNotFound)
		_, err = s.RedeemAuthCode(ctx, "code-r", "client-1", at(2*time.Minute), never)
		wantErr(t, "expired code", err, storage.ErrNotFound)
		// None of them burnt it.
		_, err = s.ConsumeAuthCode(ctx, "code-r", "client-1", now)
		wantErr(t, "ConsumeAuthCode", err, nil)
	})
}
