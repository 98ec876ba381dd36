package storage

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// RegistryRow is one valid row of a registry file: a citizen record
// without the fields the importer fills in (ID, the sealed laser code and
// its MAC, ContentHash, timestamps), and the laser code in the clear,
// normalised (NormalizeLaserCode), or empty when the row has none.
type RegistryRow struct {
	Line      int // line of the file the row starts on
	Citizen   Citizen
	LaserCode string
}

// RowError is a problem with one row (or one field of it) of a registry
// file. Field is the column name, empty when the row as a whole is wrong.
// Reasons never repeat an ID number or a laser code.
type RowError struct {
	Line   int
	Field  string
	Reason string
}

func (e RowError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return fmt.Sprintf("line %d: %s: %s", e.Line, e.Field, e.Reason)
}

// Limits of a registry file.
const (
	// MaxRegistryField is the longest field, in bytes.
	MaxRegistryField = 200
	// MaxRegistryRows is the most data rows one file may have (the
	// importer holds them all in memory to store them in one transaction).
	MaxRegistryRows = 2_000_000
	// maxRegistryLine bounds the memory one physical line can take before
	// the field limit is checked.
	maxRegistryLine = 64 << 10
)

// maxRows is MaxRegistryRows, lowered by tests.
var maxRows = MaxRegistryRows

// registryColumn is one column of the registry file format.
type registryColumn struct {
	name string
	// required: the value must not be empty.
	required bool
	// optional: the header may leave the column out (a column added after
	// extracts were already being made); its values are then empty.
	optional bool
	// set validates v and stores it in r; the error is the reason.
	set func(r *RegistryRow, v string) error
	// get renders the field as set reads it.
	get func(r *RegistryRow) string
}

// textColumn is a free-text column stored with cleanText.
func textColumn(name string, required bool, p func(r *RegistryRow) *string) registryColumn {
	return registryColumn{name: name, required: required,
		set: func(r *RegistryRow, v string) error { *p(r) = cleanText(v); return nil },
		get: func(r *RegistryRow) string { return *p(r) },
	}
}

// dateColumn is a Buddhist-Era date column; check adds the column's own rules.
func dateColumn(name string, required bool, p func(r *RegistryRow) *BEDate, check func(BEDate) error) registryColumn {
	return registryColumn{name: name, required: required,
		set: func(r *RegistryRow, v string) error {
			d, err := ParseBEDate(v)
			if err != nil {
				return err
			}
			if check != nil && !d.IsZero() {
				if err := check(d); err != nil {
					return err
				}
			}
			*p(r) = d
			return nil
		},
		get: func(r *RegistryRow) string { return p(r).String() },
	}
}

func notLifetime(d BEDate) error {
	if d.IsLifetime() {
		return errors.New("99999999 is only for card_expires")
	}
	return nil
}

func fullDate(d BEDate) error {
	if d.IsLifetime() {
		return nil
	}
	if d.Day == 0 {
		return errors.New("a card date needs a day and a month")
	}
	return nil
}

func allDigits(v string, min, max int) bool {
	if len(v) < min || len(v) > max {
		return false
	}
	for i := 0; i < len(v); i++ {
		if !isDigit(v[i]) {
			return false
		}
	}
	return true
}

// registryColumns is the file format, in the order WriteRegistryCSV writes.
var registryColumns = []registryColumn{
	{name: "pid", required: true,
		set: func(r *RegistryRow, v string) error {
			pid, err := ParsePID(v)
			r.Citizen.PID = pid
			return err
		},
		get: func(r *RegistryRow) string { return r.Citizen.PID },
	},
	textColumn("title_th", true, func(r *RegistryRow) *string { return &r.Citizen.NameTH.Title }),
	textColumn("first_name_th", true, func(r *RegistryRow) *string { return &r.Citizen.NameTH.First }),
	textColumn("middle_name_th", false, func(r *RegistryRow) *string { return &r.Citizen.NameTH.Middle }),
	textColumn("last_name_th", true, func(r *RegistryRow) *string { return &r.Citizen.NameTH.Last }),
	textColumn("title_en", false, func(r *RegistryRow) *string { return &r.Citizen.NameEN.Title }),
	textColumn("first_name_en", false, func(r *RegistryRow) *string { return &r.Citizen.NameEN.First }),
	textColumn("middle_name_en", false, func(r *RegistryRow) *string { return &r.Citizen.NameEN.Middle }),
	textColumn("last_name_en", false, func(r *RegistryRow) *string { return &r.Citizen.NameEN.Last }),
	dateColumn("birthdate", true, func(r *RegistryRow) *BEDate { return &r.Citizen.Birthdate }, notLifetime),
	{name: "sex", required: true,
		set: func(r *RegistryRow, v string) error {
			switch v {
			case "0", "1", "2":
				r.Citizen.Sex = int(v[0] - '0')
				return nil
			}
			return errors.New("must be 1 (male), 2 (female) or 0 (unknown)")
		},
		get: func(r *RegistryRow) string { return strconv.Itoa(r.Citizen.Sex) },
	},
	textColumn("house_no", false, func(r *RegistryRow) *string { return &r.Citizen.Address.HouseNo }),
	{name: "moo",
		set: func(r *RegistryRow, v string) error {
			if v != "" && !allDigits(v, 1, 3) {
				return errors.New("must be a village number (digits)")
			}
			r.Citizen.Address.Moo = v
			return nil
		},
		get: func(r *RegistryRow) string { return r.Citizen.Address.Moo },
	},
	textColumn("trok", false, func(r *RegistryRow) *string { return &r.Citizen.Address.Trok }),
	textColumn("soi", false, func(r *RegistryRow) *string { return &r.Citizen.Address.Soi }),
	textColumn("road", false, func(r *RegistryRow) *string { return &r.Citizen.Address.Road }),
	textColumn("subdistrict", false, func(r *RegistryRow) *string { return &r.Citizen.Address.Subdistrict }),
	textColumn("district", false, func(r *RegistryRow) *string { return &r.Citizen.Address.District }),
	textColumn("province", false, func(r *RegistryRow) *string { return &r.Citizen.Address.Province }),
	{name: "postal_code",
		set: func(r *RegistryRow, v string) error {
			if v != "" && !allDigits(v, 5, 5) {
				return errors.New("must be 5 digits")
			}
			r.Citizen.Address.PostalCode = v
			return nil
		},
		get: func(r *RegistryRow) string { return r.Citizen.Address.PostalCode },
	},
	{name: "laser_code",
		set: func(r *RegistryRow, v string) error {
			if v == "" {
				return nil
			}
			code, err := NormalizeLaserCode(v)
			r.LaserCode = code
			return err
		},
		get: func(r *RegistryRow) string { return r.LaserCode },
	},
	dateColumn("card_issued", false, func(r *RegistryRow) *BEDate { return &r.Citizen.CardIssued }, func(d BEDate) error {
		if err := notLifetime(d); err != nil {
			return err
		}
		return fullDate(d)
	}),
	dateColumn("card_expires", false, func(r *RegistryRow) *BEDate { return &r.Citizen.CardExpires }, fullDate),
	{name: "card_status", optional: true,
		set: func(r *RegistryRow, v string) error {
			switch v {
			case "", CardActive, CardCancelled:
				r.Citizen.CardStatus = v
				return nil
			}
			return fmt.Errorf("must be %s, %s or empty", CardActive, CardCancelled)
		},
		get: func(r *RegistryRow) string { return r.Citizen.CardStatus },
	},
	textColumn("photo_ref", false, func(r *RegistryRow) *string { return &r.Citizen.PhotoRef }),
	{name: "status", required: true,
		set: func(r *RegistryRow, v string) error {
			switch v {
			case StatusAlive, StatusDeceased, StatusMoved, StatusStruckOff:
				r.Citizen.Status = v
				return nil
			}
			return fmt.Errorf("must be %s, %s, %s or %s", StatusAlive, StatusDeceased, StatusMoved, StatusStruckOff)
		},
		get: func(r *RegistryRow) string { return r.Citizen.Status },
	},
	textColumn("status_desc", false, func(r *RegistryRow) *string { return &r.Citizen.StatusDesc }),
	dateColumn("status_as_of", false, func(r *RegistryRow) *BEDate { return &r.Citizen.StatusAsOf }, notLifetime),
}

// RegistryColumns returns the column names of a registry file, in the order
// WriteRegistryCSV writes them.
func RegistryColumns() []string {
	names := make([]string, len(registryColumns))
	for i, c := range registryColumns {
		names[i] = c.name
	}
	return names
}

// ReadRegistryCSV reads a civil registry extract: UTF-8 CSV (RFC 4180; a
// byte-order mark is ignored) whose first row names the columns, in any
// order, each exactly once:
//
//	pid             national ID number, 13 digits (X-XXXX-XXXXX-XX-X accepted), valid check digit, first digit 1–8
//	title_th        Thai title, free text (นาย, นาง, นางสาว, เด็กชาย, เด็กหญิง, ranks …)
//	first_name_th   Thai first name
//	middle_name_th  Thai middle name, usually empty
//	last_name_th    Thai last name
//	title_en        English title (Mr., Mrs., Miss, Master …), may be empty
//	first_name_en   English first name, may be empty
//	middle_name_en  English middle name, may be empty
//	last_name_en    English last name, may be empty
//	birthdate       Buddhist-Era YYYYMMDD, 00 for an unknown day or day and month (25551200, 25550000)
//	sex             1 male, 2 female, 0 unknown
//	house_no        house number (123/45), may be empty
//	moo             village number, digits, may be empty
//	trok            lane (trok), may be empty
//	soi             soi, may be empty
//	road            road, may be empty
//	subdistrict     tambon, or khwaeng in Bangkok, may be empty
//	district        amphoe, or khet in Bangkok, may be empty
//	province        changwat, may be empty
//	postal_code     5 digits, may be empty
//	laser_code      card laser code (JT0-1234567-89), empty if unknown
//	card_issued     card issue date, Buddhist-Era YYYYMMDD, may be empty
//	card_expires    card expiry date, Buddhist-Era YYYYMMDD or 99999999 for a lifetime card, may be empty
//	card_status     active or cancelled (voided: lost, stolen, replaced), may be
//	                empty (not stated: active); the column itself may be left out
//	photo_ref       reference to the registry photo, may be empty
//	status          alive, deceased, moved or struck_off
//	status_desc     the registry's description of the status, may be empty
//	status_as_of    date of the status, Buddhist-Era YYYYMMDD; required unless alive
//
// Title, first and last Thai name, birthdate, sex and status must not be
// empty. No field may be longer than MaxRegistryField bytes, contain
// control characters or be invalid UTF-8; free text is stored in NFC with
// white space collapsed. A file has at most MaxRegistryRows data rows, and
// no ID number twice.
//
// A header that lacks columns or names unknown ones, a file that is too
// long or cannot be read, return an error. Otherwise every row is checked
// and every problem is returned as a RowError, with its line number; rows
// are returned only when there is no problem at all, so that a caller can
// never import part of a file by mistake.
func ReadRegistryCSV(r io.Reader) ([]RegistryRow, []RowError, error) {
	lr := &lineLimiter{r: r, max: maxRegistryLine}
	cr := csv.NewReader(lr)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, nil, errors.New("empty file: want a header row naming the columns")
	}
	if err != nil {
		return nil, nil, readError(err, lr)
	}
	index, err := registryHeader(header)
	if err != nil {
		return nil, nil, err
	}

	var (
		rows    []RegistryRow
		rowErrs []RowError
		seen    = make(map[string]int)
	)
	for n := 0; ; n++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if n >= maxRows {
			return nil, nil, fmt.Errorf("more than %d rows: split the file", maxRows)
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			// The reader goes on with the next record: report and continue.
			reason := pe.Err.Error()
			if errors.Is(pe.Err, csv.ErrFieldCount) {
				reason = fmt.Sprintf("has %d fields, the header %d", len(rec), len(header))
			}
			rowErrs = append(rowErrs, RowError{Line: pe.StartLine, Reason: reason})
			continue
		}
		if err != nil {
			return nil, nil, readError(err, lr)
		}
		line, _ := cr.FieldPos(0)
		row, errs := registryRow(rec, index, line)
		rowErrs = append(rowErrs, errs...)
		if row.Citizen.PID != "" {
			if first, ok := seen[row.Citizen.PID]; ok {
				rowErrs = append(rowErrs, RowError{Line: line, Field: "pid", Reason: fmt.Sprintf("same ID number as line %d", first)})
			} else {
				seen[row.Citizen.PID] = line
			}
		}
		if len(rowErrs) == 0 {
			rows = append(rows, row)
		}
	}
	if len(rowErrs) > 0 {
		return nil, rowErrs, nil
	}
	return rows, nil, nil
}

// registryHeader maps each column of the format to its position in the
// file, or reports every unknown, repeated and missing column.
func registryHeader(header []string) ([]int, error) {
	pos := make(map[string]int, len(header))
	var unknown, repeated []string
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\uFEFF")
		}
		h = strings.ToLower(strings.TrimSpace(h))
		switch _, dup := pos[h]; {
		case !slices.ContainsFunc(registryColumns, func(c registryColumn) bool { return c.name == h }):
			unknown = append(unknown, strconv.Quote(h))
		case dup:
			repeated = append(repeated, h)
		default:
			pos[h] = i
		}
	}
	index := make([]int, len(registryColumns))
	var missing []string
	for i, c := range registryColumns {
		p, ok := pos[c.name]
		if !ok && c.optional {
			p = -1
		} else if !ok {
			missing = append(missing, c.name)
		}
		index[i] = p
	}
	var errs []error
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("header: missing columns: %s", strings.Join(missing, ", ")))
	}
	if len(unknown) > 0 {
		errs = append(errs, fmt.Errorf("header: unknown columns: %s (want %s)", strings.Join(unknown, ", "), strings.Join(RegistryColumns(), ", ")))
	}
	if len(repeated) > 0 {
		errs = append(errs, fmt.Errorf("header: columns named twice: %s", strings.Join(repeated, ", ")))
	}
	return index, errors.Join(errs...)
}

// ParseRegistryRecord checks one registry record given by column name, as
// a live registry service answers it: the fields, formats and rules of a
// row of a registry file (ReadRegistryCSV), except that the laser code is
// never part of it — the service compares a typed code and says whether it
// matched. A missing field is empty; names the format does not know are
// ignored. Errors carry line 0.
func ParseRegistryRecord(fields map[string]string) (Citizen, []RowError) {
	rec := make([]string, len(registryColumns))
	index := make([]int, len(registryColumns))
	for i, c := range registryColumns {
		index[i] = i
		if c.name != "laser_code" {
			rec[i] = fields[c.name]
		}
	}
	row, errs := registryRow(rec, index, 0)
	return row.Citizen, errs
}

// registryRow checks every field of one record.
func registryRow(rec []string, index []int, line int) (RegistryRow, []RowError) {
	row := RegistryRow{Line: line}
	var errs []RowError
	bad := func(field, reason string) { errs = append(errs, RowError{Line: line, Field: field, Reason: reason}) }
	for i, c := range registryColumns {
		var v string
		if index[i] >= 0 {
			v = rec[index[i]]
		}
		switch {
		case len(v) > MaxRegistryField:
			bad(c.name, fmt.Sprintf("longer than %d bytes", MaxRegistryField))
			continue
		case !utf8.ValidString(v):
			bad(c.name, "not valid UTF-8")
			continue
		case strings.ContainsFunc(v, unicode.IsControl):
			bad(c.name, "contains a control character (a line break, a tab …)")
			continue
		}
		v = strings.TrimSpace(v)
		if v == "" {
			if c.required {
				bad(c.name, "must not be empty")
			}
			continue
		}
		if err := c.set(&row, v); err != nil {
			bad(c.name, err.Error())
		}
	}
	cz := row.Citizen
	if cz.Status != "" && cz.Status != StatusAlive && cz.StatusAsOf.IsZero() && !hasError(errs, "status_as_of") {
		bad("status_as_of", "required when the status is not alive")
	}
	if !cz.CardIssued.IsZero() && !cz.CardExpires.IsZero() && !cz.CardExpires.IsLifetime() && cz.CardExpires.String() < cz.CardIssued.String() {
		bad("card_expires", "before card_issued")
	}
	return row, errs
}

func hasError(errs []RowError, field string) bool {
	return slices.ContainsFunc(errs, func(e RowError) bool { return e.Field == field })
}

// WriteRegistryCSV writes rows in the format ReadRegistryCSV reads, with
// the header. Laser codes are written in the clear: the file is as
// sensitive as the registry.
func WriteRegistryCSV(w io.Writer, rows []RegistryRow) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(RegistryColumns()); err != nil {
		return err
	}
	rec := make([]string, len(registryColumns))
	for i := range rows {
		for j, c := range registryColumns {
			rec[j] = c.get(&rows[i])
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// errLineTooLong stops the reading of a line before it fills memory.
var errLineTooLong = fmt.Errorf("a line longer than %d bytes", maxRegistryLine)

// lineLimiter fails a read once a line grows beyond max bytes.
type lineLimiter struct {
	r    io.Reader
	max  int
	cur  int // bytes since the last newline
	line int // newlines seen
}

func (l *lineLimiter) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for i := 0; i < n; i++ {
		if p[i] == '\n' {
			l.line++
			l.cur = 0
			continue
		}
		l.cur++
		if l.cur > l.max {
			return i, errLineTooLong
		}
	}
	return n, err
}

func readError(err error, l *lineLimiter) error {
	if errors.Is(err, errLineTooLong) {
		return fmt.Errorf("line %d: %w", l.line+1, err)
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("line %d: %w", pe.StartLine, pe.Err)
	}
	return fmt.Errorf("read registry file: %w", err)
}
