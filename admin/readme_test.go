package admin

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/dopaid/dopaid/storage"
)

// TestREADMERoles: the roles table of the README says what the service
// allows each role (capabilitiesOf, which mirrors the Service's checks).
func TestREADMERoles(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| ") {
			continue
		}
		var cells []string
		for _, c := range strings.Split(strings.Trim(line, "|"), "|") {
			cells = append(cells, strings.TrimSpace(c))
		}
		if len(cells) == 6 && slices.Contains(Roles, cells[0]) {
			rows[cells[0]] = cells[1:]
		}
	}
	yes := func(s string) bool { return strings.HasPrefix(s, "yes") }
	for _, role := range Roles {
		row, ok := rows[role]
		if !ok {
			t.Errorf("the README's roles table has no row for %q", role)
			continue
		}
		c := capabilitiesOf(storage.Admin{Role: role})
		got := []bool{yes(row[0]), yes(row[1]), yes(row[2]), yes(row[3]), !strings.HasPrefix(row[4], "its own")}
		want := []bool{c.RecordApplication && c.CreateAgency, c.Decide, c.ManageSystems, c.ManageAdmins, c.ReadAll}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("README row %q column %d says %v, the code %v", role, i+1, got[i], want[i])
			}
		}
	}
}
