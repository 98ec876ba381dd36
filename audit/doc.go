// Package audit is dopaid's verifiable audit log: who received which
// citizen's data, under which permit, for which purpose, and who decided
// what, kept so that nobody — not even whoever can write the database — can
// change, reorder, drop or cut off entries unnoticed.
//
// It is modelled on transparency logs (Certificate Transparency, Sigsum, the
// C2SP specifications) and uses their libraries rather than new
// cryptography:
//
//   - every entry has a canonical, versioned leaf encoding (Leaf) and is a
//     leaf of an RFC 6962 Merkle tree (github.com/transparency-dev/merkle);
//   - entries are written without a place in the log, with no lock shared by
//     writers; an Integrator gives them consecutive leaf indices in batches,
//     one integrator at a time across replicas, and stores the new tree
//     nodes and a new signed tree head in the same transaction, so that a
//     crash anywhere leaves every committed entry integrated exactly once;
//   - each tree head has a checkpoint (C2SP tlog-checkpoint, a signed note
//     from github.com/transparency-dev/formats and golang.org/x/mod) signed
//     by the log's own Ed25519 key (Key), stored sealed under the master key;
//   - inclusion and consistency proofs come from stored nodes in O(log n)
//     reads; a Receipt (entry, index, proof, checkpoint) verifies offline
//     against a pinned public key (VerifyReceipt);
//   - Verify recomputes the whole tree and names the first bad entry;
//     a Publisher copies checkpoints out of the database, and a Witness
//     (C2SP tlog-witness) cosigns a checkpoint only when it is consistent
//     with the last one it saw, so that the log's tail cannot be cut;
//   - Redact applies a retention period: old entries lose their contents
//     and keep their leaf hashes, so proofs and Verify still hold for what
//     remains; the backends' triggers refuse every other change or
//     deletion of entries, nodes and heads.
//
// audit may import the standard library, storage, keys and the libraries
// named above. Backends implement Store (owned here, not by storage); cmd
// wires the package, and op, login and admin record through it.
package audit
