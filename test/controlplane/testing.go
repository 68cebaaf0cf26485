package controlplane

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Bounds on the work RunMain and Namespace do around the tests.
const (
	cleanupTimeout = 30 * time.Second
	// TestNameAnnotation records, on a test namespace, the test it belongs to.
	TestNameAnnotation = "trellis.dev/test"
)

// RunMain starts one control plane for a test binary, hands it to setup,
// runs the tests and stops the control plane. It returns the exit code for
// os.Exit. A control plane that does not start fails the whole binary, with
// the reason on stderr.
//
// With -short, RunMain starts nothing and does not call setup: the tests
// run, and those that call Require or Namespace on the nil control plane
// skip. Progress goes to opts.Logger, or to stderr when it is nil; `go test`
// shows it with -v or when the package fails.
func RunMain(m *testing.M, opts Options, setup func(*ControlPlane) error) int {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if !flag.Parsed() {
		flag.Parse() // for testing.Short; TestMain runs before m.Run parses flags
	}
	if testing.Short() {
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), DefaultStartTimeout+crdWaitTimeout)
	cp, err := Start(ctx, opts)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "controlplane: %v\n", err)
		return 1
	}
	code := 1
	if err := runSetup(cp, setup); err != nil {
		fmt.Fprintf(os.Stderr, "controlplane: setup: %v\n", err)
	} else {
		code = m.Run()
	}
	begin := time.Now()
	if err := cp.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "controlplane: stop: %v\n", err)
	}
	opts.Logger.Info("control plane stopped", "took", time.Since(begin).Round(time.Millisecond))
	return code
}

func runSetup(cp *ControlPlane, setup func(*ControlPlane) error) error {
	if setup == nil {
		return nil
	}
	return setup(cp)
}

// clients are the clients Namespace needs, made once per control plane.
type clients struct {
	core      kubernetes.Interface
	dynamic   dynamic.Interface
	discovery discovery.DiscoveryInterface
}

func (cp *ControlPlane) getClients() (*clients, error) {
	cp.clientsOnce.Do(func() {
		cfg := cp.RESTConfig()
		cfg.WarningHandler = rest.NoWarnings{} // cleanup deletes deprecated kinds too
		c := &clients{}
		if c.core, cp.clientsErr = kubernetes.NewForConfig(cfg); cp.clientsErr != nil {
			return
		}
		if c.dynamic, cp.clientsErr = dynamic.NewForConfig(cfg); cp.clientsErr != nil {
			return
		}
		c.discovery = c.core.Discovery()
		cp.clients = c
	})
	return cp.clients, cp.clientsErr
}

// Namespace creates a namespace for the calling test, named after it, and
// returns its name. When the test ends, the objects in the namespace and
// the namespace are deleted, best effort: without a controller-manager the
// namespace itself stays Terminating. Like Require, it skips the test when
// cp is nil.
func (cp *ControlPlane) Namespace(t testing.TB) string {
	t.Helper()
	cp.Require(t)
	c, err := cp.getClients()
	if err != nil {
		t.Fatalf("controlplane: clients: %v", err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:        namespaceName(t.Name()),
		Annotations: map[string]string{TestNameAnnotation: t.Name()},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if _, err := c.core.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("controlplane: create Namespace/%s: %v", ns.Name, err)
	}
	t.Cleanup(func() { cleanupNamespace(t, c, ns.Name) })
	return ns.Name
}

var deleteBackground = metav1.DeleteOptions{PropagationPolicy: ptr(metav1.DeletePropagationBackground)}

// Require skips the calling test when there is no control plane, as under
// -short (see RunMain). It is safe to call on a nil *ControlPlane.
func (cp *ControlPlane) Require(t testing.TB) {
	t.Helper()
	if cp == nil {
		t.Skip("needs a control plane, which RunMain does not start with -short")
	}
}

var notDNSLabel = regexp.MustCompile(`[^a-z0-9]+`)

// namespaceName derives a unique DNS-1123 label from a test name.
func namespaceName(testName string) string {
	base := strings.Trim(notDNSLabel.ReplaceAllString(strings.ToLower(testName), "-"), "-")
	if len(base) > 50 {
		base = strings.TrimRight(base[:50], "-")
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix) // crypto/rand.Read never fails
	if base == "" {
		return "test-" + hex.EncodeToString(suffix)
	}
	return base + "-" + hex.EncodeToString(suffix)
}

// cleanupNamespace deletes every deletable namespaced object in ns, then ns.
// Failures are logged, not fatal: the control plane is thrown away anyway.
func cleanupNamespace(t testing.TB, c *clients, ns string) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	lists, err := c.discovery.ServerPreferredNamespacedResources()
	if err != nil && len(lists) == 0 {
		t.Logf("controlplane: cleanup of Namespace/%s: discovery: %v", ns, err)
	}
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range list.APIResources {
			if strings.Contains(r.Name, "/") || !canDeleteCollection(r) {
				continue
			}
			err := c.dynamic.Resource(gv.WithResource(r.Name)).Namespace(ns).
				DeleteCollection(ctx, deleteBackground, metav1.ListOptions{})
			if err != nil {
				t.Logf("controlplane: cleanup of Namespace/%s: %s: %v", ns, r.Name, err)
			}
		}
	}
	if err := c.core.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Logf("controlplane: delete Namespace/%s: %v", ns, err)
	}
}

func canDeleteCollection(r metav1.APIResource) bool {
	for _, v := range r.Verbs {
		if v == "deletecollection" {
			return true
		}
	}
	return false
}
