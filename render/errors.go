package render

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"cuelang.org/go/cue/cuecontext"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"

	"trellis.dev/trellis/schema"
)

// Every problem found in a config repo is a CUE errors.Error: CUE's own
// errors keep their positions, and ours are made with errors.Newf at the
// position of the offending field. They are collected into one list and
// formatted once, at the edge, by Format.

// errorList collects positioned errors, at most max (0: no limit); those
// beyond are only counted, so that a repo of a hundred thousand broken
// documents costs neither the memory of as many errors nor the time to
// find them all: loaders stop once the list is full.
type errorList struct {
	errs    cueerrors.Error
	n       int
	max     int
	dropped int
	// limit is how many problems Problems reports.
	limit int
	// halted is set by a limit on the repo.
	halted bool
}

// newErrorList collects up to 4 × limit errors (several CUE errors often
// make one problem) for Problems to report limit of.
func newErrorList(limit int) *errorList {
	return &errorList{max: 4 * limit, limit: limit}
}

// addf records an error at pos.
func (l *errorList) addf(pos token.Pos, format string, args ...any) {
	l.add(cueerrors.Newf(pos, format, args...))
}

// add records err, keeping its positions if it has any.
func (l *errorList) add(err error) {
	if err == nil {
		return
	}
	for _, e := range cueerrors.Errors(cueerrors.Promote(err, "")) {
		if l.max > 0 && l.n >= l.max {
			l.dropped++
			continue
		}
		l.errs = cueerrors.Append(l.errs, e)
		l.n++
	}
}

// addView records an error of the view about rel; one about a limit on
// the whole repo ends the load (see full).
func (l *errorList) addView(rel string, err error) {
	l.add(viewProblem(rel, err))
	if errors.Is(err, errLimit) && !errors.Is(err, errFileLimit) {
		l.halted = true
	}
}

// full reports whether no more errors are kept, or a limit on the repo
// was reached: loading stops.
func (l *errorList) full() bool {
	return l.halted || (l.max > 0 && l.n >= l.max)
}

// count is the number of errors collected.
func (l *errorList) count() int {
	return l.n + l.dropped
}

// err returns the collected errors, or nil.
func (l *errorList) err() error {
	if l.errs == nil {
		return nil
	}
	if l.dropped > 0 || l.limit > 0 {
		return cueerrors.Append(l.errs, &moreProblems{n: l.dropped, limit: l.limit})
	}
	return l.errs
}

// moreProblems ends an error list: how many errors were not kept, and how
// many problems to report.
type moreProblems struct {
	n, limit int
}

var _ cueerrors.Error = (*moreProblems)(nil)

func (m *moreProblems) Error() string {
	return fmt.Sprintf("… and %d more problems", m.n)
}
func (m *moreProblems) Position() token.Pos         { return token.NoPos }
func (m *moreProblems) InputPositions() []token.Pos { return nil }
func (m *moreProblems) Path() []string              { return nil }
func (m *moreProblems) Msg() (string, []any)        { return m.Error(), nil }

// fileError returns an error at line 1, column 1 of a file.
func fileError(path string, format string, args ...any) cueerrors.Error {
	f := token.NewFile(path, -1, 1)
	return cueerrors.Newf(f.Pos(0, token.NoRelPos), format, args...)
}

// Problem is one formatted error: a position and a message. The last
// problem of a list cut short by Limits.Problems has More set: how many
// more there were.
type Problem struct {
	Path    string `json:"path,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
	More    int    `json:"more,omitempty"`
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return fmt.Sprintf("%s:%d:%d: %s", p.Path, p.Line, p.Column, p.Message)
}

// Problems turns an error from Load or Render into positioned problems, with
// paths relative to root, sorted by position, duplicates removed, at most
// Limits.Problems of them (DefaultProblems for other errors) and then one
// saying how many more there were. explain rewrites messages (nil keeps
// them).
func Problems(err error, root string, explain func(string) string) []Problem {
	if err == nil {
		return nil
	}
	var given *problemsError
	if errors.As(err, &given) {
		return given.problems
	}
	if abs, absErr := filepath.Abs(root); absErr == nil {
		root = abs
		if real, evalErr := filepath.EvalSymlinks(abs); evalErr == nil {
			root = real
		}
	}
	seen := map[string]bool{}
	var out []Problem
	limit, dropped := DefaultProblems, 0
	for _, e := range cueerrors.Errors(err) {
		if m, ok := e.(*moreProblems); ok {
			dropped += m.n
			if m.limit > 0 {
				limit = m.limit
			}
			continue
		}
		p := problem(e, root)
		if explain != nil {
			p.Message = explain(p.Message)
		}
		p.Message = typeConflict(p.Message)
		if strings.Contains(p.Message, "errors in empty disjunction") {
			continue // its parts are reported one by one
		}
		if key := p.String(); !seen[key] {
			seen[key] = true
			out = append(out, p)
		}
	}
	out = collapseDisjunctions(out)
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
	if len(out) > limit {
		dropped += len(out) - limit
		out = out[:limit]
	}
	if dropped > 0 {
		out = append(out, Problem{Message: fmt.Sprintf("… and %d more problems", dropped), More: dropped})
	}
	return out
}

// CountProblems is how many problems ps stands for: each one, and the
// number a last "… and N more problems" stands for.
func CountProblems(ps []Problem) int {
	n := 0
	for _, p := range ps {
		if p.More > 0 {
			n += p.More
		} else {
			n++
		}
	}
	return n
}

// problemsError carries problems already formatted (by a render child),
// and the values of the Secrets of the repo.
type problemsError struct {
	problems []Problem
	secrets  []string
}

func (e *problemsError) Error() string {
	msgs := make([]string, len(e.problems))
	for i, p := range e.problems {
		msgs[i] = p.String()
	}
	return strings.Join(msgs, "\n")
}

// problem picks the most specific position of e that lies in the user's
// repo (not in the embedded schema) and formats the message.
func problem(e cueerrors.Error, root string) Problem {
	format, args := e.Msg()
	path := declPath(e.Path())
	if format == "field not allowed" {
		if hint := fieldHint(e.Path()); hint != "" {
			format, args = "field not allowed: %s", []any{hint}
		}
	}
	sensitive := sensitivePath(path)
	if sensitive {
		args = elide(format, args)
	}
	msg := fmt.Sprintf(format, args...)
	if full := e.Error(); msg == "" || (!sensitive && strings.HasPrefix(full, msg+": ")) {
		msg = full // a wrapped error's message ends with its cause's
	}
	if len(path) > 0 {
		msg = formatPath(path) + ": " + msg
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

// fieldHint says which field a field the schema does not allow might have
// been, from the fields allowed beside it: "did you mean replicas? (known:
// ...)". A declaration checked against its kind's definition has the kind
// in its path; one written in CUE as schema.#Endpoint & {...} has its own
// name there instead, and gets a suggestion only when the kinds agree on
// one. Empty when there is nothing to suggest.
func fieldHint(path []string) string {
	s := hintSchema()
	if s == nil || len(path) < 2 {
		return ""
	}
	field := path[len(path)-1]
	if len(path) >= 3 && path[0] == "#Kinds" {
		if known := s.FieldNames(path[1], path[2:len(path)-1]); len(known) > 0 {
			return schema.Hint(field, known)
		}
		return ""
	}
	top := slices.IndexFunc(path, func(p string) bool { return p == "spec" || p == "metadata" })
	if top < 0 {
		return ""
	}
	suggestions := map[string]bool{}
	for _, kind := range schema.Kinds {
		if c := schema.Closest(field, s.FieldNames(kind, path[top:len(path)-1])); c != "" {
			suggestions[c] = true
		}
	}
	if len(suggestions) != 1 {
		return ""
	}
	for c := range suggestions {
		return "did you mean " + c + "?"
	}
	return ""
}

// hintSchema is the schema fieldHint looks fields up in, compiled once, on
// the first unknown field.
var hintSchema = sync.OnceValue(func() *schema.Schema {
	s, err := schema.Load(cuecontext.New())
	if err != nil {
		return nil
	}
	return s
})

// declPath returns the path of an error inside the declaration: errors of
// a declaration unified with its kind's definition come with the
// definition's path in front.
func declPath(path []string) []string {
	if len(path) >= 2 && path[0] == "#Kinds" {
		return path[2:]
	}
	return path
}

// formatPath prints a field path as the messages of trellis' own checks
// do: spec.steps[0].image.
func formatPath(path []string) string {
	var b strings.Builder
	for i, p := range path {
		switch {
		case isIndex(p):
			b.WriteString("[" + p + "]")
		case i > 0:
			b.WriteString("." + p)
		default:
			b.WriteString(p)
		}
	}
	return b.String()
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
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

// collapseDisjunctions keeps, of the several problems CUE reports for one
// value that matched no branch of a disjunction (a default and its type, an
// enum), the one a user can act on: a bound or a pattern if there is one,
// else a type mismatch, else one "want one of" line for an enum.
func collapseDisjunctions(ps []Problem) []Problem {
	type key struct {
		path         string
		line, column int
	}
	groups := map[key][]int{}
	for i, p := range ps {
		k := key{p.Path, p.Line, p.Column}
		groups[k] = append(groups[k], i)
	}
	drop := map[int]bool{}
	for _, idx := range groups {
		if len(idx) < 2 {
			continue
		}
		keep := pickDisjuncts(ps, idx)
		for _, i := range idx {
			if !keep[i] {
				drop[i] = true
			}
		}
	}
	out := ps[:0]
	for i, p := range ps {
		if !drop[i] {
			out = append(out, p)
		}
	}
	return out
}

// pickDisjuncts returns the problems to keep among idx, which all sit at
// one position, rewriting an enum's conflicts into one message.
func pickDisjuncts(ps []Problem, idx []int) map[int]bool {
	for _, class := range [][]string{{"(out of bound", "(must "}, {"mismatched types"}} {
		keep := map[int]bool{}
		for _, i := range idx {
			for _, want := range class {
				if strings.Contains(ps[i].Message, want) {
					keep[i] = true
				}
			}
		}
		if len(keep) > 0 {
			return keep
		}
	}
	return map[int]bool{enumConflict(ps, idx): true}
}

// enumConflict merges "conflicting values A and V" problems into one
// "invalid value V (want one of A, ...)" and returns its index; problems
// of another shape keep the first.
func enumConflict(ps []Problem, idx []int) int {
	field, value, wants := "", "", []string{}
	for _, i := range idx {
		f, rest, ok := strings.Cut(ps[i].Message, ": conflicting values ")
		a, b, ok2 := strings.Cut(rest, " and ")
		if !ok || !ok2 || (field != "" && f != field) {
			return idx[0] // not an enum: keep the first, drop the echoes
		}
		field = f
		switch {
		case value == "" || value == b:
			value = b
			wants = append(wants, a)
		case value == a:
			wants = append(wants, b)
		default:
			return idx[0]
		}
	}
	sort.Strings(wants)
	ps[idx[0]].Message = fmt.Sprintf("%s: invalid value %s (want one of %s)", field, value, strings.Join(wants, ", "))
	return idx[0]
}

// ElidedValue replaces a value in a message about a field that may hold a
// secret.
const ElidedValue = "<value elided>"

// sensitiveField matches the names of fields whose values may be secret.
var sensitiveField = regexp.MustCompile(`(?i)^(data|stringData|env|.*(password|passwd|secret|token|credential|api_?key|private_?key|auth).*)$`)

// typeMismatch is CUE's message for a value of the wrong type, after the
// field path: conflicting values "3" and int (mismatched types string and
// int). CUE reports one such line per part of the field's type (its
// default and its type), so one value makes several.
var typeMismatch = regexp.MustCompile(`^(.*): conflicting values (.+) and (.+) \(mismatched types (\w+) and (\w+)\)$`)

// typeWords names CUE's types as a YAML author knows them.
var typeWords = map[string]string{
	"int": "an integer", "float": "a number", "number": "a number",
	"string": "a string", "bool": "true or false", "struct": "a mapping",
	"list": "a list", "null": "null", "bytes": "bytes",
}

// typeConflict rewrites a type mismatch into one line that says what the
// field wants and, for a number or boolean written in quotes, how to fix it:
// spec.steps[0].retries: "3" is a string, want an integer: write 3 without
// quotes. Every line CUE makes for the value becomes the same line, so one
// is kept. Other messages are returned as they are.
func typeConflict(msg string) string {
	m := typeMismatch.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	field, value, valueType, wantType := m[1], m[2], m[4], m[5]
	composite := func(v string) bool { return strings.HasPrefix(v, "{") || strings.HasPrefix(v, "[") }
	if typeWords[m[2]] != "" || (composite(m[3]) && !composite(m[2])) {
		// The schema's side came first: a type, or the default of a scalar
		// field given a mapping or a list.
		value, valueType, wantType = m[3], m[5], m[4]
	}
	want := typeWords[wantType]
	if want == "" {
		want = wantType
	}
	if valueType == "struct" || valueType == "list" {
		return fmt.Sprintf("%s: want %s, not %s", field, want, typeWords[valueType])
	}
	out := fmt.Sprintf("%s: %s is %s, want %s", field, value, typeWords[valueType], want)
	if unq, err := strconv.Unquote(value); err == nil && valueType == "string" {
		if _, isNum := strconv.ParseFloat(unq, 64); isNum == nil && (wantType == "int" || wantType == "float" || wantType == "number") ||
			(unq == "true" || unq == "false") && wantType == "bool" {
			out += ": write " + unq + " without quotes"
		}
	}
	return out
}

// sensitivePath reports whether a field path passes through a field that
// may hold a secret: a Secret's data and stringData, environment
// variables, and fields named like credentials.
func sensitivePath(path []string) bool {
	for _, p := range path {
		if sensitiveField.MatchString(p) {
			return true
		}
	}
	return false
}

// elide replaces the values among the arguments of a message by
// ElidedValue: the values a CUE error prints (both sides of a conflict, a
// value out of bounds) are the user's. The types of a type mismatch stay.
func elide(format string, args []any) []any {
	out := make([]any, len(args))
	keep := 0
	if strings.HasSuffix(format, "(mismatched types %s and %s)") {
		keep = 2
	}
	for i := range args {
		out[i] = ElidedValue
		if i >= len(args)-keep {
			out[i] = args[i]
		}
	}
	return out
}
