package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dopaid/dopaid/storage"
)

var _ storage.PermitStore = (*Store)(nil)

// jsonCols marshals nested records for jsonb columns (a nil slice is stored
// as null and reads back nil).
func jsonCols(vs ...any) ([][]byte, error) {
	out := make([][]byte, len(vs))
	for i, v := range vs {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// unmarshalCols is jsonCols' inverse: raw[i] into dst[i].
func unmarshalCols(raw [][]byte, dst ...any) error {
	for i, d := range dst {
		if err := json.Unmarshal(raw[i], d); err != nil {
			return fmt.Errorf("decode jsonb: %w", err)
		}
	}
	return nil
}

const agencyCols = `id, name_th, name_en, category, registration_no, contacts, created_at, updated_at`

func agencyArgs(a storage.Agency) ([]any, error) {
	j, err := jsonCols(a.Contacts)
	if err != nil {
		return nil, err
	}
	return []any{a.ID, a.NameTH, a.NameEN, a.Category, a.RegistrationNo, j[0], a.CreatedAt, a.UpdatedAt}, nil
}

func scanAgency(row pgx.Row) (storage.Agency, error) {
	var a storage.Agency
	var contacts []byte
	err := row.Scan(&a.ID, &a.NameTH, &a.NameEN, &a.Category, &a.RegistrationNo, &contacts, ts(&a.CreatedAt), ts(&a.UpdatedAt))
	if err != nil {
		return storage.Agency{}, err
	}
	if err := unmarshalCols([][]byte{contacts}, &a.Contacts); err != nil {
		return storage.Agency{}, err
	}
	return a, nil
}

// CreateAgency stores an agency; ErrAlreadyExists if the ID is taken.
func (s *Store) CreateAgency(ctx context.Context, a storage.Agency, rec storage.Record) error {
	op := fmt.Sprintf("create agency %q", a.ID)
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	args, err := agencyArgs(a)
	if err != nil {
		return wrap(op, err)
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO agencies (`+agencyCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, args...)
	if err := record(b, es); err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return wrapRecorded(op, err)
	}
	return nil
}

// Agency returns the agency with that ID.
func (s *Store) Agency(ctx context.Context, id string) (storage.Agency, error) {
	a, err := scanAgency(s.pool.QueryRow(ctx, `SELECT `+agencyCols+` FROM agencies WHERE id = $1`, id))
	if err != nil {
		return storage.Agency{}, wrap(fmt.Sprintf("agency %q", id), err)
	}
	return a, nil
}

// Agencies lists every agency by ID.
func (s *Store) Agencies(ctx context.Context) ([]storage.Agency, error) {
	return collect(ctx, s, "list agencies", scanAgency, `SELECT `+agencyCols+` FROM agencies ORDER BY id`)
}

// UpdateAgency locks the agency's row, applies fn and writes its result
// (with the ID kept whatever fn returns) in one transaction.
func (s *Store) UpdateAgency(ctx context.Context, id string, fn func(storage.Agency) (storage.Agency, error)) (storage.Agency, error) {
	return updateRow(ctx, s, fmt.Sprintf("update agency %q", id), nil,
		`SELECT `+agencyCols+` FROM agencies WHERE id = $1 FOR UPDATE`, []any{id},
		scanAgency, fn,
		func(a storage.Agency) (string, []any, error) {
			a.ID = id
			args, err := agencyArgs(a)
			q := `UPDATE agencies SET (` + agencyCols + `) = ($1, $2, $3, $4, $5, $6, $7, $8)
				WHERE id = $1 RETURNING ` + agencyCols
			return q, args, err
		})
}

const applicationCols = `id, agency_id, mission, reason, necessity, purposes, systems,
	acceptance_name, acceptance_position, acceptance_at, terms_version, recorded_by, created_at`

func scanApplication(row pgx.Row) (storage.Application, error) {
	var a storage.Application
	raw := make([][]byte, 2)
	err := row.Scan(&a.ID, &a.AgencyID, &a.Mission, &a.Reason, &a.Necessity, &raw[0], &raw[1],
		&a.Acceptance.Name, &a.Acceptance.Position, ts(&a.Acceptance.At), &a.Acceptance.TermsVersion,
		&a.RecordedBy, ts(&a.CreatedAt))
	if err != nil {
		return storage.Application{}, err
	}
	if err := unmarshalCols(raw, &a.Purposes, &a.Systems); err != nil {
		return storage.Application{}, err
	}
	return a, nil
}

// CreateApplication stores an application; ErrAlreadyExists if the ID is taken.
func (s *Store) CreateApplication(ctx context.Context, a storage.Application, rec storage.Record) error {
	op := fmt.Sprintf("create application %q", a.ID)
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	j, err := jsonCols(a.Purposes, a.Systems)
	if err != nil {
		return wrap(op, err)
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO applications (`+applicationCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		a.ID, a.AgencyID, a.Mission, a.Reason, a.Necessity, j[0], j[1],
		a.Acceptance.Name, a.Acceptance.Position, optTime(a.Acceptance.At), a.Acceptance.TermsVersion,
		a.RecordedBy, a.CreatedAt)
	if err := record(b, es); err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return wrapRecorded(op, err)
	}
	return nil
}

// Application returns the application with that ID.
func (s *Store) Application(ctx context.Context, id string) (storage.Application, error) {
	a, err := scanApplication(s.pool.QueryRow(ctx, `SELECT `+applicationCols+` FROM applications WHERE id = $1`, id))
	if err != nil {
		return storage.Application{}, wrap(fmt.Sprintf("application %q", id), err)
	}
	return a, nil
}

// ApplicationsByAgency lists an agency's applications, newest first.
func (s *Store) ApplicationsByAgency(ctx context.Context, agencyID string) ([]storage.Application, error) {
	q := `SELECT ` + applicationCols + ` FROM applications WHERE agency_id = $1 ORDER BY created_at DESC, id DESC`
	return collect(ctx, s, "applications by agency", scanApplication, q, agencyID)
}

const permitCols = `id, number, agency_id, application_id, state, valid_from, valid_until,
	purposes, conditions, supervisors, version, created_at, updated_at`

// permitParams are permitCols' placeholders; permitArgs fills them.
const permitParams = `$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13`

func permitArgs(p storage.Permit) ([]any, error) {
	j, err := jsonCols(p.Purposes, p.Supervisors)
	if err != nil {
		return nil, err
	}
	return []any{p.ID, p.Number, p.AgencyID, p.ApplicationID, p.State, optTime(p.ValidFrom), optTime(p.ValidUntil),
		j[0], p.Conditions, j[1], p.Version, p.CreatedAt, p.UpdatedAt}, nil
}

func scanPermit(row pgx.Row) (storage.Permit, error) {
	var p storage.Permit
	raw := make([][]byte, 2)
	err := row.Scan(&p.ID, &p.Number, &p.AgencyID, &p.ApplicationID, &p.State, ts(&p.ValidFrom), ts(&p.ValidUntil),
		&raw[0], &p.Conditions, &raw[1], &p.Version, ts(&p.CreatedAt), ts(&p.UpdatedAt))
	if err != nil {
		return storage.Permit{}, err
	}
	if err := unmarshalCols(raw, &p.Purposes, &p.Supervisors); err != nil {
		return storage.Permit{}, err
	}
	return p, nil
}

// CreatePermit stores a permit as given, Version included; ErrAlreadyExists
// if its ID or Number is taken.
func (s *Store) CreatePermit(ctx context.Context, p storage.Permit) error {
	op := fmt.Sprintf("create permit %q", p.ID)
	args, err := permitArgs(p)
	if err != nil {
		return wrap(op, err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO permits (`+permitCols+`) VALUES (`+permitParams+`)`, args...); err != nil {
		return wrap(op, err)
	}
	return nil
}

// Permit returns the permit with that ID.
func (s *Store) Permit(ctx context.Context, id string) (storage.Permit, error) {
	p, err := scanPermit(s.pool.QueryRow(ctx, `SELECT `+permitCols+` FROM permits WHERE id = $1`, id))
	if err != nil {
		return storage.Permit{}, wrap(fmt.Sprintf("permit %q", id), err)
	}
	return p, nil
}

// Permits lists permits, of one agency when agencyID is not empty, newest
// first.
func (s *Store) Permits(ctx context.Context, agencyID string) ([]storage.Permit, error) {
	if agencyID == "" {
		return collect(ctx, s, "list permits", scanPermit,
			`SELECT `+permitCols+` FROM permits ORDER BY created_at DESC, id DESC`)
	}
	return collect(ctx, s, "list permits", scanPermit,
		`SELECT `+permitCols+` FROM permits WHERE agency_id = $1 ORDER BY created_at DESC, id DESC`, agencyID)
}

// permitUpdate is the statement that writes p over the permit id with the
// version after cur's.
func permitUpdate(id string, cur int, p storage.Permit) (string, []any, error) {
	p.ID = id
	p.Version = cur + 1
	args, err := permitArgs(p)
	q := `UPDATE permits SET (` + permitCols + `) = (` + permitParams + `) WHERE id = $1 RETURNING ` + permitCols
	return q, args, err
}

// UpdatePermit locks the permit's row, applies fn and writes its result
// (with the ID kept and Version one more than stored, whatever fn returns)
// in one transaction of two round trips.
func (s *Store) UpdatePermit(ctx context.Context, id string, fn func(storage.Permit) (storage.Permit, error)) (storage.Permit, error) {
	var version int
	return updateRow(ctx, s, fmt.Sprintf("update permit %q", id), nil,
		`SELECT `+permitCols+` FROM permits WHERE id = $1 FOR UPDATE`, []any{id},
		scanPermit,
		func(p storage.Permit) (storage.Permit, error) {
			version = p.Version
			return fn(p)
		},
		func(p storage.Permit) (string, []any, error) { return permitUpdate(id, version, p) })
}

const decisionCols = `id, permit_id, action, decided_by, notice, recorded_at, effective_at, applied_at, payload`

func scanDecision(row pgx.Row) (storage.Decision, error) {
	var d storage.Decision
	err := row.Scan(&d.ID, &d.PermitID, &d.Action, &d.By, &d.Notice,
		ts(&d.RecordedAt), ts(&d.EffectiveAt), ts(&d.AppliedAt), &d.Payload)
	if err != nil {
		return storage.Decision{}, err
	}
	normBlob(&d.Payload)
	return d, nil
}

// CreateDecision stores a decision; ErrAlreadyExists if the ID is taken.
// rec's entries travel in the same batch (one implicit transaction).
func (s *Store) CreateDecision(ctx context.Context, d storage.Decision, rec storage.Record) error {
	op := fmt.Sprintf("create decision %q", d.ID)
	es, err := prepare(rec)
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO decisions (`+decisionCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		d.ID, d.PermitID, d.Action, d.By, d.Notice, d.RecordedAt, d.EffectiveAt, optTime(d.AppliedAt), d.Payload)
	if err := record(b, es); err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return wrapRecorded(op, err)
	}
	return nil
}

// Decisions lists a permit's decisions in the order recorded (those
// recorded at the same instant in the order stored).
func (s *Store) Decisions(ctx context.Context, permitID string) ([]storage.Decision, error) {
	q := `SELECT ` + decisionCols + ` FROM decisions WHERE permit_id = $1 ORDER BY recorded_at, pos`
	return collect(ctx, s, "list decisions", scanDecision, q, permitID)
}

// DueDecisions lists the unapplied decisions in effect at now, the earliest
// effective first, then in the order recorded.
func (s *Store) DueDecisions(ctx context.Context, now time.Time) ([]storage.Decision, error) {
	q := `SELECT ` + decisionCols + ` FROM decisions WHERE applied_at IS NULL AND effective_at <= $1
		ORDER BY effective_at, recorded_at, pos`
	return collect(ctx, s, "due decisions", scanDecision, q, now)
}

// ApplyDecision applies a due decision exactly once, in one transaction of two
// round trips (see readModifyWrite): the first locks the decision's row and
// then its permit's, the second writes the permit (Version+1) and marks the
// decision applied. A replica racing on the same decision waits for the
// decision's lock and then finds it applied: ErrConflict (as for a decision
// whose EffectiveAt is after now). Locks are always taken decision first,
// permit second, so nothing here deadlocks with UpdatePermit.
func (s *Store) ApplyDecision(ctx context.Context, decisionID string, now time.Time, fn func(storage.Permit, storage.Decision) (storage.Permit, storage.Record, error)) (storage.Permit, error) {
	op := fmt.Sprintf("apply decision %q", decisionID)
	var d storage.Decision
	var p, out storage.Permit
	var foundD, foundP bool
	var fnErr error
	err := s.readModifyWrite(ctx,
		func(b *pgx.Batch) {
			b.Queue(`SELECT `+decisionCols+` FROM decisions WHERE id = $1 FOR UPDATE`, decisionID).QueryRow(func(row pgx.Row) error {
				v, err := scanDecision(row)
				if errors.Is(err, pgx.ErrNoRows) {
					return nil
				}
				d, foundD = v, err == nil
				return err
			})
			// Runs after the decision is locked; its permit_id never changes.
			q := `SELECT ` + permitCols + ` FROM permits
				WHERE id = (SELECT permit_id FROM decisions WHERE id = $1) FOR UPDATE`
			b.Queue(q, decisionID).QueryRow(func(row pgx.Row) error {
				v, err := scanPermit(row)
				if errors.Is(err, pgx.ErrNoRows) {
					return nil
				}
				p, foundP = v, err == nil
				return err
			})
		},
		func(b *pgx.Batch) error {
			switch {
			case !foundD:
				return pgx.ErrNoRows
			case !d.AppliedAt.IsZero():
				return fmt.Errorf("applied at %s already: %w", d.AppliedAt.Format(time.RFC3339), storage.ErrConflict)
			case d.EffectiveAt.After(now):
				return fmt.Errorf("not effective until %s: %w", d.EffectiveAt.Format(time.RFC3339), storage.ErrConflict)
			case !foundP:
				return fmt.Errorf("permit %q: %w", d.PermitID, storage.ErrNotFound)
			}
			np, rec, err := fn(p, d)
			if err != nil {
				fnErr = err
				return err
			}
			es, err := prepare(rec)
			if err != nil {
				fnErr = err
				return err
			}
			if err := record(b, es); err != nil {
				return err
			}
			q, args, err := permitUpdate(p.ID, p.Version, np)
			if err != nil {
				return err
			}
			b.Queue(q, args...).QueryRow(func(row pgx.Row) error {
				out, err = scanPermit(row)
				return err
			})
			b.Queue(`UPDATE decisions SET applied_at = $2 WHERE id = $1`, decisionID, now)
			return nil
		})
	if fnErr != nil {
		return storage.Permit{}, fnErr
	}
	if err != nil {
		return storage.Permit{}, wrapRecorded(op, err)
	}
	return out, nil
}

// ClientsByPermit lists the systems registered under a permit by ID.
func (s *Store) ClientsByPermit(ctx context.Context, permitID string) ([]storage.Client, error) {
	q := `SELECT ` + clientCols + ` FROM clients WHERE permit_id = $1 ORDER BY id`
	return collect(ctx, s, "clients by permit", scanClient, q, permitID)
}

// collect runs a query and scans every row.
func collect[T any](ctx context.Context, s *Store, op string, scan func(pgx.Row) (T, error), q string, args ...any) ([]T, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	vs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
	if err != nil {
		return nil, wrap(op, err)
	}
	return vs, nil
}
