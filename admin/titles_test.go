package admin

import (
	"bytes"
	"strings"
	"testing"
)

// TestConsolePageTitles checks that every console page renders with its
// own title: the pages share a layout, and one shared template set gave
// them all the title of the page parsed last.
func TestConsolePageTitles(t *testing.T) {
	for _, l := range []string{"th", "en"} {
		seen := map[string]string{}
		for name := range consolePages {
			var b bytes.Buffer
			// Pages whose data must be typed fail after their title, which
			// renders first; the usage page titles itself from its data.
			p := consolePage{Lang: l, T: messages[l], Data: map[string]any{"L": usageText[l]}}
			_ = consolePages.ExecuteTemplate(&b, name, p)
			_, rest, ok := strings.Cut(b.String(), "<title>")
			if !ok {
				t.Fatalf("%s (%s) has no <title>", name, l)
			}
			title, _, _ := strings.Cut(rest, " — ")
			if other, dup := seen[title]; dup {
				t.Errorf("%s and %s share the title %q (%s)", name, other, title, l)
			}
			seen[title] = name
		}
		if len(seen) != len(consolePages) || len(seen) < 15 {
			t.Errorf("%s: %d distinct titles for %d pages", l, len(seen), len(consolePages))
		}
	}
}
