package render

import (
	"encoding/base64"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// SecretValuesOf returns the values of a v1 Secret as they may appear in
// any text: each value as written (stringData, decoded data) and
// base64-encoded, as the apiserver stores it. Empty values are left out;
// the redactor leaves out short ones (redact.MinValueLen). Other objects
// have none.
func SecretValuesOf(obj *unstructured.Unstructured) []string {
	if obj.GetKind() != "Secret" || obj.GetAPIVersion() != "v1" {
		return nil
	}
	var out []string
	add := func(plain string) {
		if plain != "" {
			out = append(out, plain, base64.StdEncoding.EncodeToString([]byte(plain)))
		}
	}
	if data, ok := obj.Object["data"].(map[string]any); ok {
		for _, v := range data {
			if b, err := base64.StdEncoding.DecodeString(fmt.Sprint(v)); err == nil {
				add(string(b))
			}
		}
	}
	if data, ok := obj.Object["stringData"].(map[string]any); ok {
		for _, v := range data {
			add(fmt.Sprint(v))
		}
	}
	return out
}

// SecretValues returns the values (see SecretValuesOf) of every Secret of
// every cluster of r: what any text about the revision, whichever cluster
// it concerns, must hide. A nil r has none.
func (r *Result) SecretValues() []string {
	if r == nil {
		return nil
	}
	var out []string
	for _, c := range r.Clusters {
		for _, obj := range c.Objects {
			out = append(out, SecretValuesOf(obj)...)
		}
	}
	return out
}
