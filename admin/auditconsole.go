package admin

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/dopaid/dopaid/storage"
)

// The console's audit trail page (#audit-form and its fields
// #audit-agency, #audit-permit, #audit-client, #audit-citizen,
// #audit-type, #audit-outcome, #audit-since, #audit-until, #audit-limit,
// #audit-filter;
// #audit-entries with rows #audit-entry-{n}, or #no-audit-entries;
// #audit-prev, #audit-next, #audit-export-csv, #audit-export-json; for DOPA
// staff the lookup #citizen-lookup-form, #lookup-pid, #lookup-submit).

// auditForm is the filter form as the reader filled it in.
type auditForm struct {
	Agency, Permit, Client, Citizen, Type, Outcome, Since, Until, Limit string
}

// auditRow is an entry as the page shows it.
type auditRow struct {
	storage.AuditEntry
	N    int
	Leaf int64 // Seq-1; meaningless while pending
}

func (h *Handler) auditTrail(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	v := r.URL.Query()
	form := auditForm{Agency: v.Get("agency"), Permit: v.Get("permit"), Client: v.Get("client"), Citizen: v.Get("citizen"),
		Type: v.Get("type"), Outcome: v.Get("outcome"), Since: v.Get("since"), Until: v.Get("until"), Limit: v.Get("limit")}
	if storage.ValidPID(strings.TrimSpace(form.Citizen)) {
		// Never show an ID number back (ParseAuditQuery refuses it).
		form.Citizen = ""
	}
	if form.Limit == "" {
		form.Limit = strconv.Itoa(defaultAuditPage)
	}
	p := h.newPage(w, r, "audit")
	data := map[string]any{"Form": form, "Types": auditTypes, "Rows": []auditRow{}}
	p.Data = data
	q, err := ParseAuditQuery(v)
	var ve *ValidationError
	if errors.As(err, &ve) {
		// Bad filter input: say which field, read nothing.
		refusal(&p, err, fieldLabeller(p.T, auditLabels, nil))
		h.render(w, r, http.StatusBadRequest, "audit.html", p)
		return
	}
	page, err := h.svc.ReadAudit(r.Context(), a, q)
	if err != nil {
		if status, ok := refusal(&p, err, fieldLabeller(p.T, auditLabels, nil)); ok {
			h.render(w, r, status, "audit.html", p)
			return
		}
		h.internal(w, r, err)
		return
	}
	rows := make([]auditRow, 0, len(page.Entries))
	for i, e := range page.Entries {
		rows = append(rows, auditRow{AuditEntry: e, N: i, Leaf: e.Seq - 1})
	}
	data["Rows"] = rows
	data["Next"] = auditLink(Path+"/audit", q, page.Next)
	data["Prev"] = auditLink(Path+"/audit", q, page.Prev)
	export := q.Values()
	export.Del("limit")
	data["ExportCSV"] = Path + "/audit/export.csv?" + export.Encode()
	data["ExportJSON"] = Path + "/audit/export.json?" + export.Encode()
	h.render(w, r, http.StatusOK, "audit.html", p)
}

func (h *Handler) auditExport(format string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, _ := adminFrom(r.Context())
		q, err := ParseAuditQuery(r.URL.Query())
		if err != nil {
			h.auditTrail(w, r) // shows the form with what is wrong (400)
			return
		}
		h.exportAudit(w, r, a, q, format, h.fail)
	}
}

// lookupCitizen turns an ID number into the pseudonym and shows the trail
// filtered by it. The number travels in the form's body, never in a URL.
func (h *Handler) lookupCitizen(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	if err := r.ParseForm(); err != nil {
		h.consoleError(w, r, http.StatusBadRequest, "bad_input")
		return
	}
	id, err := h.svc.CitizenPseudonym(r.Context(), a, r.PostForm.Get("pid"))
	if err != nil {
		p := h.newPage(w, r, "audit")
		p.Data = map[string]any{"Form": auditForm{Limit: strconv.Itoa(defaultAuditPage)}, "Types": auditTypes, "Rows": []auditRow{}}
		if status, ok := refusal(&p, err, fieldLabeller(p.T, auditLabels, nil)); ok {
			h.render(w, r, status, "audit.html", p)
			return
		}
		h.internal(w, r, err)
		return
	}
	http.Redirect(w, r, Path+"/audit?"+url.Values{"citizen": {id}}.Encode(), http.StatusSeeOther)
}

// auditLabels name the audit filter's and the lookup's fields as the page
// labels them.
var auditLabels = map[string]string{"agency": "agency", "permit": "audit_permit", "client": "audit_client",
	"citizen": "audit_citizen", "type": "type", "outcome": "outcome", "since": "audit_since", "until": "audit_until",
	"limit": "audit_limit", "cursor": "audit_cursor", "pid": "audit_lookup_pid"}
