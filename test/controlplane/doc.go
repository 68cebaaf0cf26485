// Package controlplane runs a real Kubernetes control plane, etcd and
// kube-apiserver, for trellis's tests and for `make demo`.
//
// # What it starts
//
// [Start] launches etcd and kube-apiserver on loopback, on ports chosen by the
// operating system, with everything they need in one working directory: the
// etcd data, a freshly generated certificate authority, the apiserver's
// serving certificate, an admin client certificate (group system:masters),
// a service-account signing key, one log file per process and a kubeconfig.
// Authorization is RBAC, as in a production cluster, so tests can check what
// a least-privileged identity may do. There is no controller-manager and no
// scheduler: objects are stored and validated, never acted on, and deleted
// namespaces stay Terminating.
//
// # Binaries
//
// kube-apiserver and etcd are looked up in $KUBEBUILDER_ASSETS, then in
// $TRELLIS_TOOLS_BIN, then in [ToolsDir] (~/.cache/trellis/tools/KEY, KEY a
// hash of test/tools), where `make tools` builds them from the separate Go
// module in test/tools; every clone of the repository shares that build.
//
// # CRDs
//
// [InstallCRDs] applies CustomResourceDefinitions from YAML files or
// directories with server-side apply (the Argo Workflows CRDs are too large
// for client-side apply) and waits until each is established and served by
// discovery. [DefaultCRDDirs] lists the upstream CRDs that trellis renders
// to, vendored in the repository's schema/crds (Argo Workflows, KServe,
// Katib, the training operator and trainer; see its README for provenance).
// $TRELLIS_CRD_DIRS replaces that list.
//
// Installing the Argo and KServe CRDs (about 10 MB of schemas) costs an
// apiserver on two cores far more than starting it, so when Options ask for
// CRDs, Start installs them once into a throwaway control plane, keeps its
// etcd data as a snapshot under ~/.cache/trellis/controlplane, shared by
// every clone (keyed by the binaries, the extra apiserver flags and the CRD
// files' names and content; built by
// one test binary at a time under a file lock; pruned after a week unused),
// and seeds every later etcd from it. $TRELLIS_CONTROLPLANE_SNAPSHOTS=off or
// Options.NoSnapshot installs the CRDs into every control plane instead.
//
// # Tests
//
// A test package starts one control plane per test binary in TestMain with
// [RunMain], and gives each test its own namespace with
// [ControlPlane.Namespace]:
//
//	var cp *controlplane.ControlPlane
//
//	func TestMain(m *testing.M) {
//		os.Exit(controlplane.RunMain(m, controlplane.Options{WithDefaultCRDs: true},
//			func(c *controlplane.ControlPlane) error { cp = c; return nil }))
//	}
//
//	func TestApply(t *testing.T) {
//		ns := cp.Namespace(t)
//		client := dynamic.NewForConfigOrDie(cp.RESTConfig())
//		...
//	}
//
// The processes are killed if the test binary dies (Linux), so an aborted
// run leaves at most a directory in $TMPDIR behind.
//
// # Detached control planes
//
// With [Options.Detach] the processes run in their own session and outlive
// the process that started them; [Load] finds such a control plane again
// from its working directory, to reuse it or to stop it. The
// trellis-devcluster command is built on this.
package controlplane
