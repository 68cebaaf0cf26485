package main

import (
	"flag"
	"os"
	"testing"

	"trellis.dev/trellis/render"
	"trellis.dev/trellis/test/controlplane"
	"trellis.dev/trellis/test/peakrss"
)

// cp is the control plane shared by the tests of this package that reach
// a cluster (diff, apply): a real etcd and kube-apiserver with the
// upstream CRDs. It is nil under -short.
var cp *controlplane.ControlPlane

// TestMain starts the control plane, unless -short asks for the tests that
// need none. Without the binaries (`make tools` builds them) the whole
// package fails, loudly, rather than skipping the cluster tests.
func TestMain(m *testing.M) {
	if render.IsRenderChild() { // serve and pr render in a child: this binary
		os.Exit(render.ServeIsolated(os.Stdin, os.Stdout, os.Stderr))
	}
	flag.Parse()
	code := 0
	if testing.Short() {
		code = m.Run()
	} else {
		code = controlplane.RunMain(m, controlplane.Options{WithDefaultCRDs: true},
			func(c *controlplane.ControlPlane) error {
				cp = c
				return nil
			})
	}
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
	peakrss.Cleanup()
	os.Exit(code)
}

// needControlPlane skips the calling test under -short, where TestMain
// starts no control plane, and returns the control plane otherwise.
func needControlPlane(t *testing.T) *controlplane.ControlPlane {
	t.Helper()
	if cp == nil {
		t.Skip("needs the control plane: run without -short")
	}
	return cp
}
