package render

import (
	"errors"
	"io/fs"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
)

// @embed reads files into CUE values. CUE reads them from the loader's
// filesystem, here the overlay: loadCUE first checks each @embed of the
// repo's CUE files against the view, reads the files it names or matches
// through the view and adds them to the overlay.

// checkEmbeds checks each @embed of the instances' files against the
// view, and adds the files they name (file=) or match (glob=) to the
// overlay. A file the view refuses is reported at the attribute, with the
// view's reason, and its instance (by index) is refused; embedded says
// whether files were added.
func (l *loader) checkEmbeds(o *cueOverlay, insts []*build.Instance) (refused map[int]bool, embedded bool) {
	refused = map[int]bool{}
	for i, inst := range insts {
		for _, f := range inst.Files {
			dir := path.Dir(relPath(l.root, f.Filename))
			ast.Walk(f, func(n ast.Node) bool {
				if a, isAttr := n.(*ast.Attribute); isAttr {
					n, ok := l.embed(o, dir, a)
					embedded = embedded || n > 0
					refused[i] = refused[i] || !ok
				}
				return true
			}, nil)
		}
	}
	return refused, embedded
}

// embed checks one attribute; an @embed's files go to the overlay.
func (l *loader) embed(o *cueOverlay, dir string, a *ast.Attribute) (int, bool) {
	key, body := a.Split()
	if key != "embed" {
		return 0, true
	}
	var names []string
	if file := attrArg(body, "file"); file != "" {
		names = []string{file}
	} else if glob := attrArg(body, "glob"); glob != "" {
		if path.IsAbs(glob) || leavesRepo(path.Join(dir, glob)) {
			return 0, true // CUE refuses these itself
		}
		matches, err := fs.Glob(viewFS{l.view}, path.Join(dir, glob))
		if err != nil {
			l.errs.addf(a.Pos(), "@embed glob %q: %s", glob, viewMessage(err))
			return 0, false
		}
		for _, m := range matches {
			if rel, err := filepath.Rel(dir, m); err == nil {
				names = append(names, filepath.ToSlash(rel))
			}
		}
	}
	n := 0
	for _, name := range names {
		rel := path.Join(dir, name)
		if path.IsAbs(name) || path.Clean(name) != name || leavesRepo(name) || leavesRepo(rel) {
			continue // CUE refuses these itself
		}
		info, err := l.view.stat(rel)
		if err == nil && info.IsDir() {
			continue // CUE skips directories of a glob, refuses a file= one
		}
		var data []byte
		if err == nil {
			data, err = l.view.readFile(rel)
		}
		if err != nil {
			l.errs.addf(a.Pos(), "@embed file %q: %s", name, viewMessage(err))
			return n, false
		}
		o.add(rel, data)
		n++
	}
	return n, true
}

// viewMessage is the view's reason for refusing a path, or err.
func viewMessage(err error) string {
	var ve *viewError
	if errors.As(err, &ve) {
		return ve.message()
	}
	return err.Error()
}

// attrArg returns the value of key=value in an attribute's body, unquoted.
func attrArg(body, key string) string {
	for _, part := range splitAttr(body) {
		k, v, found := strings.Cut(strings.TrimSpace(part), "=")
		if !found || strings.TrimSpace(k) != key {
			continue
		}
		v = strings.TrimSpace(v)
		if u, err := strconv.Unquote(v); err == nil {
			return u
		}
		return v
	}
	return ""
}

// splitAttr splits an attribute's body at commas outside quotes.
func splitAttr(body string) []string {
	var parts []string
	start, quoted := 0, false
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '\\':
			i++
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				parts = append(parts, body[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, body[start:])
}
