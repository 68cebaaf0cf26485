package render

import (
	"fmt"
	"io"

	yamlv2 "go.yaml.in/yaml/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ObjectYAML prints an object as YAML, byte for byte as kubectl's
// sigs.k8s.io/yaml.Marshal does, without its round trip through JSON
// text (three times the cost): a rendered object holds only JSON values
// (maps of strings, lists, strings, numbers, booleans, null), which
// yaml.v2 prints as it prints them read back from that JSON, keys
// sorted. The tests compare the two on every object the examples and the
// upstream corpus render.
func ObjectYAML(o *unstructured.Unstructured) ([]byte, error) {
	b, err := yamlv2.Marshal(o.Object)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ObjectID(o), err)
	}
	return b, nil
}

// yamlBatch is how many objects WriteYAML prints at once, in parallel,
// before writing them: what it holds at a time.
const yamlBatch = 256

// WriteYAML writes objs as a stream of YAML documents, each after "---",
// printing them on a worker per core.
func WriteYAML(w io.Writer, objs []*unstructured.Unstructured) error {
	docs := make([][]byte, yamlBatch)
	errs := make([]error, yamlBatch)
	for start := 0; start < len(objs); start += yamlBatch {
		batch := objs[start:min(start+yamlBatch, len(objs))]
		runPool(batch, cores(), nil, func(int) func(int, *unstructured.Unstructured) {
			return func(i int, o *unstructured.Unstructured) { docs[i], errs[i] = ObjectYAML(o) }
		})
		for i := range batch {
			if errs[i] != nil {
				return errs[i]
			}
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
			if _, err := w.Write(docs[i]); err != nil {
				return err
			}
		}
	}
	return nil
}
