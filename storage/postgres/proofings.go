package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dopaid/dopaid/storage"
)

// faceCols are the columns of a storage.FaceResult in proofings and flows;
// all NULL when there is none, face_vendor NULL exactly then.
const faceCols = `face_vendor, face_model_version, face_score, face_threshold, face_match,
	face_liveness, face_liveness_score, face_simulated, face_at`

func faceArgs(f *storage.FaceResult) []any {
	if f == nil {
		return make([]any, 9)
	}
	return []any{f.Vendor, f.ModelVersion, f.Score, f.Threshold, f.Match,
		f.Liveness, f.LivenessScore, f.Simulated, optTime(f.At)}
}

// faceDest scans faceCols.
type faceDest struct {
	vendor, model, liveness         *string
	score, threshold, livenessScore *float64
	match, simulated                *bool
	at                              time.Time
}

func (d *faceDest) dest() []any {
	return []any{&d.vendor, &d.model, &d.score, &d.threshold, &d.match,
		&d.liveness, &d.livenessScore, &d.simulated, ts(&d.at)}
}

func (d *faceDest) result() *storage.FaceResult {
	if d.vendor == nil {
		return nil
	}
	return &storage.FaceResult{
		Vendor: *d.vendor, ModelVersion: deref(d.model), Score: deref(d.score), Threshold: deref(d.threshold),
		Match: deref(d.match), Liveness: deref(d.liveness), LivenessScore: deref(d.livenessScore),
		Simulated: deref(d.simulated), At: d.at,
	}
}

func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

const proofingCols = `id, citizen_id, ial, matched, ` + faceCols + `, created_at`

// CreateProofing stores proofing evidence with rec's entries, in one batch
// (an implicit transaction); ErrAlreadyExists if the ID is taken.
func (s *Store) CreateProofing(ctx context.Context, p storage.Proofing, rec storage.Record) error {
	op := fmt.Sprintf("create proofing %q", p.ID)
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	q := `INSERT INTO proofings (` + proofingCols + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`
	args := append([]any{p.ID, p.CitizenID, p.IAL, list(p.Matched)}, faceArgs(p.Face)...)
	b := &pgx.Batch{}
	b.Queue(q, append(args, p.CreatedAt)...)
	if err := record(b, es); err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return wrapRecorded(op, err)
	}
	return nil
}

// LatestProofing returns the citizen's proofing with the latest CreatedAt
// (of two at the same time, the greater ID, so that the answer is stable).
func (s *Store) LatestProofing(ctx context.Context, citizenID string) (storage.Proofing, error) {
	q := `SELECT ` + proofingCols + ` FROM proofings WHERE citizen_id = $1
		ORDER BY created_at DESC, id DESC LIMIT 1`
	var p storage.Proofing
	var face faceDest
	dest := append([]any{&p.ID, &p.CitizenID, &p.IAL, &p.Matched}, face.dest()...)
	if err := s.pool.QueryRow(ctx, q, citizenID).Scan(append(dest, ts(&p.CreatedAt))...); err != nil {
		return storage.Proofing{}, wrap(fmt.Sprintf("latest proofing of citizen %q", citizenID), err)
	}
	p.Face = face.result()
	normList(&p.Matched)
	return p, nil
}
