package render

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The scale benchmarks render generated repos of Pipeline declarations,
// ten to a file, in YAML or in CUE (one CUE package per directory of ten
// files), as issue 16 measures them. Each reports, besides its time, the
// peak memory of one render: the maximum resident set size of a child
// process (this test binary, re-run as TestScaleRenderChild) that renders
// the same repo once and exits ("peak-RSS-MiB"), and the CPU time (user
// and system) that child used ("child-cpu-s"), which a busy machine moves
// less than the wall time. The child's figures include starting the test
// binary and loading the schema.

const scaleRevision = "0123456789abcdef0123456789abcdef01234567"

// writeScaleRepo writes a repo of one Cluster of 10 namespaces and n
// Pipelines, ten to a file, in YAML or in CUE. It returns the files of
// Pipelines, in order.
func writeScaleRepo(tb testing.TB, dir string, n int, format string) []string {
	tb.Helper()
	var clusters strings.Builder
	clusters.WriteString("apiVersion: trellis.dev/v1alpha1\nkind: Cluster\nmetadata: {name: alpha}\nspec:\n  nodePools:\n    gpu: {nodeSelector: {pool: gpu}}\n  namespaces:\n")
	for i := range 10 {
		fmt.Fprintf(&clusters, "    team-%d: {quota: {cpu: 100000, memory: 400000Gi, gpu: 64000}}\n", i)
	}
	write(tb, filepath.Join(dir, "clusters.yaml"), clusters.String())
	var files []string
	var file strings.Builder
	for i := range n {
		if format == "cue" {
			if i%10 == 0 {
				fmt.Fprintf(&file, "package g%d\n\n", i/100)
			}
			fmt.Fprintf(&file, scalePipelineCUE, i, i, i%10)
		} else {
			fmt.Fprintf(&file, scalePipelineYAML, i, i%10)
		}
		if i%10 == 9 || i == n-1 {
			name := filepath.Join("decls", fmt.Sprintf("g%03d", i/100), fmt.Sprintf("p%05d.%s", i/10*10, format))
			write(tb, filepath.Join(dir, name), file.String())
			files = append(files, name)
			file.Reset()
		}
	}
	return files
}

const scalePipelineYAML = `---
apiVersion: trellis.dev/v1alpha1
kind: Pipeline
metadata: {name: p-%d}
spec:
  cluster: alpha
  namespace: team-%d
  parameters: {epochs: 3, lr: "0.01"}
  runOnChange: true
  steps:
    - {name: prep, image: python:3.12, command: [python, prep.py], outputs: {artifacts: [{name: data, path: /data}]}}
    - name: train
      image: pytorch/pytorch:2.4.0
      nodePool: gpu
      resources: {cpu: 4, memory: 16Gi, gpu: 1}
      dependsOn: [prep]
      inputs: [{name: data, from: prep.data, path: /data}]
      outputs: {artifacts: [{name: model, path: /model}]}
`

const scalePipelineCUE = `p_%d: {
	apiVersion: "trellis.dev/v1alpha1"
	kind:       "Pipeline"
	metadata: name: "p-%d"
	spec: {
		cluster:   "alpha"
		namespace: "team-%d"
		parameters: {epochs: 3, lr: "0.01"}
		runOnChange: true
		steps: [{
			name: "prep", image: "python:3.12", command: ["python", "prep.py"]
			outputs: artifacts: [{name: "data", path: "/data"}]
		}, {
			name:     "train"
			image:    "pytorch/pytorch:2.4.0"
			nodePool: "gpu"
			resources: {cpu: 4, memory: "16Gi", gpu: 1}
			dependsOn: ["prep"]
			inputs: [{name: "data", from: "prep.data", path: "/data"}]
			outputs: artifacts: [{name: "model", path: "/model"}]
		}]
	}
}
`

// scaleChildEnv names the repo TestScaleRenderChild renders.
const scaleChildEnv = "TRELLIS_SCALE_RENDER_DIR"

// TestScaleRenderChild renders the repo $TRELLIS_SCALE_RENDER_DIR once:
// the child process whose peak memory the scale benchmarks report. It
// does nothing in an ordinary test run.
func TestScaleRenderChild(t *testing.T) {
	dir := os.Getenv(scaleChildEnv)
	if dir == "" {
		t.Skip("only the child process of a scale benchmark")
	}
	if _, err := Dir(t.Context(), dir, Options{Revision: scaleRevision}); err != nil {
		t.Fatal(Problems(err, dir, nil))
	}
}

// childPeakRSS renders dir once in a child process and returns its
// maximum resident set size, in MiB, and the CPU time it used (user and
// system), in seconds.
func childPeakRSS(b *testing.B, dir string) (rssMiB, cpuSeconds float64) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestScaleRenderChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), scaleChildEnv+"="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("child: %v: %s", err, out)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		b.Fatal("no rusage")
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return float64(ru.Maxrss) / 1024, cpu.Seconds() // Maxrss is in kB on Linux
}

// BenchmarkRenderScale renders repos of 1,000 and 10,000 Pipelines, in
// YAML and in CUE, from scratch.
func BenchmarkRenderScale(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, format := range []string{"yaml", "cue"} {
			b.Run(fmt.Sprintf("%s-%d", format, n), func(b *testing.B) {
				dir := b.TempDir()
				writeScaleRepo(b, dir, n, format)
				b.ReportAllocs()
				for b.Loop() {
					res, err := Dir(b.Context(), dir, Options{Revision: scaleRevision})
					if err != nil {
						b.Fatal(Problems(err, dir, nil))
					}
					if len(res.Declarations) != n+1 {
						b.Fatalf("%d declarations", len(res.Declarations))
					}
				}
				b.StopTimer()
				rss, cpu := childPeakRSS(b, dir)
				b.ReportMetric(rss, "peak-RSS-MiB")
				b.ReportMetric(cpu, "child-cpu-s")
			})
		}
	}
}
