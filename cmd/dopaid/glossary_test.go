package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// glossaryText is a piece of text a user reads, and where it comes from.
type glossaryText struct{ where, text string }

// catalogueTexts returns the message values of a Go file: the values of
// its string-keyed maps (never the keys, which are identifiers) and the
// Thai side of thaiFieldFormats' {English, Thai} pairs. With keys, it also
// returns the messages by language and key.
func catalogueTexts(t *testing.T, path string) ([]glossaryText, map[string]map[string]string) {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	str := func(e ast.Expr) (string, bool) {
		l, ok := e.(*ast.BasicLit)
		if !ok || l.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(l.Value)
		return s, err == nil
	}
	var out []glossaryText
	byLang := map[string]map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.KeyValueExpr:
			lang, ok := str(n.Key)
			if m, isMap := n.Value.(*ast.CompositeLit); ok && isMap && (lang == "th" || lang == "en") {
				for _, e := range m.Elts {
					if kv, ok := e.(*ast.KeyValueExpr); ok {
						k, ok1 := str(kv.Key)
						v, ok2 := str(kv.Value)
						if ok1 && ok2 {
							if byLang[lang] == nil {
								byLang[lang] = map[string]string{}
							}
							byLang[lang][k] = v
						}
					}
				}
			}
			if v, ok := str(n.Value); ok {
				k, _ := str(n.Key)
				out = append(out, glossaryText{path + " " + k, v})
			}
		case *ast.CompositeLit:
			if len(n.Elts) == 2 {
				en, ok1 := str(n.Elts[0])
				if th, ok2 := str(n.Elts[1]); ok1 && ok2 {
					out = append(out, glossaryText{path + " " + en, th})
				}
			}
		}
		return true
	})
	return out, byLang
}

// templateTexts returns the text of page templates: what is left without
// actions and tags.
func templateTexts(t *testing.T, glob string) []glossaryText {
	t.Helper()
	files, err := filepath.Glob(glob)
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates %s: %v", glob, err)
	}
	strip := regexp.MustCompile(`\{\{.*?\}\}|<[^>]*>`)
	var out []glossaryText
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, glossaryText{f, strip.ReplaceAllString(string(b), " ")})
	}
	return out
}

// TestGlossary holds the message catalogues and page templates of both
// packages, in both languages, to docs/glossary.md: no word the glossary
// rules out, one label per claim and agency category, and numbering labels
// used only with their number.
func TestGlossary(t *testing.T) {
	root := filepath.Join("..", "..")
	doc, err := os.ReadFile(filepath.Join(root, "docs", "glossary.md"))
	if err != nil {
		t.Fatal(err)
	}
	type ban struct{ word, instead string }
	var enBans, thBans []ban
	quoted := regexp.MustCompile("`([^`]+)`")
	for _, line := range strings.Split(string(doc), "\n") {
		cols := strings.Split(line, "|")
		if len(cols) < 6 || strings.HasPrefix(strings.TrimSpace(cols[1]), "---") {
			continue
		}
		for _, m := range quoted.FindAllStringSubmatch(cols[3], -1) {
			enBans = append(enBans, ban{m[1], strings.TrimSpace(cols[1])})
		}
		for _, m := range quoted.FindAllStringSubmatch(cols[4], -1) {
			thBans = append(thBans, ban{m[1], strings.TrimSpace(cols[2])})
		}
	}
	if len(enBans) < 5 || len(thBans) < 5 {
		t.Fatalf("read %d English and %d Thai ruled-out words from docs/glossary.md", len(enBans), len(thBans))
	}

	var texts []glossaryText
	catalogues := map[string]map[string]map[string]string{}
	for _, f := range []string{"login/i18n.go", "admin/i18n.go", "admin/i18nfields.go", "admin/usage.go"} {
		ts, byLang := catalogueTexts(t, filepath.Join(root, f))
		if len(ts) == 0 {
			t.Fatalf("%s: no messages", f)
		}
		texts = append(texts, ts...)
		catalogues[f] = byLang
	}
	for _, g := range []string{"login/pages/*.html", "admin/pages/*.html", "op/pages/*.html"} {
		texts = append(texts, templateTexts(t, filepath.Join(root, g))...)
	}

	for _, b := range enBans {
		word := regexp.MustCompile(`(?i)\b` + regexp.QuoteMeta(b.word) + `\b`)
		for _, x := range texts {
			if word.MatchString(x.text) {
				t.Errorf("%s says %q; the glossary says %q", x.where, b.word, b.instead)
			}
		}
	}
	for _, b := range thBans {
		for _, x := range texts {
			if strings.Contains(x.text, b.word) {
				t.Errorf("%s says %q; the glossary says %q", x.where, b.word, b.instead)
			}
		}
	}

	// One label per claim and category, whichever package shows it.
	login, admin := catalogues["login/i18n.go"], catalogues["admin/i18n.go"]
	for _, lang := range []string{"th", "en"} {
		shared := 0
		for k, v := range login[lang] {
			if !strings.HasPrefix(k, "claim_") && !strings.HasPrefix(k, "category_") {
				continue
			}
			if w, ok := admin[lang][k]; ok {
				shared++
				if !strings.EqualFold(v, w) {
					t.Errorf("%s %s: the citizens' pages say %q, the console %q", lang, k, v, w)
				}
			}
		}
		if shared < 20 {
			t.Errorf("%s: only %d claim and category labels in both catalogues", lang, shared)
		}
	}

	// A numbering label ("วัตถุประสงค์ที่") has a key ending in _n, and a
	// template shows it only followed by its number.
	for f, byLang := range catalogues {
		for k, v := range byLang["th"] {
			if strings.HasSuffix(v, "ที่") != strings.HasSuffix(k, "_n") {
				t.Errorf("%s %s = %q: a numbering label, and only one, has a key ending in _n", f, k, v)
			}
		}
	}
	numbered := regexp.MustCompile(`"[a-z_]+_n"\}\}(.{0,8})`)
	for _, g := range []string{"login/pages/*.html", "admin/pages/*.html"} {
		files, _ := filepath.Glob(filepath.Join(root, g))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range numbered.FindAllStringSubmatch(string(b), -1) {
				if !strings.HasPrefix(m[1], " {{plus1") {
					t.Errorf("%s: %s is not followed by its number", f, m[0])
				}
			}
		}
	}
}
