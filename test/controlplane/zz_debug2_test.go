package controlplane_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestZZExperiment(t *testing.T) {
	ns := cp.Namespace(t)
	client, mapper := dynamicClient(t)
	for i := 0; i < 3; i++ {
		obj := readObject(t, filepath.Join("testdata", "valid-experiment.yaml"))
		t0 := time.Now()
		mapping, err := mapper.RESTMapping(obj.GroupVersionKind().GroupKind(), obj.GroupVersionKind().Version)
		t1 := time.Now()
		_, err = client.Resource(mapping.Resource).Namespace(ns).Create(context.Background(), obj,
			metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		t.Logf("map %v create %v err %v", t1.Sub(t0), time.Since(t1), err)
	}
}
