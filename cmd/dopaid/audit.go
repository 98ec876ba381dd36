package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/dopaid/dopaid/audit"
	"github.com/dopaid/dopaid/storage"
)

// The audit trail is package audit's verifiable log. This file only wires
// it: the server integrates entries, publishes checkpoints to a directory
// outside the database and to witnesses, and serves the newest checkpoint
// and the log's key; 'dopaid audit verify' and 'export' open the store and
// the published directory and call the package.

// integrateInterval is how often the integrator looks for new entries when
// nothing wakes it: writers wake it (auditWaker), so this is the fallback
// for a lost notification, well under a second, so that every entry is in a
// signed checkpoint within about a second of being written. A round that
// finds nothing costs one short transaction.
const integrateInterval = 200 * time.Millisecond

// errAuditBroken reports that verification failed; the failure itself has
// been printed.
var errAuditBroken = errors.New("the audit log does not verify")

// auditOrigin is the audit log's origin (the first line of its
// checkpoints) for an issuer: its host name and path, then "/audit". The
// port is left out, so that a server on a loopback address keeps its log
// across restarts on other ports.
func auditOrigin(issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Hostname() == "" {
		return "", fmt.Errorf("audit log origin: issuer %q has no host", issuer)
	}
	return u.Hostname() + strings.TrimSuffix(u.Path, "/") + "/audit", nil
}

// logStore is the store as the audit log needs it: storage.Store holds the
// log (storage.LogStore), so every backend does, checked by the compiler.
func (m *Main) logStore() (audit.Store, error) {
	return m.Store, nil
}

// auditLog is the server's side of the audit log.
type serverAuditLog struct {
	store      audit.Store
	key        *audit.Key
	integrator *audit.Integrator
	publisher  *audit.Publisher
	witnesses  *audit.WitnessClient // nil without --audit-witnesses
	waker      *auditWaker
}

// auditChannel is the PostgreSQL NOTIFY channel on which a replica that
// wrote audit entries wakes the other replicas' integrators (payload: the
// writer's tag, so that it ignores its own notifications).
const auditChannel = "dopaid_audit"

// auditWaker wakes integrators once entries are committed: this process's
// at once, and on PostgreSQL every replica's, by a NOTIFY sent after the
// writer's commit rather than in its transaction (PostgreSQL serializes the
// commits of all transactions that notify, under one lock: that would be a
// global lock again). NOTIFYs are coalesced: at most one in flight and one
// pending, however many entries are written meanwhile, and one per
// audit.DefaultMinGap (each is a transaction PostgreSQL commits with a WAL
// flush). The integrators' tick stays as the fallback for a lost
// notification.
type auditWaker struct {
	in      *audit.Integrator
	tag     string
	pending chan struct{} // nil without LISTEN/NOTIFY
}

func (w *auditWaker) wake() {
	w.in.Wake()
	select {
	case w.pending <- struct{}{}:
	default:
	}
}

// notifyLoop sends the pending NOTIFY until ctx ends.
func (w *auditWaker) notifyLoop(ctx context.Context, n notifier, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.pending:
		}
		sent := time.Now()
		if err := n.Notify(ctx, auditChannel, w.tag); err != nil && ctx.Err() == nil {
			log.WarnContext(ctx, "audit log: notify other replicas", "err", err)
		}
		// The other replicas' integrators cannot use more than one per
		// their round's gap anyway.
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(sent.Add(audit.DefaultMinGap))):
		}
	}
}

// heard wakes this process's integrator for another replica's entries.
func (w *auditWaker) heard(payload string) {
	if payload != w.tag {
		w.in.Wake()
	}
}

// openAuditLog loads (or, the first time, creates) the log key for the
// issuer, pins it in the publish directory, and readies the integrator, the
// publisher and the witness client.
func (m *Main) openAuditLog(ctx context.Context) error {
	ls, err := m.logStore()
	if err != nil {
		return err
	}
	origin, err := auditOrigin(m.URL)
	if err != nil {
		return err
	}
	key, err := audit.LoadKey(ctx, ls, m.Envelope, origin, m.now())
	if err != nil {
		return err
	}
	dir := m.Config.auditPublishDir()
	if err := audit.PinKey(dir, key.VerifierKey()); err != nil {
		return err
	}
	pub, err := audit.NewPublisher(dir, ls, key.Verifier())
	if err != nil {
		return err
	}
	l := &serverAuditLog{store: ls, key: key, publisher: pub,
		integrator: audit.NewIntegrator(ls, key, audit.IntegratorConfig{Now: m.Now, Log: m.Logger})}
	l.waker = &auditWaker{in: l.integrator, tag: rand.Text()}
	if m.notifier != nil {
		l.waker.pending = make(chan struct{}, 1)
	}
	// Both backends tell after a commit that wrote entries (the backend
	// itself, under any wrapper); a store a test opens otherwise may not,
	// and then the tick integrates.
	if h, ok := m.ops.(interface{ OnLogAppend(func()) }); ok {
		h.OnLogAppend(l.waker.wake)
	}
	if m.Config.AuditWitnesses != "" {
		ws, err := readWitnesses(m.Config.AuditWitnesses)
		if err != nil {
			return err
		}
		if l.witnesses, err = audit.NewWitnessClient(ls, key.Verifier(), ws, &http.Client{Timeout: 10 * time.Second}, dir, m.Logger); err != nil {
			return err
		}
	}
	m.audit = l
	return nil
}

func readWitnesses(file string) ([]audit.WitnessEndpoint, error) {
	b, err := readFile(file)
	if err != nil {
		return nil, fmt.Errorf("--audit-witnesses: %w", err)
	}
	var ws []audit.WitnessEndpoint
	if err := json.Unmarshal(b, &ws); err != nil {
		return nil, fmt.Errorf("--audit-witnesses %s: want a JSON list of {\"url\", \"key\"}: %w", file, err)
	}
	return ws, nil
}

func (m *Main) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// publishInterval is how often a replica publishes and sends to witnesses
// the heads that other replicas' integrators made.
const publishInterval = time.Second

// runAuditLog integrates, publishes and sends to witnesses until ctx ends:
// integrating whenever entries are written here or (PostgreSQL) another
// replica notifies auditChannel, and at least every integrateInterval;
// publishing after each of its own rounds that made a head, and every
// second for the heads of the other replicas.
func (m *Main) runAuditLog(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	if n := m.notifier; n != nil {
		wg.Go(func() { m.audit.waker.notifyLoop(ctx, n, m.Logger) })
		wg.Go(func() { _ = n.Listen(ctx, auditChannel, m.audit.waker.heard) })
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(publishInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			for _, f := range m.audit.afterIntegration() {
				if err := f(ctx); err != nil && ctx.Err() == nil {
					m.Logger.ErrorContext(ctx, "audit log: publish", "err", err)
				}
			}
		}
	}()
	if m.Config.AuditNoIntegrate {
		// Another replica integrates; this one publishes what it makes.
		<-ctx.Done()
	} else {
		tick := integrateInterval
		if m.auditTick > 0 {
			tick = m.auditTick
		}
		_ = m.audit.integrator.Run(ctx, tick, m.audit.afterIntegration()...)
	}
	<-done
}

func (l *serverAuditLog) afterIntegration() []func(context.Context) error {
	after := []func(context.Context) error{l.publisher.Publish}
	if l.witnesses != nil {
		after = append(after, l.witnesses.Send)
	}
	return after
}

// flushAuditLog integrates what is left and publishes it, once the server
// no longer writes.
func (m *Main) flushAuditLog() {
	if m.audit == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
	defer cancel()
	if !m.Config.AuditNoIntegrate { // else not this replica's to integrate
		if _, err := m.audit.integrator.Integrate(ctx); err != nil && !errors.Is(err, storage.ErrConflict) {
			m.Logger.ErrorContext(ctx, "audit log integration at shutdown", "err", err)
		}
	}
	for _, f := range m.audit.afterIntegration() {
		if err := f(ctx); err != nil {
			m.Logger.ErrorContext(ctx, "audit log at shutdown", "err", err)
		}
	}
}

// serveAuditCheckpoint serves the newest signed checkpoint (C2SP
// tlog-checkpoint, a signed note) to anyone.
func (m *Main) serveAuditCheckpoint(w http.ResponseWriter, r *http.Request) {
	h, err := m.audit.store.LogHead(r.Context())
	if errors.Is(err, storage.ErrNotFound) {
		http.Error(w, "the audit log has no checkpoint yet", http.StatusNotFound)
		return
	}
	if err != nil {
		m.Logger.ErrorContext(r.Context(), "audit checkpoint", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(h.Checkpoint)
}

// serveAuditKey serves the log's public key (a note verifier key), for
// auditors, witnesses and citizens to pin.
func (m *Main) serveAuditKey(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, m.audit.key.VerifierKey()+"\n")
}

const auditUsage = `Usage:
  dopaid audit verify [--log-key VKEY] [--audit-publish-dir DIR] [flags]
  dopaid audit verify --file SEGMENT.json [--log-key VKEY]
  dopaid audit export [--from N] [--to N] [--out FILE] [--log-key VKEY] [flags]

verify recomputes the audit log's Merkle tree from the entries in the
database and checks it against every signed tree head there and every
checkpoint published to the directory (and cosigned by witnesses), signed by
the log key pinned in that directory (or given by --log-key, never taken from
the database). It prints "ok: …" and exits 0, or names the first entry
(by its seq, its leaf index plus one) that was changed, deleted, moved or cut
off, or the fork, and exits 1. Entries not yet integrated are not checked.

export writes the entries with seq from..to (default: all) as a segment
(format "dopaid-audit-segment/2": the newest signed checkpoint, the entries
and the compact ranges left and right of them). verify --file checks one
offline, without the database, against the pinned key.

Flags:
`

// cmdAudit runs the audit subcommands; see auditUsage.
func cmdAudit(ctx context.Context, args []string, stdout, stderr io.Writer, env func(string) string) error {
	if len(args) == 0 {
		return usageError{errors.New("audit: want 'verify', 'export', 'witness' or 'verify-receipt'")}
	}
	sub := args[0]
	if ok, err := cmdAuditLog(ctx, sub, args[1:], os.Stdin, stdout, stderr, env); ok {
		return err
	}
	if sub != "verify" && sub != "export" {
		return usageError{fmt.Errorf("audit: unknown subcommand %q", sub)}
	}
	var (
		cfg             Config
		from, to        int64
		file, out, vkey string
	)
	fs := flag.NewFlagSet("dopaid audit "+sub, flag.ContinueOnError)
	cfg.bindFlags(fs, env, false)
	fs.StringVar(&vkey, "log-key", env("DOPAID_AUDIT_LOG_KEY"), "the audit log's public key (DOPAID_AUDIT_LOG_KEY); default: the key pinned in the publish directory")
	if sub == "verify" {
		fs.StringVar(&file, "file", "", "verify this exported segment instead of the database")
	} else {
		fs.Int64Var(&from, "from", 0, "first entry (seq); default the first")
		fs.Int64Var(&to, "to", 0, "last entry (seq); default the newest integrated")
		fs.StringVar(&out, "out", "", "write the segment to this file instead of stdout")
	}
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), auditUsage)
		fs.PrintDefaults()
	}
	if err := parse(fs, args[1:], stderr); err != nil {
		return err
	}
	if from < 0 || to < 0 || (to > 0 && from > to) {
		return usageError{errors.New("--from and --to must be seq numbers with --from ≤ --to")}
	}
	if err := cfg.Validate(false, false); err != nil {
		return usageError{fmt.Errorf("invalid configuration:\n%w", indent(err))}
	}
	dir := cfg.auditPublishDir()
	v, err := pinnedVerifier(vkey, dir)
	if err != nil {
		return err
	}

	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		s, err := audit.VerifySegment(f, v)
		if err := reportVerify(stdout, err); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "ok: %s\n", s)
		return nil
	}

	m := NewMain(cfg, stdout, stderr)
	defer m.Close()
	if err := m.openStore(ctx, !cfg.NoMigrate); err != nil {
		return err
	}
	ls, err := m.logStore()
	if err != nil {
		return err
	}
	if sub == "verify" {
		res, err := m.verifyAuditLog(ctx, ls, v, dir)
		if err := reportVerify(stdout, err); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "ok: %d entries, %d signed tree heads, %d published checkpoints verified\n", res.Entries, res.Heads, res.Published)
		if res.Redacted > 0 {
			fmt.Fprintf(stdout, "%d entries redacted (contents dropped after the retention period, leaf hashes checked against the tree), the newest written %s\n",
				res.Redacted, res.NewestRedacted.Format(time.RFC3339))
		}
		return nil
	}

	w := stdout
	var f *os.File
	if out != "" {
		if f, err = os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	var fromIdx int64
	if from > 0 {
		fromIdx = from - 1
	}
	s, err := audit.Export(ctx, ls, v, w, fromIdx, to)
	if err != nil {
		if f != nil {
			f.Close()
			os.Remove(out)
		}
		return err
	}
	if f != nil {
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s\n", out, s)
	}
	return nil
}

// pinnedVerifier returns the verifier of the log key given on the command
// line or, failing that, pinned in the publish directory: never one read
// from the database or the file being verified.
func pinnedVerifier(vkey, dir string) (note.Verifier, error) {
	if vkey == "" {
		k, err := audit.PinnedKey(dir)
		if err != nil {
			return nil, err
		}
		if k == "" {
			return nil, usageError{fmt.Errorf("no audit log key: %s pins none (the server pins it at its first start) and --log-key / DOPAID_AUDIT_LOG_KEY is not set; take the key from the server's /audit/key", dir)}
		}
		vkey = k
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, usageError{fmt.Errorf("--log-key: %w", err)}
	}
	return v, nil
}

// verifyAuditLog checks the store's log against the checkpoints published
// and witnessed in dir.
func (m *Main) verifyAuditLog(ctx context.Context, ls audit.Reader, v note.Verifier, dir string) (audit.VerifyResult, error) {
	published, err := audit.ReadPublished(dir)
	if err != nil {
		return audit.VerifyResult{}, err
	}
	witnessed, err := audit.ReadWitnessed(dir)
	if err != nil {
		return audit.VerifyResult{}, err
	}
	return audit.Verify(ctx, ls, v, append(published, witnessed...))
}

// reportVerify prints a verification failure (to stdout, as the command's
// result) naming the entry by its seq, and returns errAuditBroken; other
// errors it returns as they are.
func reportVerify(w io.Writer, err error) error {
	var ve *audit.VerifyError
	switch {
	case errors.As(err, &ve) && ve.Index >= 0:
		fmt.Fprintf(w, "entry %d: %s\n", ve.Index+1, ve.Reason)
		return errAuditBroken
	case errors.As(err, &ve):
		fmt.Fprintf(w, "%s\n", ve.Reason)
		return errAuditBroken
	}
	return err
}
