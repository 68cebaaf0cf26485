package schema

import (
	"encoding/json"
	"fmt"
	"strings"

	"cuelang.org/go/cue"
	"cuelang.org/go/encoding/jsonschema"
)

var pathDeclaration = cue.ParsePath("#Declaration")

// JSONSchema returns the JSON Schema (draft 2020-12) of a declaration of any
// kind, generated from the CUE definitions, for editors such as
// yaml-language-server. With a kind it returns that kind's schema alone.
func (s *Schema) JSONSchema(kind string) ([]byte, error) {
	v := s.Value.LookupPath(pathDeclaration)
	if kind != "" {
		for _, k := range Kinds { // kinds are matched in any case, as kubectl's
			if strings.EqualFold(k, kind) {
				kind = k
			}
		}
		var ok bool
		if v, ok = s.Kind(kind); !ok {
			return nil, fmt.Errorf("unknown kind %q: %s", kind, Hint(kind, Kinds))
		}
	}
	expr, err := jsonschema.Generate(v, nil)
	if err != nil {
		return nil, fmt.Errorf("json schema: %w", err)
	}
	js := s.Value.Context().BuildExpr(expr)
	if err := js.Err(); err != nil {
		return nil, fmt.Errorf("json schema: %w", err)
	}
	raw, err := js.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("json schema: %w", err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return json.MarshalIndent(out, "", "  ")
}
