package schema

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
)

// A Checker decides, without CUE's evaluator, what unifying a declaration
// with its kind's definition gives: the declaration with the schema's
// defaults filled in. It is compiled from the schema's own source, for the
// part of CUE the schema is written in: closed structs, optional and
// pattern fields, embedded definitions, lists, disjunctions with defaults,
// basic types, bounds, regular expressions and strings.MinRunes/MaxRunes.
// Anything else (a comprehension, a reference to a sibling field, another
// builtin) compiles to a node that never decides.
//
// It is a fast path and nothing more: Check answers ok only when the
// declaration is valid and its result is certain; for anything else (an
// invalid declaration, a value it does not model) it answers !ok and the
// caller unifies with CUE, which also words the error and places it. The
// differential tests and the fuzz target in render hold it to CUE's
// answers.
type Checker struct {
	kinds map[string]node
}

// Data is what Check takes: a declaration decoded into map[string]any,
// []any, string, bool, int64 (an integer literal) and float64 (a decimal
// literal). Check returns the defaulted declaration in the form
// encoding/json decodes JSON into (numbers as float64).

// Check returns the declaration of kind with its defaults, or !ok when the
// Checker cannot tell (the declaration may then be valid or not).
func (c *Checker) Check(kind string, data map[string]any) (map[string]any, bool) {
	n, ok := c.kinds[kind]
	if !ok {
		return nil, false
	}
	out, vd := n.check(data)
	if vd != good {
		return nil, false
	}
	m, ok := out.(map[string]any)
	if !ok {
		return nil, false
	}
	return m, canonical(m)
}

// Decides reports whether the Checker can accept declarations of kind at
// all: false when its definition compiled to a node that never decides.
func (c *Checker) Decides(kind string) bool {
	n, ok := c.kinds[kind]
	return ok && !containsOpaque(n, map[node]bool{})
}

// maxExactInt is the largest integer a float64 holds exactly: beyond it
// the JSON of a declaration would change in a round trip, so Check leaves
// such numbers to CUE.
const maxExactInt = 1 << 53

// canonical turns the int64s of v into float64s, in place, and reports
// whether every one was exact.
func canonical(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			e, ok := canonicalElem(e)
			if !ok {
				return false
			}
			v[k] = e
		}
	case []any:
		for k, e := range v {
			e, ok := canonicalElem(e)
			if !ok {
				return false
			}
			v[k] = e
		}
	}
	return true
}

// canonicalElem is canonical for an element of a map or list: an int64
// comes back a float64.
func canonicalElem(e any) (any, bool) {
	if i, ok := e.(int64); ok {
		return float64(i), i <= maxExactInt && i >= -maxExactInt
	}
	return e, canonical(e)
}

// verdict is what checking a value tells.
type verdict uint8

const (
	bad    verdict = iota // CUE would reject the value
	good                  // CUE would accept it, giving the result
	unsure                // the Checker cannot tell
)

// node is a compiled CUE expression.
type node interface {
	// check returns what unifying the node with v gives.
	check(v any) (any, verdict)
	// dflt returns the node's value when the declaration does not set it
	// (a default, a literal, an empty open list, a struct of those), or
	// !ok when CUE would find it incomplete.
	dflt() (any, bool)
}

// newChecker compiles the kinds of the schema s from its embedded sources.
func (s *Schema) newChecker() (*Checker, error) {
	b := &builder{s: s, defs: map[string]ast.Expr{}, done: map[string]node{}, busy: map[string]bool{}}
	for _, f := range Files() {
		file, err := parser.ParseFile(f.Name, f.Data)
		if err != nil {
			return nil, fmt.Errorf("schema: %w", err)
		}
		for _, d := range file.Decls {
			fd, ok := d.(*ast.Field)
			if !ok {
				continue
			}
			if name, ok := identLabel(fd.Label); ok {
				b.defs[name] = fd.Value
			}
		}
	}
	c := &Checker{kinds: map[string]node{}}
	for _, k := range Kinds {
		c.kinds[k] = b.ref("#" + k)
	}
	return c, nil
}

// builder compiles definitions, each once.
type builder struct {
	s    *Schema
	defs map[string]ast.Expr
	done map[string]node
	busy map[string]bool
}

func identLabel(l ast.Label) (string, bool) {
	switch l := l.(type) {
	case *ast.Ident:
		return l.Name, true
	case *ast.BasicLit:
		if l.Kind == token.STRING {
			s, err := literal.Unquote(l.Value)
			return s, err == nil
		}
	}
	return "", false
}

// ref compiles the top-level definition or hidden field name. One whose
// value is a concrete string, number or bool (a pattern such as
// #NamePattern, built by interpolation) is that literal.
func (b *builder) ref(name string) node {
	if n, ok := b.done[name]; ok {
		return n
	}
	if b.busy[name] {
		return opaque{} // a recursive definition
	}
	expr, ok := b.defs[name]
	if !ok {
		return opaque{}
	}
	b.busy[name] = true
	defer delete(b.busy, name)
	var n node = opaque{}
	if strings.HasPrefix(name, "#") {
		if v := b.s.Value.LookupPath(cue.MakePath(cue.Def(name))); v.IsConcrete() {
			if lit, ok := concreteLiteral(v); ok {
				n = lit
			}
		}
	}
	if _, isLit := n.(literalNode); !isLit {
		if strings.HasPrefix(name, "_") {
			n = opaque{} // hidden fields only build the patterns
		} else {
			n = b.expr(expr)
		}
	}
	b.done[name] = n
	return n
}

func concreteLiteral(v cue.Value) (literalNode, bool) {
	switch v.Kind() {
	case cue.StringKind:
		s, err := v.String()
		return literalNode{s}, err == nil
	case cue.BoolKind:
		x, err := v.Bool()
		return literalNode{x}, err == nil
	case cue.IntKind:
		x, err := v.Int64()
		return literalNode{x}, err == nil
	}
	return literalNode{}, false
}

// expr compiles one expression of a definition.
func (b *builder) expr(e ast.Expr) node {
	switch e := e.(type) {
	case *ast.ParenExpr:
		return b.expr(e.X)
	case *ast.Ident:
		switch e.Name {
		case "string", "int", "float", "number", "bool", "null", "_":
			return kindNode(e.Name)
		}
		if strings.HasPrefix(e.Name, "#") {
			return b.ref(e.Name)
		}
		return opaque{} // a sibling field, an alias: needs the evaluator
	case *ast.BasicLit:
		if v, ok := basicLit(e); ok {
			return literalNode{v}
		}
	case *ast.UnaryExpr:
		return b.unary(e)
	case *ast.BinaryExpr:
		switch e.Op {
		case token.AND:
			return conj{b.expr(e.X), b.expr(e.Y)}
		case token.OR:
			var d disj
			for _, alt := range flattenOr(e) {
				if u, ok := alt.(*ast.UnaryExpr); ok && u.Op == token.MUL {
					if d.hasDef {
						return opaque{}
					}
					d.def, d.hasDef = len(d.alts), true
					alt = u.X
				}
				d.alts = append(d.alts, b.expr(alt))
			}
			return d
		}
	case *ast.StructLit:
		return b.structLit(e)
	case *ast.ListLit:
		var l listNode
		for i, elt := range e.Elts {
			if el, ok := elt.(*ast.Ellipsis); ok {
				if i != len(e.Elts)-1 {
					return opaque{}
				}
				l.open = true
				l.rest = kindNode("_")
				if el.Type != nil {
					l.rest = b.expr(el.Type)
				}
				continue
			}
			l.prefix = append(l.prefix, b.expr(elt))
		}
		return l
	case *ast.CallExpr:
		return b.call(e)
	}
	return opaque{}
}

func flattenOr(e ast.Expr) []ast.Expr {
	if be, ok := e.(*ast.BinaryExpr); ok && be.Op == token.OR {
		return append(flattenOr(be.X), flattenOr(be.Y)...)
	}
	if pe, ok := e.(*ast.ParenExpr); ok {
		if be, ok := pe.X.(*ast.BinaryExpr); ok && be.Op == token.OR {
			return flattenOr(be)
		}
	}
	return []ast.Expr{e}
}

func basicLit(e *ast.BasicLit) (any, bool) {
	switch e.Kind {
	case token.STRING:
		s, err := literal.Unquote(e.Value)
		return s, err == nil
	case token.INT:
		i, err := strconv.ParseInt(e.Value, 10, 64)
		return i, err == nil
	case token.FLOAT:
		f, err := strconv.ParseFloat(e.Value, 64)
		return f, err == nil
	case token.TRUE:
		return true, true
	case token.FALSE:
		return false, true
	}
	return nil, false
}

// constant is the literal value of e: a literal, a negative number or a
// definition that is a literal.
func (b *builder) constant(e ast.Expr) (any, bool) {
	switch x := b.expr(e).(type) {
	case literalNode:
		return x.v, true
	}
	if u, ok := e.(*ast.UnaryExpr); ok && u.Op == token.SUB {
		if lit, ok := u.X.(*ast.BasicLit); ok {
			switch v, _ := basicLit(lit); v := v.(type) {
			case int64:
				return -v, true
			case float64:
				return -v, true
			}
		}
	}
	return nil, false
}

func (b *builder) unary(e *ast.UnaryExpr) node {
	if e.Op == token.SUB {
		if v, ok := b.constant(e); ok {
			return literalNode{v}
		}
		return opaque{}
	}
	v, ok := b.constant(e.X)
	if !ok {
		return opaque{}
	}
	switch e.Op {
	case token.MAT, token.NMAT:
		s, ok := v.(string)
		if !ok {
			return opaque{}
		}
		re, err := regexp.Compile(s)
		if err != nil {
			return opaque{}
		}
		return regexNode{re: re, match: e.Op == token.MAT}
	case token.GEQ, token.LEQ, token.GTR, token.LSS, token.NEQ:
		return boundNode{op: e.Op, v: v}
	}
	return opaque{}
}

func (b *builder) call(e *ast.CallExpr) node {
	sel, ok := e.Fun.(*ast.SelectorExpr)
	if !ok || len(e.Args) != 1 {
		return opaque{}
	}
	pkg, ok := sel.X.(*ast.Ident)
	name, ok2 := identLabel(sel.Sel)
	if !ok || !ok2 || pkg.Name != "strings" {
		return opaque{}
	}
	v, ok := b.constant(e.Args[0])
	n, isInt := v.(int64)
	if !ok || !isInt {
		return opaque{}
	}
	switch name {
	case "MaxRunes":
		return runesNode{max: true, n: int(n)}
	case "MinRunes":
		return runesNode{n: int(n)}
	}
	return opaque{}
}

func (b *builder) structLit(e *ast.StructLit) node {
	s := &structNode{fields: map[string]*field{}}
	for _, d := range e.Elts {
		switch d := d.(type) {
		case *ast.Field:
			if list, ok := d.Label.(*ast.ListLit); ok { // [pattern]: value
				if len(list.Elts) != 1 || d.Constraint != token.ILLEGAL {
					return opaque{}
				}
				s.patterns = append(s.patterns, pattern{key: b.expr(list.Elts[0]), value: b.expr(d.Value)})
				continue
			}
			name, ok := identLabel(d.Label)
			if !ok || d.Alias != nil || strings.HasPrefix(name, "#") || strings.HasPrefix(name, "_") {
				return opaque{}
			}
			if _, dup := s.fields[name]; dup {
				return opaque{}
			}
			s.fields[name] = &field{node: b.expr(d.Value), optional: d.Constraint == token.OPTION, required: d.Constraint == token.NOT}
			s.order = append(s.order, name)
		case *ast.EmbedDecl:
			emb, ok := b.expr(d.Expr).(*structNode)
			if !ok {
				return opaque{}
			}
			for _, name := range emb.order {
				if _, dup := s.fields[name]; dup {
					return opaque{}
				}
				s.fields[name] = emb.fields[name]
				s.order = append(s.order, name)
			}
			s.patterns = append(s.patterns, emb.patterns...)
			s.open = s.open || emb.open
		case *ast.Ellipsis:
			if d.Type != nil {
				return opaque{}
			}
			s.open = true
		case *ast.CommentGroup, *ast.Attribute:
		default: // a comprehension, a let clause
			return opaque{}
		}
	}
	return s
}

// The nodes.

func verdictOf(ok bool) verdict {
	if ok {
		return good
	}
	return bad
}

// opaque is CUE the Checker does not model: it never decides.
type opaque struct{}

func (opaque) check(any) (any, verdict) { return nil, unsure }
func (opaque) dflt() (any, bool)        { return nil, false }

// kindNode is a basic type: string, int, float, number, bool, null or _.
type kindNode string

func (k kindNode) check(v any) (any, verdict) {
	switch v.(type) {
	case string:
		return v, verdictOf(k == "string" || k == "_")
	case int64:
		return v, verdictOf(k == "int" || k == "number" || k == "_")
	case float64:
		return v, verdictOf(k == "float" || k == "number" || k == "_")
	case bool:
		return v, verdictOf(k == "bool" || k == "_")
	case nil:
		return v, verdictOf(k == "null" || k == "_")
	case map[string]any, []any:
		if k != "_" {
			return nil, bad
		}
		if !concrete(v) {
			return nil, unsure
		}
		return v, good
	}
	return nil, unsure
}

func (kindNode) dflt() (any, bool) { return nil, false }

// concrete reports whether v is data the Checker knows, all the way down.
func concrete(v any) bool {
	switch v := v.(type) {
	case string, int64, float64, bool, nil:
		return true
	case map[string]any:
		for _, e := range v {
			if !concrete(e) {
				return false
			}
		}
		return true
	case []any:
		for _, e := range v {
			if !concrete(e) {
				return false
			}
		}
		return true
	}
	return false
}

// literalNode is one value: "Pipeline", 5, true.
type literalNode struct{ v any }

func (l literalNode) check(v any) (any, verdict) {
	if !isScalar(v) {
		return nil, bad
	}
	if _, isFloat := v.(float64); isFloat {
		if _, litInt := l.v.(int64); litInt {
			return nil, unsure // 5 & 5.0: leave CUE's number rules to CUE
		}
	}
	return v, verdictOf(v == l.v)
}

func (l literalNode) dflt() (any, bool) { return l.v, true }

// boundNode is >=, <=, >, < or != a number or a string.
type boundNode struct {
	op token.Token
	v  any
}

func (b boundNode) check(v any) (any, verdict) {
	c, ok := compare(v, b.v)
	if !ok {
		return nil, bad
	}
	switch b.op {
	case token.GEQ:
		ok = c >= 0
	case token.LEQ:
		ok = c <= 0
	case token.GTR:
		ok = c > 0
	case token.LSS:
		ok = c < 0
	case token.NEQ:
		ok = c != 0
	}
	return v, verdictOf(ok)
}

func (boundNode) dflt() (any, bool) { return nil, false }

// compare orders two numbers or two strings.
func compare(a, b any) (int, bool) {
	if as, ok := a.(string); ok {
		bs, ok := b.(string)
		return strings.Compare(as, bs), ok
	}
	af, ok1 := number(a)
	bf, ok2 := number(b)
	if !ok1 || !ok2 || math.IsNaN(af) || math.IsNaN(bf) {
		return 0, false
	}
	switch {
	case af < bf:
		return -1, true
	case af > bf:
		return 1, true
	}
	return 0, true
}

func number(v any) (float64, bool) {
	switch v := v.(type) {
	case int64:
		if v > maxExactInt || v < -maxExactInt {
			return 0, false
		}
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}

// regexNode is =~ or !~ a regular expression (RE2, as CUE's).
type regexNode struct {
	re    *regexp.Regexp
	match bool
}

func (r regexNode) check(v any) (any, verdict) {
	s, ok := v.(string)
	return v, verdictOf(ok && r.re.MatchString(s) == r.match)
}

func (regexNode) dflt() (any, bool) { return nil, false }

// runesNode is strings.MaxRunes(n) or strings.MinRunes(n).
type runesNode struct {
	max bool
	n   int
}

func (r runesNode) check(v any) (any, verdict) {
	s, ok := v.(string)
	if !ok {
		return nil, bad
	}
	c := utf8.RuneCountInString(s)
	if r.max {
		return v, verdictOf(c <= r.n)
	}
	return v, verdictOf(c >= r.n)
}

func (runesNode) dflt() (any, bool) { return nil, false }

// conj is a & b.
type conj struct{ a, b node }

func (c conj) check(v any) (any, verdict) {
	out, va := c.a.check(v)
	out2, vb := c.b.check(v)
	switch {
	case va == bad || vb == bad:
		return nil, bad
	case va == unsure || vb == unsure:
		return nil, unsure
	// Validators return v itself; a struct or list returns it defaulted.
	// Two results that differ would need CUE to merge them.
	case isScalar(v):
		return v, good
	case sameValue(out, v):
		return out2, good
	case sameValue(out2, v):
		return out, good
	case reflect.DeepEqual(out, out2):
		return out, good
	}
	return nil, unsure
}

func (c conj) dflt() (any, bool) {
	for _, n := range []node{c.a, c.b} {
		if d, ok := n.dflt(); ok {
			out, v := c.check(d)
			return out, v == good
		}
	}
	return nil, false
}

func isScalar(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return false
	}
	return true
}

// sameValue reports whether a is the very map or list b (a validator
// passed it through).
func sameValue(a, b any) bool {
	switch b := b.(type) {
	case map[string]any:
		am, ok := a.(map[string]any)
		return ok && reflect.ValueOf(am).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
	case []any:
		al, ok := a.([]any)
		return ok && len(al) == len(b) && (len(b) == 0 || &al[0] == &b[0])
	}
	return false
}

// disj is a | b | ..., with at most one default (*a).
type disj struct {
	alts   []node
	def    int
	hasDef bool
}

func (d disj) check(v any) (any, verdict) {
	var out any
	n := 0
	for _, a := range d.alts {
		o, vd := a.check(v)
		switch vd {
		case unsure:
			return nil, unsure // it might have matched
		case bad:
			continue
		}
		if n > 0 && !reflect.DeepEqual(o, out) {
			return nil, unsure // CUE would pick by default or call it ambiguous
		}
		out, n = o, n+1
	}
	return out, verdictOf(n > 0)
}

func (d disj) dflt() (any, bool) {
	if !d.hasDef {
		return nil, false
	}
	return d.alts[d.def].dflt()
}

// listNode is [a, b, ...T].
type listNode struct {
	prefix []node
	open   bool
	rest   node
}

func (l listNode) check(v any) (any, verdict) {
	list, ok := v.([]any)
	if !ok || len(list) < len(l.prefix) || (!l.open && len(list) != len(l.prefix)) {
		return nil, bad
	}
	out := make([]any, len(list))
	for i, e := range list {
		n := l.rest
		if i < len(l.prefix) {
			n = l.prefix[i]
		}
		var vd verdict
		if out[i], vd = n.check(e); vd != good {
			return nil, vd
		}
	}
	return out, good
}

func (l listNode) dflt() (any, bool) {
	if l.open && len(l.prefix) > 0 {
		return nil, false
	}
	out := make([]any, 0, len(l.prefix))
	for _, n := range l.prefix {
		d, ok := n.dflt()
		if !ok {
			return nil, false
		}
		out = append(out, d)
	}
	return out, true
}

// structNode is a struct of a definition: closed unless it has "...".
type structNode struct {
	fields   map[string]*field
	order    []string
	patterns []pattern
	open     bool
}

type field struct {
	node     node
	optional bool // name?: T
	required bool // name!: T
}

// pattern is [key]: value.
type pattern struct{ key, value node }

func (s *structNode) check(v any) (any, verdict) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, bad
	}
	out := make(map[string]any, len(m)+len(s.fields))
	for k, e := range m {
		var n node
		if f, ok := s.fields[k]; ok {
			n = f.node
		}
		for _, p := range s.patterns {
			_, vd := p.key.check(k)
			if vd == unsure {
				return nil, unsure
			}
			if vd == bad {
				continue
			}
			if n != nil {
				return nil, unsure // a field and a pattern both apply
			}
			n = p.value
		}
		switch {
		case n != nil:
			var vd verdict
			if out[k], vd = n.check(e); vd != good {
				return nil, vd
			}
		case s.open:
			if !concrete(e) {
				return nil, unsure
			}
			out[k] = e
		default:
			return nil, bad // not allowed by a closed struct
		}
	}
	for _, k := range s.order {
		if _, set := m[k]; set {
			continue
		}
		f := s.fields[k]
		if f.optional {
			continue
		}
		if f.required {
			return nil, bad
		}
		d, ok := f.node.dflt()
		if !ok {
			return nil, unsure // incomplete, or a default the Checker cannot tell
		}
		out[k] = d
	}
	return out, good
}

func (s *structNode) dflt() (any, bool) {
	out, vd := s.check(map[string]any{})
	return out, vd == good
}

// containsOpaque reports whether n or a node within it never decides.
func containsOpaque(n node, seen map[node]bool) bool {
	switch n := n.(type) {
	case opaque:
		return true
	case conj:
		return containsOpaque(n.a, seen) || containsOpaque(n.b, seen)
	case disj:
		for _, a := range n.alts {
			if containsOpaque(a, seen) {
				return true
			}
		}
	case listNode:
		for _, p := range n.prefix {
			if containsOpaque(p, seen) {
				return true
			}
		}
		return n.open && containsOpaque(n.rest, seen)
	case *structNode:
		if seen[n] {
			return false
		}
		seen[n] = true
		for _, f := range n.fields {
			if containsOpaque(f.node, seen) {
				return true
			}
		}
		for _, p := range n.patterns {
			if containsOpaque(p.key, seen) || containsOpaque(p.value, seen) {
				return true
			}
		}
	}
	return false
}
