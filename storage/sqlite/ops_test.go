package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/dopaid/dopaid/storage/sqlite"
	"github.com/dopaid/dopaid/storage/storagetest"
)

func TestOps(t *testing.T) {
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "dopaid.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storagetest.Ops(t, s)
}
