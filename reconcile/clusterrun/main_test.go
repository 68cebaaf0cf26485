package clusterrun

import (
	"os"
	"testing"

	"trellis.dev/trellis/test/controlplane"
)

// cp is the control plane shared by the tests of this package: a real
// etcd and kube-apiserver with the upstream CRDs, started once.
var cp *controlplane.ControlPlane

func TestMain(m *testing.M) {
	os.Exit(controlplane.RunMain(m, controlplane.Options{WithDefaultCRDs: true},
		func(c *controlplane.ControlPlane) error { cp = c; return nil }))
}
