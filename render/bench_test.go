package render

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeGeneratedRepo writes a repo of n declarations: 2 clusters of 10
// namespaces, and pipelines, experiments and endpoints in turn, ten to a
// file.
func writeGeneratedRepo(tb testing.TB, dir string, n int) {
	tb.Helper()
	var clusters strings.Builder
	for _, c := range []string{"alpha", "beta"} {
		fmt.Fprintf(&clusters, "---\napiVersion: trellis.dev/v1alpha1\nkind: Cluster\nmetadata: {name: %s}\nspec:\n  nodePools:\n    gpu: {nodeSelector: {pool: gpu}}\n  namespaces:\n", c)
		for i := 0; i < 10; i++ {
			fmt.Fprintf(&clusters, "    team-%d: {quota: {cpu: 1000, memory: 4000Gi, gpu: 64}}\n", i)
		}
	}
	write(tb, filepath.Join(dir, "clusters.yaml"), clusters.String())
	var file strings.Builder
	for i := 2; i < n; i++ {
		cluster, ns := []string{"alpha", "beta"}[i%2], fmt.Sprintf("team-%d", i%10)
		switch i % 3 {
		case 0:
			fmt.Fprintf(&file, genPipeline, i, cluster, ns)
		case 1:
			fmt.Fprintf(&file, genExperiment, i, cluster, ns)
		case 2:
			fmt.Fprintf(&file, genEndpoint, i, cluster, ns)
		}
		if i%10 == 9 || i == n-1 {
			write(tb, filepath.Join(dir, "decls", fmt.Sprintf("d%04d.yaml", i)), file.String())
			file.Reset()
		}
	}
}

const genPipeline = `---
apiVersion: trellis.dev/v1alpha1
kind: Pipeline
metadata: {name: p-%d}
spec:
  cluster: %s
  namespace: %s
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

const genExperiment = `---
apiVersion: trellis.dev/v1alpha1
kind: Experiment
metadata: {name: e-%d}
spec:
  cluster: %s
  namespace: %s
  objective: {metric: accuracy, type: maximize}
  algorithm: {name: random}
  parameters:
    - {name: lr, type: double, min: 0.001, max: 0.1}
    - {name: batch, type: categorical, values: ["32", "64"]}
  trial: {image: kubeflowkatib/pytorch-mnist:v0.19.0, command: [python, train.py, "--lr=${lr}", "--batch=${batch}"], resources: {cpu: 1, memory: 2Gi}}
`

const genEndpoint = `---
apiVersion: trellis.dev/v1alpha1
kind: Endpoint
metadata: {name: m-%d}
spec:
  cluster: %s
  namespace: %s
  model: {format: sklearn, storageUri: "s3://models/m"}
  replicas: {min: 1, max: 4}
  autoscaling: {metric: concurrency, target: 10}
  resources: {cpu: 1, memory: 1Gi}
  canaryPercent: 10
`

func write(tb testing.TB, path, data string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkRender1000 loads, validates and renders a repo of 1,000
// declarations, reading it through the confined view (os.Root) and, to
// show what confinement costs, through the same view over plain system
// calls on joined paths ("unconfined").
func BenchmarkRender1000(b *testing.B) {
	dir := b.TempDir()
	writeGeneratedRepo(b, dir, 1000)
	for _, v := range []struct {
		name string
		open openRoot
	}{{"confined", nil}, {"unconfined", openPlainRoot}} {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res, err := Dir(b.Context(), dir, Options{Revision: "0123456789abcdef0123456789abcdef01234567", openRoot: v.open})
				if err != nil {
					b.Fatal(Problems(err, dir, nil))
				}
				if len(res.Declarations) != 1000 {
					b.Fatalf("%d declarations", len(res.Declarations))
				}
			}
		})
	}
}

// BenchmarkConfinedLoaderCost renders the repo of 1,000 declarations
// through the confined view and through the plain one in turn, and
// reports the CPU time of each and what confinement adds, in percent
// (CPU time, from getrusage, moves less than wall time on a busy machine).
func BenchmarkConfinedLoaderCost(b *testing.B) {
	dir := b.TempDir()
	writeGeneratedRepo(b, dir, 1000)
	var cpu [2]time.Duration
	opens := [2]openRoot{nil, openPlainRoot}
	i := 0
	for b.Loop() {
		for k := range 2 {
			which := (i + k) % 2 // alternate which goes first
			start := cpuTime(b)
			if _, err := Dir(b.Context(), dir, Options{Revision: "r", openRoot: opens[which]}); err != nil {
				b.Fatal(Problems(err, dir, nil))
			}
			cpu[which] += cpuTime(b) - start
		}
		i++
	}
	b.ReportMetric(cpu[0].Seconds()/float64(i), "confined-cpu-s/op")
	b.ReportMetric(cpu[1].Seconds()/float64(i), "unconfined-cpu-s/op")
	b.ReportMetric(100*(cpu[0].Seconds()-cpu[1].Seconds())/cpu[1].Seconds(), "%confinement-cost")
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// plainRoot reads a directory with plain system calls on joined paths:
// symlinks are followed wherever they point.
type plainRoot string

func openPlainRoot(dir string) (rootFS, error) { return plainRoot(dir), nil }

func (r plainRoot) path(name string) string                { return filepath.Join(string(r), name) }
func (r plainRoot) Stat(name string) (fs.FileInfo, error)  { return os.Stat(r.path(name)) }
func (r plainRoot) Lstat(name string) (fs.FileInfo, error) { return os.Lstat(r.path(name)) }
func (r plainRoot) Readlink(name string) (string, error)   { return os.Readlink(r.path(name)) }
func (r plainRoot) Close() error                           { return nil }
func (r plainRoot) OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	return os.OpenFile(r.path(name), flag, perm)
}

func TestGeneratedRepoRenders(t *testing.T) {
	dir := t.TempDir()
	writeGeneratedRepo(t, dir, 30)
	res, err := Dir(t.Context(), dir, Options{Revision: "r"})
	if err != nil {
		t.Fatal(Problems(err, dir, nil))
	}
	if len(res.Declarations) != 30 || len(res.Clusters) != 2 {
		t.Fatalf("%d declarations, %d clusters", len(res.Declarations), len(res.Clusters))
	}
}
