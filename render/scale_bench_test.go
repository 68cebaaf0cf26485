package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"trellis.dev/trellis/test/peakrss"
)

// The scale benchmarks render generated repos of Pipeline declarations,
// ten to a file, in YAML or in CUE (one CUE package per directory of ten
// files), as issue 16 measures them. Each reports, besides its time, the
// peak memory of one render: the maximum resident set size of a child
// process (this test binary, re-run as TestScaleRenderChild) that renders
// the same repo once and exits ("peak-RSS-MiB", the child's own: see
// package peakrss), and the CPU time (user
// and system) that child used ("child-cpu-s"), which a busy machine moves
// less than the wall time. The child's figures include starting the test
// binary and loading the schema. Last, "render-child-peak-RSS-MiB" is the
// peak of a render child as the daemon runs one (see renderChildPeakRSS).

const scaleRevision = "0123456789abcdef0123456789abcdef01234567"

// writeScaleRepo writes a repo of one Cluster of 10 namespaces and n
// Pipelines, ten to a file, in YAML or in CUE. It returns the files of
// Pipelines, in order. The Pipelines have the same steps, as generated
// ones often do, but each its own parameters (the learning rate): no two
// render to the same spec.
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
			fmt.Fprintf(&file, scalePipelineCUE, i, i, i%10, i%7+1, i)
		} else {
			fmt.Fprintf(&file, scalePipelineYAML, i, i%10, i%7+1, i)
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
  parameters: {epochs: %d, lr: "0.%05d"}
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
		parameters: {epochs: %d, lr: "0.%05d"}
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
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	usage, err := peakrss.Run(cmd) // the child's own peak, not this process's
	if err != nil {
		b.Fatalf("child: %v: %s", err, out.String())
	}
	return usage.PeakRSS, usage.CPU.Seconds()
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
				b.ReportMetric(renderChildPeakRSS(b, dir), "render-child-peak-RSS-MiB")
			})
		}
	}
}

// BenchmarkRenderIncremental renders a repo of 10,000 Pipelines with a
// Renderer, as the daemon does, then, each iteration, the repo with one
// file changed (one Pipeline's namespace, back and forth), at a new
// revision (which every object carries in an annotation): in process,
// and through the render child the daemon uses ("isolated": the time
// includes the child encoding the Result as JSON and this process
// decoding it), with the default memory limit. The isolated variant
// reports the child's peak resident set size (VmHWM, since it started)
// and how many times it was replaced after passing its limit;
// the in-process one the peak RSS of a child rendering the repo once from
// scratch is not repeated (see BenchmarkRenderScale).
func BenchmarkRenderIncremental(b *testing.B) {
	for _, format := range []string{"yaml", "cue"} {
		for _, isolated := range []bool{false, true} {
			name := format + "-10000-" + map[bool]string{false: "in-process", true: "isolated"}[isolated]
			b.Run(name, func(b *testing.B) {
				dir := b.TempDir()
				files := writeScaleRepo(b, dir, 10000, format)
				var bounds Bounds
				if isolated {
					bounds.Isolation = &Isolation{} // the default memory limit, as the daemon's
				}
				r := NewRenderer(bounds)
				defer r.Close()
				revision := scaleRevision
				render := func() {
					res, err := r.Dir(b.Context(), dir, Options{Revision: revision})
					if err != nil {
						b.Fatal(Problems(err, dir, nil))
					}
					if len(res.Declarations) != 10001 {
						b.Fatalf("%d declarations", len(res.Declarations))
					}
				}
				render()
				changed := filepath.Join(dir, files[len(files)/2])
				data, err := os.ReadFile(changed)
				if err != nil {
					b.Fatal(err)
				}
				old := map[string]string{"yaml": "namespace: team-0", "cue": `namespace: "team-0"`}[format]
				versions := []string{strings.Replace(string(data), old, strings.Replace(old, "team-0", "team-1", 1), 1), string(data)}
				before, restarts := r.Stats(), 0
				i := 0
				b.ResetTimer()
				for b.Loop() {
					write(b, changed, versions[i%2])
					i++
					revision = fmt.Sprintf("%040x", i) // a new commit, as the daemon sees one
					child := r.child
					render()
					if isolated && r.child != child {
						restarts++ // past its memory limit: rendered again from scratch
					}
				}
				b.StopTimer()
				after := r.Stats()
				b.ReportMetric(float64(after.Misses-before.Misses)/float64(i), "parsed-files/op")
				if isolated {
					b.ReportMetric(vmHWM(b, r.child.cmd.Process.Pid), "child-peak-RSS-MiB")
					b.ReportMetric(float64(restarts), "child-restarts")
				}
			})
		}
	}
}

// vmHWM is the peak resident set size of process pid, in MiB.
func vmHWM(b *testing.B, pid int) float64 {
	b.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb float64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%f kB", &kb); err != nil {
				b.Fatal(err)
			}
			return kb / 1024
		}
	}
	b.Fatal("no VmHWM")
	return 0
}

// renderChildPeakRSS renders dir once in a render child, as the daemon
// does (DirIsolated's request, with the default memory limit of
// DefaultIsolatedMemory, which the child's collector aims to stay under),
// and returns the child's maximum resident set size, in MiB; the child
// also encodes the Result as JSON on its standard output. It fails the
// benchmark when the child passes its limit.
func renderChildPeakRSS(b *testing.B, dir string) float64 {
	b.Helper()
	req, err := json.Marshal(isolatedRequest{Dir: dir, Options: Options{Revision: scaleRevision}, MemoryBytes: DefaultIsolatedMemory})
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{IsolatedEnv + "=1"}
	cmd.Stdin = bytes.NewReader(req)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	usage, err := peakrss.Run(cmd)
	if err != nil {
		b.Fatalf("render child: %v: %s", err, stderr.String())
	}
	return usage.PeakRSS
}
