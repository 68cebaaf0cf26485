package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/test/controlplane"
	"trellis.dev/trellis/test/githubapi"
)

// TestSuspendSurvivesServeRestart runs `trellis serve`, reads what it
// applied with `trellis status`, suspends the cluster with `trellis
// suspend` (an undeclared cluster is refused), and starts serve again with
// a fresh state directory, as a new pod would: the suspension holds, a new
// revision is not applied, and status says so. `trellis resume` says what
// it resumed, and the running daemon applies the new revision.
func TestSuspendSurvivesServeRestart(t *testing.T) {
	cp := needControlPlane(t)
	ns := cp.Namespace(t)
	files := func(v string) map[string]string {
		return map[string]string{
			"cluster.yaml":         fmt.Sprintf("apiVersion: trellis.dev/v1alpha1\nkind: Cluster\nmetadata: {name: dev}\nspec: {context: %s, namespaces: {%s-s: {isolated: false}}}\n", controlplane.DefaultContextName, ns),
			"clusters/dev/cm.yaml": fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: %s-s}\ndata: {v: %q}\n", ns, v),
		}
	}
	git := githubapi.NewGitRepo(t, files("1"))
	rev1 := git.Head("main")
	kube, err := kubernetes.NewForConfig(cp.RESTConfig())
	require.NoError(t, err)
	value := func() string {
		cm, err := kube.CoreV1().ConfigMaps(ns+"-s").Get(context.Background(), "settings", metav1.GetOptions{})
		if err != nil {
			return ""
		}
		return cm.Data["v"]
	}
	serve := func(interval string) (*syncBuffer, func()) {
		var stdout, stderr syncBuffer
		ctx, cancel := context.WithCancel(context.Background())
		exited := make(chan int, 1)
		go func() {
			exited <- run(ctx, []string{"serve", "--repo", "file://" + git.URL(), "--ref", "main", "--kubeconfig", cp.KubeconfigPath(),
				"--listen", "127.0.0.1:0", "--state-dir", t.TempDir(), "--source-id", ns, "--interval", interval, "--lineage-branch", ""}, &stdout, &stderr)
		}()
		stop := func() {
			cancel()
			assert.Equal(t, 0, <-exited, "stderr: %s", stderr.String())
		}
		return &stdout, stop
	}
	reach := []string{"--kubeconfig", cp.KubeconfigPath(), "--context", controlplane.DefaultContextName, "--cluster", "dev", "--source-id", ns}

	stdout, stop := serve("1h")
	require.Eventually(t, func() bool { return value() == "1" }, time.Minute, 10*time.Millisecond, "stdout: %s", stdout)
	require.Eventually(t, func() bool {
		r := runCLI(t, t.TempDir(), append([]string{"status"}, reach...), nil)
		return r.exit == exitOK && regexp.MustCompile(`(?m)^dev\s+trellis-test\s+`+ns+`\s+`+rev1[:12]+`\s+\S+\s+succeeded \(2 created\)\s+2\s+0\s+no\s*$`).MatchString(r.stdout)
	}, time.Minute, 10*time.Millisecond, "status names the applied revision")
	stop()

	// Suspend, from a checkout of the config repo: an undeclared cluster
	// is refused, a declared one suspended in the cluster itself.
	dir := t.TempDir()
	for name, content := range files("1") {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
	}
	r := runCLI(t, dir, []string{"suspend", ".", "--cluster", "prdo", "--kubeconfig", cp.KubeconfigPath()}, nil)
	assert.Equal(t, exitFailed, r.exit)
	assert.Contains(t, r.stderr, `no Cluster "prdo" is declared`)
	assert.Empty(t, r.stdout)
	r = runCLI(t, t.TempDir(), []string{"suspend", "--cluster", "prdo", "--kubeconfig", cp.KubeconfigPath(), "--context", controlplane.DefaultContextName}, nil)
	assert.Equal(t, exitFailed, r.exit)
	assert.Contains(t, r.stderr, "error: cluster prdo (context trellis-test): no inventory of cluster prdo in trellis-system: trellis never applied it to this cluster")
	r = runCLI(t, dir, []string{"suspend", ".", "--cluster", "dev", "--kubeconfig", cp.KubeconfigPath(), "--source-id", ns}, nil)
	require.Equal(t, exitOK, r.exit, r.stderr)
	inv := reconcile.InventoryID(ns, "dev")
	assert.Equal(t, "cluster dev (context trellis-test): suspended inventory "+inv+" (cluster dev, source "+ns+")\n", r.stdout)

	// A new revision, and serve restarted with a new state directory.
	rev2 := git.Commit("main", files("2"))
	stdout, stop = serve("1s")
	defer stop()
	require.Eventually(t, func() bool {
		return regexp.MustCompile(`msg="suspended; not applied".*revision=` + rev2).MatchString(stdout.String())
	},
		time.Minute, 10*time.Millisecond, "stdout: %s", stdout)
	assert.Equal(t, "1", value(), "not applied while suspended")
	r = runCLI(t, t.TempDir(), append([]string{"status"}, reach...), nil)
	assert.Regexp(t, `(?m)^dev\s+trellis-test\s+`+ns+`\s+`+rev1[:12]+`\s.*since \d{4}-\d\d-\d\dT`, r.stdout)

	r = runCLI(t, dir, []string{"resume", ".", "--kubeconfig", cp.KubeconfigPath(), "--source-id", ns}, nil)
	require.Equal(t, exitOK, r.exit, r.stderr)
	assert.Regexp(t, `^cluster dev \(context trellis-test\): resumed inventory `+inv+` \(cluster dev, source `+ns+`\), suspended since \d{4}-\d\d-\d\dT\S+Z\n$`, r.stdout)
	require.Eventually(t, func() bool { return value() == "2" }, time.Minute, 10*time.Millisecond, "applied once resumed; stdout: %s", stdout)
	r = runCLI(t, dir, []string{"resume", ".", "--kubeconfig", cp.KubeconfigPath(), "--source-id", ns}, nil)
	assert.Equal(t, "cluster dev (context trellis-test): inventory "+inv+" (cluster dev, source "+ns+") was not suspended\n", r.stdout)
}
