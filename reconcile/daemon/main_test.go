package daemon

import (
	"os"
	"testing"

	"trellis.dev/trellis/render"
	"trellis.dev/trellis/test/controlplane"
)

var cp *controlplane.ControlPlane

func TestMain(m *testing.M) {
	if render.IsRenderChild() { // a bounded render runs in a child: this binary
		os.Exit(render.ServeIsolated(os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(controlplane.RunMain(m, controlplane.Options{WithDefaultCRDs: true},
		func(c *controlplane.ControlPlane) error { cp = c; return nil }))
}
