package audit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	tlog "github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/dopaid/dopaid/storage"
)

// Errors of Witness.AddCheckpoint (C2SP tlog-witness); WitnessHandler
// answers them with the status codes the specification gives.
var (
	// ErrUnknownLog: no log with the checkpoint's origin is configured (404).
	ErrUnknownLog = errors.New("witness: unknown log")
	// ErrBadSignature: the checkpoint is not signed by the log's key (403).
	ErrBadSignature = errors.New("witness: checkpoint not signed by the log")
	// ErrInconsistent: the consistency proof does not lead from the last
	// checkpoint seen to this one (422).
	ErrInconsistent = errors.New("witness: checkpoint not consistent with the last one seen")
	// ErrBadRequest: malformed request, or an old size beyond the new (400).
	ErrBadRequest = errors.New("witness: bad request")
)

// SizeConflictError: the log's old size is not the size of the last
// checkpoint the witness cosigned for it (409); Size is that size, so the
// log can send the right proof.
type SizeConflictError struct{ Size uint64 }

func (e *SizeConflictError) Error() string {
	return fmt.Sprintf("witness: the last checkpoint seen has size %d", e.Size)
}

// WitnessState keeps the last checkpoint a witness cosigned, per origin.
type WitnessState interface {
	// Latest returns the signed checkpoint last stored for origin; nil if none.
	Latest(ctx context.Context, origin string) ([]byte, error)
	// Swap stores next for origin if the stored one is still old (nil: none);
	// storage.ErrConflict otherwise.
	Swap(ctx context.Context, origin string, old, next []byte) error
}

// Witness is the logic of a C2SP tlog-witness: it keeps the last checkpoint
// it saw of each log it knows, and cosigns a new checkpoint only when the
// log's signature and a consistency proof from that last one check out, so
// that a log cannot show one history to some and another to others, nor
// take back what it has shown. Cosignatures are cosignature/v1
// (C2SP tlog-cosignature), timestamped.
type Witness struct {
	cosigner note.Signer
	logs     map[string]note.Verifier
	state    WitnessState
	mu       sync.Mutex
}

// GenerateWitnessKey returns a new signer key for a witness named name and
// the cosignature/v1 verifier key that logs and auditors pin.
func GenerateWitnessKey(name string) (skey, vkey string, err error) {
	skey, vkey, err = note.GenerateKey(rand.Reader, name)
	if err != nil {
		return "", "", fmt.Errorf("witness key: %w", err)
	}
	vkey, err = fnote.VKeyToCosignatureV1(vkey)
	if err != nil {
		return "", "", fmt.Errorf("witness key: %w", err)
	}
	return skey, vkey, nil
}

// NewWitnessVerifier returns the verifier of a witness's cosignatures from
// its cosignature/v1 verifier key.
func NewWitnessVerifier(vkey string) (note.Verifier, error) {
	v, err := fnote.NewVerifierForCosignatureV1(vkey)
	if err != nil {
		return nil, fmt.Errorf("witness verifier key: %w", err)
	}
	return v, nil
}

// NewWitness returns a witness that cosigns with skey (see
// GenerateWitnessKey), keeps its state in state, and knows the logs whose
// note verifier keys are logKeys (their names are the logs' origins).
func NewWitness(skey string, state WitnessState, logKeys ...string) (*Witness, error) {
	s, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		return nil, fmt.Errorf("witness key: %w", err)
	}
	w := &Witness{cosigner: s, logs: map[string]note.Verifier{}, state: state}
	for _, k := range logKeys {
		v, err := note.NewVerifier(k)
		if err != nil {
			return nil, fmt.Errorf("witness: log key %q: %w", k, err)
		}
		w.logs[v.Name()] = v
	}
	if len(w.logs) == 0 {
		return nil, errors.New("witness: no log to witness")
	}
	return w, nil
}

// AddCheckpoint is the tlog-witness add-checkpoint call: the log says the
// witness last saw its checkpoint of oldSize and gives a consistency proof
// from there to checkpoint. On success the witness stores checkpoint as the
// last seen and returns its cosignature: the note signature line(s) to add
// to the checkpoint.
func (w *Witness) AddCheckpoint(ctx context.Context, oldSize uint64, consistency [][]byte, checkpoint []byte) ([]byte, error) {
	// The origin is the checkpoint's first line; the log's key then
	// decides whether the rest is to be believed.
	first, _, ok := bytes.Cut(checkpoint, []byte("\n"))
	if !ok {
		return nil, fmt.Errorf("%w: not a checkpoint", ErrBadRequest)
	}
	origin := string(first)
	v, ok := w.logs[origin]
	if !ok {
		return nil, fmt.Errorf("%w: %.100q", ErrUnknownLog, origin)
	}
	cp, _, opened, err := tlog.ParseCheckpoint(checkpoint, origin, v)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if oldSize > cp.Size {
		return nil, fmt.Errorf("%w: old size %d beyond checkpoint size %d", ErrBadRequest, oldSize, cp.Size)
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	prev, err := w.state.Latest(ctx, origin)
	if err != nil {
		return nil, fmt.Errorf("witness: state: %w", err)
	}
	var last tlog.Checkpoint // size 0 when none
	if prev != nil {
		lp, _, _, err := tlog.ParseCheckpoint(prev, origin, v)
		if err != nil {
			return nil, fmt.Errorf("witness: stored checkpoint of %q: %w", origin, err)
		}
		last = *lp
	}
	if oldSize != last.Size {
		return nil, &SizeConflictError{Size: last.Size}
	}
	if last.Size == 0 {
		if len(consistency) > 0 {
			return nil, fmt.Errorf("%w: a proof from size 0 must be empty", ErrInconsistent)
		}
	} else if err := proof.VerifyConsistency(rfc6962.DefaultHasher, last.Size, cp.Size, consistency, last.Hash, cp.Hash); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInconsistent, err)
	}
	if err := w.state.Swap(ctx, origin, prev, checkpoint); err != nil {
		return nil, fmt.Errorf("witness: state: %w", err)
	}
	signed, err := note.Sign(&note.Note{Text: opened.Text}, w.cosigner)
	if err != nil {
		return nil, fmt.Errorf("witness: cosign: %w", err)
	}
	return signed[len(opened.Text)+1:], nil
}

// AddCheckpointBody is the body of a tlog-witness add-checkpoint request.
func AddCheckpointBody(oldSize uint64, consistency [][]byte, checkpoint []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", oldSize)
	for _, h := range consistency {
		b.WriteString(base64.StdEncoding.EncodeToString(h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(checkpoint)
	return b.Bytes()
}

// ParseAddCheckpointBody reads what AddCheckpointBody writes.
func ParseAddCheckpointBody(body []byte) (oldSize uint64, consistency [][]byte, checkpoint []byte, err error) {
	head, cp, ok := bytes.Cut(body, []byte("\n\n"))
	if !ok {
		return 0, nil, nil, fmt.Errorf("%w: no blank line before the checkpoint", ErrBadRequest)
	}
	lines := strings.Split(string(head), "\n")
	size, ok := strings.CutPrefix(lines[0], "old ")
	if !ok {
		return 0, nil, nil, fmt.Errorf("%w: first line is not \"old <size>\"", ErrBadRequest)
	}
	oldSize, err = strconv.ParseUint(size, 10, 64)
	if err != nil || (len(size) > 1 && size[0] == '0') {
		return 0, nil, nil, fmt.Errorf("%w: old size", ErrBadRequest)
	}
	consistency = [][]byte{}
	for _, l := range lines[1:] {
		h, err := base64.StdEncoding.DecodeString(l)
		if err != nil || len(h) != rfc6962.DefaultHasher.Size() {
			return 0, nil, nil, fmt.Errorf("%w: proof line", ErrBadRequest)
		}
		consistency = append(consistency, h)
	}
	return oldSize, consistency, cp, nil
}

// WitnessHandler serves w over HTTP as C2SP tlog-witness specifies:
// POST /add-checkpoint.
func WitnessHandler(w *Witness) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /add-checkpoint", func(rw http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, 1<<20))
		if err != nil {
			http.Error(rw, "request too large", http.StatusRequestEntityTooLarge)
			return
		}
		old, pr, cp, err := ParseAddCheckpointBody(body)
		var cosig []byte
		if err == nil {
			cosig, err = w.AddCheckpoint(r.Context(), old, pr, cp)
		}
		var conflict *SizeConflictError
		switch {
		case err == nil:
			rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
			rw.Write(cosig)
		case errors.As(err, &conflict):
			rw.Header().Set("Content-Type", "text/x.tlog.size")
			rw.WriteHeader(http.StatusConflict)
			fmt.Fprintf(rw, "%d\n", conflict.Size)
		case errors.Is(err, ErrUnknownLog):
			http.Error(rw, "unknown log", http.StatusNotFound)
		case errors.Is(err, ErrBadSignature):
			http.Error(rw, "checkpoint not signed by the log", http.StatusForbidden)
		case errors.Is(err, ErrInconsistent):
			http.Error(rw, "consistency proof does not verify", http.StatusUnprocessableEntity)
		case errors.Is(err, ErrBadRequest):
			http.Error(rw, "bad request", http.StatusBadRequest)
		default:
			http.Error(rw, "internal error", http.StatusInternalServerError)
		}
	})
	return mux
}

// MemoryWitnessState keeps a witness's state in memory (for tests, and a
// witness that may forget on restart).
type MemoryWitnessState struct {
	mu sync.Mutex
	m  map[string][]byte
}

// Latest implements WitnessState.
func (s *MemoryWitnessState) Latest(_ context.Context, origin string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[origin], nil
}

// Swap implements WitnessState.
func (s *MemoryWitnessState) Swap(_ context.Context, origin string, old, next []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !bytes.Equal(s.m[origin], old) {
		return storage.ErrConflict
	}
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	s.m[origin] = bytes.Clone(next)
	return nil
}

// DirWitnessState keeps a witness's state in a directory: one file per
// origin, named by the log's ID (SHA-256 of "o:" and the origin), replaced
// atomically. One witness process per directory.
type DirWitnessState struct {
	Dir string
	mu  sync.Mutex
}

func (s *DirWitnessState) path(origin string) string { return filepath.Join(s.Dir, tlog.ID(origin)) }

// Latest implements WitnessState.
func (s *DirWitnessState) Latest(_ context.Context, origin string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.read(origin)
}

func (s *DirWitnessState) read(origin string) ([]byte, error) {
	b, err := os.ReadFile(s.path(origin))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// Swap implements WitnessState.
func (s *DirWitnessState) Swap(_ context.Context, origin string, old, next []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.read(origin)
	if err != nil {
		return err
	}
	if !bytes.Equal(cur, old) {
		return storage.ErrConflict
	}
	if err := os.MkdirAll(s.Dir, 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.Dir, ".swap-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(next); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), s.path(origin))
}
