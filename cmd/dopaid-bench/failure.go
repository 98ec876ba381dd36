package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
)

// failure is a response that failed verification, or a request that got
// none. kind groups failures in the report and is built only from fixed
// text, status codes and OAuth error codes; msg is detail, redacted.
type failure struct {
	step string // which request: a scenario or a step of the code flow
	kind string // step: what went wrong
	msg  string
}

func (f *failure) Error() string {
	if f.msg == "" {
		return f.kind
	}
	return f.kind + ": " + f.msg
}

func fail(step, what, format string, a ...any) error {
	return &failure{step: step, kind: step + ": " + what, msg: redact(fmt.Sprintf(format, a...))}
}

// secretRE matches what could be a token, a code, an authorization
// request ID or a JWT segment: 22 or more base64url characters (16 random
// bytes or more). redact blanks those that contain an upper-case letter, a
// digit or an underscore, which a random value of that length does with
// near certainty while words and paths ("openid-configuration") do not.
// It is a safety net: no message is built from a secret on purpose.
var (
	secretRE   = regexp.MustCompile(`[A-Za-z0-9_-]{22,}`)
	notAWordRE = regexp.MustCompile(`[A-Z0-9_]`)
)

func redact(s string) string {
	const max = 200
	s = secretRE.ReplaceAllStringFunc(s, func(m string) string {
		if notAWordRE.MatchString(m) {
			return "…"
		}
		return m
	})
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// transportFailure describes a request that got no response, without its
// URL's query (where codes and request IDs travel).
func transportFailure(step string, err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return fail(step, "canceled", "")
	case errors.Is(err, context.DeadlineExceeded):
		return fail(step, "timeout", "")
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		what := "transport"
		if ue.Timeout() {
			what = "timeout"
		}
		path := ""
		if u, perr := url.Parse(ue.URL); perr == nil {
			path = u.Path
		}
		return fail(step, what, "%s %s: %v", ue.Op, path, ue.Err)
	}
	return fail(step, "transport", "%v", err)
}

// errorCodeRE finds the error code on the provider's HTML error page.
var errorCodeRE = regexp.MustCompile(`<code id="error-code">([a-z_]{1,64})</code>`)

// wantStatus fails unless resp has status want, naming the OAuth error the
// provider gave (from a JSON error or the HTML error page).
func wantStatus(step string, resp *http.Response, body []byte, want int) error {
	if resp.StatusCode == want {
		return nil
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &e) != nil || len(e.Error) > 64 {
		e.Error, e.Description = "", ""
		if m := errorCodeRE.FindSubmatch(body); m != nil {
			e.Error = string(m[1])
		}
	}
	what := fmt.Sprintf("status %d", resp.StatusCode)
	if e.Error != "" {
		what += " " + e.Error
	}
	return fail(step, what, "%s", e.Description)
}
