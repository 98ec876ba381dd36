package op

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/dopaid/dopaid/storage"
)

func TestEncryptsWith(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	short, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		k    jose.JSONWebKey
		alg  string
		want bool
	}{
		{"EC for ECDH-ES", jose.JSONWebKey{Key: &ec.PublicKey, Use: "enc"}, storage.EncryptionAlgECDHES, true},
		{"EC, use unstated", jose.JSONWebKey{Key: &ec.PublicKey}, storage.EncryptionAlgECDHES, true},
		{"EC signing key", jose.JSONWebKey{Key: &ec.PublicKey, Use: "sig"}, storage.EncryptionAlgECDHES, false},
		{"EC for RSA-OAEP-256", jose.JSONWebKey{Key: &ec.PublicKey, Use: "enc"}, storage.EncryptionAlgRSAOAEP256, false},
		{"EC with another alg", jose.JSONWebKey{Key: &ec.PublicKey, Use: "enc", Algorithm: "ECDH-ES+A256KW"}, storage.EncryptionAlgECDHES, false},
		{"RSA for RSA-OAEP-256", jose.JSONWebKey{Key: &rsaKey.PublicKey, Use: "enc", Algorithm: "RSA-OAEP-256"}, storage.EncryptionAlgRSAOAEP256, true},
		{"RSA for ECDH-ES", jose.JSONWebKey{Key: &rsaKey.PublicKey, Use: "enc"}, storage.EncryptionAlgECDHES, false},
		{"short RSA", jose.JSONWebKey{Key: &short.PublicKey, Use: "enc"}, storage.EncryptionAlgRSAOAEP256, false},
		{"RSA private key", jose.JSONWebKey{Key: rsaKey, Use: "enc"}, storage.EncryptionAlgRSAOAEP256, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := encryptsWith(tt.k, tt.alg); got != tt.want {
				t.Errorf("encryptsWith = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseEncryptionJWKS(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set := func(keys ...jose.JSONWebKey) []byte {
		b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	keys, err := parseEncryptionJWKS(set(jose.JSONWebKey{Key: &ec.PublicKey, KeyID: "s", Use: "sig"}, jose.JSONWebKey{Key: &ec.PublicKey, KeyID: "e", Use: "enc"}))
	if err != nil || len(keys) != 1 || keys[0].KeyID != "e" {
		t.Errorf("a signing and an encryption key: %v, %v; want the encryption key only", keys, err)
	}
	if _, err := parseEncryptionJWKS(set(jose.JSONWebKey{Key: &ec.PublicKey, Use: "sig"})); err == nil || !strings.Contains(err.Error(), "no usable") {
		t.Errorf("signing keys only: %v, want no usable key", err)
	}
	if _, err := parseEncryptionJWKS(set(jose.JSONWebKey{Key: &ec.PublicKey, Use: "enc"}, jose.JSONWebKey{Key: ec, Use: "enc"})); err == nil || !strings.Contains(err.Error(), "private") {
		t.Errorf("a private key in the set: %v, want the set refused", err)
	}
}

// FuzzParseEncryptionJWKS: whatever parseEncryptionJWKS accepts is a set
// of valid public keys that can be encrypted to.
func FuzzParseEncryptionJWKS(f *testing.F) {
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","use":"enc","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k1"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"X25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := parseEncryptionJWKS(b)
		if err != nil {
			return
		}
		if len(keys) == 0 {
			t.Fatal("accepted a set without keys")
		}
		for _, k := range keys {
			if !k.Valid() || !k.IsPublic() || (k.Use != "" && k.Use != "enc") ||
				!(encryptsWith(k, storage.EncryptionAlgRSAOAEP256) || encryptsWith(k, storage.EncryptionAlgECDHES)) {
				t.Fatalf("accepted key %+v", k)
			}
		}
	})
}
