package controlplane

import (
	"sync"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"os"
	"context"
	"testing"
	"time"

	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
)

func TestZZDebugTiming(t *testing.T) {
	ctx := context.Background()
	t0 := time.Now()
	cp, err := Start(ctx, Options{APIServerArgs: []string{"--v=4"}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { if os.Getenv("KEEP") == "" { cp.Stop() } else { t.Log(cp.dir) } }()
	t.Logf("start %v", time.Since(t0))
	paths, err := DefaultCRDDirs()
	t.Logf("paths %v %v", time.Since(t0), err)
	t1 := time.Now()
	docs, err := readCRDs(paths)
	t.Logf("read %d docs %v %v", len(docs), time.Since(t1), err)
	client, _ := apiextensions.NewForConfig(cp.restConfig)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 3)
	for _, d := range docs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			t2 := time.Now()
			_, err := client.ApiextensionsV1().CustomResourceDefinitions().Patch(ctx, d.crd.Name,
				types.ApplyPatchType, d.json, metav1.PatchOptions{FieldManager: FieldManager, Force: ptr(true)})
			t.Logf("apply %s (%d bytes) %v %v", d.crd.Name, len(d.json), time.Since(t2), err)
		}()
	}
	wg.Wait()
	t.Logf("all applied %v", time.Since(t1))
	t3 := time.Now()
	err = waitEstablished(ctx, client, docs)
	t.Logf("established %v %v", time.Since(t3), err)
	t3 = time.Now()
	dc, _ := discovery.NewDiscoveryClientForConfig(cp.restConfig)
	err = waitServed(ctx, dc, docs)
	t.Logf("served %v %v", time.Since(t3), err)
	dyn := dynamic.NewForConfigOrDie(cp.restConfig)
	for i := 0; i < 2; i++ {
		obj := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment", "metadata": map[string]any{"name": "x"}, "spec": map[string]any{}}}
		t4 := time.Now()
		_, err = dyn.Resource(schema.GroupVersionResource{Group: "kubeflow.org", Version: "v1beta1", Resource: "experiments"}).Namespace("default").Create(ctx, obj, metav1.CreateOptions{DryRun: []string{"All"}})
		t.Logf("create at %v took %v %v", t4.Format("15:04:05.000"), time.Since(t4), err)
	}
}
