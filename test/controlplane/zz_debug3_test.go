package controlplane

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/discovery"
)

func TestZZSnapshot(t *testing.T) {
	ctx := context.Background()
	t0 := time.Now()
	cp, err := Start(ctx, Options{WithDefaultCRDs: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("start+crds %v", time.Since(t0))
	cp.apiserver.stop()
	cp.etcd.stop()
	snap := "/tmp/zzsnap"; os.RemoveAll(snap); os.MkdirAll(snap, 0o755)
	out, err := exec.Command("cp", "-a", filepath.Join(cp.dir, "etcd"), snap+"/etcd").CombinedOutput()
	t.Logf("cp %s %v", out, err)
	cp.Stop()
	os.Setenv("ZZ_ETCD_TEMPLATE", snap+"/etcd")
	t1 := time.Now()
	cp2, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cp2.Stop()
	t.Logf("start from snapshot %v", time.Since(t1))
	docs, _ := readCRDs(mustDefault(t))
	dc, _ := discovery.NewDiscoveryClientForConfig(cp2.restConfig)
	err = waitServed(ctx, dc, docs)
	t.Logf("served %v %v", time.Since(t1), err)
}

func mustDefault(t *testing.T) []string { p, _ := DefaultCRDDirs(); return p }
