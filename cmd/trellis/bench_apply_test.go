package main

// Benchmarks of `trellis apply` as a user runs it: the binary, as a child
// process, on a repo of N ConfigMaps, against the test control plane. Each
// reports the process's own peak resident memory (peak-MiB: see package
// peakrss), which issue 16 bounds at 300 MiB for 10,000 objects.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"trellis.dev/trellis/test/controlplane"
	"trellis.dev/trellis/test/peakrss"
)

// benchRepo writes a repo of one cluster, alpha, whose namespace ns holds
// n ConfigMaps, 100 to a file.
func benchRepo(b *testing.B, ns string, n int) string {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "repo")
	if err := os.MkdirAll(filepath.Join(dir, "clusters", "alpha"), 0o755); err != nil {
		b.Fatal(err)
	}
	cluster := fmt.Sprintf("apiVersion: trellis.dev/v1alpha1\nkind: Cluster\nmetadata:\n  name: alpha\nspec:\n  namespaces:\n    %s: {}\n", ns)
	if err := os.WriteFile(filepath.Join(dir, "clusters.yaml"), []byte(cluster), 0o644); err != nil {
		b.Fatal(err)
	}
	for f := 0; f*100 < n; f++ {
		var s strings.Builder
		for i := f * 100; i < min(n, (f+1)*100); i++ {
			fmt.Fprintf(&s, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%05d\n  namespace: %s\ndata:\n  key: value-%d\n", i, ns, i)
		}
		if err := os.WriteFile(filepath.Join(dir, "clusters", "alpha", fmt.Sprintf("cm-%03d.yaml", f)), []byte(s.String()), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// applyProcess runs trellis apply on repo and returns its peak resident
// memory in MiB.
func applyProcess(b *testing.B, bin, repo, ns string) float64 {
	b.Helper()
	cmd := exec.Command(bin, "apply", repo, "--kubeconfig", cp.KubeconfigPath(), "--cluster", "alpha",
		"--context", controlplane.DefaultContextName, "--source-id", ns, "--revision", pinnedRevision)
	cmd.Env = append(os.Environ(), benchEnv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	usage, err := peakrss.Run(cmd) // its own peak, not this process's
	if err != nil {
		b.Fatalf("trellis apply: %v\n%s", err, tail(out.Bytes()))
	}
	return usage.PeakRSS
}

// benchEnv is added to the environment of the processes measured.
var benchEnv = strings.Fields(os.Getenv("TRELLIS_BENCH_ENV"))

// tail is the end of a command's output, for a failure.
func tail(out []byte) []byte {
	if len(out) > 2000 {
		return out[len(out)-2000:]
	}
	return out
}

// BenchmarkApplyCLI: the first apply of N ConfigMaps into an empty
// namespace, and the no-op apply of the same repo after it.
func BenchmarkApplyCLI(b *testing.B) {
	if cp == nil {
		b.Skip("needs the control plane")
	}
	bin := buildTrellis(b)
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("first-%d", n), func(b *testing.B) {
			var peak float64
			for b.Loop() {
				b.StopTimer()
				ns := cp.Namespace(b)
				repo := benchRepo(b, ns, n)
				b.StartTimer()
				peak = max(peak, applyProcess(b, bin, repo, ns))
			}
			b.ReportMetric(peak, "peak-MiB")
		})
		b.Run(fmt.Sprintf("noop-%d", n), func(b *testing.B) {
			ns := cp.Namespace(b)
			repo := benchRepo(b, ns, n)
			applyProcess(b, bin, repo, ns)
			var peak float64
			b.ResetTimer()
			for b.Loop() {
				peak = max(peak, applyProcess(b, bin, repo, ns))
			}
			b.ReportMetric(peak, "peak-MiB")
		})
	}
}
