package login

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

	"github.com/dopaid/dopaid/audit"
	"github.com/dopaid/dopaid/storage"
)

// The citizen's portal, "my data" (clause 8; PDPA s.19 and s.39): the
// agencies the citizen has consented to, with a withdrawal as easy as the
// consent was; every release of their data, from the audit trail, to read
// and to download; and their sign-on sessions. The citizen is always whoever
// the browser's session says, never a form field or a path segment: a
// consent or session that is not theirs is simply not found.

// mePath is the portal's address.
const mePath = Path + "/me"

// Release history limits: the page shows the newest historyPageLimit; a
// download carries up to historyDownloadLimit.
const (
	historyPageLimit     = 200
	historyDownloadLimit = 10000
)

// releaseTypes are the audit entries that record a release of data.
var releaseTypes = []string{storage.AuditTokenIssued, storage.AuditUserinfo, storage.AuditIntrospection}

// portalNotices are the notices a redirect back to the portal may name;
// warn marks those that report a partial failure.
var portalNotices = map[string]bool{
	"withdrawn":             false,
	"withdrawn_unrecorded":  true,
	"withdrawn_not_revoked": true,
	"session_signed_out":    false,
	"signed_out_all":        false,
}

// bangkok is Thailand's time, which has no daylight saving time; a fixed
// zone needs no time zone database on the server.
var bangkok = time.FixedZone("ICT", 7*60*60)

var thaiMonths = [12]string{"มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน",
	"กรกฎาคม", "สิงหาคม", "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม"}

// formatDate writes a date as citizens read it: in Thai with the Buddhist
// Era year, in English with the Common Era year, in Thailand's time.
func formatDate(lang string, t time.Time) string {
	t = t.In(bangkok)
	if lang == "th" {
		return fmt.Sprintf("%d %s %d", t.Day(), thaiMonths[t.Month()-1], t.Year()+storage.BEOffset)
	}
	return t.Format("2 January 2006")
}

// formatDateTime is formatDate with the time of day.
func formatDateTime(lang string, t time.Time) string {
	if lang == "th" {
		return formatDate(lang, t) + " " + t.In(bangkok).Format("15:04") + " น."
	}
	return formatDate(lang, t) + ", " + t.In(bangkok).Format("15:04")
}

// when is a time on a page: the text to read and the machine-readable value
// of its <time datetime>.
type when struct {
	Text string
	ISO  string
}

func newWhen(lang string, t time.Time, withTime bool) when {
	// ISO 8601 in Thailand's time too (+07:00), like the downloads: one
	// time zone everywhere.
	w := when{Text: formatDate(lang, t), ISO: t.In(bangkok).Format(time.RFC3339)}
	if withTime {
		w.Text = formatDateTime(lang, t)
	}
	return w
}

type consentRow struct {
	RowID    string // consent-<purpose code>, stable for browser tests
	ID       string
	Agency   string
	Category string
	PermitNo string
	Purpose  string
	Claims   []string // plain language
	Given    when
}

type releaseRow struct {
	At      when
	Event   string
	Agency  string
	System  string
	Purpose string
	Claims  []string // plain language
	IAL     string
}

type sessionRow struct {
	Handle   string
	Current  bool
	Device   string // deviceName of its User-Agent; "" if unknown
	Created  when
	LastSeen when
}

type portalData struct {
	Notice   string
	Warn     bool
	Consents []consentRow
	Releases []releaseRow
	// More: the page shows only the newest releases; the downloads have more.
	More     bool
	Sessions []sessionRow
}

// portal shows the citizen's data, or the sign-in form without a session.
func (h *Handler) portal(w http.ResponseWriter, r *http.Request) {
	s, ok, err := h.session(r)
	if err != nil {
		h.internal(w, r, "load session", err)
		return
	}
	if !ok {
		h.renderPortalSignIn(w, r, http.StatusOK, refusal{})
		return
	}
	// Looking at one's data is activity: the session stays alive.
	now := h.now()
	idle := now.Add(h.cfg.SessionIdle)
	if idle.After(s.ExpiresAt) {
		idle = s.ExpiresAt
	}
	if err := h.cfg.Store.TouchSession(r.Context(), s.ID, idle, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.log.ErrorContext(r.Context(), "login: touch session", "err", err)
	}
	h.renderPortal(w, r, s, http.StatusOK, "")
}

func (h *Handler) renderPortalSignIn(w http.ResponseWriter, r *http.Request, status int, no refusal) {
	h.device(w, r)
	p := h.newPage(w, r, "")
	p.Next = mePath
	if no.msg != "" {
		p.Error = no.text(w, p)
		p.Fields = translated(p.T, no.fields)
		p.Form = map[string]string{"pid": storage.TruncateText(r.PostFormValue("pid"), 40)}
	}
	d := portalData{}
	d.Notice, d.Warn = notice(p, r)
	p.Data = d
	h.render(w, r, status, "portal_signin.html", p)
}

// notice returns the text of the notice the query names, if it is one of
// portalNotices.
func notice(p page, r *http.Request) (string, bool) {
	k := r.URL.Query().Get("notice")
	warn, ok := portalNotices[k]
	if !ok {
		return "", false
	}
	return p.T["notice_"+k], warn
}

func (h *Handler) renderPortal(w http.ResponseWriter, r *http.Request, s storage.Session, status int, errKey string) {
	ctx := r.Context()
	p := h.newPage(w, r, "")
	p.Next = mePath
	if errKey != "" {
		p.Error = p.T[errKey]
	}
	d := portalData{}
	d.Notice, d.Warn = notice(p, r)
	ps := h.cfg.Store
	n := newNames(ps)
	cs, err := ps.ConsentsByCitizen(ctx, s.Subject)
	if err != nil {
		h.internal(w, r, "list consents", err)
		return
	}
	seen := map[string]int{}
	for _, c := range cs {
		row, err := consentView(ctx, n, p.Lang, p.T, c)
		if err != nil {
			h.internal(w, r, "show consent", err)
			return
		}
		// Purpose codes are unique within a permit only: a second
		// agency's consent for the same code gets a suffix.
		if seen[c.Purpose]++; seen[c.Purpose] > 1 {
			row.RowID += "-" + strconv.Itoa(seen[c.Purpose])
		}
		d.Consents = append(d.Consents, row)
	}
	rs, err := h.releases(ctx, ps, n, s.Subject, p.Lang, historyPageLimit, false)
	if err != nil {
		h.internal(w, r, "list releases", err)
		return
	}
	d.More = len(rs) == historyPageLimit
	for _, rel := range rs {
		row := releaseRow{At: newWhen(p.Lang, rel.At, true), Event: p.T["event_"+rel.Event], Agency: rel.Agency,
			System: rel.System, Purpose: rel.PurposeDescription, Claims: claimText(p.T, rel.Claims), IAL: rel.IAL}
		if row.Purpose == "" {
			row.Purpose = rel.Purpose
		}
		d.Releases = append(d.Releases, row)
	}
	ss, err := h.cfg.Store.SessionsBySubject(ctx, s.Subject, h.now())
	if err != nil {
		h.internal(w, r, "list sessions", err)
		return
	}
	for _, x := range ss {
		d.Sessions = append(d.Sessions, sessionRow{
			Handle: h.sessionHandle(x.ID), Current: x.ID == s.ID, Device: deviceName(p.Lang, x.UserAgent),
			Created: newWhen(p.Lang, x.CreatedAt, true), LastSeen: newWhen(p.Lang, x.LastSeenAt, true),
		})
	}
	p.Data = d
	h.render(w, r, status, "portal.html", p)
}

// claimText describes claims in plain language.
func claimText(t map[string]string, claims []string) []string {
	out := make([]string, 0, len(claims))
	for _, c := range claims {
		if name, ok := strings.CutPrefix(c, "verified_claims."); ok {
			// Released inside verified_claims (release.VerifiedClaimName).
			out = append(out, fmt.Sprintf(t["claim_verified"], claimWords(t, name)))
			continue
		}
		out = append(out, claimWords(t, c))
	}
	return out
}

func consentView(ctx context.Context, n *names, lang string, t map[string]string, c storage.Consent) (consentRow, error) {
	ag, err := n.agency(ctx, c.AgencyID)
	if err != nil {
		return consentRow{}, err
	}
	pm, err := n.permit(ctx, c.PermitID)
	if err != nil {
		return consentRow{}, err
	}
	row := consentRow{
		RowID: "consent-" + c.Purpose, ID: c.ID, Agency: agencyName(lang, ag, c.AgencyID), Category: t["category_"+ag.Category],
		PermitNo: pm.Number, Purpose: purposeText(lang, pm, c.Purpose), Claims: claimText(t, c.Claims), Given: newWhen(lang, c.GivenAt, false),
	}
	return row, nil
}

func agencyName(lang string, a storage.Agency, id string) string {
	name := a.NameTH
	if lang == "en" && a.NameEN != "" {
		name = a.NameEN
	}
	if name == "" {
		return id
	}
	return name
}

// purposeText is the purpose in the agency's words, or its code when the
// permit no longer grants it.
func purposeText(lang string, pm storage.Permit, code string) string {
	pu, ok := pm.Purpose(code)
	if !ok {
		return code
	}
	if lang == "en" && pu.DescriptionEN != "" {
		return pu.DescriptionEN
	}
	if pu.DescriptionTH == "" {
		return code
	}
	return pu.DescriptionTH
}

// names looks up agencies, permits and systems once per request. A record
// that is gone (a system removed since) reads as the zero value.
type names struct {
	ps       Store
	agencies map[string]storage.Agency
	permits  map[string]storage.Permit
	systems  map[string]storage.Client
}

func newNames(ps Store) *names {
	return &names{ps: ps, agencies: map[string]storage.Agency{}, permits: map[string]storage.Permit{}, systems: map[string]storage.Client{}}
}

func lookup[T any](ctx context.Context, m map[string]T, id string, load func(context.Context, string) (T, error)) (T, error) {
	if v, ok := m[id]; ok || id == "" {
		return v, nil
	}
	v, err := load(ctx, id)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return v, err
	}
	m[id] = v
	return v, nil
}

func (n *names) agency(ctx context.Context, id string) (storage.Agency, error) {
	return lookup(ctx, n.agencies, id, n.ps.Agency)
}

func (n *names) permit(ctx context.Context, id string) (storage.Permit, error) {
	return lookup(ctx, n.permits, id, n.ps.Permit)
}

func (n *names) system(ctx context.Context, id string) (storage.Client, error) {
	return lookup(ctx, n.systems, id, n.ps.Client)
}

// releaseRecord is one release of the citizen's data as the downloads carry it:
// who received which claims (names, never values), for what, and when.
type releaseRecord struct {
	Seq                int64     `json:"seq"`
	At                 time.Time `json:"at"`
	Event              string    `json:"event"`
	AgencyID           string    `json:"agency_id"`
	Agency             string    `json:"agency"`
	PermitNumber       string    `json:"permit_number"`
	ClientID           string    `json:"client_id"`
	System             string    `json:"system"`
	Purpose            string    `json:"purpose"`
	PurposeDescription string    `json:"purpose_description"`
	Claims             []string  `json:"claims"`
	IAL                string    `json:"ial"`
	// ReceiptStatus is "included" when Receipt proves the release is in
	// the log (a C2SP tlog-proof: the entry, its inclusion proof and the
	// log's signed checkpoint, for `dopaid audit verify-receipt` with the
	// log key the provider publishes at /audit/key), "pending" while the
	// release waits for its place (about a second: download again).
	ReceiptStatus string `json:"receipt_status"`
	Receipt       string `json:"receipt,omitempty"`
	ReceiptNote   string `json:"receipt_note,omitempty"`
}

// pendingNote explains a release that has no receipt yet.
const pendingNote = "this release is not yet in the signed log (it takes about a second): download the file again in a moment to get its receipt"

// releases lists the citizen's releases from the audit trail, newest
// first, with names in the page's language.
// With receipts, each carries its receipt against the newest checkpoint,
// read after the entries so that it includes every one integrated then.
func (h *Handler) releases(ctx context.Context, ps Store, n *names, citizenID, lang string, limit int, receipts bool) ([]releaseRecord, error) {
	es, err := ps.AuditEntries(ctx, storage.AuditFilter{CitizenID: citizenID, Types: releaseTypes, Newest: true, Limit: limit})
	if err != nil {
		return nil, err
	}
	var head storage.LogHead
	if receipts {
		if head, err = ps.LogHead(ctx); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
	}
	out := make([]releaseRecord, 0, len(es))
	for _, e := range es {
		ag, err := n.agency(ctx, e.AgencyID)
		if err != nil {
			return nil, err
		}
		pm, err := n.permit(ctx, e.PermitID)
		if err != nil {
			return nil, err
		}
		c, err := n.system(ctx, e.ClientID)
		if err != nil {
			return nil, err
		}
		system := c.Name
		if system == "" {
			system = e.ClientID
		}
		claims := e.Claims
		if claims == nil {
			claims = []string{}
		}
		rel := releaseRecord{Seq: e.Seq, At: e.At.In(bangkok), Event: e.Type, AgencyID: e.AgencyID, Agency: agencyName(lang, ag, e.AgencyID),
			PermitNumber: pm.Number, ClientID: e.ClientID, System: system, Purpose: e.Purpose, Claims: claims, IAL: e.IAL}
		if e.Purpose != "" {
			if d := purposeText(lang, pm, e.Purpose); d != e.Purpose {
				rel.PurposeDescription = d
			}
		}
		if receipts {
			rc, err := audit.ReceiptOf(ctx, ps, head, e)
			switch {
			case errors.Is(err, audit.ErrNotIntegrated):
				rel.ReceiptStatus, rel.ReceiptNote = "pending", pendingNote
			case err != nil:
				return nil, err
			default:
				b, err := rc.MarshalText()
				if err != nil {
					return nil, err
				}
				rel.ReceiptStatus, rel.Receipt = "included", string(b)
			}
		}
		out = append(out, rel)
	}
	return out, nil
}

// history is the download of the release history, as JSON or CSV.
func (h *Handler) history(format string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := h.mine(w, r)
		if !ok {
			return
		}
		ctx := r.Context()
		rs, err := h.releases(ctx, h.cfg.Store, newNames(h.cfg.Store), s.Subject, lang(r), historyDownloadLimit, true)
		if err != nil {
			h.internal(w, r, "list releases", err)
			return
		}
		name := "dopaid-history-" + h.now().In(bangkok).Format("20060102") + "." + format
		hd := w.Header()
		hd.Set("Content-Disposition", `attachment; filename="`+name+`"`)
		if format == "json" {
			hd.Set("Content-Type", "application/json; charset=utf-8")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			if err := enc.Encode(rs); err != nil {
				h.log.ErrorContext(ctx, "login: write history", "err", err)
			}
			return
		}
		hd.Set("Content-Type", "text/csv; charset=utf-8")
		// The byte order mark tells spreadsheets the file is UTF-8, which
		// Thai names need.
		w.Write([]byte("\ufeff"))
		cw := csv.NewWriter(w)
		cw.Write([]string{"seq", "at", "event", "agency_id", "agency", "permit_number", "client_id", "system", "purpose", "purpose_description", "claims", "ial",
			"receipt_status", "receipt"})
		for _, rel := range rs {
			receipt := rel.Receipt
			if receipt == "" {
				receipt = rel.ReceiptNote
			}
			cw.Write([]string{strconv.FormatInt(rel.Seq, 10), rel.At.Format(time.RFC3339), rel.Event, cell(rel.AgencyID), cell(rel.Agency),
				cell(rel.PermitNumber), cell(rel.ClientID), cell(rel.System), cell(rel.Purpose), cell(rel.PurposeDescription),
				strings.Join(rel.Claims, " "), cell(rel.IAL), rel.ReceiptStatus, receipt})
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			h.log.ErrorContext(ctx, "login: write history", "err", err)
		}
	}
}

// cell keeps a CSV field from being read as a formula by a spreadsheet
// (names come from agencies' applications, not from us).
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// portalSignIn signs the citizen in to the portal, with the sign-in page's
// checks and throttle.
func (h *Handler) portalSignIn(w http.ResponseWriter, r *http.Request) {
	if !h.checkForm(r) {
		h.fail(w, r, http.StatusForbidden, "bad_input")
		return
	}
	_, no, err := h.signInCitizen(w, r, nil)
	if err != nil {
		h.internal(w, r, "portal sign in", err)
		return
	}
	if no.msg != "" {
		h.renderPortalSignIn(w, r, no.status, no)
		return
	}
	http.Redirect(w, r, mePath, http.StatusSeeOther)
}

// portalSession checks a portal POST: its CSRF token, then the session.
func (h *Handler) portalSession(w http.ResponseWriter, r *http.Request) (storage.Session, bool) {
	if !h.checkForm(r) {
		h.fail(w, r, http.StatusForbidden, "bad_input")
		return storage.Session{}, false
	}
	return h.mine(w, r)
}

// mine is the citizen signed on in this browser, for the citizen's pages.
// Without a session it sends the browser to the portal's sign-in; a store
// that cannot answer is an error page, not "signed out". ok false: the
// browser has its answer.
func (h *Handler) mine(w http.ResponseWriter, r *http.Request) (storage.Session, bool) {
	s, ok, err := h.session(r)
	if err != nil {
		h.internal(w, r, "load session", err)
		return storage.Session{}, false
	}
	if !ok {
		http.Redirect(w, r, mePath, http.StatusSeeOther)
		return storage.Session{}, false
	}
	return s, true
}

func backWith(w http.ResponseWriter, r *http.Request, noticeKey string) {
	http.Redirect(w, r, mePath+"?notice="+url.QueryEscape(noticeKey), http.StatusSeeOther)
}

// confirmWithdrawal asks the citizen to confirm a withdrawal, naming what
// it ends; the confirmation posts to withdrawConsent. Nothing changes here.
func (h *Handler) confirmWithdrawal(w http.ResponseWriter, r *http.Request) {
	s, ok := h.mine(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	cs, err := h.cfg.Store.ConsentsByCitizen(ctx, s.Subject)
	if err != nil {
		h.internal(w, r, "list consents", err)
		return
	}
	i := slices.IndexFunc(cs, func(c storage.Consent) bool { return c.ID == r.PathValue("id") })
	if i < 0 {
		h.renderPortal(w, r, s, http.StatusNotFound, "me_not_found")
		return
	}
	p := h.newPage(w, r, "")
	p.Next = mePath + "/consents/" + url.PathEscape(cs[i].ID) + "/withdraw"
	row, err := consentView(ctx, newNames(h.cfg.Store), p.Lang, p.T, cs[i])
	if err != nil {
		h.internal(w, r, "show consent", err)
		return
	}
	p.Data = row
	h.render(w, r, http.StatusOK, "withdraw.html", p)
}

// withdrawConsent withdraws one of the citizen's consents and at once
// revokes the tokens and refresh tokens the agency's systems hold for the
// citizen: withdrawing must stop the sharing, not only future consents.
func (h *Handler) withdrawConsent(w http.ResponseWriter, r *http.Request) {
	s, ok := h.portalSession(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	ps := h.cfg.Store
	now := h.now()
	// The withdrawal, the revocation of the grants issued under it and
	// its entry commit together: a withdrawal the trail cannot record is
	// not made (the citizen sees the error page and may try again).
	cs, err := ps.ConsentsByCitizen(ctx, s.Subject)
	if err != nil {
		h.internal(w, r, "list consents", err)
		return
	}
	i := slices.IndexFunc(cs, func(c storage.Consent) bool { return c.ID == r.PathValue("id") })
	if i < 0 {
		h.renderPortal(w, r, s, http.StatusNotFound, "me_not_found")
		return
	}
	e := storage.AuditEntry{At: now, Type: storage.AuditConsentWithdrawn, Actor: "citizen:" + s.Subject, CitizenID: s.Subject,
		AgencyID: cs[i].AgencyID, PermitID: cs[i].PermitID, Purpose: cs[i].Purpose, Claims: cs[i].Claims, Outcome: "success"}
	_, err = ps.WithdrawConsent(ctx, s.Subject, cs[i].ID, now, storage.Record{e})
	if errors.Is(err, storage.ErrNotFound) {
		h.renderPortal(w, r, s, http.StatusNotFound, "me_not_found")
		return
	}
	if err != nil {
		h.internal(w, r, "withdraw consent", err)
		return
	}
	backWith(w, r, "withdrawn")
}

// sessionHandle names a session on the page and in form actions without
// revealing its ID: a keyed hash, meaningful only with a session of the
// same citizen.
func (h *Handler) sessionHandle(id string) string {
	return mac(h.cfg.Envelope.DeriveKey("login session handle"), id)[:22]
}

// signOutSession ends one of the citizen's sessions, found by its handle
// among their own.
func (h *Handler) signOutSession(w http.ResponseWriter, r *http.Request) {
	s, ok := h.portalSession(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	ss, err := h.cfg.Store.SessionsBySubject(ctx, s.Subject, h.now())
	if err != nil {
		h.internal(w, r, "list sessions", err)
		return
	}
	n := r.PathValue("n")
	for _, x := range ss {
		if h.sessionHandle(x.ID) != n {
			continue
		}
		// Ended with its entry: unrecorded, the session stays.
		if err := h.endSession(ctx, x.ID, h.signedOut(s.Subject, "session")); err != nil {
			h.internal(w, r, "sign out session", err)
			return
		}
		if x.ID == s.ID {
			h.setCookie(w, "dopaid-session", "", -1, http.SameSiteLaxMode)
		}
		backWith(w, r, "session_signed_out")
		return
	}
	h.renderPortal(w, r, s, http.StatusNotFound, "me_not_found")
}

// signOutEverywhere ends every session of the citizen, this one included.
func (h *Handler) signOutEverywhere(w http.ResponseWriter, r *http.Request) {
	s, ok := h.portalSession(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	ss, err := h.cfg.Store.SessionsBySubject(ctx, s.Subject, h.now())
	if err != nil {
		h.internal(w, r, "list sessions", err)
		return
	}
	// The first session ends with the entry: unrecorded, the sessions stay.
	rec := h.signedOut(s.Subject, "everywhere")
	for _, x := range append(ss, s) {
		if err := h.endSession(ctx, x.ID, rec); err != nil {
			h.internal(w, r, "sign out everywhere", err)
			return
		}
		rec = nil
	}
	h.setCookie(w, "dopaid-session", "", -1, http.SameSiteLaxMode)
	backWith(w, r, "signed_out_all")
}
