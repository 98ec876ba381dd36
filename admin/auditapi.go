package admin

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// The audit trail's readers over HTTP: the JSON API's GET /audit (a page),
// GET /audit/export.json and /audit/export.csv (the whole filtered range,
// streamed) and POST /audit/citizen-lookup; the console's pages share the
// exports' writers.

// apiAuditEntry is an entry of the trail as readers get it: the citizen by
// pseudonym, claims by name; its leaf index once integrated (status
// "integrated"), none while it waits (status "pending"); in a JSON export,
// its receipt.
type apiAuditEntry struct {
	LeafIndex *int64    `json:"leaf_index,omitempty"`
	Status    string    `json:"status"`
	ID        string    `json:"id"`
	At        time.Time `json:"at"`
	Type      string    `json:"type"`
	Actor     string    `json:"actor"`
	Citizen   string    `json:"citizen,omitempty"`
	AgencyID  string    `json:"agency_id,omitempty"`
	PermitID  string    `json:"permit_id,omitempty"`
	ClientID  string    `json:"client_id,omitempty"`
	Purpose   string    `json:"purpose,omitempty"`
	Claims    []string  `json:"claims"`
	IAL       string    `json:"ial,omitempty"`
	Outcome   string    `json:"outcome,omitempty"`
	Detail    string    `json:"detail,omitempty"`
	// Receipt is a C2SP tlog-proof of the entry against the export's
	// checkpoint, for `dopaid audit verify-receipt`.
	Receipt string `json:"receipt,omitempty"`
}

func toAPIAuditEntry(e storage.AuditEntry) apiAuditEntry {
	out := apiAuditEntry{Status: "pending", ID: e.ID, At: e.At.UTC(), Type: e.Type, Actor: e.Actor, Citizen: e.CitizenID,
		AgencyID: e.AgencyID, PermitID: e.PermitID, ClientID: e.ClientID, Purpose: e.Purpose, Claims: e.Claims,
		IAL: e.IAL, Outcome: e.Outcome, Detail: e.Detail}
	if out.Claims == nil {
		out.Claims = []string{}
	}
	if e.Seq > 0 {
		i := e.Seq - 1
		out.LeafIndex, out.Status = &i, "integrated"
	}
	return out
}

// apiAuditPage is a page of the trail, newest first; next and prev are
// the links to the older and newer pages, with the same filters.
type apiAuditPage struct {
	Entries []apiAuditEntry `json:"entries"`
	Next    string          `json:"next,omitempty"`
	Prev    string          `json:"prev,omitempty"`
}

// apiAuditExport is the JSON export (written as a stream): the checkpoint
// every receipt leads to, and the entries in log order.
type apiAuditExport struct {
	Checkpoint string          `json:"checkpoint"`
	Entries    []apiAuditEntry `json:"entries"`
}

type apiCitizenLookupRequest struct {
	PID string `json:"pid"`
}

type apiCitizenLookupResponse struct {
	Citizen string `json:"citizen"`
}

// auditLink is the link to a page of the trail at base with q's filters.
func auditLink(base string, q AuditQuery, cursor string) string {
	if cursor == "" {
		return ""
	}
	v := q.Values()
	v.Set("cursor", cursor)
	return base + "?" + v.Encode()
}

// parseAuditRequest reads the query of a reader's request, answering 400
// itself when it is bad.
func parseAuditRequest(w http.ResponseWriter, r *http.Request) (AuditQuery, bool) {
	q, err := ParseAuditQuery(r.URL.Query())
	var ve *ValidationError
	if errors.As(err, &ve) {
		writeError(w, http.StatusBadRequest, apiError{Error: errInvalidRequest, Description: "the filter is not valid", Fields: ve.Fields})
		return AuditQuery{}, false
	}
	return q, err == nil
}

func (h *Handler) apiAudit(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	q, ok := parseAuditRequest(w, r)
	if !ok {
		return
	}
	page, err := h.svc.ReadAudit(r.Context(), a, q)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	out := apiAuditPage{Entries: make([]apiAuditEntry, 0, len(page.Entries)),
		Next: auditLink(APIPath+"/audit", q, page.Next), Prev: auditLink(APIPath+"/audit", q, page.Prev)}
	for _, e := range page.Entries {
		out.Entries = append(out.Entries, toAPIAuditEntry(e))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) apiAuditExport(format string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, _ := adminFrom(r.Context())
		q, ok := parseAuditRequest(w, r)
		if !ok {
			return
		}
		h.exportAudit(w, r, a, q, format, h.apiFail)
	}
}

// exportAudit streams the export of q in format (csv or json); fail
// answers a refusal before the first byte. An error once the export has
// started aborts the response, so that a truncated file cannot pass for
// a whole one.
func (h *Handler) exportAudit(w http.ResponseWriter, r *http.Request, a storage.Admin, q AuditQuery, format string,
	fail func(http.ResponseWriter, *http.Request, error)) {
	started := false
	var cw *csv.Writer
	n := 0
	start := func(checkpoint string) error {
		started = true
		hd := w.Header()
		name := "dopaid-audit-" + h.now().In(thaiTime).Format("20060102-150405") + "." + format
		hd.Set("Content-Disposition", `attachment; filename="`+name+`"`)
		if format == "json" {
			hd.Set("Content-Type", "application/json; charset=utf-8")
			cp, _ := json.Marshal(checkpoint)
			_, err := io.WriteString(w, `{"checkpoint":`+string(cp)+`,"entries":[`)
			return err
		}
		hd.Set("Content-Type", "text/csv; charset=utf-8")
		cw = csv.NewWriter(w)
		return cw.Write([]string{"leaf_index", "status", "id", "at", "type", "actor", "citizen", "agency_id", "permit_id",
			"client_id", "purpose", "claims", "ial", "outcome", "detail"})
	}
	each := func(x ExportedEntry) error {
		e := toAPIAuditEntry(x.AuditEntry)
		if x.Receipt == nil && e.Status == "integrated" {
			// Integrated after the export's checkpoint: its receipt is
			// in the next export.
			e.Status = "pending"
		}
		if format == "json" {
			if x.Receipt != nil {
				b, err := x.Receipt.MarshalText()
				if err != nil {
					return err
				}
				e.Receipt = string(b)
			}
			b, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if n > 0 {
				io.WriteString(w, ",")
			}
			n++
			_, err = w.Write(append([]byte("\n"), b...))
			return err
		}
		idx := ""
		if e.LeafIndex != nil {
			idx = strconv.FormatInt(*e.LeafIndex, 10)
		}
		return cw.Write([]string{idx, e.Status, e.ID, e.At.Format(time.RFC3339Nano), e.Type, csvCell(e.Actor), csvCell(e.Citizen),
			csvCell(e.AgencyID), csvCell(e.PermitID), csvCell(e.ClientID), csvCell(e.Purpose), strings.Join(e.Claims, " "),
			e.IAL, e.Outcome, csvCell(e.Detail)})
	}
	err := h.svc.ExportAudit(r.Context(), a, q, start, each)
	if err == nil {
		if format == "json" {
			_, err = io.WriteString(w, "\n]}\n")
		} else {
			cw.Flush()
			err = cw.Error()
		}
	}
	if err == nil {
		return
	}
	if !started {
		fail(w, r, err)
		return
	}
	h.log.ErrorContext(r.Context(), "admin: export audit", "err", err)
	panic(http.ErrAbortHandler)
}

// csvCell keeps a CSV field from being read as a formula by a spreadsheet.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (h *Handler) apiCitizenLookup(w http.ResponseWriter, r *http.Request) {
	a, _ := adminFrom(r.Context())
	var req apiCitizenLookupRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	id, err := h.svc.CitizenPseudonym(r.Context(), a, req.PID)
	if err != nil {
		h.apiFail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, apiCitizenLookupResponse{Citizen: id})
}
