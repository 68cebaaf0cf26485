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
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"trellis.dev/trellis/schema"
)

// The fast path of loading a YAML or JSON file of declarations: its
// documents are decoded into plain data and validated by the schema's
// Checker instead of being built into CUE values and unified with the
// schema, which costs about ten times as much. A file takes the fast path
// only when every document is a declaration the Checker accepts;
// anything else (a Kubernetes object, an invalid declaration, YAML the
// fast path does not model such as anchors, tags or nulls) sends the whole
// file down CUE's path, which gives the same result or the error with its
// position.

// fastFile loads the declarations of the YAML stream data, or returns
// false having recorded nothing.
func (l *loader) fastFile(rel string, data []byte) ([]docResult, bool) {
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
	docs := make([]docResult, len(decls))
	for i, d := range decls {
		d.origin = origin{src: l.src, rel: rel, doc: i}
		docs[i].decls = []*Declaration{d}
	}
	return docs, true
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
				i, err := strconv.ParseInt(n.Value, 10, 64)
				return i, err == nil
			}
		case "!!float":
			// Only a decimal that prints back as written: the spec's
			// quantities and parameters keep a number's text.
			if plainFloat.MatchString(n.Value) {
				f, err := strconv.ParseFloat(n.Value, 64)
				if b, _ := json.Marshal(f); err == nil && string(b) == n.Value {
					return f, true
				}
			}
		}
	}
	return nil, false
}
