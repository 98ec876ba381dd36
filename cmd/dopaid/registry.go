package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
)

const registryUsage = `Usage: dopaid registry import [flags] FILE

Reads a civil registry extract (CSV with a header row; see README) and
stores it in one transaction: new ID numbers are created, changed records
updated, the rest left unchanged. If any row is invalid, every problem is
printed and nothing is written. Records absent from the file are kept: the
registry reports deaths and moves with a status, not by deletion.

Flags:
`

func cmdRegistry(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) == 0 {
		return usageError{errors.New("registry: want 'import FILE'")}
	}
	if args[0] != "import" {
		return usageError{fmt.Errorf("registry: unknown subcommand %q", args[0])}
	}
	var cfg Config
	fs := flag.NewFlagSet("dopaid registry import", flag.ContinueOnError)
	cfg.bindFlags(fs, env, false)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), registryUsage)
		fs.PrintDefaults()
	}
	file, err := parseFile(fs, args[1:], stderr)
	if err != nil {
		return err
	}
	if err := cfg.Validate(false, true); err != nil {
		return usageError{fmt.Errorf("invalid configuration:\n%w", indent(err))}
	}

	// Read and check the whole file before the store is even opened.
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	rows, rowErrs, err := storage.ReadRegistryCSV(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w; nothing imported", file, err)
	}
	if len(rowErrs) > 0 {
		for _, e := range rowErrs {
			fmt.Fprintln(stderr, e)
		}
		return fmt.Errorf("%s: %d problems in the rows above; nothing imported", file, len(rowErrs))
	}

	m := NewMain(cfg, stdout, stderr)
	defer m.Close()
	if err := m.openRegistry(ctx); err != nil {
		return err
	}
	res, err := m.importRegistry(ctx, rows)
	if err != nil {
		return fmt.Errorf("%s: %w; nothing imported", file, err)
	}
	fmt.Fprintf(stdout, "%s: %d rows: %d created, %d updated, %d unchanged\n", file, len(rows), res.Created, res.Updated, res.Unchanged)
	return nil
}

// parseFile parses flags around exactly one FILE argument, so that flags
// may come after the file too.
func parseFile(fs *flag.FlagSet, args []string, stderr io.Writer) (string, error) {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", err
		}
		return "", usageError{err}
	}
	if fs.NArg() == 0 {
		return "", usageError{errors.New("registry import: want a FILE")}
	}
	file := fs.Arg(0)
	if err := parse(fs, fs.Args()[1:], stderr); err != nil {
		return "", err
	}
	return file, nil
}

// openRegistry opens what an import needs: the store (migrated) and the
// master key. Signing keys are not needed and not created.
func (m *Main) openRegistry(ctx context.Context) error {
	if err := m.openStore(ctx, true); err != nil {
		return err
	}
	mk, err := m.masterKey()
	if err != nil {
		return err
	}
	if m.Envelope, err = keys.NewEnvelope(mk); err != nil {
		return fmt.Errorf("master key: %w", err)
	}
	return nil
}

// importRegistry stores valid registry rows in one UpsertCitizens call, so
// that a file is imported whole or not at all: it gives new records a
// random ID (the store keeps existing ones), seals each laser code bound to
// its ID number, keys its MAC and computes the content hash, which makes a
// re-import of the same data change nothing. Both `registry import` and the
// development registry come through here.
func (m *Main) importRegistry(ctx context.Context, rows []storage.RegistryRow) (storage.UpsertResult, error) {
	// The key login matches typed laser codes with (newLogin).
	macKey := m.Envelope.DeriveKey(purposeLaserMAC)
	now := time.Now()
	if m.Now != nil {
		now = m.Now()
	}
	cs := make([]storage.Citizen, len(rows))
	for i, r := range rows {
		c := r.Citizen
		id, err := keys.RandomToken(16)
		if err != nil {
			return storage.UpsertResult{}, err
		}
		c.ID = id
		if r.LaserCode != "" {
			if c.LaserCode, err = m.Envelope.Seal([]byte(r.LaserCode), laserAD(c.PID)); err != nil {
				return storage.UpsertResult{}, fmt.Errorf("seal laser code: %w", err)
			}
			c.LaserCodeMAC = laserCodeMAC(macKey, r.LaserCode)
		}
		c.ContentHash = c.ComputeContentHash(c.LaserCodeMAC)
		c.CreatedAt, c.UpdatedAt = now, now
		cs[i] = c
	}
	res, err := m.Store.UpsertCitizens(ctx, cs)
	if err != nil {
		return storage.UpsertResult{}, fmt.Errorf("store registry: %w", err)
	}
	return res, nil
}

// laserAD binds a sealed laser code to its record, so that it cannot be
// moved to another citizen's.
func laserAD(pid string) []byte { return []byte("laser:" + pid) }

// laserCodeMAC is the stored keyed hash of a normalised laser code:
// base64url HMAC-SHA-256 of the code followed by a zero byte, which is how
// login's mac(key, code) hashes what the citizen types.
func laserCodeMAC(key []byte, code string) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(code))
	h.Write([]byte{0})
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}
