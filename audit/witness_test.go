package audit_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/dopaid/dopaid/audit"
)

// witnessedLog is a log whose heads a test hands to a witness.
type witnessedLog struct {
	b   backend
	key *audit.Key
	in  *audit.Integrator
}

func (l witnessedLog) grow(t *testing.T, tag string, n int) []byte {
	t.Helper()
	write(t, l.b.store, tag, 0, n)
	integrate(t, l.in)
	h, err := l.b.store.LogHead(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h.Checkpoint
}

func TestWitness(t *testing.T) {
	ctx := context.Background()
	key := testKey(t, "id.example.go.th/audit")
	l := witnessedLog{b: newSQLite(t), key: key}
	l.in = audit.NewIntegrator(l.b.store, key, audit.IntegratorConfig{})
	wskey, wvkey, err := audit.GenerateWitnessKey("witness.pdpc.example")
	if err != nil {
		t.Fatal(err)
	}
	state := &audit.DirWitnessState{Dir: t.TempDir()}
	w, err := audit.NewWitness(wskey, state, key.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	wv, err := audit.NewWitnessVerifier(wvkey)
	if err != nil {
		t.Fatal(err)
	}
	// cosigned checks that cosig is the witness's cosignature of cp.
	cosigned := func(t *testing.T, cp, cosig []byte) {
		t.Helper()
		n, err := note.Open(append(bytes.Clone(cp), cosig...), note.VerifierList(key.Verifier(), wv))
		if err != nil {
			t.Fatalf("checkpoint with cosignature: %v", err)
		}
		if len(n.Sigs) != 2 {
			t.Errorf("checkpoint with cosignature has %d verified signatures, want the log's and the witness's", len(n.Sigs))
		}
	}

	cp5 := l.grow(t, "a", 5)
	cosig, err := w.AddCheckpoint(ctx, 0, nil, cp5)
	if err != nil {
		t.Fatalf("first checkpoint: %v", err)
	}
	cosigned(t, cp5, cosig)

	cp9 := l.grow(t, "b", 4)
	p, err := audit.ConsistencyProof(ctx, l.b.store, 5, 9)
	if err != nil {
		t.Fatal(err)
	}
	// The log must say which checkpoint it thinks the witness saw.
	_, err = w.AddCheckpoint(ctx, 0, nil, cp9)
	var conflict *audit.SizeConflictError
	if !errors.As(err, &conflict) || conflict.Size != 5 {
		t.Fatalf("AddCheckpoint with the wrong old size: %v, want a conflict naming 5", err)
	}
	bad := [][]byte{bytes.Clone(p[0])}
	bad = append(bad, p[1:]...)
	bad[0][0] ^= 1
	if _, err := w.AddCheckpoint(ctx, 5, bad, cp9); !errors.Is(err, audit.ErrInconsistent) {
		t.Fatalf("AddCheckpoint with a bad proof: %v, want ErrInconsistent", err)
	}
	cosig, err = w.AddCheckpoint(ctx, 5, p, cp9)
	if err != nil {
		t.Fatalf("AddCheckpoint(5 → 9): %v", err)
	}
	cosigned(t, cp9, cosig)

	// A fork: another history signed with the log's key. Whatever proof it
	// brings, the witness refuses it.
	fork := witnessedLog{b: newSQLite(t), key: key}
	fork.in = audit.NewIntegrator(fork.b.store, key, audit.IntegratorConfig{})
	fork.grow(t, "a", 5)
	fcp := fork.grow(t, "x", 6)
	fp, _ := audit.ConsistencyProof(ctx, fork.b.store, 9, 11)
	if _, err := w.AddCheckpoint(ctx, 9, fp, fcp); !errors.Is(err, audit.ErrInconsistent) {
		t.Fatalf("AddCheckpoint of a fork: %v, want ErrInconsistent", err)
	}
	// Going back is refused too.
	if _, err := w.AddCheckpoint(ctx, 9, nil, cp5); !errors.Is(err, audit.ErrBadRequest) {
		t.Fatalf("AddCheckpoint of an older checkpoint: %v, want ErrBadRequest", err)
	}
	// Another key under the log's origin, and an unknown origin.
	other := witnessedLog{b: newSQLite(t), key: testKey(t, "id.example.go.th/audit")}
	other.in = audit.NewIntegrator(other.b.store, other.key, audit.IntegratorConfig{})
	if _, err := w.AddCheckpoint(ctx, 9, nil, other.grow(t, "o", 9)); !errors.Is(err, audit.ErrBadSignature) {
		t.Fatalf("AddCheckpoint signed by another key: %v, want ErrBadSignature", err)
	}
	stranger := witnessedLog{b: newSQLite(t), key: testKey(t, "other.example/log")}
	stranger.in = audit.NewIntegrator(stranger.b.store, stranger.key, audit.IntegratorConfig{})
	if _, err := w.AddCheckpoint(ctx, 0, nil, stranger.grow(t, "s", 1)); !errors.Is(err, audit.ErrUnknownLog) {
		t.Fatalf("AddCheckpoint of an unknown log: %v, want ErrUnknownLog", err)
	}

	// The state survives the witness: a new one on the same directory
	// remembers size 9.
	w2, err := audit.NewWitness(wskey, &audit.DirWitnessState{Dir: state.Dir}, key.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w2.AddCheckpoint(ctx, 5, p, cp9); !errors.As(err, &conflict) || conflict.Size != 9 {
		t.Fatalf("restarted witness: %v, want a conflict naming 9", err)
	}

	// Over HTTP, as C2SP tlog-witness says.
	srv := httptest.NewServer(audit.WitnessHandler(w2))
	defer srv.Close()
	post := func(body []byte) (int, string) {
		t.Helper()
		resp, err := http.Post(srv.URL+"/add-checkpoint", "text/plain", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	cp12 := l.grow(t, "c", 3)
	p12, _ := audit.ConsistencyProof(ctx, l.b.store, 9, 12)
	for _, tt := range []struct {
		name string
		body []byte
		code int
		want string
	}{
		{"malformed", []byte("hello"), http.StatusBadRequest, ""},
		{"old size", audit.AddCheckpointBody(5, p12, cp12), http.StatusConflict, "9\n"},
		{"bad proof", audit.AddCheckpointBody(9, p12[1:], cp12), http.StatusUnprocessableEntity, ""},
		{"unknown log", audit.AddCheckpointBody(0, nil, stranger.grow(t, "s2", 1)), http.StatusNotFound, ""},
		{"ok", audit.AddCheckpointBody(9, p12, cp12), http.StatusOK, "— witness.pdpc.example "},
	} {
		code, body := post(tt.body)
		if code != tt.code || !strings.HasPrefix(body, tt.want) {
			t.Errorf("%s: %d %q, want %d %q…", tt.name, code, body, tt.code, tt.want)
		}
		if tt.code == http.StatusOK {
			cosigned(t, cp12, []byte(body))
		}
	}
}

func TestParseAddCheckpointBody(t *testing.T) {
	p := [][]byte{bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)}
	cp := []byte("origin\n3\nAAAA\n\n— origin sig\n")
	old, gotP, gotCP, err := audit.ParseAddCheckpointBody(audit.AddCheckpointBody(7, p, cp))
	if err != nil || old != 7 || len(gotP) != 2 || !bytes.Equal(gotP[1], p[1]) || !bytes.Equal(gotCP, cp) {
		t.Errorf("round trip: %d %x %q %v", old, gotP, gotCP, err)
	}
	for _, b := range []string{"", "old 1\n", "old x\n\ncp", "old 01\n\ncp", "new 1\n\ncp", "old 1\nnot base64\n\ncp", "old 1\nAAAA\n\ncp"} {
		if _, _, _, err := audit.ParseAddCheckpointBody([]byte(b)); !errors.Is(err, audit.ErrBadRequest) {
			t.Errorf("ParseAddCheckpointBody(%q): %v, want ErrBadRequest", b, err)
		}
	}
}

func FuzzParseAddCheckpointBody(f *testing.F) {
	f.Add(audit.AddCheckpointBody(3, [][]byte{bytes.Repeat([]byte{1}, 32)}, []byte("o\n3\nAAAA\n\n— o x\n")))
	f.Fuzz(func(t *testing.T, b []byte) {
		old, p, cp, err := audit.ParseAddCheckpointBody(b)
		if err != nil {
			return
		}
		if got := audit.AddCheckpointBody(old, p, cp); !bytes.Equal(got, b) {
			t.Fatalf("re-encoded %q as %q", b, got)
		}
	})
}
