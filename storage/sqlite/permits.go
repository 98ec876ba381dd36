package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/dopaid/dopaid/storage"
)

const agencyColumns = `id, name_th, name_en, category, registration_no, contacts, created_at, updated_at`

func agencyArgs(a storage.Agency) []any {
	return []any{a.ID, a.NameTH, a.NameEN, a.Category, a.RegistrationNo, contactsArg(a.Contacts),
		msArg(a.CreatedAt), msArg(a.UpdatedAt)}
}

func scanAgency(row scanner) (storage.Agency, error) {
	var a storage.Agency
	err := row.Scan(&a.ID, &a.NameTH, &a.NameEN, &a.Category, &a.RegistrationNo, contactsCol(&a.Contacts),
		timeCol{&a.CreatedAt}, timeCol{&a.UpdatedAt})
	return a, err
}

// CreateAgency stores a new agency.
func (s *Store) CreateAgency(ctx context.Context, a storage.Agency, rec storage.Record) error {
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO agencies (`+agencyColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, agencyArgs(a)...); err != nil {
			return wrap(err, "create agency %q", a.ID)
		}
		return record(ctx, tx, es)
	})
}

// Agency returns the agency with that ID.
func (s *Store) Agency(ctx context.Context, id string) (storage.Agency, error) {
	return agency(ctx, s.r, id)
}

func agency(ctx context.Context, q querier, id string) (storage.Agency, error) {
	a, err := scanAgency(q.QueryRowContext(ctx, `SELECT `+agencyColumns+` FROM agencies WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Agency{}, fmt.Errorf("sqlite: agency %q: %w", id, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Agency{}, wrap(err, "agency %q", id)
	}
	return a, nil
}

// Agencies lists every agency ordered by ID.
func (s *Store) Agencies(ctx context.Context) ([]storage.Agency, error) {
	as, err := queryList(ctx, s.r, scanAgency, `SELECT `+agencyColumns+` FROM agencies ORDER BY id`)
	if err != nil {
		return nil, wrap(err, "agencies")
	}
	return as, nil
}

// UpdateAgency applies fn to the stored agency and stores the result, in
// one write transaction. The agency keeps its ID whatever fn returns.
func (s *Store) UpdateAgency(ctx context.Context, id string, fn func(storage.Agency) (storage.Agency, error)) (storage.Agency, error) {
	var updated storage.Agency
	err := s.tx(ctx, func(tx *sql.Tx) error {
		a, err := agency(ctx, tx, id)
		if err != nil {
			return err
		}
		if a, err = fn(a); err != nil {
			return err
		}
		a.ID = id
		if _, err := tx.ExecContext(ctx, `UPDATE agencies SET name_th = ?, name_en = ?, category = ?,
			registration_no = ?, contacts = ?, created_at = ?, updated_at = ? WHERE id = ?`,
			append(agencyArgs(a)[1:], id)...); err != nil {
			return wrap(err, "update agency %q", id)
		}
		updated = a
		return nil
	})
	if err != nil {
		return storage.Agency{}, err
	}
	return updated, nil
}

const applicationColumns = `id, agency_id, mission, reason, necessity, purposes, systems,
	acceptance_name, acceptance_position, acceptance_at, acceptance_terms_version, recorded_by, created_at`

func scanApplication(row scanner) (storage.Application, error) {
	var a storage.Application
	err := row.Scan(&a.ID, &a.AgencyID, &a.Mission, &a.Reason, &a.Necessity, purposesCol(&a.Purposes),
		systemsCol(&a.Systems), &a.Acceptance.Name, &a.Acceptance.Position, timeCol{&a.Acceptance.At},
		&a.Acceptance.TermsVersion, &a.RecordedBy, timeCol{&a.CreatedAt})
	return a, err
}

// CreateApplication stores a new application.
func (s *Store) CreateApplication(ctx context.Context, a storage.Application, rec storage.Record) error {
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO applications (`+applicationColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, a.AgencyID, a.Mission, a.Reason, a.Necessity, purposesArg(a.Purposes), systemsArg(a.Systems),
			a.Acceptance.Name, a.Acceptance.Position, msArg(a.Acceptance.At), a.Acceptance.TermsVersion,
			a.RecordedBy, msArg(a.CreatedAt)); err != nil {
			return wrap(err, "create application %q", a.ID)
		}
		return record(ctx, tx, es)
	})
}

// Application returns the application with that ID.
func (s *Store) Application(ctx context.Context, id string) (storage.Application, error) {
	a, err := scanApplication(s.r.QueryRowContext(ctx, `SELECT `+applicationColumns+` FROM applications WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Application{}, fmt.Errorf("sqlite: application %q: %w", id, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Application{}, wrap(err, "application %q", id)
	}
	return a, nil
}

// ApplicationsByAgency lists an agency's applications, newest first.
func (s *Store) ApplicationsByAgency(ctx context.Context, agencyID string) ([]storage.Application, error) {
	as, err := queryList(ctx, s.r, scanApplication, `SELECT `+applicationColumns+` FROM applications
		WHERE agency_id = ? ORDER BY created_at DESC, rowid DESC`, agencyID)
	if err != nil {
		return nil, wrap(err, "applications of agency %q", agencyID)
	}
	return as, nil
}

const permitColumns = `id, number, agency_id, application_id, state, valid_from, valid_until,
	purposes, conditions, supervisors, version, created_at, updated_at`

func permitArgs(p storage.Permit) []any {
	return []any{p.ID, textArg(p.Number), p.AgencyID, p.ApplicationID, p.State, msArg(p.ValidFrom), msArg(p.ValidUntil),
		purposesArg(p.Purposes), p.Conditions, supervisorsArg(p.Supervisors), p.Version, msArg(p.CreatedAt), msArg(p.UpdatedAt)}
}

func scanPermit(row scanner) (storage.Permit, error) {
	var p storage.Permit
	err := row.Scan(&p.ID, textCol{&p.Number}, &p.AgencyID, &p.ApplicationID, &p.State, timeCol{&p.ValidFrom},
		timeCol{&p.ValidUntil}, purposesCol(&p.Purposes), &p.Conditions, supervisorsCol(&p.Supervisors),
		&p.Version, timeCol{&p.CreatedAt}, timeCol{&p.UpdatedAt})
	return p, err
}

// CreatePermit stores a new permit; storage.ErrAlreadyExists if its ID or
// its Number is taken. An empty Number is stored as NULL, which no other
// row's number equals.
func (s *Store) CreatePermit(ctx context.Context, p storage.Permit) error {
	if _, err := s.execWrite(ctx, `INSERT INTO permits (`+permitColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, permitArgs(p)...); err != nil {
		return wrap(err, "create permit %q", p.ID)
	}
	return nil
}

// Permit returns the permit with that ID.
func (s *Store) Permit(ctx context.Context, id string) (storage.Permit, error) {
	return permit(ctx, s.r, id)
}

func permit(ctx context.Context, q querier, id string) (storage.Permit, error) {
	p, err := scanPermit(q.QueryRowContext(ctx, `SELECT `+permitColumns+` FROM permits WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Permit{}, fmt.Errorf("sqlite: permit %q: %w", id, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Permit{}, wrap(err, "permit %q", id)
	}
	return p, nil
}

// Permits lists the permits of one agency, or all when agencyID is empty,
// newest first.
func (s *Store) Permits(ctx context.Context, agencyID string) ([]storage.Permit, error) {
	ps, err := queryList(ctx, s.r, scanPermit, `SELECT `+permitColumns+` FROM permits
		WHERE ?1 = '' OR agency_id = ?1 ORDER BY created_at DESC, rowid DESC`, agencyID)
	if err != nil {
		return nil, wrap(err, "permits of agency %q", agencyID)
	}
	return ps, nil
}

// UpdatePermit applies fn to the stored permit and stores the result with
// the next Version, in one write transaction.
func (s *Store) UpdatePermit(ctx context.Context, id string, fn func(storage.Permit) (storage.Permit, error)) (storage.Permit, error) {
	var updated storage.Permit
	err := s.tx(ctx, func(tx *sql.Tx) error {
		p, err := permit(ctx, tx, id)
		if err != nil {
			return err
		}
		next, err := fn(p)
		if err != nil {
			return err
		}
		updated, err = storePermit(ctx, tx, p, next)
		return err
	})
	if err != nil {
		return storage.Permit{}, err
	}
	return updated, nil
}

// storePermit stores next in place of the stored permit old, with old's
// ID and the Version after old's.
func storePermit(ctx context.Context, tx *sql.Tx, old, next storage.Permit) (storage.Permit, error) {
	next.ID = old.ID
	next.Version = old.Version + 1
	if _, err := tx.ExecContext(ctx, `UPDATE permits SET number = ?, agency_id = ?, application_id = ?,
		state = ?, valid_from = ?, valid_until = ?, purposes = ?, conditions = ?, supervisors = ?,
		version = ?, created_at = ?, updated_at = ? WHERE id = ?`, append(permitArgs(next)[1:], old.ID)...); err != nil {
		return storage.Permit{}, wrap(err, "update permit %q", old.ID)
	}
	return next, nil
}

const decisionColumns = `id, permit_id, action, decided_by, notice, recorded_at, effective_at, applied_at, payload`

func scanDecision(row scanner) (storage.Decision, error) {
	var d storage.Decision
	err := row.Scan(&d.ID, &d.PermitID, &d.Action, &d.By, &d.Notice, timeCol{&d.RecordedAt},
		timeCol{&d.EffectiveAt}, timeCol{&d.AppliedAt}, &d.Payload)
	return d, err
}

// CreateDecision stores a new decision, AppliedAt as given, with rec.
func (s *Store) CreateDecision(ctx context.Context, d storage.Decision, rec storage.Record) error {
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO decisions (`+decisionColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, d.ID, d.PermitID, d.Action, d.By, d.Notice,
			msArg(d.RecordedAt), msArg(d.EffectiveAt), msArg(d.AppliedAt), d.Payload); err != nil {
			return wrap(err, "create decision %q", d.ID)
		}
		return record(ctx, tx, es)
	})
}

// Decisions lists a permit's decisions by RecordedAt, and those recorded
// at the same instant in the order they were created.
func (s *Store) Decisions(ctx context.Context, permitID string) ([]storage.Decision, error) {
	ds, err := queryList(ctx, s.r, scanDecision, `SELECT `+decisionColumns+` FROM decisions
		WHERE permit_id = ? ORDER BY recorded_at, seq`, permitID)
	if err != nil {
		return nil, wrap(err, "decisions on permit %q", permitID)
	}
	return ds, nil
}

// DueDecisions lists the decisions not applied whose EffectiveAt is not
// after now, by EffectiveAt and then as Decisions orders them. A decision
// without an EffectiveAt (stored NULL, sorted first) is due at once.
func (s *Store) DueDecisions(ctx context.Context, now time.Time) ([]storage.Decision, error) {
	ds, err := queryList(ctx, s.r, scanDecision, `SELECT `+decisionColumns+` FROM decisions
		WHERE applied_at IS NULL AND (effective_at IS NULL OR effective_at <= ?)
		ORDER BY effective_at, recorded_at, seq`, now.UnixMilli())
	if err != nil {
		return nil, wrap(err, "due decisions")
	}
	return ds, nil
}

// ApplyDecision applies a due decision in one write transaction, which
// alone holds the database: of concurrent callers the first finds the
// decision unapplied and the others find it applied.
func (s *Store) ApplyDecision(ctx context.Context, decisionID string, now time.Time, fn func(storage.Permit, storage.Decision) (storage.Permit, storage.Record, error)) (storage.Permit, error) {
	var updated storage.Permit
	err := s.tx(ctx, func(tx *sql.Tx) error {
		d, err := scanDecision(tx.QueryRowContext(ctx, `SELECT `+decisionColumns+` FROM decisions WHERE id = ?`, decisionID))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: apply decision %q: %w", decisionID, storage.ErrNotFound)
		}
		if err != nil {
			return wrap(err, "apply decision %q", decisionID)
		}
		switch {
		case !d.AppliedAt.IsZero():
			return fmt.Errorf("sqlite: apply decision %q: applied already: %w", decisionID, storage.ErrConflict)
		case d.EffectiveAt.After(now):
			return fmt.Errorf("sqlite: apply decision %q: not due until %v: %w", decisionID, d.EffectiveAt, storage.ErrConflict)
		}
		p, err := permit(ctx, tx, d.PermitID)
		if err != nil {
			return err
		}
		next, rec, err := fn(p, d)
		if err != nil {
			return err
		}
		es, err := prepare(rec)
		if err != nil {
			return err
		}
		if updated, err = storePermit(ctx, tx, p, next); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE decisions SET applied_at = ? WHERE id = ?`,
			now.UnixMilli(), decisionID); err != nil {
			return wrap(err, "apply decision %q", decisionID)
		}
		return record(ctx, tx, es)
	})
	if err != nil {
		return storage.Permit{}, err
	}
	return updated, nil
}

// ClientsByPermit lists the clients registered under a permit, ordered by ID.
func (s *Store) ClientsByPermit(ctx context.Context, permitID string) ([]storage.Client, error) {
	cs, err := queryList(ctx, s.r, scanClient, `SELECT `+clientColumns+` FROM clients
		WHERE permit_id = ? ORDER BY id`, permitID)
	if err != nil {
		return nil, wrap(err, "clients of permit %q", permitID)
	}
	return cs, nil
}
