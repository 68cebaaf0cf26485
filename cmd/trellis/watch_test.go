package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// syncBuffer is a bytes.Buffer safe for the watcher's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const watchCluster = `apiVersion: trellis.dev/v1alpha1
kind: Cluster
metadata: {name: dev}
spec: {namespaces: {team: {}}}
`

// TestRenderWatch edits a repo under `render --watch`: each save renders
// again, an invalid file prints its position and the watch goes on, and a
// new directory is watched too.
func TestRenderWatch(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "cluster.yaml"), watchCluster)
	var out, errOut syncBuffer
	renders := make(chan error, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- watchRender(ctx, dir, renderOptions{output: "yaml", revision: "r1"}, streams{out: &out, err: &errOut}, func(err error) { renders <- err })
	}()
	next := func() error {
		t.Helper()
		select {
		case err := <-renders:
			return err
		case <-time.After(time.Minute):
			t.Fatal("no render within a minute")
			return nil
		}
	}

	require.NoError(t, next())
	require.Contains(t, out.String(), "kind: Namespace")

	writeFile(t, filepath.Join(dir, "cluster.yaml"), watchCluster+"bogus: 1\n")
	require.Error(t, next())
	require.Contains(t, errOut.String(), "cluster.yaml:5:1: bogus: field not allowed")

	writeFile(t, filepath.Join(dir, "cluster.yaml"), watchCluster)
	require.NoError(t, next())

	writeFile(t, filepath.Join(dir, "apps", "cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: flags, namespace: team, annotations: {trellis.dev/cluster: dev}}\n")
	for next() != nil || !bytes.Contains([]byte(out.String()), []byte("name: flags")) {
		// creating the directory and the file may render twice
	}
	cancel()
	require.NoError(t, <-done)
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(data), 0o644))
}
