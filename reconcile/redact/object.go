package redact

import (
	"encoding/base64"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Markers that replace secret values. A hash of the value would tell
// whether it changed without showing it, but a hash of a short or
// low-entropy secret is guessable, so a diff compares the two sides
// instead and marks the keys whose value changed.
const (
	// Marker replaces a secret value.
	Marker = "<redacted>"
	// ChangedMarker replaces a desired secret value that differs from the
	// live one.
	ChangedMarker = "<redacted: changed>"
)

// lastAppliedAnnotation is where kubectl's client-side apply keeps a copy
// of the object, Secret values included.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// secretValueFields are the fields of a v1 Secret that hold values.
var secretValueFields = []string{"data", "stringData"}

// IsSecret reports whether obj is a core v1 Secret.
func IsSecret(obj *unstructured.Unstructured) bool {
	if obj == nil {
		return false
	}
	gvk := obj.GroupVersionKind()
	return gvk.Group == "" && gvk.Kind == "Secret"
}

// Secret returns a copy of obj in which every value of a Secret's
// data and stringData is Marker, and kubectl's last-applied
// annotation (which holds the values too) is gone. Keys stay, so that a
// reader sees which keys a Secret has. Other kinds are returned as an
// unchanged copy; nil stays nil.
func Secret(obj *unstructured.Unstructured) *unstructured.Unstructured {
	if obj == nil {
		return nil
	}
	out := obj.DeepCopy()
	if !IsSecret(out) {
		return out
	}
	redactSecretValues(out, nil)
	return out
}

// Pair redacts the live and the desired form of one object for a
// diff. Both become Secret copies, except that a desired value that
// differs from the live value of the same key (or whose key is new) is
// ChangedMarker, so that the diff shows that the key changed and
// nothing of either value. Either side may be nil. Values are compared as
// the apiserver stores them: stringData counts as base64 data.
func Pair(live, desired *unstructured.Unstructured) (*unstructured.Unstructured, *unstructured.Unstructured) {
	if !IsSecret(live) && !IsSecret(desired) {
		return Secret(live), Secret(desired)
	}
	var liveValues map[string]string
	if live != nil {
		liveValues = secretValues(live)
	}
	l := Secret(live)
	if !IsSecret(desired) {
		return l, Secret(desired)
	}
	d := desired.DeepCopy()
	redactSecretValues(d, func(key, value string) string {
		if live == nil {
			return Marker
		}
		if old, ok := liveValues[key]; !ok || old != value {
			return ChangedMarker
		}
		return Marker
	})
	return l, d
}

// redactSecretValues replaces, in place, each value of data and
// stringData by marker(key, value as base64 data), or Marker when
// marker is nil, and drops the last-applied annotation.
func redactSecretValues(obj *unstructured.Unstructured, marker func(key, value string) string) {
	values := secretValues(obj)
	for _, field := range secretValueFields {
		m, ok := obj.Object[field].(map[string]any)
		if !ok {
			if obj.Object[field] != nil { // malformed: hide it whole
				obj.Object[field] = Marker
			}
			continue
		}
		for k := range m {
			m[k] = Marker
			if marker != nil {
				m[k] = marker(k, values[k])
			}
		}
	}
	if ann := obj.GetAnnotations(); ann != nil {
		if _, ok := ann[lastAppliedAnnotation]; ok {
			delete(ann, lastAppliedAnnotation)
			setOrDropAnnotations(obj, ann)
		}
	}
}

// secretValues returns a Secret's values by key as the apiserver would
// store them: base64 data, with stringData encoded and winning over data,
// as the apiserver merges them.
func secretValues(obj *unstructured.Unstructured) map[string]string {
	out := map[string]string{}
	if data, ok := obj.Object["data"].(map[string]any); ok {
		for k, v := range data {
			out[k] = fmt.Sprint(v)
		}
	}
	if data, ok := obj.Object["stringData"].(map[string]any); ok {
		for k, v := range data {
			out[k] = base64.StdEncoding.EncodeToString([]byte(fmt.Sprint(v)))
		}
	}
	return out
}

// setOrDropAnnotations sets obj's annotations, removing the field when
// there are none left, as the apiserver does.
func setOrDropAnnotations(obj *unstructured.Unstructured, ann map[string]string) {
	if len(ann) == 0 {
		ann = nil
	}
	obj.SetAnnotations(ann)
}
