// Package peakrss measures the peak resident memory of a benchmark's
// child process alone.
//
// The maximum resident set size getrusage reports for a child is not its
// own when the child was started by a large process: Go starts children
// with vfork (the child shares its parent's address space until it
// execs), and Linux keeps the high-water mark of the address space a
// process leaves at exec, here the parent's. A benchmark process that has
// rendered 10,000 Pipelines or runs a control plane would pass its own
// peak on to every child it measures. So the child is started by a small
// helper (helper/), whose address space is what the child leaves at exec:
// its figure is the child's own peak, or the helper's few MiB if more.
package peakrss

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// Usage is what a command used.
type Usage struct {
	// PeakRSS is its maximum resident set size, in MiB.
	PeakRSS float64
	// CPU is the processor time it used, user and system.
	CPU time.Duration
}

var build struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// helperPath builds the helper once per process.
func helperPath() (string, error) {
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "peakrss-")
		if build.err != nil {
			return
		}
		build.path = filepath.Join(build.dir, "peakrss-helper")
		out, err := exec.Command("go", "build", "-o", build.path, "trellis.dev/trellis/test/peakrss/helper").CombinedOutput()
		if err != nil {
			build.err = fmt.Errorf("peakrss: building the helper: %v\n%s", err, out)
		}
	})
	return build.path, build.err
}

// Run runs cmd (not started yet; its Path, Args, Env, Dir and standard
// streams are used) through the helper and returns what it used. A
// command that fails returns its *exec.ExitError, as cmd.Run would.
func Run(cmd *exec.Cmd) (Usage, error) {
	helper, err := helperPath()
	if err != nil {
		return Usage{}, err
	}
	report, err := os.CreateTemp("", "peakrss-*.json")
	if err != nil {
		return Usage{}, err
	}
	report.Close()
	defer os.Remove(report.Name())
	args := append([]string{report.Name(), cmd.Path}, cmd.Args[1:]...)
	run := exec.Command(helper, args...)
	run.Env, run.Dir = cmd.Env, cmd.Dir
	run.Stdin, run.Stdout, run.Stderr = cmd.Stdin, cmd.Stdout, cmd.Stderr
	runErr := run.Run()
	data, err := os.ReadFile(report.Name())
	if err != nil || len(data) == 0 {
		if runErr != nil {
			return Usage{}, runErr
		}
		return Usage{}, fmt.Errorf("peakrss: no report from the helper")
	}
	var got struct {
		MaxRSSKiB int64 `json:"maxrssKiB"`
		CPUNanos  int64 `json:"cpuNanos"`
	}
	if err := json.Unmarshal(data, &got); err != nil {
		return Usage{}, fmt.Errorf("peakrss: %w", err)
	}
	return Usage{PeakRSS: float64(got.MaxRSSKiB) / 1024, CPU: time.Duration(got.CPUNanos)}, runErr
}

// Cleanup removes the helper built by this process.
func Cleanup() {
	if build.dir != "" {
		_ = os.RemoveAll(build.dir)
	}
}
