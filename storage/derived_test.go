package storage_test

import (
	"slices"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

func TestAgeAtLeast(t *testing.T) {
	// 2567-03-01 BE = 2024-03-01; 2564 BE = 2021, a common year.
	tests := []struct {
		name  string
		born  storage.BEDate
		n     int
		today storage.BEDate
		want  any // true, false, or nil: uncertain
	}{
		{"birthday today", storage.BEDate{Year: 2547, Month: 3, Day: 1}, 20, storage.BEDate{Year: 2567, Month: 3, Day: 1}, true},
		{"birthday tomorrow", storage.BEDate{Year: 2547, Month: 3, Day: 2}, 20, storage.BEDate{Year: 2567, Month: 3, Day: 1}, false},
		{"29 February, common year, 28th", storage.BEDate{Year: 2543, Month: 2, Day: 29}, 21, storage.BEDate{Year: 2564, Month: 2, Day: 28}, false},
		{"29 February, common year, 1 March", storage.BEDate{Year: 2543, Month: 2, Day: 29}, 21, storage.BEDate{Year: 2564, Month: 3, Day: 1}, true},
		{"year only, a year later", storage.BEDate{Year: 2546}, 20, storage.BEDate{Year: 2567, Month: 1, Day: 1}, true},
		{"year only, the year itself", storage.BEDate{Year: 2547}, 20, storage.BEDate{Year: 2567, Month: 6, Day: 15}, nil},
		{"year only, 31 December", storage.BEDate{Year: 2547}, 20, storage.BEDate{Year: 2567, Month: 12, Day: 31}, true},
		{"year only, too young", storage.BEDate{Year: 2548}, 20, storage.BEDate{Year: 2567, Month: 12, Day: 31}, false},
		{"month known, day not, in the month", storage.BEDate{Year: 2547, Month: 6}, 20, storage.BEDate{Year: 2567, Month: 6, Day: 15}, nil},
		{"month known, day not, after the month", storage.BEDate{Year: 2547, Month: 6}, 20, storage.BEDate{Year: 2567, Month: 7, Day: 1}, true},
		{"month known, day not, before the month", storage.BEDate{Year: 2547, Month: 6}, 20, storage.BEDate{Year: 2567, Month: 5, Day: 31}, false},
		{"month known, last day of a common February", storage.BEDate{Year: 2545, Month: 2}, 20, storage.BEDate{Year: 2565, Month: 2, Day: 28}, true},
		{"no birthdate", storage.BEDate{}, 20, storage.BEDate{Year: 2567, Month: 1, Day: 1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.born.AgeAtLeast(tt.n, tt.today)
			if ok != (tt.want != nil) || got != tt.want {
				t.Errorf("%v.AgeAtLeast(%d, %v) = %v, %v; want %v", tt.born, tt.n, tt.today, got, ok, tt.want)
			}
		})
	}
}

func TestDerivedValue(t *testing.T) {
	// 2026-12-31 17:30 UTC is already 1 January 2027 (2570 BE) in Bangkok.
	now := time.Date(2026, 12, 31, 17, 30, 0, 0, time.UTC)
	adult := storage.Citizen{PID: "1100100000018", Birthdate: storage.BEDate{Year: 2550, Month: 1, Day: 1},
		Status: storage.StatusAlive, Address: storage.Address{HouseNo: "9", Province: "เชียงใหม่"}}
	tests := []struct {
		name  string
		c     func(storage.Citizen) storage.Citizen
		claim string
		want  any
	}{
		{"20 on the Bangkok day", nil, "age_over_20", true},
		{"not 21", nil, "age_over_21", false},
		{"alive", nil, "is_alive", true},
		{"moved out: alive", func(c storage.Citizen) storage.Citizen { c.Status = storage.StatusMoved; return c }, "is_alive", true},
		{"deceased", func(c storage.Citizen) storage.Citizen { c.Status = storage.StatusDeceased; return c }, "is_alive", false},
		{"struck off: uncertain", func(c storage.Citizen) storage.Citizen { c.Status = storage.StatusStruckOff; return c }, "is_alive", nil},
		{"category 1: Thai", nil, "is_thai_national", true},
		{"category 3: Thai", func(c storage.Citizen) storage.Citizen { c.PID = "3100100000090"; return c }, "is_thai_national", true},
		{"category 6: not Thai", func(c storage.Citizen) storage.Citizen { c.PID = "6100100000000"; return c }, "is_thai_national", false},
		{"category 8: uncertain", func(c storage.Citizen) storage.Citizen { c.PID = "8400100000063"; return c }, "is_thai_national", nil},
		{"province only", nil, "province", "เชียงใหม่"},
		{"no province", func(c storage.Citizen) storage.Citizen { c.Address.Province = ""; return c }, "province", nil},
		{"raw claim is not derived", nil, "birthdate", nil},
		{"age_over_020 is not a claim", nil, "age_over_020", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := adult
			if tt.c != nil {
				c = tt.c(c)
			}
			got, ok := storage.DerivedValue(c, tt.claim, now)
			if ok != (tt.want != nil) || got != tt.want {
				t.Errorf("DerivedValue(%s) = %v, %v; want %v", tt.claim, got, ok, tt.want)
			}
		})
	}
}

func TestClaimNamesDerived(t *testing.T) {
	for _, tt := range []struct {
		claim string
		want  bool
	}{
		{"age_over_1", true}, {"age_over_20", true}, {"age_over_120", true},
		{"age_over_0", false}, {"age_over_121", false}, {"age_over_020", false}, {"age_over_", false},
		{"age_over_+2", false}, {"is_alive", true}, {"is_thai_national", true}, {"province", true},
		{"birthdate", true}, {"age_over", false}, {"region", false},
	} {
		if got := storage.IsClaim(tt.claim); got != tt.want {
			t.Errorf("IsClaim(%q) = %v, want %v", tt.claim, got, tt.want)
		}
	}
	got := storage.SortClaims([]string{"province", "age_over_60", "birthdate", "age_over_18", "pid", "bogus", "age_over_18"})
	if want := []string{"pid", "birthdate", "age_over_18", "age_over_60", "province"}; !slices.Equal(got, want) {
		t.Errorf("SortClaims = %v, want %v", got, want)
	}
	got = storage.ScopeClaims([]string{"openid", "age_over_20", "profile", "province", "purpose:x"})
	if !slices.Contains(got, "age_over_20") || !slices.Contains(got, "province") || !slices.Contains(got, "birthdate") {
		t.Errorf("ScopeClaims = %v, want the derived scopes' claims beside profile's", got)
	}
}
