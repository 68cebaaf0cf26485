package reconcile

// Benchmarks of Apply against the control plane, beside kubectl's
// server-side apply of the same objects when kubectl is installed:
//
//	make tools && go test -run '^$' -bench . ./reconcile/
//
// Targets (issue 3): a first apply at least 15x faster than kubectl's, a
// no-op re-apply at least 100x faster. Each trellis op uses a new Client,
// as one `trellis apply` does, so the no-op includes fetching the
// OpenAPI schema that drift detection needs.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

const benchObjects = 1000

// benchConfigMaps returns n ConfigMaps in ns, each with a little data.
func benchConfigMaps(ns string, n int) []*unstructured.Unstructured {
	objs := make([]*unstructured.Unstructured, n)
	for i := range objs {
		cm := configMap(ns, fmt.Sprintf("cm-%05d", i), map[string]any{
			"index": fmt.Sprint(i), "level": "info", "endpoint": "http://model.example.com/v1/predict",
		})
		cm.SetLabels(map[string]string{"app.kubernetes.io/managed-by": "trellis", "bench": "apply"})
		objs[i] = cm
	}
	return objs
}

// benchApply applies objs with a new Client and fails b unless every
// change is want.
func benchApply(b *testing.B, ns string, objs []*unstructured.Unstructured, want Action) {
	b.Helper()
	c := newClient(b)
	cs, err := Apply(context.Background(), c, testCluster("bench", objs...), Options{SourceID: ns})
	if err != nil {
		b.Fatal(err)
	}
	if n := cs.Count(want); n != len(objs) {
		b.Fatalf("%d of %d objects %s: %s", n, len(objs), want, cs.Summary())
	}
}

// BenchmarkApply1000 is the first apply of 1,000 ConfigMaps into a new
// namespace.
func BenchmarkApply1000(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		ns := cp.Namespace(b)
		objs := benchConfigMaps(ns, benchObjects)
		b.StartTimer()
		benchApply(b, ns, objs, Created)
	}
}

// BenchmarkNoopApply1000 re-applies 1,000 unchanged ConfigMaps.
func BenchmarkNoopApply1000(b *testing.B) {
	ns := cp.Namespace(b)
	objs := benchConfigMaps(ns, benchObjects)
	benchApply(b, ns, objs, Created)
	for b.Loop() {
		benchApply(b, ns, objs, Unchanged)
	}
}

// BenchmarkKubectlApply1000 is BenchmarkApply1000 with
// `kubectl apply --server-side`.
func BenchmarkKubectlApply1000(b *testing.B) {
	kubectl := needKubectl(b)
	for b.Loop() {
		b.StopTimer()
		ns := cp.Namespace(b)
		file := writeObjects(b, benchConfigMaps(ns, benchObjects))
		b.StartTimer()
		runKubectl(b, kubectl, file)
	}
}

// BenchmarkKubectlNoop1000 is BenchmarkNoopApply1000 with
// `kubectl apply --server-side`.
func BenchmarkKubectlNoop1000(b *testing.B) {
	kubectl := needKubectl(b)
	ns := cp.Namespace(b)
	file := writeObjects(b, benchConfigMaps(ns, benchObjects))
	runKubectl(b, kubectl, file)
	for b.Loop() {
		runKubectl(b, kubectl, file)
	}
}

func needKubectl(b *testing.B) string {
	b.Helper()
	path, err := exec.LookPath("kubectl")
	if err != nil {
		b.Skip("kubectl is not on PATH")
	}
	return path
}

// writeObjects writes objs as a YAML stream and returns its path.
func writeObjects(b *testing.B, objs []*unstructured.Unstructured) string {
	b.Helper()
	f, err := os.Create(filepath.Join(b.TempDir(), "objects.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	for _, o := range objs {
		y, err := yaml.Marshal(o.Object)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := fmt.Fprintf(f, "---\n%s", y); err != nil {
			b.Fatal(err)
		}
	}
	return f.Name()
}

func runKubectl(b *testing.B, kubectl, file string) {
	b.Helper()
	cmd := exec.Command(kubectl, "apply", "--server-side", "--field-manager", "kubectl-bench",
		"--kubeconfig", cp.KubeconfigPath(), "-f", file)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("kubectl apply: %v\n%s", err, out)
	}
}

// BenchmarkNoopApply10000 re-applies 10,000 unchanged ConfigMaps (issue
// 16's scale; `go test -memprofile` shows where a no-op's memory goes).
func BenchmarkNoopApply10000(b *testing.B) {
	ns := cp.Namespace(b)
	objs := benchConfigMaps(ns, 10*benchObjects)
	benchApply(b, ns, objs, Created)
	b.ResetTimer()
	for b.Loop() {
		benchApply(b, ns, objs, Unchanged)
	}
}
