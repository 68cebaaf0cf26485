package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// expensiveCUE is a CUE package whose evaluation takes hours and
// gigabytes (a 3000×3000 list comprehension).
const expensiveCUE = "package teams\n\nimport \"list\"\n\nn: [for i in list.Range(0, 3000, 1) for j in list.Range(0, 3000, 1) {i * j}]\n"

// TestSignalStopsRender sends SIGTERM to validate, render, diff and apply
// while they evaluate an expensive CUE repo: each stops, exits 1 and says
// the render stopped, instead of evaluating on for hours.
func TestSignalStopsRender(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the trellis binary")
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc to see the process evaluating")
	}
	bin := buildTrellis(t)
	repo := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(repo, "teams"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(repo, "teams", "slow.cue"), []byte(expensiveCUE), 0o644))
	kubeconfig := kubeconfigFor(t, "https://127.0.0.1:1")
	for _, args := range [][]string{
		{"validate", repo},
		{"render", repo, "--revision", "r"},
		{"diff", repo, "--kubeconfig", kubeconfig, "--revision", "r"},
		{"apply", repo, "--kubeconfig", kubeconfig, "--revision", "r"},
	} {
		t.Run(args[0], func(t *testing.T) {
			var stderr bytes.Buffer
			cmd := exec.Command(bin, args...)
			cmd.Stderr = &stderr
			require.NoError(t, cmd.Start())
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			waitEvaluating(t, cmd.Process.Pid, done)
			require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
			var err error
			select {
			case err = <-done:
			case <-time.After(time.Minute): // a guard: the evaluation alone takes hours
				_ = cmd.Process.Kill()
				t.Fatalf("trellis %s did not stop on SIGTERM", args[0])
			}
			var exit *exec.ExitError
			require.True(t, errors.As(err, &exit), "%v", err)
			wantCode := exitFailed
			if args[0] == "diff" {
				wantCode = exitUnknown // diff's code for a repo it could not render
			}
			assert.Equal(t, wantCode, exit.ExitCode(), stderr.String())
			assert.Contains(t, stderr.String(), "error: render stopped: terminated signal received")
		})
	}
}

// waitEvaluating waits until the process pid has used a third of a
// second of CPU: it has installed its signal handler and is evaluating.
func waitEvaluating(t *testing.T, pid int, done <-chan error) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	guard := time.After(time.Minute)
	for {
		select {
		case err := <-done:
			t.Fatalf("trellis ended before it was signalled: %v", err)
		case <-guard:
			t.Fatal("trellis did not start evaluating")
		case <-tick.C:
		}
		data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command's closing parenthesis; utime and stime
		// are the 14th and 15th fields of the line, in clock ticks (100/s).
		rest := string(data[bytes.LastIndexByte(data, ')')+2:])
		f := strings.Fields(rest)
		utime, _ := strconv.Atoi(f[11])
		stime, _ := strconv.Atoi(f[12])
		if utime+stime >= 33 {
			return
		}
	}
}
