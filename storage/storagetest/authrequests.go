package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// newAuthRequest returns a pending request with every field set that the
// authorize endpoint sets, live from base for ten minutes.
func newAuthRequest(id string) storage.AuthRequest {
	return storage.AuthRequest{
		ID:                  id,
		ClientID:            "client-1",
		RedirectURI:         "https://rp.example.go.th/cb",
		Scopes:              []string{"openid", "profile", "pid"},
		State:               "state-" + id,
		Nonce:               "nonce-" + id,
		ResponseType:        "code",
		ResponseMode:        "query",
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		Prompt:              []string{"login", "consent"},
		MaxAge:              ptr(15 * time.Minute),
		LoginHint:           "hint",
		UILocales:           []string{"th", "en"},
		ACRValues:           []string{"urn:dopa:aal2"},
		Claims:              []byte(`{"userinfo":{"birthdate":{"essential":true}}}`),
		Purpose:             "pension",
		BrowserBinding:      "binding-" + id,
		GrantID:             "grant-" + id,
		DPoPJKT:             "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
		CreatedAt:           base,
		ExpiresAt:           at(10 * time.Minute),
	}
}

func newAuthResult() storage.AuthResult {
	return storage.AuthResult{
		Subject:   "subject-1",
		AuthTime:  at(time.Minute),
		AMR:       []string{"face", "otp"},
		ACR:       "urn:dopa:aal2",
		IAL:       "2.3",
		SessionID: "session-1",
	}
}

// completed returns r as CompleteAuthRequest(res) should leave it.
func completed(r storage.AuthRequest, res storage.AuthResult) storage.AuthRequest {
	r.Subject = res.Subject
	r.AuthTime = res.AuthTime
	r.AMR = res.AMR
	r.ACR = res.ACR
	r.IAL = res.IAL
	r.SessionID = res.SessionID
	r.CodeHash, r.CodeExpiresAt = res.Code.Hash, res.Code.ExpiresAt
	r.Done = true
	return r
}

// storeCompleted returns a store holding request id completed with res
// at base+1m, and the request as the completion should leave it.
func storeCompleted(t *testing.T, su suite, id string, res storage.AuthResult) (storage.Store, storage.AuthRequest) {
	t.Helper()
	ctx := context.Background()
	s := su.store(t)
	seedClient(t, s, "client-1")
	r := newAuthRequest(id)
	wantErr(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r), nil)
	wantErr(t, "CompleteAuthRequest", s.CompleteAuthRequest(ctx, id, res, at(time.Minute)), nil)
	return s, completed(r, res)
}

// storeWithCode returns a store holding a completed request whose code has
// the hash "code-"+id and lives until base+1m.
func storeWithCode(t *testing.T, su suite, id string) (storage.Store, storage.AuthRequest) {
	t.Helper()
	ctx := context.Background()
	s, r := storeCompleted(t, su, id, newAuthResult())
	r.CodeHash = "code-" + id
	r.CodeExpiresAt = at(2 * time.Minute)
	wantErr(t, "SaveAuthCode", s.SaveAuthCode(ctx, id, r.CodeHash, r.CodeExpiresAt, at(time.Minute)), nil)
	return s, r
}

func testAuthRequests(t *testing.T, su suite) {
	ctx := context.Background()

	t.Run("round trip", func(t *testing.T) {
		zeroMaxAge := newAuthRequest("max-age-0")
		zeroMaxAge.MaxAge = ptr(time.Duration(0))
		noMaxAge := newAuthRequest("no-max-age")
		noMaxAge.MaxAge = nil
		minimal := storage.AuthRequest{
			ID:        "minimal",
			ClientID:  "client-1",
			GrantID:   "grant-minimal",
			ExpiresAt: at(time.Minute),
		}
		empty := storage.AuthRequest{
			ID:        "empty",
			ClientID:  "client-1",
			Scopes:    []string{},
			Prompt:    []string{},
			UILocales: []string{},
			ACRValues: []string{},
			Claims:    []byte{},
			ExpiresAt: at(time.Minute),
		}
		tests := []struct {
			name string
			r    storage.AuthRequest
		}{
			{"every field", newAuthRequest("full")},
			{"max_age=0", zeroMaxAge},
			{"no max_age", noMaxAge},
			{"minimal", minimal},
			{"empty slices", empty},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				seedClient(t, s, "client-1")
				wantErr(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, tt.r), nil)
				got, err := s.AuthRequest(ctx, tt.r.ID, base)
				wantErr(t, "AuthRequest", err, nil)
				check(t, "AuthRequest", got, tt.r, normAuthRequest)
				if (got.MaxAge == nil) != (tt.r.MaxAge == nil) {
					t.Errorf("MaxAge = %v, want %v", got.MaxAge, tt.r.MaxAge)
				}
			})
		}
	})

	t.Run("duplicate ID", func(t *testing.T) {
		s := su.store(t)
		seedClient(t, s, "client-1")
		r := newAuthRequest("a")
		wantErr(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r), nil)
		other := newAuthRequest("a")
		other.State = "other"
		wantErr(t, "CreateAuthRequest again", s.CreateAuthRequest(ctx, other), storage.ErrAlreadyExists)
		got, err := s.AuthRequest(ctx, "a", base)
		wantErr(t, "AuthRequest", err, nil)
		check(t, "AuthRequest", got, r, normAuthRequest)
	})

	t.Run("lookup", func(t *testing.T) {
		expired := newAuthRequest("expired")
		expired.CreatedAt = at(-20 * time.Minute)
		expired.ExpiresAt = at(-10 * time.Minute)
		tests := []struct {
			name string
			id   string
			now  time.Time
			err  error
		}{
			{"live", "live", base, nil},
			{"just before expiry", "live", at(10*time.Minute - time.Millisecond), nil},
			{"at expiry", "live", at(10 * time.Minute), storage.ErrNotFound},
			{"after expiry", "live", at(time.Hour), storage.ErrNotFound},
			{"created expired", "expired", base, storage.ErrNotFound},
			{"missing", "absent", base, storage.ErrNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				seedClient(t, s, "client-1")
				wantErr(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, newAuthRequest("live")), nil)
				wantErr(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, expired), nil)
				_, err := s.AuthRequest(ctx, tt.id, tt.now)
				wantErr(t, "AuthRequest", err, tt.err)
			})
		}
	})

	t.Run("delete", func(t *testing.T) {
		s, r := storeWithCode(t, su, "a")
		wantErr(t, "DeleteAuthRequest", s.DeleteAuthRequest(ctx, r.ID), nil)
		_, err := s.AuthRequest(ctx, r.ID, base)
		wantErr(t, "AuthRequest after delete", err, storage.ErrNotFound)
		_, err = s.ConsumeAuthCode(ctx, r.CodeHash, r.ClientID, at(time.Minute))
		wantErr(t, "ConsumeAuthCode after delete", err, storage.ErrNotFound)
		wantErr(t, "DeleteAuthRequest again", s.DeleteAuthRequest(ctx, r.ID), nil)
		wantErr(t, "DeleteAuthRequest of a missing request", s.DeleteAuthRequest(ctx, "absent"), nil)
	})
}

func testCompleteAuthRequest(t *testing.T, su suite) {
	ctx := context.Background()

	t.Run("records the result", func(t *testing.T) {
		s, want := storeCompleted(t, su, "a", newAuthResult())
		got, err := s.AuthRequest(ctx, "a", at(time.Minute))
		wantErr(t, "AuthRequest", err, nil)
		check(t, "AuthRequest", got, want, normAuthRequest)
		if got.CodeHash != "" {
			t.Errorf("a completion without a code left code hash %q", got.CodeHash)
		}
	})

	t.Run("with its code", func(t *testing.T) {
		res := newAuthResult()
		res.Code = storage.AuthCode{Hash: "code-a", ExpiresAt: at(2 * time.Minute)}
		s, want := storeCompleted(t, su, "a", res)
		got, err := s.AuthRequest(ctx, "a", at(time.Minute))
		wantErr(t, "AuthRequest", err, nil)
		check(t, "AuthRequest", got, want, normAuthRequest)
		// The code is the request's one: no second one is attached, and
		// it is used once, like one SaveAuthCode attached.
		wantErr(t, "SaveAuthCode after a completion with a code",
			s.SaveAuthCode(ctx, "a", "code-other", at(2*time.Minute), at(time.Minute)), storage.ErrConflict)
		got, err = s.AuthRequestByCode(ctx, "code-a", "client-1", at(time.Minute))
		wantErr(t, "AuthRequestByCode", err, nil)
		check(t, "AuthRequestByCode", got, want, normAuthRequest)
		used := consumeLive(t, s, want, at(90*time.Second), "ConsumeAuthCode")
		got, err = s.ConsumeAuthCode(ctx, "code-a", "client-1", at(100*time.Second))
		wantErr(t, "ConsumeAuthCode again", err, storage.ErrConflict)
		check(t, "ConsumeAuthCode again", got, used, normAuthRequest)
	})

	t.Run("refused", func(t *testing.T) {
		tests := []struct {
			name string
			id   string
			now  time.Time
			err  error
		}{
			{"twice", "done", base, storage.ErrConflict},
			{"missing", "absent", base, storage.ErrNotFound},
			{"expired", "pending", at(10 * time.Minute), storage.ErrNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				seedClient(t, s, "client-1")
				done := newAuthRequest("done")
				wantErr(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, done), nil)
				wantErr(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, newAuthRequest("pending")), nil)
				first := newAuthResult()
				wantErr(t, "CompleteAuthRequest", s.CompleteAuthRequest(ctx, "done", first, base), nil)

				second := newAuthResult()
				second.Subject = "someone-else"
				err := s.CompleteAuthRequest(ctx, tt.id, second, tt.now)
				wantErr(t, "CompleteAuthRequest", err, tt.err)

				got, err := s.AuthRequest(ctx, "done", base)
				wantErr(t, "AuthRequest", err, nil)
				check(t, "completed request", got, completed(done, first), normAuthRequest)
			})
		}
	})
}

func testSaveAuthCode(t *testing.T, su suite) {
	ctx := context.Background()

	t.Run("attaches the code", func(t *testing.T) {
		s, want := storeWithCode(t, su, "a")
		got, err := s.AuthRequest(ctx, "a", at(time.Minute))
		wantErr(t, "AuthRequest", err, nil)
		check(t, "AuthRequest", got, want, normAuthRequest)
	})

	t.Run("refused", func(t *testing.T) {
		tests := []struct {
			name string
			id   string
			now  time.Time
			err  error
		}{
			{"before completion", "pending", base, storage.ErrConflict},
			{"second code", "coded", at(time.Minute), storage.ErrConflict},
			{"missing", "absent", base, storage.ErrNotFound},
			{"expired", "done", at(10 * time.Minute), storage.ErrNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s, coded := storeWithCode(t, su, "coded")
				wantErr(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, newAuthRequest("pending")), nil)
				wantErr(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, newAuthRequest("done")), nil)
				wantErr(t, "CompleteAuthRequest", s.CompleteAuthRequest(ctx, "done", newAuthResult(), base), nil)

				err := s.SaveAuthCode(ctx, tt.id, "code-new", at(2*time.Minute), tt.now)
				wantErr(t, "SaveAuthCode", err, tt.err)

				got, err := s.AuthRequest(ctx, "coded", base)
				wantErr(t, "AuthRequest", err, nil)
				check(t, "request with a code", got, coded, normAuthRequest)
				_, err = s.ConsumeAuthCode(ctx, "code-new", "client-1", at(time.Minute))
				wantErr(t, "ConsumeAuthCode of the refused code", err, storage.ErrNotFound)
			})
		}
	})
}

// consumeLive uses r's live code at now, by its client, and checks that
// ConsumeAuthCode returns r used at now, which it returns.
func consumeLive(t *testing.T, s storage.Store, r storage.AuthRequest, now time.Time, what string) storage.AuthRequest {
	t.Helper()
	got, err := s.ConsumeAuthCode(context.Background(), r.CodeHash, r.ClientID, now)
	wantErr(t, what, err, nil)
	want := r
	want.CodeUsedAt = now
	check(t, what, got, want, normAuthRequest)
	return want
}

func testAuthRequestByCode(t *testing.T, su suite) {
	ctx := context.Background()

	t.Run("live code", func(t *testing.T) {
		s, r := storeWithCode(t, su, "a")
		got, err := s.AuthRequestByCode(ctx, r.CodeHash, r.ClientID, at(time.Minute))
		wantErr(t, "AuthRequestByCode", err, nil)
		check(t, "AuthRequestByCode", got, r, normAuthRequest)
		// A read: the code is still there to be used, once.
		consumeLive(t, s, r, at(90*time.Second), "ConsumeAuthCode after the read")
		_, err = s.AuthRequestByCode(ctx, r.CodeHash, r.ClientID, at(100*time.Second))
		wantErr(t, "AuthRequestByCode of a used code", err, storage.ErrNotFound)
	})

	t.Run("not found", func(t *testing.T) {
		tests := []struct {
			name, hash, client string
			now                time.Time
		}{
			{"unknown code", "code-unknown", "client-1", at(time.Minute)},
			{"empty code", "", "client-1", at(time.Minute)},
			{"another client's code", "code-a", "client-2", at(time.Minute)},
			{"at code expiry", "code-a", "client-1", at(2 * time.Minute)},
			{"after code expiry", "code-a", "client-1", at(5 * time.Minute)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s, r := storeWithCode(t, su, "a")
				seedClient(t, s, "client-2")
				wantErr(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, newAuthRequest("no-code")), nil)
				_, err := s.AuthRequestByCode(ctx, tt.hash, tt.client, tt.now)
				wantErr(t, "AuthRequestByCode", err, storage.ErrNotFound)
				// Nothing changed: the rightful client still uses the code.
				_, err = s.ConsumeAuthCode(ctx, r.CodeHash, r.ClientID, at(time.Minute))
				wantErr(t, "ConsumeAuthCode after the read", err, nil)
			})
		}
	})
}

func testConsumeAuthCode(t *testing.T, su suite) {
	ctx := context.Background()

	t.Run("once", func(t *testing.T) {
		s, r := storeWithCode(t, su, "a")
		want := consumeLive(t, s, r, at(90*time.Second), "ConsumeAuthCode")

		got, err := s.ConsumeAuthCode(ctx, r.CodeHash, r.ClientID, at(100*time.Second))
		wantErr(t, "ConsumeAuthCode again", err, storage.ErrConflict)
		check(t, "request returned with ErrConflict", got, want, normAuthRequest)
	})

	t.Run("not found", func(t *testing.T) {
		tests := []struct {
			name string
			hash string
			now  time.Time
		}{
			{"unknown code", "code-unknown", at(time.Minute)},
			{"empty code", "", at(time.Minute)},
			{"at code expiry", "code-a", at(2 * time.Minute)},
			{"after code expiry", "code-a", at(5 * time.Minute)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s, _ := storeWithCode(t, su, "a")
				wantErr(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, newAuthRequest("no-code")), nil)
				_, err := s.ConsumeAuthCode(ctx, tt.hash, "client-1", tt.now)
				wantErr(t, "ConsumeAuthCode", err, storage.ErrNotFound)
			})
		}
	})

	t.Run("another client's code", func(t *testing.T) {
		// Another client presenting the code neither uses nor burns it,
		// before or after the rightful client has.
		s, r := storeWithCode(t, su, "a")
		seedClient(t, s, "client-2")
		_, err := s.ConsumeAuthCode(ctx, r.CodeHash, "client-2", at(time.Minute))
		wantErr(t, "ConsumeAuthCode by another client", err, storage.ErrNotFound)
		got, err := s.AuthRequest(ctx, r.ID, at(time.Minute))
		wantErr(t, "AuthRequest", err, nil)
		check(t, "request after another client's attempt", got, r, normAuthRequest)

		consumeLive(t, s, r, at(90*time.Second), "ConsumeAuthCode by its client")

		_, err = s.ConsumeAuthCode(ctx, r.CodeHash, "client-2", at(100*time.Second))
		wantErr(t, "ConsumeAuthCode of a used code by another client", err, storage.ErrNotFound)
	})

	t.Run("concurrent consumers", func(t *testing.T) {
		s, r := storeWithCode(t, su, "a")
		const n = 16
		got := make([]storage.AuthRequest, n)
		errs := race(n, func(i int) error {
			var err error
			got[i], err = s.ConsumeAuthCode(ctx, r.CodeHash, r.ClientID, at(time.Minute))
			return err
		})
		if w := winners(t, "ConsumeAuthCode", errs, storage.ErrConflict); w != 1 {
			t.Errorf("%d of %d concurrent ConsumeAuthCode calls succeeded, want 1", w, n)
		}
		for i := range n {
			if got[i].GrantID != r.GrantID || got[i].ID != r.ID {
				t.Errorf("ConsumeAuthCode #%d (error %v) returned request %q grant %q, want %q grant %q",
					i, errs[i], got[i].ID, got[i].GrantID, r.ID, r.GrantID)
			}
		}
	})

	t.Run("codes are independent", func(t *testing.T) {
		s, a := storeWithCode(t, su, "a")
		b := newAuthRequest("b")
		wantErr(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, b), nil)
		wantErr(t, "CompleteAuthRequest", s.CompleteAuthRequest(ctx, "b", newAuthResult(), base), nil)
		wantErr(t, "SaveAuthCode", s.SaveAuthCode(ctx, "b", "code-b", at(2*time.Minute), base), nil)
		for i, hash := range []string{a.CodeHash, "code-b"} {
			got, err := s.ConsumeAuthCode(ctx, hash, "client-1", at(time.Minute))
			if err != nil {
				t.Fatalf("ConsumeAuthCode #%d: %v", i, err)
			}
			if want := []string{"a", "b"}[i]; got.ID != want {
				t.Errorf("ConsumeAuthCode(%q).ID = %q, want %q", hash, got.ID, want)
			}
		}
	})
}

// failed returns r as FailAuthRequest(code) should leave it.
func failed(r storage.AuthRequest, code string) storage.AuthRequest {
	r.Error = code
	r.Done = true
	return r
}

func testFailAuthRequest(t *testing.T, su suite) {
	ctx := context.Background()

	t.Run("records the error", func(t *testing.T) {
		s := su.store(t)
		seedClient(t, s, "client-1")
		r := newAuthRequest("a")
		wantErr(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r), nil)
		wantErr(t, "FailAuthRequest", s.FailAuthRequest(ctx, "a", "access_denied", at(time.Minute)), nil)
		got, err := s.AuthRequest(ctx, "a", at(time.Minute))
		wantErr(t, "AuthRequest", err, nil)
		check(t, "AuthRequest", got, failed(r, "access_denied"), normAuthRequest)
	})

	t.Run("refused", func(t *testing.T) {
		tests := []struct {
			name string
			id   string
			code string
			now  time.Time
			err  error // nil: any error
		}{
			{"failed before", "failed", "login_required", base, storage.ErrConflict},
			{"completed before", "done", "access_denied", base, storage.ErrConflict},
			{"missing", "absent", "access_denied", base, storage.ErrNotFound},
			{"expired", "pending", "access_denied", at(10 * time.Minute), storage.ErrNotFound},
			{"empty error code", "pending", "", base, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				seedClient(t, s, "client-1")
				pending, done, fail := newAuthRequest("pending"), newAuthRequest("done"), newAuthRequest("failed")
				for _, r := range []storage.AuthRequest{pending, done, fail} {
					wantErr(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r), nil)
				}
				res := newAuthResult()
				wantErr(t, "CompleteAuthRequest", s.CompleteAuthRequest(ctx, "done", res, base), nil)
				wantErr(t, "FailAuthRequest", s.FailAuthRequest(ctx, "failed", "access_denied", base), nil)

				err := s.FailAuthRequest(ctx, tt.id, tt.code, tt.now)
				if tt.err == nil && err == nil {
					t.Fatalf("FailAuthRequest(%q, %q): no error", tt.id, tt.code)
				}
				if tt.err != nil {
					wantErr(t, "FailAuthRequest", err, tt.err)
				}

				// Nothing changed.
				for _, want := range []storage.AuthRequest{pending, completed(done, res), failed(fail, "access_denied")} {
					got, err := s.AuthRequest(ctx, want.ID, base)
					wantErr(t, "AuthRequest("+want.ID+")", err, nil)
					check(t, "AuthRequest("+want.ID+")", got, want, normAuthRequest)
				}
			})
		}
	})

	t.Run("a failed request gets no result and no code", func(t *testing.T) {
		s := su.store(t)
		seedClient(t, s, "client-1")
		r := newAuthRequest("a")
		wantErr(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r), nil)
		wantErr(t, "FailAuthRequest", s.FailAuthRequest(ctx, "a", "login_required", base), nil)
		wantErr(t, "CompleteAuthRequest", s.CompleteAuthRequest(ctx, "a", newAuthResult(), base), storage.ErrConflict)
		wantErr(t, "SaveAuthCode", s.SaveAuthCode(ctx, "a", "code-a", at(time.Minute), base), storage.ErrConflict)
		_, err := s.ConsumeAuthCode(ctx, "code-a", "client-1", base)
		wantErr(t, "ConsumeAuthCode", err, storage.ErrNotFound)
		got, err := s.AuthRequest(ctx, "a", base)
		wantErr(t, "AuthRequest", err, nil)
		check(t, "AuthRequest", got, failed(r, "login_required"), normAuthRequest)
	})

	// Sign-in and refusal race (a citizen submits the last step while the
	// flow times out): exactly one of them ends the request.
	t.Run("concurrent with CompleteAuthRequest", func(t *testing.T) {
		s := su.store(t)
		seedClient(t, s, "client-1")
		r := newAuthRequest("a")
		wantErr(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, r), nil)
		const n = 8
		res := newAuthResult()
		errs := race(n, func(i int) error {
			if i%2 == 0 {
				return s.CompleteAuthRequest(ctx, "a", res, base)
			}
			return s.FailAuthRequest(ctx, "a", "access_denied", base)
		})
		if w := winners(t, "CompleteAuthRequest/FailAuthRequest", errs, storage.ErrConflict); w != 1 {
			t.Fatalf("%d of %d concurrent calls ended the request, want 1", w, n)
		}
		want := failed(r, "access_denied")
		for i, err := range errs {
			if err == nil && i%2 == 0 {
				want = completed(r, res)
			}
		}
		got, err := s.AuthRequest(ctx, "a", base)
		wantErr(t, "AuthRequest", err, nil)
		check(t, "AuthRequest", got, want, normAuthRequest)
	})
}
