package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/lineage"
	"trellis.dev/trellis/test/gitserver"
)

// TestServeKilledMidApply kills `trellis serve` (SIGKILL) while it applies a
// revision of 200 ConfigMaps, restarts it, and checks that it converges
// and that its inventory forgot nothing: every object it created before
// the kill was in the inventory at the moment of the kill.
func TestServeKilledMidApply(t *testing.T) {
	cp := needControlPlane(t)
	ns := cp.Namespace(t)
	bin := buildTrellis(t)
	git := gitserver.Start(t, gitserver.Options{})
	url := git.NewRepo(t, "config")
	files := map[string]string{"cluster.yaml": fmt.Sprintf(
		"apiVersion: trellis.dev/v1alpha1\nkind: Cluster\nmetadata: {name: dev}\nspec: {context: trellis-test, namespaces: {%s-t: {}}}\n", ns)}
	var cms strings.Builder
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&cms, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-%03d, namespace: %s-t}\ndata: {i: \"%d\"}\n", i, ns, i)
	}
	files["clusters/dev/cms.yaml"] = cms.String()
	git.Commit(t, url, files, "200 config maps")

	kube, err := kubernetes.NewForConfig(cp.RESTConfig())
	require.NoError(t, err)
	ctx := context.Background()
	count := func() int {
		l, err := kube.CoreV1().ConfigMaps(ns+"-t").List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
		return len(l.Items)
	}
	state := t.TempDir()
	args := []string{"serve", "--repo", url, "--kubeconfig", cp.KubeconfigPath(), "--interval", "1h",
		"--listen", "127.0.0.1:0", "--state-dir", state, "--source-id", ns}

	first := startServe(t, bin, args)
	require.Eventually(t, func() bool { return count() > 0 }, time.Minute, 5*time.Millisecond)
	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	_ = first.Wait()

	live := count()
	inv := inventoryKeys(t, kube, ns)
	l, err := kube.CoreV1().ConfigMaps(ns+"-t").List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, cm := range l.Items {
		require.Contains(t, inv, "_"+cm.Name+"_", "created before the kill but not in the inventory")
	}
	t.Logf("killed with %d of 200 ConfigMaps applied", live)

	second := startServe(t, bin, args)
	defer func() { _ = second.Process.Kill(); _ = second.Wait() }()
	require.Eventually(t, func() bool { return count() == 200 }, 2*time.Minute, 20*time.Millisecond)
	require.Eventually(t, func() bool { return strings.Count(inventoryKeys(t, kube, ns), "_ConfigMap") == 200 }, time.Minute, 20*time.Millisecond)
}

// inventoryKeys returns the keys of the source's inventory ConfigMap,
// joined by spaces.
func inventoryKeys(t *testing.T, kube kubernetes.Interface, sourceID string) string {
	t.Helper()
	l, err := kube.CoreV1().ConfigMaps(reconcile.InventoryNamespace).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	var keys []string
	for _, cm := range l.Items {
		if cm.Annotations[reconcile.AnnotationInventory] == sourceID+"/dev" {
			keys = append(keys, dataKeys(cm)...)
		}
	}
	return strings.Join(keys, " ")
}

func dataKeys(cm corev1.ConfigMap) []string {
	var keys []string
	for k := range cm.Data {
		keys = append(keys, k)
	}
	return keys
}

// startServe starts the trellis binary and waits until it serves.
func startServe(t *testing.T, bin string, args []string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	serving := make(chan struct{})
	go func() {
		s := bufio.NewScanner(out)
		once := false
		for s.Scan() {
			if !once && strings.Contains(s.Text(), "msg=serving") {
				once = true
				close(serving)
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case <-serving:
	case <-time.After(time.Minute):
		t.Fatal("trellis serve did not start")
	}
	return cmd
}

// built is the trellis binary the tests run as processes, built once per
// test binary into dir, which TestMain removes.
var built struct {
	once      sync.Once
	dir, path string
	err       error
}

// buildTrellis returns the trellis binary, built at the first call, with
// the build tags of the Makefile and deploy/Dockerfile.
func buildTrellis(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "trellis-bin-"); built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "trellis")
		cmd := exec.Command("go", "build", "-tags", "kustomize_disable_go_plugin_support", "-o", built.path, ".")
		cmd.Stderr = os.Stderr
		built.err = cmd.Run()
	})
	require.NoError(t, built.err, "go build")
	return built.path
}

// TestServeKilledBeforePush kills `trellis serve` (SIGKILL) after it
// applied a revision that started a pipeline run, while it follows the
// run and before it pushed the run's record: after a restart, the record
// is on the lineage branch, saying the run was not followed to its end.
func TestServeKilledBeforePush(t *testing.T) {
	cp := needControlPlane(t)
	ns := cp.Namespace(t)
	bin := buildTrellis(t)
	git := gitserver.Start(t, gitserver.Options{})
	url := git.NewRepo(t, "config")
	git.Commit(t, url, map[string]string{
		"cluster.yaml": fmt.Sprintf("apiVersion: trellis.dev/v1alpha1\nkind: Cluster\nmetadata: {name: dev}\nspec: {context: trellis-test, namespaces: {%s-t: {}}}\n", ns),
		"pipeline.yaml": fmt.Sprintf(`apiVersion: trellis.dev/v1alpha1
kind: Pipeline
metadata: {name: train}
spec:
  cluster: dev
  namespace: %s-t
  runOnChange: true
  steps: [{name: train, image: "python:3.12-slim", command: [python, -c, "print(1)"]}]
`, ns),
	}, "train")
	state := t.TempDir()
	args := []string{"serve", "--repo", url, "--kubeconfig", cp.KubeconfigPath(), "--interval", "1h",
		"--listen", "127.0.0.1:0", "--state-dir", state, "--source-id", ns, "--follow-timeout", "1h"}

	first := startServe(t, bin, args)
	pending := filepath.Join(state, "lineage", "pending")
	var runID string
	require.Eventually(t, func() bool {
		entries, _ := os.ReadDir(pending)
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), ".") { // not a record being written
				runID = e.Name()
			}
		}
		return runID != ""
	}, time.Minute, 5*time.Millisecond, "the record waits on disk while the run is followed")
	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	_ = first.Wait()
	_, err := lineage.Open(context.Background(), url, "", nil)
	require.Error(t, err, "nothing pushed before the kill")

	second := startServe(t, bin, args)
	defer func() { _ = second.Process.Kill(); _ = second.Wait() }()
	var rec lineage.Record
	require.Eventually(t, func() bool {
		store, err := lineage.Open(context.Background(), url, "", nil)
		if err != nil {
			return false
		}
		rec, err = store.Record(runID)
		return err == nil
	}, time.Minute, 20*time.Millisecond, "the record of the killed process is pushed after the restart")
	require.Len(t, rec.Followed, 1)
	assert.Equal(t, "Workflow", rec.Followed[0].Kind)
	assert.Equal(t, "Unknown", rec.Followed[0].Phase)
	assert.Contains(t, rec.Followed[0].Message, "trellis stopped while following it")
}
