package postgres

import (
	"testing"

	"github.com/dopaid/dopaid/storage/postgres/pgtest"
	"github.com/dopaid/dopaid/storage/storagetest"
)

func TestOps(t *testing.T) {
	s, err := Open(t.Context(), pgtest.Schema(t, 4))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	storagetest.Ops(t, s)
}
