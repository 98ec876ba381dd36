package admin

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestEveryFieldErrorHasThai finds every field error the service can give
// — each problems.add format, each literal in a ValidationError's Fields,
// each message put in a fields map — in the package's source, and checks
// that the Thai console shows each in Thai words of its own, not the
// generic "this value is not valid" and never English.
func TestEveryFieldErrorHasThai(t *testing.T) {
	files, err := filepath.Glob("*.go")
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
	formats := map[string]string{} // format → where
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				// checkURI, checkJWKS and the like return a field's message.
				if !strings.HasPrefix(n.Name.Name, "check") || n.Type.Results == nil || len(n.Type.Results.List) != 1 || n.Body == nil {
					return true
				}
				if id, ok := n.Type.Results.List[0].Type.(*ast.Ident); !ok || id.Name != "string" {
					return true
				}
				ast.Inspect(n.Body, func(m ast.Node) bool {
					r, ok := m.(*ast.ReturnStmt)
					if !ok || len(r.Results) != 1 {
						return true
					}
					e := r.Results[0]
					if c, ok := e.(*ast.CallExpr); ok && len(c.Args) > 0 {
						if sel, ok := c.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Sprintf" {
							e = c.Args[0]
						}
					}
					if s, ok := str(e); ok && s != "" {
						formats[s] = fset.Position(r.Pos()).String()
					}
					return true
				})
			case *ast.CallExpr:
				// A parser's error that becomes a field's message.
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "New" && len(n.Args) == 1 {
					if s, ok := str(n.Args[0]); ok && strings.HasPrefix(s, "must ") {
						formats[s] = fset.Position(n.Pos()).String()
					}
				}
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "add" && len(n.Args) >= 2 {
					if s, ok := str(n.Args[1]); ok {
						formats[s] = fset.Position(n.Pos()).String()
					}
				}
			case *ast.KeyValueExpr:
				if k, ok := n.Key.(*ast.Ident); ok && k.Name == "Fields" {
					if m, ok := n.Value.(*ast.CompositeLit); ok {
						for _, e := range m.Elts {
							if kv, ok := e.(*ast.KeyValueExpr); ok {
								if s, ok := str(kv.Value); ok {
									formats[s] = fset.Position(kv.Pos()).String()
								}
							}
						}
					}
				}
			case *ast.AssignStmt:
				if ix, ok := n.Lhs[0].(*ast.IndexExpr); ok && len(n.Rhs) == 1 {
					if id, ok := ix.X.(*ast.Ident); ok && (id.Name == "fields" || id.Name == "p") {
						rhs := n.Rhs[0]
						if c, ok := rhs.(*ast.CallExpr); ok && len(c.Args) > 0 {
							if sel, ok := c.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Sprintf" {
								rhs = c.Args[0]
							}
						}
						if s, ok := str(rhs); ok {
							formats[s] = fset.Position(n.Pos()).String()
						}
					}
				}
			}
			return true
		})
	}
	if len(formats) < 60 {
		t.Fatalf("found only %d field error messages in the source", len(formats))
	}
	verb := regexp.MustCompile(`%[sdqv]`)
	delete(formats, "%s") // a message passed on, found on its own
	for format, where := range formats {
		// Arguments as the service gives them: a quoted claim, a number.
		en := verb.ReplaceAllStringFunc(format, func(v string) string {
			if v == "%q" {
				return `"email"`
			}
			return "12"
		})
		got := fieldMessage("th", en)
		if got == messages["th"]["field_invalid"] || !thaiScript.MatchString(got) || englishWords.MatchString(got) {
			t.Errorf("%s: %q shows in the Thai console as %q", where, en, got)
		}
	}
}
