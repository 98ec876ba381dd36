package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dopaid/dopaid/storage"
)

var _ storage.ConsentStore = (*Store)(nil)

const consentCols = `id, citizen_id, agency_id, permit_id, permit_version, purpose, claims, given_at, withdrawn_at`

func scanConsent(row pgx.Row) (storage.Consent, error) {
	var c storage.Consent
	err := row.Scan(&c.ID, &c.CitizenID, &c.AgencyID, &c.PermitID, &c.PermitVersion, &c.Purpose, &c.Claims,
		ts(&c.GivenAt), ts(&c.WithdrawnAt))
	if err != nil {
		return storage.Consent{}, err
	}
	normList(&c.Claims)
	return c, nil
}

// GiveConsent records a consent and withdraws, as of its GivenAt, the one in
// force for the same citizen, permit and purpose, in one round trip: a batch
// is one implicit transaction. An advisory lock on the three makes
// concurrent consents take turns, each replacing the one before, where they
// would otherwise collide on consents_in_force; the partial unique index
// keeps at most one in force whatever happens.
//
// rec's entries travel in the same batch.
func (s *Store) GiveConsent(ctx context.Context, c storage.Consent, rec storage.Record) error {
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	queueGiveConsent(b, c)
	if err := record(b, es); err != nil {
		return fmt.Errorf("postgres: give consent %q: %w", c.ID, err)
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return wrapRecorded(fmt.Sprintf("give consent %q", c.ID), err)
	}
	return nil
}

// queueGiveConsent queues GiveConsent's statements (without rec) in b.
func queueGiveConsent(b *pgx.Batch, c storage.Consent) {
	b.Queue(`SELECT pg_advisory_xact_lock(hashtextextended(
		'dopaid consent ' || $1::text || chr(31) || $2::text || chr(31) || $3::text, 0))`,
		c.CitizenID, c.PermitID, c.Purpose)
	b.Queue(`UPDATE consents SET withdrawn_at = $4
		WHERE citizen_id = $1 AND permit_id = $2 AND purpose = $3 AND withdrawn_at IS NULL`,
		c.CitizenID, c.PermitID, c.Purpose, c.GivenAt)
	b.Queue(`INSERT INTO consents (`+consentCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		c.ID, c.CitizenID, c.AgencyID, c.PermitID, c.PermitVersion, c.Purpose, list(c.Claims), c.GivenAt, optTime(c.WithdrawnAt))
}

// Consent returns the consent in force for citizen, permit and purpose.
func (s *Store) Consent(ctx context.Context, citizenID, permitID, purpose string) (storage.Consent, error) {
	q := `SELECT ` + consentCols + ` FROM consents
		WHERE citizen_id = $1 AND permit_id = $2 AND purpose = $3 AND withdrawn_at IS NULL`
	c, err := scanConsent(s.pool.QueryRow(ctx, q, citizenID, permitID, purpose))
	if err != nil {
		return storage.Consent{}, wrap("consent", err)
	}
	return c, nil
}

// ConsentsByCitizen lists a citizen's consents in force, newest first.
func (s *Store) ConsentsByCitizen(ctx context.Context, citizenID string) ([]storage.Consent, error) {
	q := `SELECT ` + consentCols + ` FROM consents WHERE citizen_id = $1 AND withdrawn_at IS NULL
		ORDER BY given_at DESC, id DESC`
	return collect(ctx, s, "consents by citizen", scanConsent, q, citizenID)
}

// WithdrawConsent ends a consent of the citizen at now, revokes the
// citizen's grants of the systems under its permit and writes rec's
// entries, in one statement that does all or (for a consent that is not
// theirs or not in force: ErrNotFound) none of it.
func (s *Store) WithdrawConsent(ctx context.Context, citizenID, consentID string, now time.Time, rec storage.Record) (storage.Consent, error) {
	es, err := prepare(rec)
	if err != nil {
		return storage.Consent{}, err
	}
	q := `WITH c AS (
	UPDATE consents SET withdrawn_at = $3 WHERE id = $1 AND citizen_id = $2 AND withdrawn_at IS NULL
	RETURNING ` + consentCols + `
), g AS (
	UPDATE grants SET revoked_at = $3
	WHERE subject = $2 AND revoked_at IS NULL AND client_id IN (SELECT id FROM clients WHERE permit_id IN (SELECT permit_id FROM c))
)`
	eq, eargs := recordCTE(es, 4, "EXISTS (SELECT 1 FROM c)")
	q += eq + `
SELECT ` + consentCols + ` FROM c`
	c, err := scanConsent(s.pool.QueryRow(ctx, q, append([]any{consentID, citizenID, now}, eargs...)...))
	if err != nil {
		return storage.Consent{}, wrapRecorded(fmt.Sprintf("withdraw consent %q", consentID), err)
	}
	return c, nil
}
