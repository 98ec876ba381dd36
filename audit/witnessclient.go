package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/note"
)

// WitnessedFile is the file in a publish directory that holds the
// checkpoints witnesses cosigned, one JSON object per line like
// PublishedFile: {"witness": "<name>", "checkpoint": "<note with the log's
// signature and the witness's cosignature>"}.
const WitnessedFile = "witnessed.jsonl"

// WitnessEndpoint is a witness the log sends its checkpoints to: the base
// URL of its C2SP tlog-witness API and its cosignature/v1 verifier key.
type WitnessEndpoint struct {
	URL string `json:"url"`
	Key string `json:"key"`
}

// WitnessClient sends each new checkpoint, with a consistency proof from the
// last one a witness cosigned, to every witness, checks the cosignature it
// answers with, and appends the cosigned checkpoint to a publish directory.
// It is safe for concurrent use; run one per process.
type WitnessClient struct {
	r     Reader
	logV  note.Verifier
	hc    *http.Client
	dir   string
	log   *slog.Logger
	mu    sync.Mutex
	peers []*witnessPeer
}

type witnessPeer struct {
	url  string
	v    note.Verifier
	size uint64 // the size of the last checkpoint it cosigned; 0 before
}

// NewWitnessClient returns a client for the log that logKey verifies,
// reading from r, writing cosigned checkpoints to dir.
func NewWitnessClient(r Reader, logKey note.Verifier, ws []WitnessEndpoint, hc *http.Client, dir string, log *slog.Logger) (*WitnessClient, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &WitnessClient{r: r, logV: logKey, hc: hc, dir: dir, log: log}
	for i, w := range ws {
		v, err := NewWitnessVerifier(w.Key)
		if err != nil {
			return nil, fmt.Errorf("audit: witness %d: %w", i+1, err)
		}
		if !strings.HasPrefix(w.URL, "https://") && !strings.HasPrefix(w.URL, "http://") {
			return nil, fmt.Errorf("audit: witness %d: url %q is not http(s)", i+1, w.URL)
		}
		c.peers = append(c.peers, &witnessPeer{url: strings.TrimSuffix(w.URL, "/"), v: v})
	}
	return c, nil
}

// Send sends the newest checkpoint to every witness that has not cosigned
// it. It returns the witnesses' errors, joined; one failing witness does
// not keep the others from cosigning.
func (c *WitnessClient) Send(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	head, err := c.r.LogHead(ctx)
	if err != nil {
		return fmt.Errorf("audit: witness: %w", err)
	}
	var errs []error
	for _, p := range c.peers {
		if uint64(head.Size) <= p.size {
			continue
		}
		cosigned, err := c.send(ctx, p, head.Checkpoint, uint64(head.Size))
		if err != nil {
			errs = append(errs, fmt.Errorf("audit: witness %s: %w", p.v.Name(), err))
			continue
		}
		p.size = uint64(head.Size)
		if err := c.record(p.v.Name(), cosigned); err != nil {
			errs = append(errs, err)
		}
		c.log.InfoContext(ctx, "audit checkpoint cosigned", "witness", p.v.Name(), "size", head.Size)
	}
	return errors.Join(errs...)
}

// send asks p to cosign checkpoint, retrying once from the size p says it
// last saw, and returns the cosigned checkpoint.
func (c *WitnessClient) send(ctx context.Context, p *witnessPeer, checkpoint []byte, size uint64) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		pr, err := ConsistencyProof(ctx, c.r, int64(p.size), int64(size))
		if p.size == 0 {
			pr, err = [][]byte{}, nil
		}
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/add-checkpoint",
			bytes.NewReader(AddCheckpointBody(p.size, pr, checkpoint)))
		if err != nil {
			return nil, err
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			cosigned := append(bytes.Clone(checkpoint), body...)
			n, err := note.Open(cosigned, note.VerifierList(c.logV, p.v))
			if err != nil {
				return nil, fmt.Errorf("cosigned checkpoint: %w", err)
			}
			for _, s := range n.Sigs {
				if s.Name == p.v.Name() && s.Hash == p.v.KeyHash() {
					return cosigned, nil
				}
			}
			return nil, errors.New("the answer holds no cosignature of the witness")
		case resp.StatusCode == http.StatusConflict && attempt == 0:
			seen, err := strconv.ParseUint(strings.TrimSpace(string(body)), 10, 64)
			if err != nil || seen > size {
				return nil, fmt.Errorf("409 with size %.20q", body)
			}
			p.size = seen
		default:
			return nil, fmt.Errorf("status %d: %.200s", resp.StatusCode, strings.TrimSpace(string(body)))
		}
	}
}

type witnessedLine struct {
	Witness    string `json:"witness"`
	Checkpoint string `json:"checkpoint"`
}

func (c *WitnessClient) record(name string, cosigned []byte) error {
	if c.dir == "" {
		return nil
	}
	line, err := json.Marshal(witnessedLine{Witness: name, Checkpoint: string(cosigned)})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(c.dir, WitnessedFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("audit: witnessed checkpoints: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("audit: witnessed checkpoints: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("audit: witnessed checkpoints: %w", err)
	}
	return f.Close()
}

// ReadWitnessed returns the cosigned checkpoints a WitnessClient appended to
// dir, in order; none if dir holds none. Each is a checkpoint signed by the
// log: Verify takes them as published checkpoints.
func ReadWitnessed(dir string) ([][]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, WitnessedFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: witnessed checkpoints: %w", err)
	}
	var out [][]byte
	lines := bytes.Split(b, []byte("\n"))
	// The last element follows the last newline: empty, or a line cut by a
	// crash, which does not count.
	for i, l := range lines[:len(lines)-1] {
		if len(l) == 0 {
			continue
		}
		var wl witnessedLine
		if err := json.Unmarshal(l, &wl); err != nil || wl.Checkpoint == "" {
			return nil, fmt.Errorf("audit: witnessed checkpoints: %s line %d is not a checkpoint", WitnessedFile, i+1)
		}
		out = append(out, []byte(wl.Checkpoint))
	}
	return out, nil
}
