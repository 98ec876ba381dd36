package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	tlog "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/dopaid/dopaid/storage"
)

// PublishedFile is the file in a Publisher's directory that holds the
// published checkpoints, one JSON object per line: {"checkpoint": "<signed
// note>"}, in the order they were published.
const PublishedFile = "checkpoints.jsonl"

type publishedLine struct {
	Checkpoint string `json:"checkpoint"`
}

// Publisher copies the log's checkpoints out of the database into a
// directory, appending each new one, so that whoever later rewrites the
// database cannot rewrite what it vouched for. Before appending a checkpoint
// it checks the consistency proof from the last one it published: it never
// publishes a fork. It is safe for concurrent use within one process; run
// one per directory.
type Publisher struct {
	dir  string
	r    Reader
	v    note.Verifier
	mu   sync.Mutex
	last *tlog.Checkpoint // nil before the first
}

// NewPublisher returns a Publisher appending to dir (created if missing),
// for the log whose key v verifies. It reads what dir holds and, if the
// last line was cut by a crash, removes that partial line.
func NewPublisher(dir string, r Reader, v note.Verifier) (*Publisher, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("audit: publish: %w", err)
	}
	path := filepath.Join(dir, PublishedFile)
	if b, err := os.ReadFile(path); err == nil && len(b) > 0 && b[len(b)-1] != '\n' {
		if err := os.Truncate(path, int64(bytes.LastIndexByte(b, '\n')+1)); err != nil {
			return nil, fmt.Errorf("audit: publish: %w", err)
		}
	}
	cps, err := ReadPublished(dir)
	if err != nil {
		return nil, err
	}
	p := &Publisher{dir: dir, r: r, v: v}
	for i, b := range cps {
		cp, err := ParseCheckpoint(b, v)
		if err != nil {
			return nil, fmt.Errorf("audit: publish: %s line %d: %w", PublishedFile, i+1, err)
		}
		if p.last == nil || cp.Size >= p.last.Size {
			p.last = cp
		}
	}
	return p, nil
}

// Dir is the directory the Publisher appends to.
func (p *Publisher) Dir() string { return p.dir }

// Publish appends every tree head newer than the last published one, in
// order, after checking each against the one before. It fails, publishing
// nothing more, when the log is shorter than what was published or a head is
// not consistent with it.
func (p *Publisher) Publish(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var from int64 = 1
	if p.last != nil {
		from = int64(p.last.Size) + 1
		head, err := p.r.LogHead(ctx)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("audit: publish: %w", err)
		}
		if head.Size < int64(p.last.Size) {
			return fmt.Errorf("audit: publish: the log has %d entries, %d were published: it was cut", head.Size, p.last.Size)
		}
	}
	f, err := os.OpenFile(filepath.Join(p.dir, PublishedFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("audit: publish: %w", err)
	}
	defer f.Close()
	for {
		hs, err := p.r.LogHeads(ctx, from, 256)
		if err != nil {
			return fmt.Errorf("audit: publish: %w", err)
		}
		for _, h := range hs {
			cp, err := ParseCheckpoint(h.Checkpoint, p.v)
			if err != nil {
				return fmt.Errorf("audit: publish: tree head %d: %w", h.Size, err)
			}
			if p.last != nil {
				pr, err := ConsistencyProof(ctx, p.r, int64(p.last.Size), int64(cp.Size))
				if err != nil {
					return fmt.Errorf("audit: publish: %w", err)
				}
				if err := proof.VerifyConsistency(rfc6962.DefaultHasher, p.last.Size, cp.Size, pr, p.last.Hash, cp.Hash); err != nil {
					return fmt.Errorf("audit: publish: tree head %d is not consistent with published checkpoint %d: %w", cp.Size, p.last.Size, err)
				}
			}
			line, err := json.Marshal(publishedLine{Checkpoint: string(h.Checkpoint)})
			if err != nil {
				return err
			}
			if _, err := f.Write(append(line, '\n')); err != nil {
				return fmt.Errorf("audit: publish: %w", err)
			}
			p.last = cp
			from = h.Size + 1
		}
		if len(hs) < 256 {
			break
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("audit: publish: %w", err)
	}
	return nil
}

// ReadPublished returns the checkpoints a Publisher appended to dir, in
// order; none if dir holds none.
func ReadPublished(dir string) ([][]byte, error) {
	f, err := os.Open(filepath.Join(dir, PublishedFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: published checkpoints: %w", err)
	}
	defer f.Close()
	var out [][]byte
	br := bufio.NewReader(f)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			var pl publishedLine
			if err := json.Unmarshal(line, &pl); err != nil || pl.Checkpoint == "" {
				return nil, fmt.Errorf("audit: published checkpoints: %s line %d is not a checkpoint", PublishedFile, n)
			}
			out = append(out, []byte(pl.Checkpoint))
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("audit: published checkpoints: %w", err)
		}
	}
}
