package storage

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// BEOffset is the difference between Buddhist Era and Common Era years.
const BEOffset = 543

// BEDate is a registry date in the Buddhist Era whose day, or day and
// month, may be unknown (0), as the registry writes 25551200 or 25550000.
// The zero BEDate is "no date".
type BEDate struct {
	Year  int // BE, e.g. 2555
	Month int // 1–12, or 0 if unknown
	Day   int // 1–31, or 0 if unknown
}

// Lifetime is the expiry date of a card that never expires (99999999).
func Lifetime() BEDate { return BEDate{Year: 9999, Month: 99, Day: 99} }

// IsLifetime reports whether d is Lifetime().
func (d BEDate) IsLifetime() bool { return d == Lifetime() }

// IsZero reports whether d is no date at all.
func (d BEDate) IsZero() bool { return d == BEDate{} }

// String renders d as the registry does: YYYYMMDD with 00 for unknown parts.
func (d BEDate) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d%02d%02d", d.Year, d.Month, d.Day)
}

// ParseBEDate reads a registry date, YYYYMMDD in the Buddhist Era with 00
// for an unknown day or month (an unknown month needs an unknown day), or
// 99999999 for a lifetime card. The empty string is the zero BEDate.
func ParseBEDate(s string) (BEDate, error) {
	if s == "" {
		return BEDate{}, nil
	}
	if s == "99999999" {
		return Lifetime(), nil
	}
	if len(s) != 8 {
		return BEDate{}, fmt.Errorf("date %q: want 8 digits YYYYMMDD (Buddhist Era)", s)
	}
	// Atoi alone would take "-0000000" and "+2555120".
	n, err := strconv.Atoi(s)
	if err != nil || strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return BEDate{}, fmt.Errorf("date %q: want 8 digits YYYYMMDD (Buddhist Era)", s)
	}
	d := BEDate{Year: n / 10000, Month: n / 100 % 100, Day: n % 100}
	if err := d.Validate(); err != nil {
		return BEDate{}, err
	}
	return d, nil
}

// Validate checks that d is a possible registry date (years 2400–2700 BE).
func (d BEDate) Validate() error {
	switch {
	case d.IsZero() || d.IsLifetime():
		return nil
	case d.Year < 2400 || d.Year > 2700:
		return fmt.Errorf("date %s: year %d is not a plausible Buddhist Era year", d, d.Year)
	case d.Month < 0 || d.Month > 12:
		return fmt.Errorf("date %s: month %d out of range", d, d.Month)
	case d.Month == 0 && d.Day != 0:
		return fmt.Errorf("date %s: a day without a month", d)
	case d.Day < 0 || d.Day > daysIn(d.Year-BEOffset, d.Month):
		return fmt.Errorf("date %s: day %d out of range", d, d.Day)
	}
	return nil
}

func daysIn(ceYear, month int) int {
	if month == 0 {
		return 0
	}
	return time.Date(ceYear, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// OIDC renders d for the OpenID Connect birthdate claim, in the Common
// Era, in one of the forms OIDC Core §5.1 allows: YYYY-MM-DD, or YYYY alone
// when the day or the month is unknown. YYYY-MM is not among them, so a
// registry date without its day is released as its year (an RP's library
// would fail to parse, or misread, anything else).
func (d BEDate) OIDC() string {
	if d.IsZero() || d.IsLifetime() {
		return ""
	}
	y := d.Year - BEOffset
	if d.Month == 0 || d.Day == 0 {
		return fmt.Sprintf("%04d", y)
	}
	return fmt.Sprintf("%04d-%02d-%02d", y, d.Month, d.Day)
}

// Matches reports whether a date the citizen typed (all parts known)
// agrees with the registry date d on every part the registry knows.
func (d BEDate) Matches(typed BEDate) bool {
	if d.IsZero() || d.Year != typed.Year {
		return false
	}
	if d.Month != 0 && d.Month != typed.Month {
		return false
	}
	return d.Day == 0 || d.Day == typed.Day
}
