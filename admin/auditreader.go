package admin

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/dopaid/dopaid/audit"
	"github.com/dopaid/dopaid/storage"
)

// The readers of the audit trail (issue 9, item 8): DOPA staff read,
// filter, page and export all of it; an agency's supervisors the same for
// their own agency's entries, refusals included. Citizens appear by
// pseudonym — their internal ID, which the trail already names them by and
// which says nothing of the person; only DOPA staff can turn a national ID
// number from a complaint into it (CitizenPseudonym), and that lookup is
// audited like every read and export of the trail.

// Audit reader limits.
const (
	defaultAuditPage = 50
	maxAuditPage     = 500
	auditExportBatch = 500
)

// AuditQuery is a reader's filter of the trail and the page to show.
type AuditQuery struct {
	AgencyID string
	PermitID string
	ClientID string
	// Citizen is the citizen's pseudonym (storage.AuditEntry.CitizenID).
	Citizen string
	Type    string // a storage.Audit* type
	Outcome string // "success" or "failure"
	// Since and Until bound the entries' time: Since ≤ At < Until.
	Since time.Time
	Until time.Time
	// Cursor names the page: "" the newest entries; "b" and a Seq, the
	// entries before it (older); "a" and a Seq, those after it (newer).
	// Pages are keyed on Seq, which never changes (storage.AuditFilter).
	Cursor string
	Limit  int
}

// auditTypes are the types a reader may filter by.
var auditTypes = []string{
	storage.AuditTokenIssued, storage.AuditUserinfo, storage.AuditIntrospection, storage.AuditConsentGiven,
	storage.AuditConsentWithdrawn, storage.AuditSignIn, storage.AuditProofing, storage.AuditAdmin,
	storage.AuditPermitDecision, storage.AuditSignOut, storage.AuditAuthorization, storage.AuditRevocation,
	storage.AuditBackchannelLogout,
}

// auditOutcomes are the outcomes a reader may filter by.
var auditOutcomes = []string{"success", "failure"}

// ParseAuditQuery reads a query from a URL's parameters (agency, permit,
// client, citizen, type, outcome, since, until, cursor, limit), naming
// every bad one in a *ValidationError. Times are RFC 3339, or a date
// (YYYY-MM-DD, a whole day) or a local time (YYYY-MM-DDTHH:MM) in
// Thailand's time, as the console's form sends them.
func ParseAuditQuery(v url.Values) (AuditQuery, error) {
	fields := map[string]string{}
	for name := range v {
		if !slices.Contains([]string{"agency", "permit", "client", "citizen", "type", "outcome", "since", "until", "cursor", "limit"}, name) {
			fields[name] = "unknown parameter"
		} else if len(v[name]) > 1 {
			fields[name] = "give it once"
		}
	}
	id := func(name string) string {
		s := strings.TrimSpace(v.Get(name))
		if len(s) > 128 || strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }) >= 0 {
			fields[name] = "must be an identifier (at most 128 characters, no spaces)"
			return ""
		}
		return s
	}
	q := AuditQuery{AgencyID: id("agency"), PermitID: id("permit"), ClientID: id("client"), Citizen: id("citizen"),
		Type: v.Get("type"), Outcome: v.Get("outcome"), Cursor: v.Get("cursor"), Limit: defaultAuditPage}
	if q.Citizen != "" && storage.ValidPID(q.Citizen) {
		// An ID number would be looked up by whoever reads the trail, and
		// end up in the read's own entry: the lookup is separate, for DOPA
		// staff only.
		fields["citizen"] = "give the citizen's pseudonym, not the ID number (DOPA staff can look it up)"
		q.Citizen = ""
	}
	if q.Type != "" && !slices.Contains(auditTypes, q.Type) {
		fields["type"] = "must be one of " + strings.Join(auditTypes, ", ")
	}
	if q.Outcome != "" && !slices.Contains(auditOutcomes, q.Outcome) {
		fields["outcome"] = "must be success or failure"
	}
	var err error
	if q.Since, err = parseAuditTime(v.Get("since"), false); err != nil {
		fields["since"] = err.Error()
	}
	if q.Until, err = parseAuditTime(v.Get("until"), true); err != nil {
		fields["until"] = err.Error()
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		fields["until"] = "must be after since"
	}
	if _, _, ok := parseCursor(q.Cursor); !ok {
		fields["cursor"] = "not a cursor of this trail: follow the next and previous links"
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxAuditPage {
			fields["limit"] = fmt.Sprintf("must be an integer from 1 to %d", maxAuditPage)
		}
		q.Limit = n
	}
	if len(fields) > 0 {
		return AuditQuery{}, &ValidationError{Fields: fields}
	}
	return q, nil
}

// parseAuditTime reads a bound of the time range; a date that ends the
// range (until) includes its whole day.
func parseAuditTime(s string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04", s, thaiTime); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, thaiTime); err == nil {
		if end {
			t = t.AddDate(0, 0, 1)
		}
		return t.UTC(), nil
	}
	return time.Time{}, errors.New("must be a time like 2026-01-31T09:00:00+07:00, 2026-01-31T09:00 or 2026-01-31")
}

// thaiTime is Thailand's time (no daylight saving time).
var thaiTime = time.FixedZone("ICT", 7*60*60)

// parseCursor reads a cursor: before (older than) or after (newer than)
// seq; "" is the newest page.
func parseCursor(c string) (before bool, seq int64, ok bool) {
	if c == "" {
		return true, 0, true
	}
	if len(c) < 2 || (c[0] != 'a' && c[0] != 'b') {
		return false, 0, false
	}
	n, err := strconv.ParseInt(c[1:], 10, 64)
	if err != nil || n < 1 || strconv.FormatInt(n, 10) != c[1:] {
		return false, 0, false
	}
	return c[0] == 'b', n, true
}

// Values returns the query's filter as URL parameters, without the
// cursor: next and previous links add theirs, exports use it as is.
func (q AuditQuery) Values() url.Values {
	v := url.Values{}
	for _, p := range []struct{ name, val string }{
		{"agency", q.AgencyID}, {"permit", q.PermitID}, {"client", q.ClientID}, {"citizen", q.Citizen},
		{"type", q.Type}, {"outcome", q.Outcome},
	} {
		if p.val != "" {
			v.Set(p.name, p.val)
		}
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.UTC().Format(time.RFC3339))
	}
	if q.Limit != 0 && q.Limit != defaultAuditPage {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// AuditPage is one page of the trail, newest first. Next (older entries)
// and Prev (newer ones) are cursors for AuditQuery, "" where there is no
// such page. Entries not yet integrated have Seq 0.
type AuditPage struct {
	Entries []storage.AuditEntry
	Next    string
	Prev    string
}

// auditScope authorizes a reader of the trail and returns the store filter
// of the query: DOPA staff read every agency's entries, a supervisor only
// their own agency's (asking for another is refused and audited).
func (s *Service) auditScope(ctx context.Context, actor storage.Admin, q AuditQuery, ev *event) (storage.AuditFilter, error) {
	a, err := s.authorize(ctx, actor, readers...)
	if err != nil {
		return storage.AuditFilter{}, err
	}
	if a.Role == storage.RoleSupervisor && q.AgencyID == "" {
		q.AgencyID = a.AgencyID
	}
	ev.agencyID, ev.permitID, ev.clientID = q.AgencyID, q.PermitID, q.ClientID
	if a.Role == storage.RoleSupervisor && (q.AgencyID == "" || !mayReadAgency(a, q.AgencyID)) {
		return storage.AuditFilter{}, ErrForbidden
	}
	f := storage.AuditFilter{AgencyID: q.AgencyID, PermitID: q.PermitID, ClientID: q.ClientID, CitizenID: q.Citizen,
		Outcome: q.Outcome, Since: q.Since, Until: q.Until}
	if q.Type != "" {
		f.Types = []string{q.Type}
	}
	return f, nil
}

// recordRead writes the entry of a read or an export of the trail, naming
// the citizen filtered by (their pseudonym), with the outcome err implies;
// a read whose entry cannot be written does not happen.
func (s *Service) recordRead(ctx context.Context, actor storage.Admin, ev event, citizen string, err error) error {
	e := s.entry(actor, ev, err)
	e.CitizenID = citizen
	if _, aerr := s.ps.AppendAudit(context.WithoutCancel(ctx), e); aerr != nil {
		s.log.ErrorContext(ctx, "admin: append audit entry", "action", ev.detail, "err", aerr)
		if err == nil {
			return errUnrecorded
		}
	}
	return err
}

// ReadAudit returns one page of the trail, newest first, filtered by q:
// DOPA staff read everything, an agency's supervisors their agency's
// entries (releases, refusals and every other entry naming the agency).
// Every read is audited, before the page is shown.
func (s *Service) ReadAudit(ctx context.Context, actor storage.Admin, q AuditQuery) (_ AuditPage, err error) {
	ev := event{detail: "read_audit"}
	var f storage.AuditFilter
	defer func() {
		if err != nil {
			err = s.recordRead(ctx, actor, ev, q.Citizen, err)
		}
	}()
	if f, err = s.auditScope(ctx, actor, q, &ev); err != nil {
		return AuditPage{}, err
	}
	before, seq, ok := parseCursor(q.Cursor)
	if !ok {
		return AuditPage{}, &ValidationError{Fields: map[string]string{"cursor": "not a cursor of this trail"}}
	}
	limit := q.Limit
	if limit < 1 || limit > maxAuditPage {
		limit = defaultAuditPage
	}
	var page AuditPage
	if !before {
		// Newer than seq: the oldest limit+1 of them, shown newest first.
		f.FromSeq, f.Limit = seq+1, limit+1
		es, err := s.ps.AuditEntries(ctx, f)
		if err != nil {
			return AuditPage{}, fmt.Errorf("list audit entries: %w", err)
		}
		// Entries not yet integrated come last and have no cursor: a page
		// of newer entries holds integrated ones only.
		es = slices.DeleteFunc(es, func(e storage.AuditEntry) bool { return e.Seq == 0 })
		if len(es) > limit {
			es = es[:limit]
			slices.Reverse(es)
			page = AuditPage{Entries: es, Prev: "a" + strconv.FormatInt(es[0].Seq, 10)}
			page.Next = "b" + strconv.FormatInt(es[len(es)-1].Seq, 10)
		} else {
			// The newest page: show it as such, with the entries
			// not yet integrated.
			before, seq = true, 0
		}
	}
	if before {
		f.FromSeq, f.Newest, f.Limit = 0, true, limit+1
		if seq > 0 {
			f.ToSeq = seq - 1
		}
		es, err := s.ps.AuditEntries(ctx, f)
		if err != nil {
			return AuditPage{}, fmt.Errorf("list audit entries: %w", err)
		}
		more := len(es) > limit
		if more {
			es = es[:limit]
		}
		page = AuditPage{Entries: es}
		if seq > 0 && len(es) > 0 {
			page.Prev = "a" + strconv.FormatInt(es[0].Seq, 10)
		}
		if more {
			// Continue below the oldest integrated entry; a page of
			// nothing but entries not yet integrated continues with the
			// newest integrated one.
			next := int64(math.MaxInt64)
			for _, e := range es {
				if e.Seq != 0 {
					next = e.Seq
				}
			}
			page.Next = "b" + strconv.FormatInt(next, 10)
		}
	}
	if page.Entries == nil {
		page.Entries = []storage.AuditEntry{}
	}
	if err := s.recordRead(ctx, actor, ev, q.Citizen, nil); err != nil {
		return AuditPage{}, err
	}
	return page, nil
}

// ExportedEntry is an entry of an export of the trail: integrated entries
// carry their receipt (the entry, its leaf index, its inclusion proof and
// the signed checkpoint of the export, audit.Receipt), which anyone can
// check offline against the log's published key; entries not yet in that
// checkpoint carry none (pending).
type ExportedEntry struct {
	storage.AuditEntry
	Receipt *audit.Receipt
}

// ExportAudit hands fn every entry matching q's filter (its cursor and
// limit aside) in log order, in batches, with receipts against the newest
// checkpoint, which it returns first through start ("" when the log has
// none yet). The export is audited before the first entry is read; an
// error of fn ends it.
func (s *Service) ExportAudit(ctx context.Context, actor storage.Admin, q AuditQuery, start func(checkpoint string) error, fn func(ExportedEntry) error) (err error) {
	ev := event{detail: "export_audit"}
	f, err := s.auditScope(ctx, actor, q, &ev)
	if err := s.recordRead(ctx, actor, ev, q.Citizen, err); err != nil {
		return err
	}
	head, err := s.ps.LogHead(ctx)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("read the log's head: %w", err)
	}
	if err := start(string(head.Checkpoint)); err != nil {
		return err
	}
	emit := func(es []storage.AuditEntry) error {
		for _, e := range es {
			x := ExportedEntry{AuditEntry: e}
			if e.Seq > 0 && e.Seq <= head.Size {
				rc, err := audit.ReceiptOf(ctx, s.ps, head, e)
				if err != nil {
					return fmt.Errorf("receipt of entry %d: %w", e.Seq, err)
				}
				x.Receipt = &rc
			}
			if err := fn(x); err != nil {
				return err
			}
		}
		return nil
	}
	// The entries of the checkpoint, page by page on Seq; then those after
	// it, integrated since or still waiting (at most about a second's).
	f.Limit, f.ToSeq = auditExportBatch, head.Size
	for from := int64(1); head.Size > 0 && from <= head.Size; {
		f.FromSeq = from
		es, err := s.ps.AuditEntries(ctx, f)
		if err != nil {
			return fmt.Errorf("list audit entries: %w", err)
		}
		if err := emit(es); err != nil {
			return err
		}
		if len(es) < f.Limit {
			break
		}
		from = es[len(es)-1].Seq + 1
	}
	f.Limit, f.ToSeq, f.FromSeq = 0, 0, head.Size+1
	es, err := s.ps.AuditEntries(ctx, f)
	if err != nil {
		return fmt.Errorf("list audit entries: %w", err)
	}
	return emit(es)
}

// CitizenPseudonym returns the pseudonym by which the trail names the
// citizen with that national ID number, for a DOPA auditor who has the
// number from a complaint (DOPA staff only; supervisors never see ID
// numbers they were not released). The lookup is audited, naming the
// citizen by pseudonym only.
func (s *Service) CitizenPseudonym(ctx context.Context, actor storage.Admin, pid string) (id string, err error) {
	ev := event{detail: "lookup_citizen"}
	defer func() { err = s.recordRead(ctx, actor, ev, id, err) }()
	if _, err := s.authorize(ctx, actor, staff...); err != nil {
		return "", err
	}
	pid = strings.TrimSpace(pid)
	if !storage.ValidPID(pid) {
		return "", &ValidationError{Fields: map[string]string{"pid": "must be a national ID number: 13 digits with a valid check digit"}}
	}
	c, err := s.store.CitizenByPID(ctx, pid)
	if err != nil {
		return "", notFound(err, "citizen", "")
	}
	return c.ID, nil
}
