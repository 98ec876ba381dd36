package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/dopaid/dopaid/storage"
)

var _ storage.CitizenStores = (*Store)(nil)

// citizenColumns is the order of citizens' columns in every query, in the
// COPY of an import and in citizenArgs and scanCitizen.
var citizenColumns = []string{
	"id", "pid",
	"title_th", "first_th", "middle_th", "last_th",
	"title_en", "first_en", "middle_en", "last_en",
	"birthdate", "sex",
	"house_no", "moo", "trok", "soi", "road", "subdistrict", "district", "province", "postal_code",
	"laser_code", "laser_code_mac", "card_issued", "card_expires", "photo_ref",
	"status", "status_desc", "status_as_of", "content_hash", "created_at", "updated_at",
	"card_status",
}

var citizenCols = strings.Join(citizenColumns, ", ")

// citizenUpsert writes an import staged in citizens_import. An existing PID
// keeps its id, pid and created_at and is written only when its content hash
// changed; the row locks are taken in PID order, so that overlapping imports
// wait for each other instead of deadlocking. A row the INSERT created has
// no xmax yet; one it updated carries the updating transaction's.
var citizenUpsert = func() string {
	var set []string
	for _, c := range citizenColumns {
		switch c {
		case "id", "pid", "created_at":
		default:
			set = append(set, c+" = excluded."+c)
		}
	}
	return `
WITH up AS (
	INSERT INTO citizens (` + citizenCols + `)
	SELECT ` + citizenCols + ` FROM citizens_import ORDER BY pid
	ON CONFLICT (pid) DO UPDATE SET ` + strings.Join(set, ", ") + `
	WHERE citizens.content_hash IS DISTINCT FROM excluded.content_hash
	RETURNING xmax = 0 AS created
)
SELECT count(*) FILTER (WHERE created), count(*) FILTER (WHERE NOT created) FROM up`
}()

// beInt encodes a registry date as the integer YYYYMMDD (see 0002); ok is
// false for a date that would not read back as itself.
func beInt(d storage.BEDate) (n int32, ok bool) {
	if d.Year < 0 || d.Year > 9999 || d.Month < 0 || d.Month > 99 || d.Day < 0 || d.Day > 99 {
		return 0, false
	}
	return int32(d.Year*10000 + d.Month*100 + d.Day), true
}

func beDate(n int32) storage.BEDate {
	return storage.BEDate{Year: int(n / 10000), Month: int(n / 100 % 100), Day: int(n % 100)}
}

// citizenArgs returns c's columns in citizenColumns order. Its errors name
// the field, never the value: that is personal data.
func citizenArgs(c storage.Citizen) ([]any, error) {
	var dates [4]int32
	for i, f := range []struct {
		name string
		d    storage.BEDate
	}{{"birthdate", c.Birthdate}, {"card issue date", c.CardIssued}, {"card expiry date", c.CardExpires}, {"status date", c.StatusAsOf}} {
		n, ok := beInt(f.d)
		if !ok {
			return nil, fmt.Errorf("%s out of range", f.name)
		}
		dates[i] = n
	}
	if c.Sex < -1<<15 || c.Sex >= 1<<15 {
		return nil, errors.New("sex code out of range")
	}
	var laser any
	if len(c.LaserCode) > 0 {
		laser = c.LaserCode
	}
	return []any{
		c.ID, c.PID,
		c.NameTH.Title, c.NameTH.First, c.NameTH.Middle, c.NameTH.Last,
		c.NameEN.Title, c.NameEN.First, c.NameEN.Middle, c.NameEN.Last,
		dates[0], int16(c.Sex),
		c.Address.HouseNo, c.Address.Moo, c.Address.Trok, c.Address.Soi, c.Address.Road,
		c.Address.Subdistrict, c.Address.District, c.Address.Province, c.Address.PostalCode,
		laser, c.LaserCodeMAC, dates[1], dates[2], c.PhotoRef,
		c.Status, c.StatusDesc, dates[3], c.ContentHash, c.CreatedAt, c.UpdatedAt,
		c.CardStatus,
	}, nil
}

func scanCitizen(row pgx.Row) (storage.Citizen, error) {
	var c storage.Citizen
	var birth, issued, expires, asOf int32
	var sex int16
	err := row.Scan(
		&c.ID, &c.PID,
		&c.NameTH.Title, &c.NameTH.First, &c.NameTH.Middle, &c.NameTH.Last,
		&c.NameEN.Title, &c.NameEN.First, &c.NameEN.Middle, &c.NameEN.Last,
		&birth, &sex,
		&c.Address.HouseNo, &c.Address.Moo, &c.Address.Trok, &c.Address.Soi, &c.Address.Road,
		&c.Address.Subdistrict, &c.Address.District, &c.Address.Province, &c.Address.PostalCode,
		&c.LaserCode, &c.LaserCodeMAC, &issued, &expires, &c.PhotoRef,
		&c.Status, &c.StatusDesc, &asOf, &c.ContentHash, ts(&c.CreatedAt), ts(&c.UpdatedAt),
		&c.CardStatus,
	)
	if err != nil {
		return storage.Citizen{}, err
	}
	c.Birthdate, c.CardIssued, c.CardExpires, c.StatusAsOf = beDate(birth), beDate(issued), beDate(expires), beDate(asOf)
	c.Sex = int(sex)
	normBlob(&c.LaserCode)
	return c, nil
}

// UpsertCitizens imports the records in one transaction: COPY into a
// temporary table, then one INSERT … ON CONFLICT that creates, updates or
// leaves alone each record and counts what it did. A PID given twice is
// refused before anything is sent (the upsert could not say which one wins);
// a new record whose ID is taken fails the whole import with ErrAlreadyExists.
// Round trips: five, whatever the number of records; 100,000 records take
// about a second (unnest arrays in one statement took three to four times as
// long).
func (s *Store) UpsertCitizens(ctx context.Context, cs []storage.Citizen) (storage.UpsertResult, error) {
	const op = "upsert citizens"
	if len(cs) == 0 {
		return storage.UpsertResult{}, nil
	}
	// Positions, not numbers: a national ID number is personal data.
	seen := make(map[string]int, len(cs))
	for i, c := range cs {
		if j, dup := seen[c.PID]; dup {
			return storage.UpsertResult{}, fmt.Errorf("postgres: %s: records %d and %d have the same national ID number: %w",
				op, j, i, storage.ErrAlreadyExists)
		}
		seen[c.PID] = i
	}

	var created, updated int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// LIKE copies the columns and their NOT NULL constraints, not the
		// keys: uniqueness is checked where it matters, in citizens.
		const temp = `CREATE TEMPORARY TABLE citizens_import (LIKE citizens) ON COMMIT DROP`
		if _, err := tx.Exec(ctx, temp); err != nil {
			return err
		}
		src := pgx.CopyFromSlice(len(cs), func(i int) ([]any, error) {
			args, err := citizenArgs(cs[i])
			if err != nil {
				return nil, fmt.Errorf("record %d: %w", i, err)
			}
			return args, nil
		})
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"citizens_import"}, citizenColumns, src); err != nil {
			return err
		}
		// Not a cached prepared statement: its table is new every time.
		return tx.QueryRow(ctx, citizenUpsert, pgx.QueryExecModeExec).Scan(&created, &updated)
	})
	if err != nil {
		return storage.UpsertResult{}, wrap(op, err)
	}
	return storage.UpsertResult{Created: created, Updated: updated, Unchanged: len(cs) - created - updated}, nil
}

// Citizen returns the record with that internal ID.
func (s *Store) Citizen(ctx context.Context, id string) (storage.Citizen, error) {
	c, err := scanCitizen(s.pool.QueryRow(ctx, `SELECT `+citizenCols+` FROM citizens WHERE id = $1`, id))
	if err != nil {
		return storage.Citizen{}, wrap(fmt.Sprintf("citizen %q", id), err)
	}
	return c, nil
}

// CitizenByPID returns the record with that national ID number (which the
// error does not repeat).
func (s *Store) CitizenByPID(ctx context.Context, pid string) (storage.Citizen, error) {
	c, err := scanCitizen(s.pool.QueryRow(ctx, `SELECT `+citizenCols+` FROM citizens WHERE pid = $1`, pid))
	if err != nil {
		return storage.Citizen{}, wrap("citizen by national ID number", err)
	}
	return c, nil
}

// CountCitizens returns how many records the registry holds.
func (s *Store) CountCitizens(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM citizens`).Scan(&n); err != nil {
		return 0, wrap("count citizens", err)
	}
	return n, nil
}
