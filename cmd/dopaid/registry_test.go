package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dopaid/dopaid/keys"
	"github.com/dopaid/dopaid/storage"
)

// registryFile writes rows as a registry CSV in a temporary file.
func registryFile(t *testing.T, rows []storage.RegistryRow) string {
	t.Helper()
	var b bytes.Buffer
	if err := storage.WriteRegistryCSV(&b, rows); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "registry.csv")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// registryCmd runs `dopaid registry import` against a data directory or
// database with the master key in the environment.
type registryCmd struct {
	dataDir, database, masterKey string
}

func newRegistryCmd(t *testing.T, database string) registryCmd {
	t.Helper()
	mk, err := keys.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	return registryCmd{dataDir: t.TempDir(), database: database, masterKey: mk}
}

func (rc registryCmd) run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	env := map[string]string{"DOPAID_MASTER_KEY": rc.masterKey, "DOPAID_DATA_DIR": rc.dataDir, "DOPAID_DATABASE_URL": rc.database}
	var out, errOut bytes.Buffer
	code = run(t.Context(), append([]string{"registry"}, args...), &out, &errOut, func(k string) string { return env[k] })
	return code, out.String(), errOut.String()
}

// open returns the store and envelope the command used.
func (rc registryCmd) open(t *testing.T) *Main {
	t.Helper()
	m := NewMain(Config{DataDir: rc.dataDir, Database: rc.database, MasterKey: rc.masterKey, LogFormat: "text", LogLevel: "info"}, &bytes.Buffer{}, &bytes.Buffer{})
	t.Cleanup(func() { m.Close() })
	if err := m.openRegistry(t.Context()); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRegistryImport(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		rc := newRegistryCmd(t, database)
		rows := devRegistry()[:len(demoCitizens)+20]
		good := registryFile(t, rows)

		// A bad file: every problem reported, nothing written.
		bad := registryFile(t, rows)
		b, _ := os.ReadFile(bad)
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		lines[1] = strings.Replace(lines[1], "25300115", "25301315", 1) // line 2: month 13
		lines[1] = strings.Replace(lines[1], ",alive,", ",living,", 1)  // and a bad status
		lines = append(lines, lines[2])                                 // line 3 again at the end
		text := strings.Join(lines, "\n") + "\n"
		if err := os.WriteFile(bad, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := rc.run(t, "import", bad)
		if code == 0 {
			t.Fatalf("bad file: exit 0; stdout %q", stdout)
		}
		dupLine := len(rows) + 2
		for _, w := range []string{
			"line 2: birthdate: date 25301315: month 13 out of range",
			"line 2: status: must be alive, deceased, moved or struck_off",
			fmt.Sprintf("line %d: pid: same ID number as line 3", dupLine),
			"3 problems in the rows above; nothing imported",
		} {
			if !strings.Contains(stderr, w) {
				t.Errorf("stderr does not say %q:\n%s", w, stderr)
			}
		}
		if database == "" {
			if _, err := os.Stat(filepath.Join(rc.dataDir, "dopaid.db")); !os.IsNotExist(err) {
				t.Errorf("a bad file created the database (%v)", err)
			}
		}

		code, stdout, stderr = rc.run(t, "import", good)
		if code != 0 {
			t.Fatalf("good file: exit %d\n%s", code, stderr)
		}
		if want := fmt.Sprintf("%d rows: %d created, 0 updated, 0 unchanged", len(rows), len(rows)); !strings.Contains(stdout, want) {
			t.Errorf("stdout = %q, want %q", stdout, want)
		}

		// The same file again, with the flags after the file.
		code, stdout, stderr = rc.run(t, "import", good, "--log-level", "warn")
		if code != 0 {
			t.Fatalf("same file again: exit %d\n%s", code, stderr)
		}
		if want := fmt.Sprintf("0 created, 0 updated, %d unchanged", len(rows)); !strings.Contains(stdout, want) {
			t.Errorf("stdout = %q, want %q", stdout, want)
		}

		// One citizen renamed, one card renewed, one added.
		changed := slices.Clone(rows)
		changed[1].Citizen.NameTH.Last = "ศรีสุขใจ"
		changed[2].LaserCode = "KC4567890199"
		extra := devRegistry()[len(rows)]
		changed = append(changed, extra)
		code, stdout, stderr = rc.run(t, "import", registryFile(t, changed))
		if code != 0 {
			t.Fatalf("changed file: exit %d\n%s", code, stderr)
		}
		if want := fmt.Sprintf("1 created, 2 updated, %d unchanged", len(rows)-2); !strings.Contains(stdout, want) {
			t.Errorf("stdout = %q, want %q", stdout, want)
		}

		m := rc.open(t)
		cs := m.Store
		if n, err := cs.CountCitizens(t.Context()); err != nil || n != len(rows)+1 {
			t.Errorf("CountCitizens = %d, %v; want %d", n, err, len(rows)+1)
		}
		c, err := cs.CitizenByPID(t.Context(), changed[2].Citizen.PID)
		if err != nil {
			t.Fatal(err)
		}
		code2, err := m.Envelope.Open(c.LaserCode, laserAD(c.PID))
		if err != nil || string(code2) != "KC4567890199" {
			t.Errorf("sealed laser code opens to %q, %v", code2, err)
		}
		if want := laserCodeMAC(m.Envelope.DeriveKey(purposeLaserMAC), "KC4567890199"); c.LaserCodeMAC != want {
			t.Errorf("LaserCodeMAC = %q, want %q", c.LaserCodeMAC, want)
		}
		if c.ContentHash != c.ComputeContentHash(c.LaserCodeMAC) {
			t.Error("stored content hash is not the record's")
		}
		if _, err := m.Envelope.Open(c.LaserCode, laserAD(changed[1].Citizen.PID)); err == nil {
			t.Error("a sealed laser code opens for another ID number")
		}
		// Log and error output never carry a laser code.
		if strings.Contains(stderr+stdout, "KC4567890199") {
			t.Error("the laser code reached the output")
		}
	})
}

func TestRegistryImportUsage(t *testing.T) {
	rc := newRegistryCmd(t, "")
	file := registryFile(t, devRegistry()[:1])
	tests := []struct {
		name     string
		args     []string
		noKey    bool
		wantCode int
		want     string
	}{
		{"no subcommand", nil, false, 2, "want 'import FILE'"},
		{"unknown subcommand", []string{"export"}, false, 2, `unknown subcommand "export"`},
		{"no file", []string{"import"}, false, 2, "want a FILE"},
		{"two files", []string{"import", file, file}, false, 2, "unexpected argument"},
		{"no master key", []string{"import", file}, true, 2, "master key is required"},
		{"missing file", []string{"import", filepath.Join(t.TempDir(), "nope.csv")}, false, 1, "no such file"},
		{"help", []string{"import", "--help"}, false, 0, "Usage: dopaid registry import"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := rc
			if tt.noKey {
				rc.masterKey = ""
			}
			code, _, stderr := rc.run(t, tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tt.wantCode, tt.want)
			}
		})
	}
	var out bytes.Buffer
	run(context.Background(), []string{"help"}, &out, &out, func(string) string { return "" })
	if !strings.Contains(out.String(), "dopaid registry import FILE") {
		t.Errorf("usage does not list the registry command:\n%s", out.String())
	}
}

func TestDevRegistry(t *testing.T) {
	rows := devRegistry()
	if again := devRegistry(); !slices.EqualFunc(rows, again, func(a, b storage.RegistryRow) bool {
		return a.Citizen.ComputeContentHash(a.LaserCode) == b.Citizen.ComputeContentHash(b.LaserCode)
	}) {
		t.Fatal("the development registry differs between calls")
	}
	if len(rows) < 1000+len(demoCitizens) {
		t.Fatalf("%d citizens, want at least 1000 generated", len(rows))
	}
	for i, d := range demoCitizens {
		if rows[i].Citizen.PID != d.PID {
			t.Errorf("row %d is %s, want demo citizen %s first", i, rows[i].Citizen.PID, d.PID)
		}
		if _, err := storage.NormalizeLaserCode(d.LaserCode); err != nil || d.Note == "" {
			t.Errorf("demo citizen %s: laser code %v, note %q", d.PID, err, d.Note)
		}
	}

	offices := map[string]bool{}
	for _, p := range devPlaces {
		offices[p.code] = true
	}
	count := map[string]int{}
	seen := map[string]bool{}
	for _, r := range rows[len(demoCitizens):] {
		c := r.Citizen
		if !storage.ValidPID(c.PID) || seen[c.PID] {
			t.Fatalf("ID number %s invalid or repeated", c.PID)
		}
		seen[c.PID] = true
		if !offices[c.PID[1:5]] {
			t.Errorf("ID number %s: office %s is not one of the places", c.PID, c.PID[1:5])
		}
		count["category "+c.PID[:1]]++
		switch {
		case c.Birthdate.Month == 0:
			count["year only"]++
		case c.Birthdate.Day == 0:
			count["no day"]++
		}
		count[c.Status]++
		count[c.NameTH.Title+" "+c.NameEN.Title]++
		if c.Address.Province == "กรุงเทพมหานคร" {
			count["bangkok"]++
			if c.Address.Moo != "" {
				t.Errorf("%s: a moo in Bangkok", c.PID)
			}
		}
		if c.CardExpires.IsLifetime() {
			count["lifetime"]++
		}
		if r.LaserCode == "" {
			count["no card"]++
		} else if c.CardIssued.IsZero() || c.CardExpires.IsZero() {
			t.Errorf("%s: a laser code without card dates", c.PID)
		}
	}
	n := len(rows) - len(demoCitizens)
	between := func(key string, lo, hi float64) {
		t.Helper()
		if f := float64(count[key]) / float64(n); f < lo || f > hi {
			t.Errorf("%s: %d of %d (%.1f%%), want %.1f–%.1f%%", key, count[key], n, 100*f, 100*lo, 100*hi)
		}
	}
	between("no day", 0.02, 0.06)
	between("year only", 0.005, 0.03)
	between(storage.StatusDeceased, 0.01, 0.04)
	between(storage.StatusMoved, 0.01, 0.06)
	between(storage.StatusAlive, 0.9, 0.98)
	between("bangkok", 0.2, 0.5)
	between("lifetime", 0.05, 0.4)
	between("no card", 0.03, 0.15)
	between("category 1", 0.2, 0.5)
	between("category 3", 0.2, 0.5)
	for _, title := range []string{"นาย Mr.", "นาง Mrs.", "นางสาว Miss", "เด็กชาย Master", "เด็กหญิง Miss"} {
		between(title, 0.03, 0.5)
	}
	if count["category 0"]+count["category 9"] > 0 {
		t.Error("categories 0 or 9 generated")
	}

	var b bytes.Buffer
	writeDemoCitizens(&b)
	for _, d := range demoCitizens {
		if !strings.Contains(b.String(), storage.FormatPID(d.PID)) || !strings.Contains(b.String(), d.LaserCode) || !strings.Contains(b.String(), d.FirstTH) {
			t.Errorf("the banner does not show demo citizen %s:\n%s", d.PID, b.String())
		}
	}
}

func TestSeedRegistry(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		rc := newRegistryCmd(t, database)
		m := rc.open(t)
		var logs bytes.Buffer
		m.Logger = NewMain(m.Config, nil, &logs).Logger
		n := len(devRegistry())
		if err := m.seedRegistry(t.Context()); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("citizens=%d created=%d updated=0 unchanged=0", n, n); !strings.Contains(logs.String(), want) {
			t.Errorf("first seeding logged %q, want %q", logs.String(), want)
		}
		logs.Reset()
		if err := m.seedRegistry(t.Context()); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("created=0 updated=0 unchanged=%d", n); !strings.Contains(logs.String(), want) {
			t.Errorf("second seeding logged %q, want %q", logs.String(), want)
		}

		cs := m.Store
		somchai, err := cs.CitizenByPID(t.Context(), "1100100000018")
		if err != nil {
			t.Fatal(err)
		}
		if somchai.NameTH != (storage.Name{Title: "นาย", First: "สมชาย", Last: "ใจดี"}) || somchai.NameEN.First != "Somchai" ||
			somchai.Birthdate.String() != "25300115" || !somchai.Alive() || somchai.ID == "" {
			t.Errorf("demo citizen = %+v", somchai)
		}
		if code, err := m.Envelope.Open(somchai.LaserCode, laserAD(somchai.PID)); err != nil || string(code) != "JT0123456789" {
			t.Errorf("laser code = %q, %v", code, err)
		}
		dead, err := cs.CitizenByPID(t.Context(), "3100100000090")
		if err != nil || dead.Alive() || dead.Status != storage.StatusDeceased {
			t.Errorf("deceased demo citizen = %+v, %v", dead, err)
		}
		partial, err := cs.CitizenByPID(t.Context(), "2500100000021")
		if err != nil || partial.Birthdate.OIDC() != "1992" {
			t.Errorf("partial birthdate = %q, %v", partial.Birthdate.OIDC(), err)
		}
		again, err := cs.Citizen(t.Context(), somchai.ID)
		if err != nil || again.PID != somchai.PID {
			t.Errorf("Citizen(ID) = %+v, %v", again, err)
		}
		if strings.Contains(logs.String(), "JT0") || strings.Contains(logs.String(), "1100100000018") {
			t.Error("personal data reached the log")
		}
	})
}

func TestLaserCodeMAC(t *testing.T) {
	// Pinned so that a change to the stored MAC, which would make every
	// imported laser code unmatchable, cannot pass unnoticed.
	key := bytes.Repeat([]byte{7}, 32)
	if got, want := laserCodeMAC(key, "JT0123456789"), "QqoyJO5v0Ln3R5O0p6bBMU92QphdGssjz1FE0pBXfbo"; got != want {
		t.Errorf("laserCodeMAC = %q, want %q", got, want)
	}
}
