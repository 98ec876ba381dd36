package login

import (
	"bytes"
	"strings"
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
