package render

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad writes arbitrary bytes as a YAML file and as a CUE file of a
// repo that also holds a valid cluster, and loads it: whatever the input,
// Load returns declarations or positioned errors, and never panics.
func FuzzLoad(f *testing.F) {
	seeds := []string{
		"",
		"---\n---\n",
		"apiVersion: trellis.dev/v1alpha1\nkind: Endpoint\nmetadata: {name: x}\nspec: {cluster: c, namespace: n, model: {format: onnx, storageUri: 's3://b/m'}}\n",
		"apiVersion: trellis.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: p}\nspec: {cluster: c, namespace: n, steps: [{name: a, image: i, dependsOn: [a]}]}\n",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, annotations: {trellis.dev/cluster: c}}\n",
		"apiVersion: trellis.dev/v1alpha1\nkind: [1, 2]\n",
		"a: [\n",
		"- 1\n- 2\n",
		"{\"apiVersion\": \"trellis.dev/v1alpha1\", \"kind\": \"Cluster\", \"metadata\": {\"name\": \"c\"}}",
		"&a [*a]",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	cluster := []byte("apiVersion: trellis.dev/v1alpha1\nkind: Cluster\nmetadata: {name: c}\nspec: {namespaces: {n: {quota: {gpu: 1}}}}\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, name := range []string{"decl.yaml", "decl.cue"} {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "cluster.yaml"), cluster, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
			repo, err := Load(t.Context(), dir, Limits{})
			if err == nil {
				if _, err := Render(repo, Options{Revision: "r"}); err != nil {
					_ = Problems(err, dir, nil)
				}
				continue
			}
			for _, p := range Problems(err, dir, nil) {
				if p.Message == "" {
					t.Fatalf("empty message in %v", err)
				}
			}
		}
	})
}
