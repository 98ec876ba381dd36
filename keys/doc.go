// Package keys holds dopaid's key material and what is built from it:
//
//   - Envelope encrypts secrets at rest (private signing keys, TOTP secrets)
//     under the operator's master key, with a fresh data key per record, and
//     derives purpose-bound subkeys from the master key (DeriveKey);
//   - SecretHasher is the keyed hash stored in place of client secrets, and
//     RandomToken makes the random values that become secrets and IDs;
//   - Manager owns the provider's token signing keys: it creates them, rotates
//     them with a pre-publication period so that every replica publishes a new
//     key before any replica signs with it, retires them, and serves the key
//     set for the JWKS endpoint from a short-lived in-memory cache.
//
// keys may import the standard library, storage and go-jose, and nothing else
// of dopaid: op, login, admin and cmd import keys, never the other way round.
// It reads no flags, files or environment; cmd parses the master key with
// ParseMasterKey and hands plain values in through Config.
package keys
