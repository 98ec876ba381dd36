package audit

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeyFile is the file in a publish directory that pins the log's public key
// (its note verifier key, one line): written beside the first published
// checkpoint, outside the database, so that whoever can rewrite the
// database cannot swap the key that checkpoints are checked against.
const KeyFile = "log-key.txt"

// PinKey records vkey as the log's key in dir, or, when dir already pins a
// key, checks that it is vkey: a directory holds one log's checkpoints.
func PinKey(dir, vkey string) error {
	pinned, err := PinnedKey(dir)
	if err != nil {
		return err
	}
	switch {
	case pinned == vkey:
		return nil
	case pinned != "":
		return fmt.Errorf("audit: %s pins the log key %q, but the log's key is %q: the directory belongs to another log, or the key in the database was replaced", filepath.Join(dir, KeyFile), pinned, vkey)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("audit: pin key: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, KeyFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("audit: pin key: %w", err)
	}
	if _, err := fmt.Fprintln(f, vkey); err != nil {
		f.Close()
		return fmt.Errorf("audit: pin key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("audit: pin key: %w", err)
	}
	return f.Close()
}

// PinnedKey returns the log key pinned in dir; "" if none is.
func PinnedKey(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, KeyFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("audit: pinned key: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
