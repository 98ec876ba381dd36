package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/dopaid/dopaid/storage"
)

const proofingColumns = `id, citizen_id, ial, matched, face, created_at`

// CreateProofing stores proofing evidence with rec.
func (s *Store) CreateProofing(ctx context.Context, p storage.Proofing, rec storage.Record) error {
	face, err := faceArg(p.Face)
	if err != nil {
		return fmt.Errorf("sqlite: create proofing %q: %w", p.ID, err)
	}
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO proofings (`+proofingColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
			p.ID, p.CitizenID, p.IAL, listArg(p.Matched), face, msArg(p.CreatedAt)); err != nil {
			return wrap(err, "create proofing %q", p.ID)
		}
		return record(ctx, tx, es)
	})
}

// LatestProofing returns the citizen's proofing with the latest CreatedAt.
func (s *Store) LatestProofing(ctx context.Context, citizenID string) (storage.Proofing, error) {
	var p storage.Proofing
	err := s.r.QueryRowContext(ctx, `SELECT `+proofingColumns+` FROM proofings WHERE citizen_id = ?
		ORDER BY created_at DESC, id DESC LIMIT 1`, citizenID).Scan(
		&p.ID, &p.CitizenID, &p.IAL, listCol{&p.Matched}, faceCol{&p.Face}, timeCol{&p.CreatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Proofing{}, fmt.Errorf("sqlite: latest proofing of citizen %q: %w", citizenID, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Proofing{}, wrap(err, "latest proofing of citizen %q", citizenID)
	}
	return p, nil
}
