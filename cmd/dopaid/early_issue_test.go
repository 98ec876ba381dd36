package main

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// redeemWatch watches the code exchange's store calls: which reads of what
// the release is made of run inside RedeemAuthCode, the grant its
// issuance stores, and, with forge set, it answers AuthRequestByCode with
// another request than the code's.
type redeemWatch struct {
	storage.Store
	forge bool

	mu       sync.Mutex
	inRedeem bool
	inside   []string // reads made inside RedeemAuthCode
	issued   []string // grant IDs of the issuances stored
	consumed []string // grant IDs of the requests consumed
}

func (w *redeemWatch) read(m string) {
	w.mu.Lock()
	if w.inRedeem {
		w.inside = append(w.inside, m)
	}
	w.mu.Unlock()
}

func (w *redeemWatch) Consent(ctx context.Context, citizenID, permitID, purpose string) (storage.Consent, error) {
	w.read("Consent")
	return w.Store.Consent(ctx, citizenID, permitID, purpose)
}

func (w *redeemWatch) Citizen(ctx context.Context, id string) (storage.Citizen, error) {
	w.read("Citizen")
	return w.Store.Citizen(ctx, id)
}

func (w *redeemWatch) AuthRequestByCode(ctx context.Context, codeHash, clientID string, now time.Time) (storage.AuthRequest, error) {
	ar, err := w.Store.AuthRequestByCode(ctx, codeHash, clientID, now)
	w.mu.Lock()
	forge := w.forge
	w.mu.Unlock()
	if forge && err == nil {
		ar.GrantID, ar.Subject = "forged-grant", "forged-citizen"
	}
	return ar, err
}

func (w *redeemWatch) RedeemAuthCode(ctx context.Context, codeHash, clientID string, now time.Time, issue func(storage.AuthRequest) (storage.Issuance, error)) (storage.AuthRequest, error) {
	w.mu.Lock()
	w.inRedeem = true
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.inRedeem = false
		w.mu.Unlock()
	}()
	return w.Store.RedeemAuthCode(ctx, codeHash, clientID, now, func(ar storage.AuthRequest) (storage.Issuance, error) {
		is, err := issue(ar)
		w.mu.Lock()
		w.consumed = append(w.consumed, ar.GrantID)
		w.issued = append(w.issued, is.Grant.ID)
		w.mu.Unlock()
		return is, err
	})
}

// TestCodeExchangeIssuesBeforeItsTransaction: the token endpoint makes the
// tokens and reads what the release is made of before the transaction that
// consumes the code — on SQLite the one writer's, which every other write
// waits for; on PostgreSQL one that holds a pool connection, so that a read
// inside would wait for a second — and uses them only for the very request
// consumed: a request read beforehand that is not the one consumed is
// issued again inside, for the request consumed.
func TestCodeExchangeIssuesBeforeItsTransaction(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		w := &redeemWatch{}
		ts := boot(t, database, func(m *Main) {
			m.wrapStore = func(s storage.Store) storage.Store { w.Store = s; return w }
		})
		c := newTestClient(t, ts, storage.Client{ID: "app", AuthMethod: storage.AuthMethodSecretBasic, Scopes: []string{"openid", "profile"}})
		// Each sign-in is another citizen's, so that the provider's caches
		// of consents and records are cold at every exchange; the release
		// asks for claims, so that the consent is read.
		exchange := func(subject string) {
			t.Helper()
			u, verifier := c.authorizeURL(t, ts, func(q url.Values) { q.Set("scope", "openid profile") })
			b := newBrowser(t)
			code := b.signIn(ts, b.toLogin(ts, u), subject).Query().Get("code")
			if code == "" {
				t.Fatal("sign-in gave no code")
			}
			ts.secret(code)
			r := c.exchange(t, ts, code, verifier)
			if r.status != http.StatusOK {
				t.Fatalf("forge=%v, %s: status %d: %s", w.forge, subject, r.status, r.body)
			}
			r.tokens(t)
		}
		// On both backends: on PostgreSQL a read inside would need a second
		// connection of the pool while the transaction holds one, which
		// deadlocked a pool whose every connection was an exchange's.
		check := func(forge bool) {
			t.Helper()
			w.mu.Lock()
			defer w.mu.Unlock()
			if !forge && len(w.inside) > 0 {
				t.Errorf("reads inside the code's transaction: %v, want none (made before it)", w.inside)
			}
			if forge && len(w.inside) == 0 {
				t.Error("nothing was read inside the code's transaction: its issuance was not made there")
			}
			if len(w.issued) != 2 {
				t.Fatalf("forge=%v: %d issuances, want 2", forge, len(w.issued))
			}
			for i := range w.issued {
				if w.issued[i] != w.consumed[i] || w.issued[i] == "forged-grant" {
					t.Errorf("forge=%v: exchange %d issued grant %q for a request of grant %q", forge, i, w.issued[i], w.consumed[i])
				}
			}
			w.inside, w.issued, w.consumed = nil, nil, nil
		}
		exchange("citizen-1")
		exchange("citizen-2")
		check(false)
		w.mu.Lock()
		w.forge = true
		w.mu.Unlock()
		exchange("citizen-3")
		exchange("citizen-4")
		check(true)
	})
}
