package daemon

import (
	"os"
	"testing"

	"trellis.dev/trellis/test/controlplane"
)

var cp *controlplane.ControlPlane

func TestMain(m *testing.M) {
	os.Exit(controlplane.RunMain(m, controlplane.Options{WithDefaultCRDs: true},
		func(c *controlplane.ControlPlane) error { cp = c; return nil }))
}
