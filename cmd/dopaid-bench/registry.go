package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"

	"github.com/dopaid/dopaid/storage"
)

// citizen is one member of the bench's pool: what a citizen types on the
// proofing page (from the registry extract the server imported), the TOTP
// secret their authenticator app holds after enrolment, and their browser.
type citizen struct {
	pid, first, last string
	birth            storage.BEDate
	laser            string // normalised, "" when the registry has none
	secret           string // base32, set by enrolment
	browser          *browser
	// lastStep is the last TOTP time step this citizen's code was used
	// for: the provider accepts each (citizen, step) once.
	lastStep int64
	busy     bool
}

// readPool reads the first n living citizens of a registry extract (the
// CSV `dopaid registry import` reads). A file with fewer is an error: the
// pool must be as large as asked.
func readPool(path string, n int) ([]*citizen, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("registry extract: %w", err)
	}
	defer f.Close()
	rows, rowErrs, err := storage.ReadRegistryCSV(f)
	if err != nil {
		return nil, fmt.Errorf("registry extract %s: %w", path, err)
	}
	if len(rowErrs) > 0 {
		return nil, fmt.Errorf("registry extract %s: %d invalid rows, e.g. %v", path, len(rowErrs), rowErrs[0])
	}
	var pool []*citizen
	for _, r := range rows {
		c := r.Citizen
		if !c.Alive() || c.NameTH.First == "" || c.NameTH.Last == "" {
			continue
		}
		pool = append(pool, &citizen{pid: c.PID, first: c.NameTH.First, last: c.NameTH.Last, birth: c.Birthdate, laser: r.LaserCode})
		if len(pool) == n {
			return pool, nil
		}
	}
	return nil, fmt.Errorf("registry extract %s has %d living citizens, fewer than --citizens %d", path, len(pool), n)
}

// writeRegistry writes a synthetic registry extract of n living citizens
// for `dopaid registry import`. ID numbers are random (with a valid check
// digit) so that two extracts hardly ever share one; they may belong to
// real people, so never send them to a live DOPA service.
func writeRegistry(w io.Writer, n int) error {
	if n < 1 {
		return errors.New("--citizens must be at least 1")
	}
	firsts := [][2]string{{"สมชาย", "Somchai"}, {"มาลี", "Malee"}, {"ประเสริฐ", "Prasert"}, {"ศิริพร", "Siriporn"}, {"อนุชา", "Anucha"}, {"รัตนา", "Rattana"}}
	lasts := [][2]string{{"ใจดี", "Jaidee"}, {"ศรีสุข", "Srisuk"}, {"ทองดี", "Thongdee"}, {"แสงทอง", "Saengthong"}, {"บุญมา", "Boonma"}}
	used := map[string]bool{}
	rows := make([]storage.RegistryRow, 0, n)
	for i := range n {
		pid, err := randomPID(used)
		if err != nil {
			return err
		}
		f, l := firsts[i%len(firsts)], lasts[(i/len(firsts))%len(lasts)]
		digits, err := randomDigits(10)
		if err != nil {
			return err
		}
		laser, err := storage.NormalizeLaserCode(fmt.Sprintf("BN%c-%s-%s", digits[0], digits[1:8], digits[8:10]))
		if err != nil {
			return fmt.Errorf("synthetic laser code: %w", err)
		}
		year := 2500 + i%60
		rows = append(rows, storage.RegistryRow{
			Citizen: storage.Citizen{
				PID:         pid,
				NameTH:      storage.Name{Title: "นาย", First: f[0], Last: l[0]},
				NameEN:      storage.Name{Title: "Mr.", First: f[1], Last: l[1]},
				Birthdate:   storage.BEDate{Year: year, Month: 1 + i%12, Day: 1 + i%28},
				Sex:         storage.SexMale,
				Address:     storage.Address{HouseNo: fmt.Sprint(1 + i%999), Subdistrict: "ลุมพินี", District: "ปทุมวัน", Province: "กรุงเทพมหานคร", PostalCode: "10330"},
				CardIssued:  storage.BEDate{Year: 2566, Month: 1, Day: 2},
				CardExpires: storage.BEDate{Year: 2574, Month: 1, Day: 1},
				PhotoRef:    "bench-photo-" + pid[9:],
				Status:      storage.StatusAlive,
			},
			LaserCode: laser,
		})
	}
	return storage.WriteRegistryCSV(w, rows)
}

// randomPID returns an unused 13-digit ID number with its check digit
// (mod 11, DOMAIN.md), of category 1.
func randomPID(used map[string]bool) (string, error) {
	for {
		d, err := randomDigits(11)
		if err != nil {
			return "", err
		}
		b := append([]byte{'1'}, d...)
		sum := 0
		for i := range 12 {
			sum += int(b[i]-'0') * (13 - i)
		}
		b = append(b, byte('0'+(11-sum%11)%10))
		if s := string(b); !used[s] {
			used[s] = true
			return s, nil
		}
	}
}

func randomDigits(n int) (string, error) {
	b := make([]byte, n)
	for i := range b {
		v, err := rand.Int(rand.Reader, big.NewInt(10))
		if err != nil {
			return "", err
		}
		b[i] = byte('0' + v.Int64())
	}
	return string(b), nil
}
