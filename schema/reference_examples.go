package schema

import (
	"bytes"
	"io/fs"
	"path"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// ExampleDirs are the directories of the repo whose YAML declarations the
// reference takes its examples from: the example config repo first, then
// the upstream corpus.
var ExampleDirs = []string{"examples", "test/examples/testdata/corpus"}

// ExampleDeclarations reads the trellis declarations of ExampleDirs in
// repo (the repo's root), in path order within each directory.
func ExampleDeclarations(repo fs.FS) ([]map[string]any, error) {
	var out []map[string]any
	for _, dir := range ExampleDirs {
		var files []string
		err := fs.WalkDir(repo, dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) && path.Base(p) != "upstream.yaml" {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
		for _, f := range files {
			b, err := fs.ReadFile(repo, f)
			if err != nil {
				return nil, err
			}
			for _, doc := range bytes.Split(b, []byte("\n---")) {
				var m map[string]any
				if yaml.Unmarshal(doc, &m) != nil || m["apiVersion"] != "trellis.dev/v1alpha1" {
					continue
				}
				out = append(out, m)
			}
		}
	}
	return out, nil
}
