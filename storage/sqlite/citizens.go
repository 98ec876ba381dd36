package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/dopaid/dopaid/storage"
)

var _ storage.CitizenStores = (*Store)(nil)

// Error messages name records by index or internal ID, never by national
// ID number: errors end up in logs.

const citizenColumns = `id, pid, name_th_title, name_th_first, name_th_middle, name_th_last,
	name_en_title, name_en_first, name_en_middle, name_en_last, birthdate, sex,
	address_house_no, address_moo, address_trok, address_soi, address_road,
	address_subdistrict, address_district, address_province, address_postal_code,
	laser_code, laser_code_mac, card_issued, card_expires, photo_ref,
	status, status_desc, status_as_of, content_hash, created_at, updated_at, card_status`

// citizenArgs returns c's column values in citizenColumns order.
func citizenArgs(c storage.Citizen) []any {
	return []any{
		c.ID, c.PID, c.NameTH.Title, c.NameTH.First, c.NameTH.Middle, c.NameTH.Last,
		c.NameEN.Title, c.NameEN.First, c.NameEN.Middle, c.NameEN.Last, dateArg(c.Birthdate), c.Sex,
		c.Address.HouseNo, c.Address.Moo, c.Address.Trok, c.Address.Soi, c.Address.Road,
		c.Address.Subdistrict, c.Address.District, c.Address.Province, c.Address.PostalCode,
		c.LaserCode, c.LaserCodeMAC, dateArg(c.CardIssued), dateArg(c.CardExpires), c.PhotoRef,
		c.Status, c.StatusDesc, dateArg(c.StatusAsOf), c.ContentHash, msArg(c.CreatedAt), msArg(c.UpdatedAt),
		c.CardStatus,
	}
}

func scanCitizen(row scanner) (storage.Citizen, error) {
	var c storage.Citizen
	err := row.Scan(&c.ID, &c.PID, &c.NameTH.Title, &c.NameTH.First, &c.NameTH.Middle, &c.NameTH.Last,
		&c.NameEN.Title, &c.NameEN.First, &c.NameEN.Middle, &c.NameEN.Last, dateCol{&c.Birthdate}, &c.Sex,
		&c.Address.HouseNo, &c.Address.Moo, &c.Address.Trok, &c.Address.Soi, &c.Address.Road,
		&c.Address.Subdistrict, &c.Address.District, &c.Address.Province, &c.Address.PostalCode,
		&c.LaserCode, &c.LaserCodeMAC, dateCol{&c.CardIssued}, dateCol{&c.CardExpires}, &c.PhotoRef,
		&c.Status, &c.StatusDesc, dateCol{&c.StatusAsOf}, &c.ContentHash, timeCol{&c.CreatedAt}, timeCol{&c.UpdatedAt},
		&c.CardStatus)
	return c, err
}

// UpsertCitizens stores the records in one write transaction through three
// prepared statements (find by PID, insert, update), so that a registry
// import of a whole province is one commit.
func (s *Store) UpsertCitizens(ctx context.Context, cs []storage.Citizen) (storage.UpsertResult, error) {
	var res storage.UpsertResult
	if len(cs) == 0 {
		return res, nil
	}
	first := make(map[string]int, len(cs))
	for i, c := range cs {
		if j, dup := first[c.PID]; dup {
			return res, fmt.Errorf("sqlite: upsert citizens: records %d and %d have the same national ID number: %w",
				j, i, storage.ErrAlreadyExists)
		}
		first[c.PID] = i
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		find, err := tx.PrepareContext(ctx, `SELECT id, content_hash FROM citizens WHERE pid = ?`)
		if err != nil {
			return wrap(err, "upsert citizens")
		}
		defer find.Close()
		insert, err := tx.PrepareContext(ctx, `INSERT INTO citizens (`+citizenColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return wrap(err, "upsert citizens")
		}
		defer insert.Close()
		// Everything but id, pid and created_at; the id goes last.
		update, err := tx.PrepareContext(ctx, `UPDATE citizens SET name_th_title = ?, name_th_first = ?,
			name_th_middle = ?, name_th_last = ?, name_en_title = ?, name_en_first = ?, name_en_middle = ?,
			name_en_last = ?, birthdate = ?, sex = ?, address_house_no = ?, address_moo = ?, address_trok = ?,
			address_soi = ?, address_road = ?, address_subdistrict = ?, address_district = ?,
			address_province = ?, address_postal_code = ?, laser_code = ?, laser_code_mac = ?,
			card_issued = ?, card_expires = ?, photo_ref = ?, status = ?, status_desc = ?, status_as_of = ?,
			content_hash = ?, updated_at = ?, card_status = ? WHERE id = ?`)
		if err != nil {
			return wrap(err, "upsert citizens")
		}
		defer update.Close()

		for i, c := range cs {
			var id, hash string
			err := find.QueryRowContext(ctx, c.PID).Scan(&id, &hash)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				if _, err := insert.ExecContext(ctx, citizenArgs(c)...); err != nil {
					return wrap(err, "upsert citizens: create record %d (ID %q)", i, c.ID)
				}
				res.Created++
			case err != nil:
				return wrap(err, "upsert citizens: record %d", i)
			case hash == c.ContentHash:
				res.Unchanged++
			default:
				// Every column but id, pid and created_at, then the id.
				args := citizenArgs(c)[2:]
				args = append(args[:len(args)-3:len(args)-3], msArg(c.UpdatedAt), c.CardStatus, id)
				if _, err := update.ExecContext(ctx, args...); err != nil {
					return wrap(err, "upsert citizens: update record %d (ID %q)", i, id)
				}
				res.Updated++
			}
		}
		return nil
	})
	if err != nil {
		return storage.UpsertResult{}, err
	}
	return res, nil
}

// Citizen returns the record with that internal ID.
func (s *Store) Citizen(ctx context.Context, id string) (storage.Citizen, error) {
	c, err := scanCitizen(s.r.QueryRowContext(ctx, `SELECT `+citizenColumns+` FROM citizens WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Citizen{}, fmt.Errorf("sqlite: citizen %q: %w", id, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Citizen{}, wrap(err, "citizen %q", id)
	}
	return c, nil
}

// CitizenByPID returns the record with that national ID number.
func (s *Store) CitizenByPID(ctx context.Context, pid string) (storage.Citizen, error) {
	c, err := scanCitizen(s.r.QueryRowContext(ctx, `SELECT `+citizenColumns+` FROM citizens WHERE pid = ?`, pid))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Citizen{}, fmt.Errorf("sqlite: citizen by national ID number: %w", storage.ErrNotFound)
	}
	if err != nil {
		return storage.Citizen{}, wrap(err, "citizen by national ID number")
	}
	return c, nil
}

// CountCitizens returns how many records the registry holds.
func (s *Store) CountCitizens(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM citizens`).Scan(&n); err != nil {
		return 0, wrap(err, "count citizens")
	}
	return n, nil
}
