package keys_test

import (
	"encoding/base64"
	"testing"

	"github.com/dopaid/dopaid/keys"
)

func TestSecretHasher(t *testing.T) {
	e := newEnvelope(t, counting())
	h := keys.NewSecretHasher(e.DeriveKey("client-secret"))
	other := keys.NewSecretHasher(e.DeriveKey("something-else"))
	const secret = "n7Qm1v3XrZ0yUq0f5zJ7k8lY8W2cTq4RkVv9sYt6aBc"
	hash := h.Hash(secret)
	if got := h.Hash(secret); got != hash {
		t.Errorf("Hash is not deterministic: %s, %s", got, hash)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(hash); err != nil || len(raw) != 32 {
		t.Errorf("Hash = %q: not 32 bytes of unpadded base64url (%v)", hash, err)
	}
	if hash == secret {
		t.Error("Hash returned the secret")
	}
	tests := []struct {
		name   string
		hasher *keys.SecretHasher
		secret string
		hash   string
		want   bool
	}{
		{"right secret", h, secret, hash, true},
		{"wrong secret", h, secret + "x", hash, false},
		{"empty secret", h, "", hash, false},
		{"other key", other, secret, hash, false},
		{"empty hash", h, secret, "", false},
		{"padded hash", h, secret, hash + "=", false},
		{"truncated hash", h, secret, hash[:len(hash)-1], false},
		{"secret as hash", h, secret, secret, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.hasher.Verify(tt.secret, tt.hash); got != tt.want {
				t.Errorf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRandomToken(t *testing.T) {
	for _, n := range []int{1, 16, 32, 33} {
		tok, err := keys.RandomToken(n)
		if err != nil {
			t.Fatalf("RandomToken(%d): %v", n, err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(raw) != n {
			t.Errorf("RandomToken(%d) = %q: not %d bytes of unpadded base64url (%v)", n, tok, n, err)
		}
	}
	a, _ := keys.RandomToken(32)
	b, _ := keys.RandomToken(32)
	if a == b {
		t.Error("two random tokens are equal")
	}
	for _, n := range []int{0, -1} {
		if tok, err := keys.RandomToken(n); err == nil {
			t.Errorf("RandomToken(%d) = %q, want an error", n, tok)
		}
	}
}
