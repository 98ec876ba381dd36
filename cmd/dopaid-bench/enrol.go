package main

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/dopaid/dopaid/login"
)

// Setup steps, named in errors.
const (
	setupProof   = "setup: proofing"
	setupFace    = "setup: face"
	setupEnrol   = "setup: enrolment"
	setupConsent = "setup: consent"
)

// enrolAll proofs every citizen of the pool, enrols their TOTP
// authenticator and gives consent, through the login pages, with
// cfg.Concurrency citizens at a time. It is untimed.
func (b *bench) enrolAll(ctx context.Context) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		n     int
	)
	work := make(chan *citizen)
	for range b.cfg.Concurrency {
		wg.Go(func() {
			for c := range work {
				if err := b.enrol(ctx, c); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					n++
					mu.Unlock()
				}
			}
		})
	}
	for _, c := range b.pool.citizens {
		if ctx.Err() != nil {
			break
		}
		work <- c
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if first != nil {
		return fmt.Errorf("%d of %d citizens could not be enrolled through the login pages (was the registry extract imported with `dopaid registry import`, and does the server have a face verifier?), e.g.: %w",
			n, len(b.pool.citizens), first)
	}
	return nil
}

// enrol takes one citizen through what a first sign-in is: the registry
// match, the face step, TOTP enrolment with the secret the page shows, and
// consent; it ends with a verified code exchange.
func (b *bench) enrol(ctx context.Context, c *citizen) error {
	c.browser = newBrowser()
	browser := b.client(c.browser)
	ar, err := b.authorize(ctx, browser, func(int, time.Duration) {})
	if err != nil {
		return err
	}

	// Registry match.
	page, err := b.page(ctx, browser, setupProof, b.issuer+login.Path+"/proof?authRequestID="+url.QueryEscape(ar.id))
	if err != nil {
		return err
	}
	csrf, err := formToken(setupProof, page, "proof-form")
	if err != nil {
		return err
	}
	day, month := "", ""
	if c.birth.Day != 0 {
		day = fmt.Sprint(c.birth.Day)
	}
	if c.birth.Month != 0 {
		month = fmt.Sprint(c.birth.Month)
	}
	form := url.Values{"csrf": {csrf}, "authRequestID": {ar.id}, "pid": {c.pid}, "first_name": {c.first}, "last_name": {c.last},
		"birth_day": {day}, "birth_month": {month}, "birth_year": {fmt.Sprint(c.birth.Year)}, "laser": {c.laser}}
	if _, err := b.post(ctx, browser, setupProof, login.Path+"/proof", form, login.Path+"/face"); err != nil {
		return err
	}

	// Face: a selfie for a face service, or the simulator's "face
	// matches" under --dev; the provider uses whichever it has.
	if page, err = b.page(ctx, browser, setupFace, b.issuer+login.Path+"/face"); err != nil {
		return err
	}
	if csrf, err = formToken(setupFace, page, ""); err != nil {
		return err
	}
	body, ctype, err := faceForm(csrf)
	if err != nil {
		return fail(setupFace, "form", "%v", err)
	}
	resp, rbody, _, err := b.sendBody(ctx, browser, setupFace, http.MethodPost, b.issuer+login.Path+"/face", bytes.NewReader(body), ctype, nil)
	if err != nil {
		return err
	}
	if err := wantRedirect(setupFace, resp, rbody, login.Path+"/enrol"); err != nil {
		return err
	}

	// Enrolment: the secret as the page shows it for typing into an app.
	if page, err = b.page(ctx, browser, setupEnrol, b.issuer+login.Path+"/enrol"); err != nil {
		return err
	}
	m := totpSecretRE.FindSubmatch(page)
	if m == nil {
		return fail(setupEnrol, "no TOTP secret on the page", "")
	}
	secret := strings.ReplaceAll(string(m[1]), " ", "")
	if csrf, err = formToken(setupEnrol, page, "enrol-form"); err != nil {
		return err
	}
	c.secret = secret
	step := time.Now().Unix() / totpPeriod
	code, err := c.code(step)
	if err != nil {
		return fail(setupEnrol, "totp", "%v", err)
	}
	resp, rbody, _, err = b.send(ctx, browser, setupEnrol, http.MethodPost, b.issuer+login.Path+"/enrol", url.Values{"csrf": {csrf}, "code": {code}}, nil)
	if err != nil {
		return err
	}
	// The codes are shown on a page of their own, reached by redirect (a
	// reload or a language switch must not lose them).
	if resp.StatusCode == http.StatusOK {
		return fail(setupEnrol, "code refused", "")
	}
	if err := wantStatus(setupEnrol, resp, rbody, http.StatusSeeOther); err != nil {
		return err
	}
	loc, err := resp.Location()
	if err != nil {
		return fail(setupEnrol, "redirect without a location", "")
	}
	if rbody, err = b.page(ctx, browser, setupEnrol, loc.String()); err != nil {
		return err
	}
	if !bytes.Contains(rbody, []byte(`id="continue"`)) {
		return fail(setupEnrol, "no recovery codes page", "")
	}
	c.lastStep = step // the enrolment code is spent

	// Consent, once; a citizen enrolled again by an earlier run may have
	// given it already.
	resp, rbody, _, err = b.send(ctx, browser, setupConsent, http.MethodGet, b.issuer+login.Path+"/continue?authRequestID="+url.QueryEscape(ar.id), nil, nil)
	if err != nil {
		return err
	}
	asked := resp.StatusCode == http.StatusOK
	if loc, lerr := resp.Location(); lerr == nil && resp.StatusCode == http.StatusSeeOther && loc.Path == login.Path+"/consent" {
		// The consent page is reached by redirect.
		if rbody, err = b.page(ctx, browser, setupConsent, loc.String()); err != nil {
			return err
		}
		asked = true
	}
	if asked {
		if csrf, err = formToken(setupConsent, rbody, ""); err != nil {
			return err
		}
		if !bytes.Contains(rbody, []byte(`id="consent-allow"`)) {
			return fail(setupConsent, "no consent form", "")
		}
		form := url.Values{"csrf": {csrf}, "authRequestID": {ar.id}, "decision": {"allow"}}
		resp, rbody, _, err = b.send(ctx, browser, setupConsent, http.MethodPost, b.issuer+login.Path+"/consent", form, nil)
		if err != nil {
			return err
		}
	}
	if err := wantStatus(setupConsent, resp, rbody, http.StatusSeeOther); err != nil {
		return err
	}
	_, err = b.finish(ctx, browser, resp, ar, func(int, time.Duration) {})
	return err
}

// page GETs a login page and wants it shown (200).
func (b *bench) page(ctx context.Context, browser *http.Client, step, u string) ([]byte, error) {
	resp, body, _, err := b.send(ctx, browser, step, http.MethodGet, u, nil, nil)
	if err != nil {
		return nil, err
	}
	if err := wantStatus(step, resp, body, http.StatusOK); err != nil {
		return nil, err
	}
	return body, nil
}

// post submits a login form and wants a redirect to the path next.
func (b *bench) post(ctx context.Context, browser *http.Client, step, path string, form url.Values, next string) (*http.Response, error) {
	resp, body, _, err := b.send(ctx, browser, step, http.MethodPost, b.issuer+path, form, nil)
	if err != nil {
		return nil, err
	}
	return resp, wantRedirect(step, resp, body, next)
}

// wantRedirect fails unless resp sends the browser on to path (303).
func wantRedirect(step string, resp *http.Response, body []byte, path string) error {
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusTooManyRequests {
		// The form again, with a refusal.
		return fail(step, fmt.Sprintf("refused (status %d)", resp.StatusCode), "")
	}
	if err := wantStatus(step, resp, body, http.StatusSeeOther); err != nil {
		return err
	}
	loc, err := location(step, resp)
	if err != nil {
		return err
	}
	if loc.Path != path {
		return fail(step, "redirect elsewhere than "+path, "to %s", loc.Path)
	}
	return nil
}

var (
	csrfRE       = regexp.MustCompile(`<input type="hidden" name="csrf" value="([^"]+)">`)
	totpSecretRE = regexp.MustCompile(`<code id="totp-secret">([A-Z2-7 ]+)</code>`)
)

// formToken finds the CSRF token of a page's form (the one with the id
// formID, or the first).
func formToken(step string, page []byte, formID string) (string, error) {
	if formID != "" {
		i := bytes.Index(page, []byte(`id="`+formID+`"`))
		if i < 0 {
			return "", fail(step, "no form "+formID+" on the page", "")
		}
		page = page[i:]
	}
	m := csrfRE.FindSubmatch(page)
	if m == nil {
		return "", fail(step, "no CSRF token on the page", "")
	}
	return html.UnescapeString(string(m[1])), nil
}

// selfie is a small PNG: a face service stand-in compares nothing, and the
// provider checks only that it is an image.
var selfie = func() []byte {
	img := image.NewGray(image.Rect(0, 0, 32, 32))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	img.Set(0, 0, color.Gray{Y: 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err)
	}
	return buf.Bytes()
}()

// faceForm is the face step's multipart form: the CSRF token, the
// simulator's choice (read only under --dev) and the selfie.
func faceForm(csrf string) ([]byte, string, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("csrf", csrf); err != nil {
		return nil, "", err
	}
	if err := mw.WriteField("simulate", "match"); err != nil {
		return nil, "", err
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="selfie"; filename="selfie.png"`)
	h.Set("Content-Type", "image/png")
	part, err := mw.CreatePart(h)
	if err != nil {
		return nil, "", err
	}
	if _, err := part.Write(selfie); err != nil {
		return nil, "", err
	}
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), mw.FormDataContentType(), nil
}
