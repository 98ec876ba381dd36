package admin

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/dopaid/dopaid/storage"
)

// Usage statements (clause 6: the agency bears the costs it causes DOPA):
// per agency, per permit and month, the sign-ins at its systems, the
// releases of personal data by claim, and the identity-proofing checks its
// systems asked for. They are counted from the audit trail's integrated
// entries only, up to a log size the statement names, so that every figure
// is as verifiable as the log: anyone holding the log's checkpoint of that
// size can recount it from an export. DOPA staff read every agency's; an
// agency's supervisors their own agency's. Every read and export is itself
// recorded.
//
// What counts:
//   - sign-ins: releases in tokens at the end of a code exchange
//     (token_issued, success, Detail storage.DetailSignIn);
//   - releases: every successful release (token_issued and userinfo), and by
//     claim, how many releases carried it;
//   - proofing checks: proofing entries (success or failure) that name one
//     of the agency's systems.

// UsageQuery selects a statement: an agency ("" = every agency, DOPA staff
// only) and a month in Thailand's time.
type UsageQuery struct {
	AgencyID string
	Month    time.Time // the first instant of the month, Thailand's time
}

// ParseUsageQuery reads agency and month (YYYY-MM, Gregorian; the current
// month when empty), naming every bad parameter in a *ValidationError.
func ParseUsageQuery(v url.Values, now time.Time) (UsageQuery, error) {
	fields := map[string]string{}
	for name := range v {
		if name != "agency" && name != "month" {
			fields[name] = "unknown parameter"
		} else if len(v[name]) > 1 {
			fields[name] = "give it once"
		}
	}
	q := UsageQuery{AgencyID: strings.TrimSpace(v.Get("agency"))}
	if len(q.AgencyID) > 128 || strings.IndexFunc(q.AgencyID, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }) >= 0 {
		fields["agency"] = "must be an identifier (at most 128 characters, no spaces)"
	}
	if m := strings.TrimSpace(v.Get("month")); m == "" {
		n := now.In(thaiTime)
		q.Month = time.Date(n.Year(), n.Month(), 1, 0, 0, 0, 0, thaiTime)
	} else if t, err := time.ParseInLocation("2006-01", m, thaiTime); err != nil || t.Year() < 2000 {
		fields["month"] = "must be a month like 2026-12"
	} else {
		q.Month = t
	}
	if len(fields) > 0 {
		return UsageQuery{}, &ValidationError{Fields: fields}
	}
	return q, nil
}

// UsageStatement is the usage of one month: a row per agency and permit.
type UsageStatement struct {
	Month string // YYYY-MM
	// Since and Until bound the entries' time: Since ≤ At < Until.
	Since, Until time.Time
	// LogSize is the size of the log the figures were counted in: entries
	// integrated later count in a later reading, never twice.
	LogSize int64
	// Checkpoint is the log's signed checkpoint of that size.
	Checkpoint string
	Rows       []UsageRow
}

// UsageRow is one agency's usage under one permit.
type UsageRow struct {
	AgencyID         string
	PermitID         string
	SignIns          int64
	Releases         int64
	ReleasesByClaim  map[string]int64
	ProofingChecks   int64
	ProofingFailures int64
}

const usageBatch = 1000

// Usage counts the statement of q from the integrated trail. The read is
// recorded before anything is counted; a read the trail cannot record does
// not happen.
func (s *Service) Usage(ctx context.Context, actor storage.Admin, q UsageQuery, export bool) (UsageStatement, error) {
	ev := event{detail: "read_usage", agencyID: q.AgencyID}
	if export {
		ev.detail = "export_usage"
	}
	a, err := s.authorize(ctx, actor, readers...)
	if err == nil && a.Role == storage.RoleSupervisor {
		if q.AgencyID == "" {
			q.AgencyID = a.AgencyID
			ev.agencyID = q.AgencyID
		}
		if q.AgencyID == "" || !mayReadAgency(a, q.AgencyID) {
			err = ErrForbidden
		}
	}
	if q.Month.IsZero() && err == nil {
		err = &ValidationError{Fields: map[string]string{"month": "must be a month like 2026-12"}}
	}
	if err := s.recordRead(ctx, actor, ev, "", err); err != nil {
		return UsageStatement{}, err
	}
	head, err := s.ps.LogHead(ctx)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return UsageStatement{}, fmt.Errorf("read the log's head: %w", err)
	}
	st := UsageStatement{Month: q.Month.Format("2006-01"), Since: q.Month.UTC(), Until: q.Month.AddDate(0, 1, 0).UTC(),
		LogSize: head.Size, Checkpoint: string(head.Checkpoint), Rows: []UsageRow{}}
	// Proofing entries name the system the citizen was signing in to, not
	// its permit: the registered systems say whose it is.
	clients, err := s.ps.Clients(ctx)
	if err != nil {
		return UsageStatement{}, fmt.Errorf("list systems: %w", err)
	}
	permitOf := map[string]string{}
	for _, c := range clients {
		permitOf[c.ID] = c.PermitID
	}
	agencyOf := map[string]string{}
	rows := map[[2]string]*UsageRow{}
	row := func(agency, permit string) *UsageRow {
		k := [2]string{agency, permit}
		if rows[k] == nil {
			rows[k] = &UsageRow{AgencyID: agency, PermitID: permit, ReleasesByClaim: map[string]int64{}}
		}
		return rows[k]
	}
	f := storage.AuditFilter{Types: []string{storage.AuditTokenIssued, storage.AuditUserinfo, storage.AuditProofing},
		Since: st.Since, Until: st.Until, ToSeq: head.Size, Limit: usageBatch}
	for from := int64(1); head.Size > 0 && from <= head.Size; {
		f.FromSeq = from
		es, err := s.ps.AuditEntries(ctx, f)
		if err != nil {
			return UsageStatement{}, fmt.Errorf("list audit entries: %w", err)
		}
		for _, e := range es {
			if e.Seq == 0 || e.Redacted {
				continue
			}
			success := e.Outcome == "" || e.Outcome == "success"
			switch e.Type {
			case storage.AuditTokenIssued, storage.AuditUserinfo:
				if !success || e.AgencyID == "" {
					continue
				}
				agencyOf[e.PermitID] = e.AgencyID
				r := row(e.AgencyID, e.PermitID)
				r.Releases++
				for _, c := range e.Claims {
					r.ReleasesByClaim[c]++
				}
				if e.Type == storage.AuditTokenIssued && e.Detail == storage.DetailSignIn {
					r.SignIns++
				}
			case storage.AuditProofing:
				pm, agency := e.PermitID, e.AgencyID
				if pm == "" && e.ClientID != "" {
					pm = permitOf[e.ClientID]
				}
				if agency == "" && pm != "" {
					if agency = agencyOf[pm]; agency == "" {
						p, err := s.ps.Permit(ctx, pm)
						if err != nil && !errors.Is(err, storage.ErrNotFound) {
							return UsageStatement{}, fmt.Errorf("load permit: %w", err)
						}
						agency, agencyOf[pm] = p.AgencyID, p.AgencyID
					}
				}
				if agency == "" {
					continue // a proofing no system asked for
				}
				r := row(agency, pm)
				r.ProofingChecks++
				if !success {
					r.ProofingFailures++
				}
			}
		}
		if len(es) < f.Limit {
			break
		}
		from = es[len(es)-1].Seq + 1
	}
	for _, r := range rows {
		if q.AgencyID == "" || r.AgencyID == q.AgencyID {
			st.Rows = append(st.Rows, *r)
		}
	}
	slices.SortFunc(st.Rows, func(a, b UsageRow) int {
		return strings.Compare(a.AgencyID+"\x00"+a.PermitID, b.AgencyID+"\x00"+b.PermitID)
	})
	return st, nil
}

// apiUsage is a statement as the API and the JSON export give it.
type apiUsage struct {
	Month      string         `json:"month"`
	Since      time.Time      `json:"since"`
	Until      time.Time      `json:"until"`
	LogSize    int64          `json:"log_size"`
	Checkpoint string         `json:"checkpoint"`
	Rows       []apiUsageRow  `json:"rows"`
	Totals     apiUsageTotals `json:"totals"`
}

type apiUsageRow struct {
	AgencyID         string           `json:"agency_id"`
	PermitID         string           `json:"permit_id"`
	SignIns          int64            `json:"sign_ins"`
	Releases         int64            `json:"releases"`
	ReleasesByClaim  map[string]int64 `json:"releases_by_claim"`
	ProofingChecks   int64            `json:"proofing_checks"`
	ProofingFailures int64            `json:"proofing_failures"`
}

type apiUsageTotals struct {
	SignIns        int64 `json:"sign_ins"`
	Releases       int64 `json:"releases"`
	ProofingChecks int64 `json:"proofing_checks"`
}

func toAPIUsage(st UsageStatement) apiUsage {
	out := apiUsage{Month: st.Month, Since: st.Since, Until: st.Until, LogSize: st.LogSize, Checkpoint: st.Checkpoint, Rows: []apiUsageRow{}}
	for _, r := range st.Rows {
		out.Rows = append(out.Rows, apiUsageRow(r))
		out.Totals.SignIns += r.SignIns
		out.Totals.Releases += r.Releases
		out.Totals.ProofingChecks += r.ProofingChecks
	}
	return out
}

// writeUsageCSV writes a statement as CSV, one figure a line: agency,
// permit, measure (sign_ins, releases, releases_of_claim with its claim,
// proofing_checks, proofing_failures) and count, each line with the month
// and the log size it was counted in.
func writeUsageCSV(w http.ResponseWriter, st UsageStatement) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"month", "log_size", "agency_id", "permit_id", "measure", "claim", "count"})
	size := strconv.FormatInt(st.LogSize, 10)
	line := func(r UsageRow, measure, claim string, n int64) {
		cw.Write([]string{st.Month, size, csvCell(r.AgencyID), csvCell(r.PermitID), measure, csvCell(claim), strconv.FormatInt(n, 10)})
	}
	for _, r := range st.Rows {
		line(r, "sign_ins", "", r.SignIns)
		line(r, "releases", "", r.Releases)
		claims := make([]string, 0, len(r.ReleasesByClaim))
		for c := range r.ReleasesByClaim {
			claims = append(claims, c)
		}
		slices.Sort(claims)
		for _, c := range claims {
			line(r, "releases_of_claim", c, r.ReleasesByClaim[c])
		}
		line(r, "proofing_checks", "", r.ProofingChecks)
		line(r, "proofing_failures", "", r.ProofingFailures)
	}
	cw.Flush()
	return cw.Error()
}

// serveUsage answers a statement in format ("" for the API's JSON, "json"
// or "csv" for an export, a download); fail answers a refusal.
func (h *Handler) serveUsage(w http.ResponseWriter, r *http.Request, format string, fail func(http.ResponseWriter, *http.Request, error)) {
	a, _ := adminFrom(r.Context())
	q, err := ParseUsageQuery(r.URL.Query(), h.now())
	if err != nil {
		fail(w, r, err)
		return
	}
	st, err := h.svc.Usage(r.Context(), a, q, format != "")
	if err != nil {
		fail(w, r, err)
		return
	}
	if format == "" {
		writeJSON(w, http.StatusOK, toAPIUsage(st))
		return
	}
	name := "dopaid-usage-" + st.Month
	if q.AgencyID != "" {
		name += "-" + strings.Map(func(r rune) rune {
			if r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-') {
				return r
			}
			return '_'
		}, q.AgencyID)
	}
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+"."+format+`"`)
	if format == "json" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		json.NewEncoder(w).Encode(toAPIUsage(st))
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	if err := writeUsageCSV(w, st); err != nil {
		h.log.ErrorContext(r.Context(), "admin: export usage", "err", err)
	}
}

func (h *Handler) apiUsage(format string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h.serveUsage(w, r, format, func(w http.ResponseWriter, r *http.Request, err error) {
			var ve *ValidationError
			if errors.As(err, &ve) {
				// Bad parameters, as the trail's readers answer them.
				writeError(w, http.StatusBadRequest, apiError{Error: errInvalidRequest, Description: "the statement's parameters are not valid", Fields: ve.Fields})
				return
			}
			h.apiFail(w, r, err)
		})
	}
}

func (h *Handler) usageExport(format string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h.serveUsage(w, r, format, func(w http.ResponseWriter, r *http.Request, err error) { h.usagePage(w, r) })
	}
}

// The console's usage page: #usage-form with #usage-agency, #usage-month,
// #usage-show; #usage-rows with rows #usage-row-{n} (cells .sign-ins,
// .releases, .claims, .proofing) or #no-usage; #usage-export-csv,
// #usage-export-json; #usage-log-size.

// usageText is the page's wording (kept here, beside the page).
var usageText = map[string]map[string]string{
	"th": {"title": "สรุปการใช้งานรายเดือน", "intro": "นับจากบันทึกการตรวจสอบที่รวมเข้าล็อกแล้วเท่านั้น (ข้อ 6: หน่วยงานรับผิดชอบค่าใช้จ่ายที่ก่อให้เกิดแก่กรมการปกครอง)",
		"agency": "หน่วยงาน", "month": "เดือน (ค.ศ. ปปปป-ดด)", "show": "แสดง", "permit": "หนังสืออนุญาต", "signins": "การเข้าสู่ระบบ",
		"releases": "การเปิดเผยข้อมูล", "claims": "ตามรายการข้อมูล", "proofing": "การพิสูจน์ตัวตน", "none": "ไม่มีการใช้งานในเดือนนี้",
		"csv": "ส่งออก CSV", "json": "ส่งออก JSON", "logsize": "นับจากล็อกขนาด"},
	"en": {"title": "Monthly usage statement", "intro": "Counted from the audit log's integrated entries only (clause 6: the agency bears the costs it causes DOPA).",
		"agency": "Agency", "month": "Month (YYYY-MM)", "show": "Show", "permit": "Permit", "signins": "Sign-ins",
		"releases": "Releases", "claims": "By claim", "proofing": "Proofing checks", "none": "No usage in this month.",
		"csv": "Export CSV", "json": "Export JSON", "logsize": "Counted in the log of size"},
}

// usageLine is a row as the page shows it.
type usageLine struct {
	UsageRow
	N      int
	Claims string
}

func (h *Handler) usagePage(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	v := r.URL.Query()
	p := h.newPage(w, r, "usage")
	data := map[string]any{"L": usageText[p.Lang], "Agency": v.Get("agency"), "Month": v.Get("month"), "Rows": []usageLine{}}
	p.Data = data
	q, err := ParseUsageQuery(v, h.now())
	if err == nil {
		var st UsageStatement
		if st, err = h.svc.Usage(r.Context(), a, q, false); err == nil {
			lines := make([]usageLine, 0, len(st.Rows))
			for i, row := range st.Rows {
				claims := make([]string, 0, len(row.ReleasesByClaim))
				for c, n := range row.ReleasesByClaim {
					claims = append(claims, c+" "+strconv.FormatInt(n, 10))
				}
				slices.Sort(claims)
				lines = append(lines, usageLine{UsageRow: row, N: i, Claims: strings.Join(claims, ", ")})
			}
			data["Rows"], data["Month"], data["LogSize"] = lines, st.Month, st.LogSize
			if a.Role == storage.RoleSupervisor && data["Agency"] == "" {
				data["Agency"] = a.AgencyID
			}
			ex := url.Values{"month": {st.Month}}
			if q.AgencyID != "" {
				ex.Set("agency", q.AgencyID)
			}
			data["ExportCSV"] = Path + "/usage/export.csv?" + ex.Encode()
			data["ExportJSON"] = Path + "/usage/export.json?" + ex.Encode()
			h.render(w, r, http.StatusOK, "usage.html", p)
			return
		}
	}
	// Fields by the page's labels (usageText); unknown parameters by name.
	if status, ok := refusal(&p, err, func(k string) string { return labelOf(usageText[p.Lang], "", k) }); ok {
		h.render(w, r, status, "usage.html", p)
		return
	}
	h.internal(w, r, err)
}
