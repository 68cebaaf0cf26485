package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/token"
	"go.yaml.in/yaml/v3"

	"trellis.dev/trellis/schema"
)

// The fast path of loading declarations: a declaration is decoded into
// plain data and validated by the schema's Checker instead of being
// unified with the schema by CUE, which costs about ten times as much.
// A YAML or JSON file takes it only when every document is a declaration
// the Checker accepts; anything else (a Kubernetes object, an invalid
// declaration, YAML the fast path does not model such as anchors, tags or
// nulls) sends the whole file down CUE's path, which gives the same
// result or the error with its position. A declaration written in CUE
// takes it when its package is plain (see plainCUE) and its value is
// concrete. The tests compare both paths on every fixture of the project.

var (
	// fastPathOff turns the fast path off: the tests that compare the
	// paths.
	fastPathOff bool
	// fastTaken counts the declarations that took the fast path.
	fastTaken atomic.Int64
)

// fastFile loads the declarations of the YAML stream data, or returns
// false having recorded nothing.
func (l *loader) fastFile(rel string, data []byte) ([]docResult, bool) {
	if fastPathOff {
		return nil, false
	}
	checker := l.schema.Checker()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var decls []*Declaration
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, false
		}
		v, ok := yamlData(&doc, 0)
		m, isMap := v.(map[string]any)
		if !ok || !isMap || m["apiVersion"] != schema.APIVersion {
			return nil, false
		}
		kind, _ := m["kind"].(string)
		canon, ok := checker.Check(kind, m)
		if !ok {
			return nil, false
		}
		d, err := newDeclaration(kind, rel, canon, nil)
		if err != nil {
			return nil, false
		}
		decls = append(decls, d)
	}
	if len(decls) == 0 {
		return nil, false
	}
	fastTaken.Add(int64(len(decls)))
	docs := make([]docResult, len(decls))
	for i, d := range decls {
		d.origin = origin{src: l.src, rel: rel, doc: i}
		docs[i].decls = []*Declaration{d}
	}
	return docs, true
}

// fastCUE records the declaration v of kind, of a package that pkgPlain
// says may, when it is concrete and the Checker accepts it; it returns
// false, having recorded nothing, otherwise. Unifying such a value with
// the schema can only fail or add the schema's defaults: the CUE that
// could make the two orders differ (a disjunction's defaults, a closed
// definition of the user's that the defaults would not fit) is what
// pkgPlain excludes.
func (l *loader) fastCUE(v cue.Value, kind, rel string) bool {
	if fastPathOff {
		return false
	}
	raw, err := v.MarshalJSON()
	if err != nil {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var data any
	if dec.Decode(&data) != nil {
		return false
	}
	data, ok := jsonData(data, 0)
	m, isMap := data.(map[string]any)
	if !ok || !isMap || m["apiVersion"] != schema.APIVersion {
		return false
	}
	canon, ok := l.schema.Checker().Check(kind, m)
	if !ok {
		return false
	}
	d, err := newDeclaration(kind, rel, canon, nil)
	if err != nil {
		return false
	}
	d.origin, d.pkgDir = l.origin, l.pkgDir
	l.repo.Declarations = append(l.repo.Declarations, d)
	fastTaken.Add(1)
	return true
}

// plainCUE reports whether inst and its imports, but the schema, are
// written without a disjunction, a default, a definition or close().
func plainCUE(inst *build.Instance, seen map[*build.Instance]bool) bool {
	if seen[inst] || inst.ImportPath == schema.ImportPath {
		return true
	}
	seen[inst] = true
	plain := true
	for _, f := range inst.Files {
		ast.Walk(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BinaryExpr:
				plain = plain && n.Op != token.OR
			case *ast.UnaryExpr:
				plain = plain && n.Op != token.MUL
			case *ast.Field:
				if name, _, err := ast.LabelName(n.Label); err == nil && (strings.HasPrefix(name, "#") || strings.HasPrefix(name, "_#")) {
					plain = false
				}
			case *ast.CallExpr:
				if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "close" {
					plain = false
				}
			}
			return plain
		}, nil)
	}
	for _, imp := range inst.Imports {
		plain = plain && plainCUE(imp, seen)
	}
	return plain
}

// jsonData turns the numbers of JSON decoded with UseNumber into the
// Checker's int64 and float64, refusing (false) those yamlData refuses.
func jsonData(v any, depth int) (any, bool) {
	if depth > maxDataDepth {
		return nil, false
	}
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			e, ok := jsonData(e, depth+1)
			if !ok {
				return nil, false
			}
			v[k] = e
		}
		return v, true
	case []any:
		for i, e := range v {
			e, ok := jsonData(e, depth+1)
			if !ok {
				return nil, false
			}
			v[i] = e
		}
		return v, true
	case json.Number:
		return plainNumber(string(v))
	case string, bool:
		return v, true
	}
	return nil, false // null
}

// plainNumber parses a plain integer or a decimal that prints back as
// written: the spec's quantities and parameters keep a number's text.
func plainNumber(s string) (any, bool) {
	if plainInt.MatchString(s) {
		i, err := strconv.ParseInt(s, 10, 64)
		return i, err == nil
	}
	if plainFloat.MatchString(s) {
		f, err := strconv.ParseFloat(s, 64)
		if b, _ := json.Marshal(f); err == nil && string(b) == s {
			return f, true
		}
	}
	return nil, false
}

// newDeclaration makes the Declaration of kind from canon, its defaulted
// value as encoding/json decodes it. raw is its JSON as CUE printed it,
// or nil to print canon.
func newDeclaration(kind, rel string, canon map[string]any, raw []byte) (*Declaration, error) {
	sorted, err := json.Marshal(canon) // keys sorted: the same bytes for the same value
	if err != nil {
		return nil, err
	}
	if raw == nil {
		raw = sorted
	}
	d := &Declaration{Kind: kind, Path: rel}
	if d.spec, err = decodeSpec(kind, raw); err != nil {
		return nil, err
	}
	d.sum = sha256.Sum256(sorted)
	d.Hash = hex.EncodeToString(d.sum[:])[:hashLen]
	meta, _ := canon["metadata"].(map[string]any)
	d.Name, _ = meta["name"].(string)
	if kind == schema.KindCluster {
		d.Cluster = d.Name
	} else {
		spec, _ := canon["spec"].(map[string]any)
		d.Cluster, _ = spec["cluster"].(string)
		d.Namespace, _ = spec["namespace"].(string)
	}
	return d, nil
}

// maxDataDepth bounds the nesting the fast path follows; deeper documents
// take CUE's path, which has its own bounds.
const maxDataDepth = 64

var (
	plainInt   = regexp.MustCompile(`^-?(0|[1-9][0-9]{0,14})$`)
	plainFloat = regexp.MustCompile(`^-?(0|[1-9][0-9]*)\.[0-9]+$`)
)

// yamlData decodes a YAML node into the Checker's data: maps with string
// keys, lists, strings, booleans, integers (int64) and decimals
// (float64), the way CUE's YAML decoder reads them. It refuses (false)
// what it does not model the same way: anchors and aliases, merge keys,
// explicit tags, nulls, timestamps, numbers other than plain integers and
// decimals, duplicate keys.
func yamlData(n *yaml.Node, depth int) (any, bool) {
	if depth > maxDataDepth || n.Anchor != "" || n.Style&yaml.TaggedStyle != 0 {
		return nil, false
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, false
		}
		return yamlData(n.Content[0], depth+1)
	case yaml.MappingNode:
		if n.ShortTag() != "!!map" || len(n.Content)%2 != 0 {
			return nil, false
		}
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i < len(n.Content); i += 2 {
			k, vn := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" || k.Anchor != "" || k.Style&yaml.TaggedStyle != 0 || !utf8.ValidString(k.Value) {
				return nil, false
			}
			if _, dup := m[k.Value]; dup {
				return nil, false
			}
			v, ok := yamlData(vn, depth+1)
			if !ok {
				return nil, false
			}
			m[k.Value] = v
		}
		return m, true
	case yaml.SequenceNode:
		if n.ShortTag() != "!!seq" {
			return nil, false
		}
		list := make([]any, len(n.Content))
		for i, e := range n.Content {
			v, ok := yamlData(e, depth+1)
			if !ok {
				return nil, false
			}
			list[i] = v
		}
		return list, true
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return n.Value, utf8.ValidString(n.Value)
		case "!!bool":
			switch n.Value {
			case "true":
				return true, true
			case "false":
				return false, true
			}
		case "!!int":
			if plainInt.MatchString(n.Value) {
				return plainNumber(n.Value)
			}
		case "!!float":
			if plainFloat.MatchString(n.Value) {
				return plainNumber(n.Value)
			}
		}
	}
	return nil, false
}
