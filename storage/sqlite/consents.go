package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/dopaid/dopaid/storage"
)

const consentColumns = `id, citizen_id, agency_id, permit_id, permit_version, purpose, claims, given_at, withdrawn_at`

func scanConsent(row scanner) (storage.Consent, error) {
	var c storage.Consent
	err := row.Scan(&c.ID, &c.CitizenID, &c.AgencyID, &c.PermitID, &c.PermitVersion, &c.Purpose,
		listCol{&c.Claims}, timeCol{&c.GivenAt}, timeCol{&c.WithdrawnAt})
	return c, err
}

// GiveConsent withdraws the consent in force for the same citizen, permit
// and purpose as of c.GivenAt and stores c, in one write transaction: if c
// cannot be stored, nothing is withdrawn. rec commits with it.
func (s *Store) GiveConsent(ctx context.Context, c storage.Consent, rec storage.Record) error {
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := giveConsent(ctx, tx, c); err != nil {
			return err
		}
		return record(ctx, tx, es)
	})
}

func giveConsent(ctx context.Context, tx *sql.Tx, c storage.Consent) error {
	// Not msArg: a zero GivenAt must still end the old consent, whose
	// NULL withdrawn_at means in force.
	if _, err := tx.ExecContext(ctx, `UPDATE consents SET withdrawn_at = ?
		WHERE citizen_id = ? AND permit_id = ? AND purpose = ? AND withdrawn_at IS NULL`,
		c.GivenAt.UnixMilli(), c.CitizenID, c.PermitID, c.Purpose); err != nil {
		return wrap(err, "give consent %q", c.ID)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO consents (`+consentColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, c.ID, c.CitizenID, c.AgencyID, c.PermitID, c.PermitVersion,
		c.Purpose, listArg(c.Claims), msArg(c.GivenAt), msArg(c.WithdrawnAt)); err != nil {
		return wrap(err, "give consent %q", c.ID)
	}
	return nil
}

// Consent returns the consent in force for citizen, permit and purpose.
func (s *Store) Consent(ctx context.Context, citizenID, permitID, purpose string) (storage.Consent, error) {
	c, err := scanConsent(s.r.QueryRowContext(ctx, `SELECT `+consentColumns+` FROM consents
		WHERE citizen_id = ? AND permit_id = ? AND purpose = ? AND withdrawn_at IS NULL`, citizenID, permitID, purpose))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Consent{}, fmt.Errorf("sqlite: consent of citizen %q to permit %q for %q: %w",
			citizenID, permitID, purpose, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Consent{}, wrap(err, "consent of citizen %q to permit %q for %q", citizenID, permitID, purpose)
	}
	return c, nil
}

// ConsentsByCitizen lists a citizen's consents in force, newest first.
func (s *Store) ConsentsByCitizen(ctx context.Context, citizenID string) ([]storage.Consent, error) {
	cs, err := queryList(ctx, s.r, scanConsent, `SELECT `+consentColumns+` FROM consents
		WHERE citizen_id = ? AND withdrawn_at IS NULL ORDER BY given_at DESC, rowid DESC`, citizenID)
	if err != nil {
		return nil, wrap(err, "consents of citizen %q", citizenID)
	}
	return cs, nil
}

// WithdrawConsent ends a consent of the citizen that is in force, revokes
// the citizen's grants of the systems under its permit and writes rec, in
// one write transaction: of concurrent calls exactly one finds it in force.
func (s *Store) WithdrawConsent(ctx context.Context, citizenID, consentID string, now time.Time, rec storage.Record) (storage.Consent, error) {
	es, err := prepare(rec)
	if err != nil {
		return storage.Consent{}, err
	}
	var c storage.Consent
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		c, err = scanConsent(tx.QueryRowContext(ctx, `UPDATE consents SET withdrawn_at = ?
			WHERE id = ? AND citizen_id = ? AND withdrawn_at IS NULL RETURNING `+consentColumns,
			now.UnixMilli(), consentID, citizenID))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: withdraw consent %q of citizen %q: %w", consentID, citizenID, storage.ErrNotFound)
		}
		if err != nil {
			return wrap(err, "withdraw consent %q of citizen %q", consentID, citizenID)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE grants SET revoked_at = ?
			WHERE subject = ? AND revoked_at IS NULL AND client_id IN (SELECT id FROM clients WHERE permit_id = ?)`,
			now.UnixMilli(), citizenID, c.PermitID); err != nil {
			return wrap(err, "withdraw consent %q: revoke grants", consentID)
		}
		return record(ctx, tx, es)
	})
	if err != nil {
		return storage.Consent{}, err
	}
	return c, nil
}
