package main

import (
	"encoding/json"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// focusRingJS describes the focused element's focus ring: its colour and
// the colour of the surface it is drawn on (the first ancestor with a
// background: the outline's offset puts that surface between the ring and
// the element), with their WCAG contrast ratio (relative luminance).
const focusRingJS = `(() => {
	const e = document.activeElement;
	if (!e || e === document.body || e === document.documentElement) return JSON.stringify({done: true});
	const what = e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.getAttribute("href") ? "[href=" + e.getAttribute("href") + "]" : "");
	const rgba = c => { const m = c.match(/[\d.]+/g).map(Number); return {r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1}; };
	const lum = c => { const f = v => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
		return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
	const s = getComputedStyle(e);
	if (s.outlineStyle === "none" || parseFloat(s.outlineWidth) < 2) return JSON.stringify({what, problem: "no focus ring (outline " + s.outlineStyle + " " + s.outlineWidth + ")"});
	let bg = {r: 255, g: 255, b: 255, a: 1}, on = "canvas";
	for (let p = e.parentElement; p; p = p.parentElement) {
		const c = rgba(getComputedStyle(p).backgroundColor);
		if (c.a > 0) { bg = c; on = p.tagName.toLowerCase() + (p.id ? "#" + p.id : ""); break; }
	}
	const ring = rgba(s.outlineColor);
	const [hi, lo] = [lum(ring), lum(bg)].sort((a, b) => b - a);
	const ratio = (hi + 0.05) / (lo + 0.05);
	return JSON.stringify({what, ratio, ring: s.outlineColor, on: on + " " + JSON.stringify(bg)});
})()`

// focusRing is what focusRingJS reports.
type focusRing struct {
	Done    bool
	What    string
	Problem string
	Ratio   float64
	Ring    string
	On      string
}

// focusRings tabs through every focusable element of the page, as a
// keyboard user does, and checks that each shows a focus ring with at
// least 3:1 contrast against the surface around it (WCAG 1.4.11).
func (b *tab) focusRings(t *testing.T, lang, name string) {
	t.Helper()
	seen := map[string]bool{}
	for range 120 {
		if err := chromedp.Do(b.ctx, chromedp.KeyEvent(kb.Tab)); err != nil {
			t.Fatalf("tab key: %v", err)
		}
		var f focusRing
		if err := json.Unmarshal([]byte(b.eval(t, focusRingJS)), &f); err != nil {
			t.Fatal(err)
		}
		if f.Done || seen[f.What] {
			return
		}
		seen[f.What] = true
		switch {
		case f.Problem != "":
			t.Errorf("%s page (%s): %s: %s", name, lang, f.What, f.Problem)
		case f.Ratio < 3:
			t.Errorf("%s page (%s): the focus ring of %s (%s) has contrast %.2f:1 with %s, want at least 3:1", name, lang, f.What, f.Ring, f.Ratio, f.On)
		}
	}
}
