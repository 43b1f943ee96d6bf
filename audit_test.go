package rip

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// securityDecls returns "file name" for every declaration in the package
// whose doc comment has a "# Security" heading.
func securityDecls(t *testing.T) []string {
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	var out []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			doc, name := declDoc(d)
			if doc != nil && name != "" && strings.Contains(doc.Text(), "# Security") {
				out = append(out, f+" "+name)
			}
		}
	}
	sort.Strings(out)
	return out
}

// declDoc returns the doc and name (Type.Method for methods) of d.
func declDoc(d ast.Decl) (*ast.CommentGroup, string) {
	switch d := d.(type) {
	case *ast.FuncDecl:
		name := d.Name.Name
		if d.Recv != nil {
			t := d.Recv.List[0].Type
			if s, ok := t.(*ast.StarExpr); ok {
				t = s.X
			}
			if id, ok := t.(*ast.Ident); ok {
				name = id.Name + "." + name
			}
		}
		return d.Doc, name
	case *ast.GenDecl:
		if len(d.Specs) == 1 {
			if ts, ok := d.Specs[0].(*ast.TypeSpec); ok {
				return d.Doc, ts.Name.Name
			}
		}
	}
	return nil, ""
}

// TestAuditMapMatchesCode fails when the README's Audit map and the
// functions documented with "# Security" differ, in either direction.
func TestAuditMapMatchesCode(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Audit map")
	if !ok {
		t.Fatal("README has no '## Audit map' section")
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	entry := regexp.MustCompile("(?m)^- `([A-Za-z0-9_.]+)` \\(([a-z0-9_]+\\.go)\\)")
	var listed []string
	for _, m := range entry.FindAllStringSubmatch(section, -1) {
		listed = append(listed, m[2]+" "+m[1])
	}
	sort.Strings(listed)
	code := securityDecls(t)
	if strings.Join(listed, "\n") != strings.Join(code, "\n") {
		t.Errorf("README Audit map and # Security docs differ.\nonly in README:\n  %s\nonly in code:\n  %s",
			strings.Join(minus(listed, code), "\n  "), strings.Join(minus(code, listed), "\n  "))
	}
}

func minus(a, b []string) []string {
	in := map[string]bool{}
	for _, x := range b {
		in[x] = true
	}
	var out []string
	for _, x := range a {
		if !in[x] {
			out = append(out, x)
		}
	}
	return out
}
