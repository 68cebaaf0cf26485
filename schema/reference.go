package schema

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"cuelang.org/go/cue"
)

// The declaration reference: every field of every kind, generated from the
// CUE definitions (their doc comments, types and defaults) and from example
// declarations (the first value each field has in them), so that the
// README's reference cannot drift from the schema.

// RefField is one field of the declaration reference.
type RefField struct {
	// Path is the field's path from the declaration's root, with [] for a
	// list element and [NAME] for a map entry ("spec.steps[].name").
	Path string
	// Type describes the field's values.
	Type string
	// Default is the default value as JSON, or "".
	Default string
	// Doc is the field's doc comment.
	Doc string
	// Example is a value of the field in an example declaration, or "".
	Example string
}

// Reference returns the fields of a kind, in schema order, with examples
// taken from examples (declarations of any kind, as JSON values).
func (s *Schema) Reference(kind string, examples []map[string]any) ([]RefField, error) {
	def, ok := s.Kind(kind)
	if !ok {
		return nil, fmt.Errorf("unknown kind %q", kind)
	}
	var own []map[string]any
	for _, e := range examples {
		if e["kind"] == kind {
			own = append(own, e)
		}
	}
	w := refWalker{seen: map[string]bool{}, defs: map[string]string{}}
	for _, top := range []string{"metadata", "spec"} {
		w.field(top, def.LookupPath(cue.ParsePath(top)))
	}
	for i := range w.out {
		if w.out[i].Type != "object" {
			w.out[i].Example = exampleOf(own, w.out[i].Path)
		}
	}
	return w.out, nil
}

// refWalker collects the fields of a definition.
type refWalker struct {
	out  []RefField
	seen map[string]bool
	// defs maps a definition a list's elements are (#Step) to the first
	// path listed with its fields: later lists of it refer there.
	defs map[string]string
}

// field records one field and descends into it.
func (w *refWalker) field(path string, v cue.Value) {
	if !w.seen[path] {
		w.seen[path] = true
		w.out = append(w.out, RefField{Path: path, Type: typeOf(v), Default: defaultOf(v), Doc: docOf(v)})
	} else if i := w.index(path); strings.Contains(w.out[i].Type, "_|_") {
		// An earlier variant left it incomplete (max: >=min, with min unset).
		w.out[i].Type = typeOf(v)
	}
	if elem, ok := listElem(v); ok && v.IncompleteKind() == cue.ListKind && definitionOf(elem) != "" {
		if first, dup := w.defs[definitionOf(elem)]; dup {
			i := w.index(path)
			w.out[i].Type += " (each as `" + first + "`)"
			return
		}
		w.defs[definitionOf(elem)] = path + "[]"
	}
	w.children(path, v)
}

// index returns the position of path's row.
func (w *refWalker) index(path string) int {
	for i := range w.out {
		if w.out[i].Path == path {
			return i
		}
	}
	return -1
}

// definitionOf returns the definition v refers to ("#Step"), or "".
func definitionOf(v cue.Value) string {
	_, ref := v.ReferencePath()
	if sels := ref.Selectors(); len(sels) == 1 && sels[0].IsDefinition() {
		return sels[0].String()
	}
	return ""
}

// children descends into a struct's fields (each variant's, for a struct
// whose kind or type field picks which fields it has), a list's element
// and a map's values.
func (w *refWalker) children(path string, v cue.Value) {
	kind := v.IncompleteKind()
	if kind == cue.BottomKind && len(variants(v)) > 1 {
		// A struct whose fields depend on its kind or type is incomplete
		// until one is chosen.
		kind = cue.StructKind
	}
	switch kind {
	case cue.StructKind:
		for _, variant := range variants(v) {
			it, err := variant.Fields(cue.Optional(true))
			if err != nil {
				continue
			}
			for it.Next() {
				sel := it.Selector()
				if sel.IsDefinition() || sel.PkgPath() != "" {
					continue
				}
				w.field(path+"."+sel.Unquoted(), it.Value())
			}
		}
		if elem, ok := mapElem(v); ok && elem.IncompleteKind() == cue.StructKind {
			w.children(path+"[NAME]", elem)
		}
	case cue.ListKind:
		if elem, ok := listElem(v); ok {
			w.children(path+"[]", elem)
		}
	}
}

// variants returns v filled with each value of its kind or type field
// when that field is a choice of strings, else v alone: fields that exist
// for one kind only (a File collector's path) are listed too.
func variants(v cue.Value) []cue.Value {
	for _, key := range []string{"kind", "type"} {
		f := v.LookupPath(cue.ParsePath(key))
		if !f.Exists() {
			continue
		}
		choices := stringChoices(f)
		if len(choices) < 2 {
			continue
		}
		out := []cue.Value{v}
		for _, c := range choices {
			if filled := v.FillPath(cue.ParsePath(key), c); filled.Err() == nil {
				out = append(out, filled)
			}
		}
		return out
	}
	return []cue.Value{v}
}

// listElem returns the value of a list's elements: its first, when the
// list requires one, else what any element must be.
func listElem(v cue.Value) (cue.Value, bool) {
	for _, sel := range []cue.Selector{cue.Index(0), cue.AnyIndex} {
		if elem := v.LookupPath(cue.MakePath(sel)); elem.Exists() && elem.Err() == nil {
			return elem, true
		}
	}
	return cue.Value{}, false
}

// mapKey is a key that every map's key pattern of the schema admits.
const mapKey = "a"

// mapElem returns the value of an entry of v when v is a map (a struct
// with a pattern of keys and no field of its own): what a new key holds.
func mapElem(v cue.Value) (cue.Value, bool) {
	if v.LookupPath(cue.ParsePath(mapKey)).Exists() {
		return cue.Value{}, false
	}
	it, err := v.Fields(cue.Optional(true))
	if err != nil || it.Next() {
		return cue.Value{}, false
	}
	filled := v.FillPath(cue.ParsePath(mapKey), v.Context().CompileString("_"))
	elem := filled.LookupPath(cue.ParsePath(mapKey))
	if filled.Err() != nil || !elem.Exists() || elem.Err() != nil {
		return cue.Value{}, false
	}
	return elem, true
}

// stringChoices returns the strings of a disjunction of string literals,
// or nil.
func stringChoices(v cue.Value) []string {
	op, args := v.Expr()
	if op != cue.OrOp {
		return nil
	}
	var out []string
	for _, a := range args {
		s, err := a.String()
		if err != nil {
			return nil
		}
		out = append(out, s)
	}
	return out
}

// typeOf describes a field's values.
func typeOf(v cue.Value) string {
	if choices := stringChoices(v); len(choices) > 0 {
		return `"` + strings.Join(choices, `" \| "`) + `"`
	}
	k := v.IncompleteKind()
	if k == cue.BottomKind && len(variants(v)) > 1 {
		k = cue.StructKind
	}
	if op, args := v.Expr(); k == cue.BottomKind && op == cue.AndOp {
		// A bound on another field (max: >=min) is incomplete alone:
		// describe its first conjunct.
		for _, a := range args {
			if a.IncompleteKind() != cue.BottomKind {
				return typeOf(a)
			}
		}
	}
	switch k {
	case cue.StructKind:
		if elem, ok := mapElem(v); ok {
			return "map of " + typeOf(elem)
		}
		return "object"
	case cue.ListKind:
		if elem, ok := listElem(v); ok {
			return "list of " + typeOf(elem)
		}
		return "list"
	default:
		return strings.ReplaceAll(k.String(), "|", `\|`)
	}
}

// defaultOf returns a field's default as JSON, or "".
func defaultOf(v cue.Value) string {
	d, ok := v.Default()
	if !ok || !d.IsConcrete() {
		return ""
	}
	if k := d.Kind(); k == cue.StructKind {
		return ""
	}
	b, err := json.Marshal(d)
	if err != nil {
		return ""
	}
	return string(b)
}

// docOf returns a field's doc comment as one line.
func docOf(v cue.Value) string {
	docs := v.Doc()
	if len(docs) == 0 {
		return ""
	}
	return strings.Join(strings.Fields(docs[0].Text()), " ")
}

// exampleOf returns the first value of path in the examples, as compact
// JSON, or "".
func exampleOf(examples []map[string]any, path string) string {
	for _, e := range examples {
		for _, v := range valuesAt(e, splitPath(path)) {
			b, err := json.Marshal(v)
			if err != nil || string(b) == "null" {
				continue
			}
			return string(b)
		}
	}
	return ""
}

// splitPath splits a reference path into its steps: a field name, "[]" or
// "[NAME]".
func splitPath(path string) []string {
	var out []string
	for _, part := range strings.Split(path, ".") {
		name, rest, _ := strings.Cut(part, "[")
		out = append(out, name)
		for rest != "" {
			step, more, _ := strings.Cut(rest, "]")
			out = append(out, "["+step+"]")
			rest = strings.TrimPrefix(more, "[")
		}
	}
	return out
}

// valuesAt returns the values at steps in v: every element of a list for
// "[]", every value of a map for "[NAME]", sorted by key.
func valuesAt(v any, steps []string) []any {
	if len(steps) == 0 {
		return []any{v}
	}
	var out []any
	switch step := steps[0]; {
	case step == "[]":
		list, _ := v.([]any)
		for _, x := range list {
			out = append(out, valuesAt(x, steps[1:])...)
		}
	case step == "[NAME]":
		m, _ := v.(map[string]any)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, valuesAt(m[k], steps[1:])...)
		}
	default:
		m, _ := v.(map[string]any)
		if x, ok := m[step]; ok {
			out = valuesAt(x, steps[1:])
		}
	}
	return out
}

// ReferenceMarkdown returns the reference of every kind as Markdown: one
// table per kind, each field with its type, default, description and an
// example.
func (s *Schema) ReferenceMarkdown(examples []map[string]any) (string, error) {
	var b strings.Builder
	for _, kind := range Kinds {
		fields, err := s.Reference(kind, examples)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "<details><summary><code>%s</code>: %d fields</summary>\n\n", kind, len(fields))
		b.WriteString("| field | type | default | description | example |\n| --- | --- | --- | --- | --- |\n")
		for _, f := range fields {
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", f.Path, f.Type, code(f.Default), cell(f.Doc), code(shorten(f.Example, 80)))
		}
		b.WriteString("\n</details>\n")
	}
	return b.String(), nil
}

// cell escapes text for a Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}

// code formats a value as inline code in a table cell, or "" for none.
func code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + strings.ReplaceAll(s, "|", `\|`) + "`"
}

// shorten cuts s to at most n runes, marking the cut.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
