package login

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// TestPageTitles checks that every page renders with its own title: the
// pages share a layout, and a shared template set would give them all the
// last page's.
func TestPageTitles(t *testing.T) {
	seen := map[string]string{}
	for name := range pages {
		var b bytes.Buffer
		p := page{Lang: "en", T: messages["en"], Data: map[string]any{}}
		if err := pages.ExecuteTemplate(&b, name, p); err != nil {
			// Pages whose data must be typed are rendered by their own
			// tests; a title block always renders before the data.
			if !strings.Contains(b.String(), "<title>") {
				t.Fatalf("%s: %v", name, err)
			}
		}
		_, rest, _ := strings.Cut(b.String(), "<title>")
		title, _, _ := strings.Cut(rest, "</title>")
		if other, dup := seen[title]; dup && !(strings.HasPrefix(name, "portal") && strings.HasPrefix(other, "portal")) {
			t.Errorf("%s and %s share the title %q", name, other, title)
		}
		seen[title] = name
	}
	if len(seen) < 9 {
		t.Errorf("rendered %d distinct titles, want one per page", len(seen))
	}
}

func TestLocalNext(t *testing.T) {
	tests := []struct{ next, want string }{
		{"/login/me", "/login/me"},
		{"/login?authRequestID=abc", "/login?authRequestID=abc"},
		{"/login/../%5Cevil.example", "/login"},
		{"/login/..\\evil.example", "/login"},
		{"/login/../admin", "/login"},
		{"//evil.example/login", "/login"},
		{"https://evil.example/login", "/login"},
		{"/loginx", "/login"},
		{"/login/%2e%2e/x", "/login"},
		{"", "/login"},
	}
	for _, tt := range tests {
		if got := localNext(tt.next); got != tt.want {
			t.Errorf("localNext(%q) = %q, want %q", tt.next, got, tt.want)
		}
	}
}

// TestParallelCodesAreCountedBeforeTheCheck: of many wrong TOTP codes
// posted at once on one ID number, each from a browser of its own, only as
// many as the ID number's limit are checked (401); the others are refused
// unchecked (429), though the attempt, its check and its outcome are one
// transaction (storage.AttemptSignIn).
func TestParallelCodesAreCountedBeforeTheCheck(t *testing.T) {
	f := newPortal(t, nil)
	const n = 40
	bs := make([]*browser, n)
	forms := make([]url.Values, n)
	for i := range bs {
		bs[i] = f.browser(fmt.Sprintf("ua%d", i))
		forms[i] = url.Values{"csrf": {bs[i].csrf()}, "pid": {mePID(1)}, "code": {wrongCode(f.code())}}
	}
	codes := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, b := range bs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			codes[i] = b.do(http.MethodPost, mePath+"/signin", forms[i]).Code
		}()
	}
	close(start)
	wg.Wait()
	checked, refused := 0, 0
	for _, c := range codes {
		switch c {
		case http.StatusUnauthorized:
			checked++
		case http.StatusTooManyRequests:
			refused++
		default:
			t.Errorf("a wrong code answered %d, want 401 or 429", c)
		}
	}
	if want := f.h.cfg.Throttle.PerID; checked != want || refused != n-want {
		t.Errorf("%d of %d parallel wrong codes checked and %d refused, want %d and %d", checked, n, refused, want, n-want)
	}
}

// TestAttemptsAreCountedBeforeTheCheck: of many parallel attempts on one
// ID number, each from a browser of its own, only as many as the ID
// number's limit may go on.
func TestAttemptsAreCountedBeforeTheCheck(t *testing.T) {
	f := newPortal(t, nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := gate{kind: "signin", id: "signin:pid:test", browser: fmt.Sprintf("signin:browser:%d", i), addr: "signin:addr:test", proven: "signin:proven:none"}
			wt, err := f.h.admit(context.Background(), &g)
			if err != nil {
				t.Error(err)
			}
			if !wt.refused() {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if want := f.h.cfg.Throttle.PerID; allowed != want {
		t.Errorf("%d of 40 parallel attempts went on, want %d", allowed, want)
	}
}
