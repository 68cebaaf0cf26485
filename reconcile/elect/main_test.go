package elect

import (
	"os"
	"strings"
	"testing"

	"trellis.dev/trellis/test/controlplane"
	"trellis.dev/trellis/test/kubeproxy"
)

// cp is the control plane shared by the tests of this package: a real
// etcd and kube-apiserver, started once.
var cp *controlplane.ControlPlane

func TestMain(m *testing.M) {
	os.Exit(controlplane.RunMain(m, controlplane.Options{},
		func(c *controlplane.ControlPlane) error { cp = c; return nil }))
}

// isLease reports whether e is a request of leader election.
func isLease(e kubeproxy.Event) bool { return strings.Contains(e.Path, "/leases") }

// needControlPlane is the control plane, or skips t without one (-short).
func needControlPlane(t *testing.T) *controlplane.ControlPlane {
	t.Helper()
	if cp == nil {
		t.Skip("needs the control plane: run without -short")
	}
	return cp
}
