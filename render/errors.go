package render

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"
)

// Every problem found in a config repo is a CUE errors.Error: CUE's own
// errors keep their positions, and ours are made with errors.Newf at the
// position of the offending field. They are collected into one list and
// formatted once, at the edge, by Format.

// errorList collects positioned errors.
type errorList struct {
	errs cueerrors.Error
}

// addf records an error at pos.
func (l *errorList) addf(pos token.Pos, format string, args ...any) {
	l.errs = cueerrors.Append(l.errs, cueerrors.Newf(pos, format, args...))
}

// add records err, keeping its positions if it has any.
func (l *errorList) add(err error) {
	if err == nil {
		return
	}
	l.errs = cueerrors.Append(l.errs, cueerrors.Promote(err, ""))
}

// count is the number of errors collected.
func (l *errorList) count() int {
	return len(cueerrors.Errors(l.errs))
}

// err returns the collected errors, or nil.
func (l *errorList) err() error {
	if l.errs == nil {
		return nil
	}
	return l.errs
}

// fileError returns an error at line 1, column 1 of a file.
func fileError(path string, format string, args ...any) cueerrors.Error {
	f := token.NewFile(path, -1, 1)
	return cueerrors.Newf(f.Pos(0, token.NoRelPos), format, args...)
}

// Problem is one formatted error: a position and a message.
type Problem struct {
	Path    string `json:"path"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return fmt.Sprintf("%s:%d:%d: %s", p.Path, p.Line, p.Column, p.Message)
}

// Problems turns an error from Load or Render into positioned problems, with
// paths relative to root, sorted by position, duplicates removed. explain
// rewrites messages (nil keeps them).
func Problems(err error, root string, explain func(string) string) []Problem {
	if err == nil {
		return nil
	}
	seen := map[string]bool{}
	var out []Problem
	for _, e := range cueerrors.Errors(err) {
		p := problem(e, root)
		if explain != nil {
			p.Message = explain(p.Message)
		}
		if strings.Contains(p.Message, "errors in empty disjunction") {
			continue // its parts are reported one by one
		}
		if key := p.String(); !seen[key] {
			seen[key] = true
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return out
}

// problem picks the most specific position of e that lies in the user's
// repo (not in the embedded schema) and formats the message.
func problem(e cueerrors.Error, root string) Problem {
	format, args := e.Msg()
	msg := fmt.Sprintf(format, args...)
	if msg == "" {
		msg = e.Error()
	}
	path := e.Path()
	if len(path) >= 2 && path[0] == "#Kinds" {
		path = path[2:] // the kind's definition: the path is the declaration's
	}
	if len(path) > 0 {
		msg = strings.Join(path, ".") + ": " + msg
	}
	pos := userPos(e)
	if !pos.IsValid() {
		return Problem{Message: msg}
	}
	return Problem{Path: relPath(root, pos.Filename()), Line: pos.Line(), Column: pos.Column(), Message: msg}
}

func userPos(e cueerrors.Error) token.Pos {
	var best token.Pos
	consider := func(p token.Pos) {
		if !p.IsValid() || isSchemaFile(p.Filename()) {
			return
		}
		if !best.IsValid() {
			best = p
			return
		}
		if p.Filename() == best.Filename() && p.Offset() > best.Offset() {
			best = p
		}
	}
	consider(e.Position())
	for _, p := range e.InputPositions() {
		consider(p)
	}
	return best
}

func isSchemaFile(name string) bool {
	return strings.Contains(filepath.ToSlash(name), "cue.mod/gen/trellis.dev/schema/") ||
		strings.HasPrefix(filepath.ToSlash(name), "/trellis.dev/schema/")
}

func relPath(root, name string) string {
	if !filepath.IsAbs(name) || root == "" {
		return filepath.ToSlash(name)
	}
	rel, err := filepath.Rel(root, name)
	if err != nil {
		return filepath.ToSlash(name)
	}
	return filepath.ToSlash(rel)
}
