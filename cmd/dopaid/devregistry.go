package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/dopaid/dopaid/storage"
)

// The development registry is synthetic: a few fixed demo citizens that the
// banner and the README list, then devRegistrySize generated ones, the same
// on every start (a fixed seed), so that re-seeding changes nothing. The ID
// numbers have valid check digits and may belong to real people: never send
// them to a live DOPA service.
const (
	devRegistrySize = 1000
	devRegistrySeed = 2568
	// devYear is "this year" of the generated registry (BE), fixed so that
	// the data does not depend on the day it is generated.
	devYear = 2568
)

// demoCitizen is a fixed citizen of the development registry.
type demoCitizen struct {
	PID                      string
	TitleTH, FirstTH, LastTH string
	MiddleTH                 string
	TitleEN, FirstEN, LastEN string
	MiddleEN                 string
	Sex                      int
	Birthdate                storage.BEDate
	LaserCode                string // as printed on the card
	CardIssued, CardExpires  storage.BEDate
	Address                  storage.Address
	Status, StatusDesc       string
	StatusAsOf               storage.BEDate
	// Note says what the citizen demonstrates.
	Note string
}

// demoCitizens come first in the development registry. Sign in with the
// ID number, the Thai (or English) first and last name, the birthdate and
// the laser code.
var demoCitizens = []demoCitizen{
	{
		PID: "1100100000018", TitleTH: "นาย", FirstTH: "สมชาย", LastTH: "ใจดี", TitleEN: "Mr.", FirstEN: "Somchai", LastEN: "Jaidee",
		Sex: storage.SexMale, Birthdate: storage.BEDate{Year: 2530, Month: 1, Day: 15}, LaserCode: "JT0-1234567-89",
		CardIssued: storage.BEDate{Year: 2564, Month: 1, Day: 15}, CardExpires: storage.BEDate{Year: 2572, Month: 1, Day: 14},
		Address: storage.Address{HouseNo: "99/1", Road: "หน้าพระลาน", Subdistrict: "พระบรมมหาราชวัง", District: "พระนคร", Province: "กรุงเทพมหานคร", PostalCode: "10200"},
		Status:  storage.StatusAlive, Note: "complete record, valid card",
	},
	{
		PID: "2500100000021", TitleTH: "นางสาว", FirstTH: "มาลี", LastTH: "ศรีสุข", TitleEN: "Miss", FirstEN: "Malee", LastEN: "Srisuk",
		Sex: storage.SexFemale, Birthdate: storage.BEDate{Year: 2535, Month: 12}, LaserCode: "ME1-2345678-90",
		CardIssued: storage.BEDate{Year: 2566, Month: 3, Day: 2}, CardExpires: storage.BEDate{Year: 2574, Month: 3, Day: 1},
		Address: storage.Address{HouseNo: "12", Road: "ราชดำเนิน", Subdistrict: "ศรีภูมิ", District: "เมืองเชียงใหม่", Province: "เชียงใหม่", PostalCode: "50200"},
		Status:  storage.StatusAlive, Note: "birth day unknown (25351200): any day of December 2535 matches",
	},
	{
		PID: "4500100000043", TitleTH: "นาง", FirstTH: "สมศรี", LastTH: "มีสุข", TitleEN: "Mrs.", FirstEN: "Somsri", LastEN: "Meesuk",
		Sex: storage.SexFemale, Birthdate: storage.BEDate{Year: 2495}, LaserCode: "KC4-5678901-23",
		CardIssued: storage.BEDate{Year: 2566, Month: 6, Day: 20}, CardExpires: storage.Lifetime(),
		Address: storage.Address{HouseNo: "45", Moo: "3", Subdistrict: "ริมใต้", District: "แม่ริม", Province: "เชียงใหม่", PostalCode: "50180"},
		Status:  storage.StatusAlive, Note: "only the birth year known (24950000); lifetime card",
	},
	{
		PID: "3100100000090", TitleTH: "นาย", FirstTH: "บุญมี", LastTH: "รักไทย", TitleEN: "Mr.", FirstEN: "Boonmee", LastEN: "Rakthai",
		Sex: storage.SexMale, Birthdate: storage.BEDate{Year: 2485, Month: 3, Day: 10}, LaserCode: "AB3-4567890-12",
		CardIssued: storage.BEDate{Year: 2560, Month: 5, Day: 9}, CardExpires: storage.Lifetime(),
		Address: storage.Address{HouseNo: "7", Road: "ราชดำเนินกลาง", Subdistrict: "ชนะสงคราม", District: "พระนคร", Province: "กรุงเทพมหานคร", PostalCode: "10200"},
		Status:  storage.StatusDeceased, StatusDesc: "ตาย", StatusAsOf: storage.BEDate{Year: 2566, Month: 5, Day: 1},
		Note: "deceased: can never sign in",
	},
	{
		PID: "5900100000056", TitleTH: "นาย", FirstTH: "วิชัย", LastTH: "ทองดี", TitleEN: "Mr.", FirstEN: "Wichai", LastEN: "Thongdee",
		Sex: storage.SexMale, Birthdate: storage.BEDate{Year: 2510, Month: 11, Day: 20}, LaserCode: "SK5-6789012-34",
		CardIssued: storage.BEDate{Year: 2563, Month: 11, Day: 20}, CardExpires: storage.BEDate{Year: 2571, Month: 11, Day: 19},
		Address: storage.Address{HouseNo: "150", Road: "ไทรบุรี", Subdistrict: "บ่อยาง", District: "เมืองสงขลา", Province: "สงขลา", PostalCode: "90000"},
		Status:  storage.StatusMoved, StatusDesc: "ย้ายออก", StatusAsOf: storage.BEDate{Year: 2567, Month: 8, Day: 15},
		Note: "moved out, not registered elsewhere yet",
	},
	{
		PID: "8400100000063", TitleTH: "นาย", FirstTH: "เดวิด", MiddleTH: "เจมส์", LastTH: "สมิธ", TitleEN: "Mr.", FirstEN: "David", MiddleEN: "James", LastEN: "Smith",
		Sex: storage.SexMale, Birthdate: storage.BEDate{Year: 2520, Month: 7, Day: 4}, LaserCode: "KK8-7890123-45",
		CardIssued: storage.BEDate{Year: 2558, Month: 7, Day: 4}, CardExpires: storage.BEDate{Year: 2566, Month: 7, Day: 3},
		Address: storage.Address{HouseNo: "88/8", Road: "มิตรภาพ", Subdistrict: "ในเมือง", District: "เมืองขอนแก่น", Province: "ขอนแก่น", PostalCode: "40000"},
		Status:  storage.StatusAlive, Note: "naturalised (category 8), middle name; card expired 25660703",
	},
}

// row is the demo citizen as a registry row.
func (d demoCitizen) row() storage.RegistryRow {
	laser, err := storage.NormalizeLaserCode(d.LaserCode)
	if err != nil {
		panic("demo citizen " + d.PID + ": " + err.Error())
	}
	return storage.RegistryRow{
		Citizen: storage.Citizen{
			PID:         d.PID,
			NameTH:      storage.Name{Title: d.TitleTH, First: d.FirstTH, Middle: d.MiddleTH, Last: d.LastTH},
			NameEN:      storage.Name{Title: d.TitleEN, First: d.FirstEN, Middle: d.MiddleEN, Last: d.LastEN},
			Birthdate:   d.Birthdate,
			Sex:         d.Sex,
			Address:     d.Address,
			CardIssued:  d.CardIssued,
			CardExpires: d.CardExpires,
			PhotoRef:    "dev-photo-" + d.PID[len(d.PID)-4:],
			Status:      d.Status,
			StatusDesc:  d.StatusDesc,
			StatusAsOf:  d.StatusAsOf,
		},
		LaserCode: laser,
	}
}

// writeDemoCitizens prints the demo citizens for the development banner.
// The Thai names come last: terminals disagree on their width.
func writeDemoCitizens(w io.Writer) {
	fmt.Fprintln(w, "Demo citizens (synthetic; birthdates are Buddhist Era YYYYMMDD, 00 = unknown):")
	for _, d := range demoCitizens {
		fmt.Fprintf(w, "  %s  born %s  laser %s  %s %s / %s %s %s — %s\n",
			storage.FormatPID(d.PID), d.Birthdate, d.LaserCode, d.TitleEN, d.FirstEN, d.TitleTH, d.FirstTH, d.LastTH, d.Note)
	}
	fmt.Fprintf(w, "  plus %d generated citizens\n", devRegistrySize)
}

// seedRegistry stores the development registry. It runs on every
// `serve --dev`; after the first time every record comes back unchanged.
// The rows go through the same reader and importer as an operator's file.
func (m *Main) seedRegistry(ctx context.Context) error {
	var b bytes.Buffer
	if err := storage.WriteRegistryCSV(&b, devRegistry()); err != nil {
		return err
	}
	rows, rowErrs, err := storage.ReadRegistryCSV(&b)
	if err != nil {
		return fmt.Errorf("development registry: %w", err)
	}
	if len(rowErrs) > 0 {
		errs := make([]error, len(rowErrs))
		for i, e := range rowErrs {
			errs[i] = e
		}
		return fmt.Errorf("development registry: %w", errors.Join(errs...))
	}
	res, err := m.importRegistry(ctx, rows)
	if err != nil {
		return fmt.Errorf("development registry: %w", err)
	}
	m.Logger.Info("development registry seeded", "citizens", len(rows), "created", res.Created, "updated", res.Updated, "unchanged", res.Unchanged)
	return nil
}

// devRegistry returns the demo citizens, then devRegistrySize generated
// ones, always the same.
func devRegistry() []storage.RegistryRow {
	rows := make([]storage.RegistryRow, 0, len(demoCitizens)+devRegistrySize)
	used := make(map[string]bool)
	for _, d := range demoCitizens {
		rows = append(rows, d.row())
		used[d.PID] = true
	}
	g := &devGenerator{r: rand.New(rand.NewPCG(devRegistrySeed, devRegistrySeed)), used: used}
	for i := range devRegistrySize {
		rows = append(rows, g.citizen(i))
	}
	return rows
}

// devGenerator makes plausible citizens.
type devGenerator struct {
	r    *rand.Rand
	used map[string]bool // ID numbers given out
}

// devName is a name in Thai with its usual romanisation.
type devName struct{ th, en string }

var (
	maleNames = []devName{
		{"สมชาย", "Somchai"}, {"สมศักดิ์", "Somsak"}, {"ประเสริฐ", "Prasert"}, {"วิชัย", "Wichai"}, {"สมพงษ์", "Sompong"},
		{"ธนากร", "Thanakorn"}, {"ณัฐพล", "Natthaphon"}, {"กิตติพงษ์", "Kittiphong"}, {"อนุชา", "Anucha"}, {"ชัยวัฒน์", "Chaiwat"},
		{"สุริยา", "Suriya"}, {"ปิยะ", "Piya"}, {"ธีรพงษ์", "Thiraphong"}, {"วีระ", "Wira"}, {"บุญมี", "Boonmee"},
	}
	femaleNames = []devName{
		{"สมศรี", "Somsri"}, {"มาลี", "Malee"}, {"สุดารัตน์", "Sudarat"}, {"วันเพ็ญ", "Wanphen"}, {"กาญจนา", "Kanchana"},
		{"ปราณี", "Pranee"}, {"อรุณี", "Arunee"}, {"ศิริพร", "Siriporn"}, {"ณัฐธิดา", "Natthida"}, {"พรทิพย์", "Phonthip"},
		{"รัตนา", "Rattana"}, {"นภา", "Napha"}, {"ปิยะนุช", "Piyanut"}, {"จันทร์เพ็ญ", "Chanphen"}, {"อำไพ", "Amphai"},
	}
	lastNames = []devName{
		{"ใจดี", "Jaidee"}, {"ศรีสุข", "Srisuk"}, {"รักไทย", "Rakthai"}, {"ทองดี", "Thongdee"}, {"มีสุข", "Meesuk"},
		{"แสงทอง", "Saengthong"}, {"บุญมา", "Boonma"}, {"สุขสวัสดิ์", "Suksawat"}, {"วงศ์ใหญ่", "Wongyai"}, {"พงษ์พันธ์", "Phongphan"},
		{"เพชรรัตน์", "Phetcharat"}, {"ชัยมงคล", "Chaimongkhon"}, {"ศรีวงศ์", "Sriwong"}, {"แก้วมณี", "Kaewmanee"}, {"สายทอง", "Saithong"},
		{"อินทร์แก้ว", "Inkaew"},
	}
)

// devSubdistrict is a tambon or khwaeng with its postal code.
type devSubdistrict struct{ name, postal string }

// devPlace is a registration office (digits 2–5 of the ID number: province
// and district code) with some of its district's addresses.
type devPlace struct {
	code         string // 4 digits
	province     string
	district     string
	bangkok      bool // khwaeng and khet, no moo
	subdistricts []devSubdistrict
	roads        []string
	weight       int
}

var devPlaces = []devPlace{
	{"1001", "กรุงเทพมหานคร", "พระนคร", true, []devSubdistrict{{"พระบรมมหาราชวัง", "10200"}, {"วังบูรพาภิรมย์", "10200"}, {"ชนะสงคราม", "10200"}}, []string{"ราชดำเนินกลาง", "พระอาทิตย์", "หน้าพระลาน"}, 4},
	{"1004", "กรุงเทพมหานคร", "บางรัก", true, []devSubdistrict{{"สีลม", "10500"}, {"สุริยวงศ์", "10500"}, {"มหาพฤฒาราม", "10500"}}, []string{"สีลม", "สุรวงศ์", "เจริญกรุง"}, 4},
	{"1007", "กรุงเทพมหานคร", "ปทุมวัน", true, []devSubdistrict{{"ลุมพินี", "10330"}, {"ปทุมวัน", "10330"}, {"รองเมือง", "10330"}}, []string{"พระรามที่ 1", "วิทยุ", "ราชดำริ"}, 4},
	{"1030", "กรุงเทพมหานคร", "จตุจักร", true, []devSubdistrict{{"จตุจักร", "10900"}, {"ลาดยาว", "10900"}, {"จอมพล", "10900"}}, []string{"พหลโยธิน", "วิภาวดีรังสิต", "ลาดพร้าว"}, 5},
	{"1039", "กรุงเทพมหานคร", "วัฒนา", true, []devSubdistrict{{"คลองเตยเหนือ", "10110"}, {"คลองตันเหนือ", "10110"}, {"พระโขนงเหนือ", "10110"}}, []string{"สุขุมวิท", "เพชรบุรีตัดใหม่"}, 5},
	{"1201", "นนทบุรี", "เมืองนนทบุรี", false, []devSubdistrict{{"บางกระสอ", "11000"}, {"ตลาดขวัญ", "11000"}}, []string{"งามวงศ์วาน", "ประชาราษฎร์", ""}, 4},
	{"2001", "ชลบุรี", "เมืองชลบุรี", false, []devSubdistrict{{"บางปลาสร้อย", "20000"}, {"มะขามหย่ง", "20000"}}, []string{"สุขุมวิท", ""}, 3},
	{"2004", "ชลบุรี", "บางละมุง", false, []devSubdistrict{{"หนองปรือ", "20150"}, {"นาเกลือ", "20150"}}, []string{"สุขุมวิท", "พัทยาสาย 2", ""}, 3},
	{"3001", "นครราชสีมา", "เมืองนครราชสีมา", false, []devSubdistrict{{"ในเมือง", "30000"}, {"โพธิ์กลาง", "30000"}}, []string{"มิตรภาพ", "ราชดำเนิน", ""}, 4},
	{"4001", "ขอนแก่น", "เมืองขอนแก่น", false, []devSubdistrict{{"ในเมือง", "40000"}, {"ศิลา", "40000"}}, []string{"มิตรภาพ", "ศรีจันทร์", ""}, 4},
	{"5001", "เชียงใหม่", "เมืองเชียงใหม่", false, []devSubdistrict{{"ศรีภูมิ", "50200"}, {"สุเทพ", "50200"}, {"ช้างคลาน", "50100"}}, []string{"ห้วยแก้ว", "ช้างคลาน", ""}, 4},
	{"5007", "เชียงใหม่", "แม่ริม", false, []devSubdistrict{{"ริมใต้", "50180"}, {"แม่สา", "50180"}}, []string{"โชตนา", ""}, 2},
	{"8301", "ภูเก็ต", "เมืองภูเก็ต", false, []devSubdistrict{{"ตลาดใหญ่", "83000"}, {"ตลาดเหนือ", "83000"}}, []string{"ถลาง", "เทพกระษัตรี", ""}, 2},
	{"9001", "สงขลา", "เมืองสงขลา", false, []devSubdistrict{{"บ่อยาง", "90000"}}, []string{"ไทรบุรี", ""}, 2},
	{"9011", "สงขลา", "หาดใหญ่", false, []devSubdistrict{{"หาดใหญ่", "90110"}, {"คอหงส์", "90110"}}, []string{"นิพัทธ์อุทิศ 1", "เพชรเกษม", ""}, 3},
}

var laserPrefixes = []string{"JT", "ME", "AB", "KC", "SK", "KK", "BT", "CM"}

func pickOne[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

func (g *devGenerator) place() devPlace {
	total := 0
	for _, p := range devPlaces {
		total += p.weight
	}
	n := g.r.IntN(total)
	for _, p := range devPlaces {
		if n < p.weight {
			return p
		}
		n -= p.weight
	}
	panic("unreachable")
}

// category picks the first digit of the ID number (DOMAIN.md): 1 for births
// registered on time since 2527 (1984), 3 for people in the house
// registers then, and now and then the others.
func (g *devGenerator) category(birthYear int) byte {
	n := g.r.IntN(100)
	if birthYear >= 2527 {
		switch {
		case n < 88:
			return '1'
		case n < 94:
			return '2'
		case n < 97:
			return '7'
		}
		return '5'
	}
	switch {
	case n < 80:
		return '3'
	case n < 88:
		return '4'
	case n < 94:
		return '5'
	case n < 97:
		return '8'
	}
	return '6'
}

// pid returns a new valid ID number for the category and office.
func (g *devGenerator) pid(category byte, office string) string {
	for {
		d := []byte{category}
		d = append(d, office...)
		for range 7 {
			d = append(d, byte('0'+g.r.IntN(10)))
		}
		d = append(d, pidCheckDigit(d))
		if s := string(d); !g.used[s] {
			g.used[s] = true
			return s
		}
	}
}

// pidCheckDigit is the 13th digit of an ID number (DOMAIN.md).
func pidCheckDigit(d []byte) byte {
	sum := 0
	for i := range 12 {
		sum += int(d[i]-'0') * (13 - i)
	}
	return byte('0' + (11-sum%11)%10)
}

// date returns a full date in the year.
func (g *devGenerator) date(year int) storage.BEDate {
	month := 1 + g.r.IntN(12)
	return storage.BEDate{Year: year, Month: month, Day: 1 + g.r.IntN(beDaysInMonth(year, month))}
}

func beDaysInMonth(beYear, month int) int {
	switch month {
	case 2:
		if y := beYear - storage.BEOffset; y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// citizen generates the i-th citizen.
func (g *devGenerator) citizen(i int) storage.RegistryRow {
	r := g.r
	age := r.IntN(96)
	born := g.date(devYear - age)
	p := g.place()
	sex := storage.SexMale + r.IntN(2)

	var first devName
	var titleTH, titleEN string
	switch {
	case sex == storage.SexMale && age < 15:
		first, titleTH, titleEN = pickOne(r, maleNames), "เด็กชาย", "Master"
	case sex == storage.SexMale:
		first, titleTH, titleEN = pickOne(r, maleNames), "นาย", "Mr."
	case age < 15:
		first, titleTH, titleEN = pickOne(r, femaleNames), "เด็กหญิง", "Miss"
	case age >= 20 && r.IntN(2) == 0:
		first, titleTH, titleEN = pickOne(r, femaleNames), "นาง", "Mrs."
	default:
		first, titleTH, titleEN = pickOne(r, femaleNames), "นางสาว", "Miss"
	}
	last := pickOne(r, lastNames)

	c := storage.Citizen{
		PID:       g.pid(g.category(born.Year), p.code),
		NameTH:    storage.Name{Title: titleTH, First: first.th, Last: last.th},
		NameEN:    storage.Name{Title: titleEN, First: first.en, Last: last.en},
		Birthdate: born,
		Sex:       sex,
		Status:    storage.StatusAlive,
	}
	// About 5% of birthdates lack the day, a third of those the month too.
	if r.IntN(100) < 5 {
		c.Birthdate.Day = 0
		if r.IntN(3) == 0 {
			c.Birthdate.Month = 0
		}
	}

	sd := pickOne(r, p.subdistricts)
	c.Address = storage.Address{
		HouseNo:     fmt.Sprint(1 + r.IntN(300)),
		Road:        pickOne(r, p.roads),
		Subdistrict: sd.name,
		District:    p.district,
		Province:    p.province,
		PostalCode:  sd.postal,
	}
	if r.IntN(3) == 0 {
		c.Address.HouseNo += fmt.Sprintf("/%d", 1+r.IntN(50))
	}
	if !p.bangkok && r.IntN(3) > 0 {
		c.Address.Moo = fmt.Sprint(1 + r.IntN(15))
	}
	if c.Address.Road != "" && r.IntN(3) == 0 {
		c.Address.Soi = fmt.Sprintf("%s %d", c.Address.Road, 1+r.IntN(40))
	}
	if r.IntN(50) == 0 {
		c.Address.Trok = fmt.Sprintf("ตรอก %d", 1+r.IntN(9))
	}

	// Since when: a date after birth, up to this year.
	since := func() storage.BEDate {
		y := born.Year + 1 + r.IntN(max(age, 1))
		return g.date(min(y, devYear))
	}
	switch n := r.IntN(1000); {
	case n < 20:
		c.Status, c.StatusDesc, c.StatusAsOf = storage.StatusDeceased, "ตาย", since()
	case n < 50:
		c.Status, c.StatusDesc, c.StatusAsOf = storage.StatusMoved, "ย้ายออก", since()
	case n < 55:
		c.Status, c.StatusDesc, c.StatusAsOf = storage.StatusStruckOff, "จำหน่าย", since()
	}

	row := storage.RegistryRow{Citizen: c}
	// A card from age 7: issued in the last nine years (some have expired),
	// valid eight, for life when issued at 70 or over.
	if age >= 7 {
		issuedAge := age - r.IntN(min(age-6, 9))
		issued := g.date(born.Year + issuedAge)
		row.Citizen.CardIssued = issued
		if issuedAge >= 70 {
			row.Citizen.CardExpires = storage.Lifetime()
		} else {
			exp := storage.BEDate{Year: issued.Year + 8, Month: issued.Month, Day: issued.Day - 1}
			if exp.Day == 0 {
				exp.Month--
				if exp.Month == 0 {
					exp.Year, exp.Month = exp.Year-1, 12
				}
				exp.Day = beDaysInMonth(exp.Year, exp.Month)
			}
			row.Citizen.CardExpires = exp
		}
		row.Citizen.PhotoRef = fmt.Sprintf("dev-photo-%05d", i)
		row.LaserCode = fmt.Sprintf("%s%d%09d", pickOne(r, laserPrefixes), r.IntN(10), r.IntN(1_000_000_000))
	}
	return row
}
