package reconcile

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"

	"trellis.dev/trellis/test/kubeproxy"
)

// TestDriftListsPaged: a namespace holds 12 Secrets trellis does not
// apply beside the one it does. The live objects are read with Lists of
// at most livePageSize objects, following their continue tokens, seen
// through a proxy; only Secrets are listed (the kind the render has), and
// a drift check of the Secret still finds it unchanged, then drifted.
func TestDriftListsPaged(t *testing.T) {
	ns := cp.Namespace(t)
	kube, err := kubernetes.NewForConfig(cp.RESTConfig())
	require.NoError(t, err)
	for i := range 12 {
		_, err := kube.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("foreign-%02d", i), Namespace: ns},
			StringData: map[string]string{"k": "not trellis's"}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	defer func(n int64) { livePageSize = n }(livePageSize)
	livePageSize = 5

	proxy := kubeproxy.Start(t, cp.RESTConfig())
	c, err := NewClient(proxy.RESTConfig())
	require.NoError(t, err)
	secret := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": "zz-ours", "namespace": ns}, "data": map[string]any{"token": "b3Vycw=="}}} // "ours"
	cl := testCluster("paged", secret)
	opts := Options{SourceID: ns}
	applyOK(t, c, cl, opts)

	mark := len(proxy.Events())
	cs := applyOK(t, c, cl, opts)
	require.Equal(t, Unchanged, cs.Changes[0].Action, "found on the last page")
	var pages, continued int
	for _, e := range proxy.Events()[mark:] {
		if e.End || e.Method != "GET" || !strings.HasSuffix(e.Path, "/namespaces/"+ns+"/secrets") {
			continue
		}
		q, err := url.ParseQuery(e.Query)
		require.NoError(t, err)
		assert.Equal(t, "5", q.Get("limit"), "every List is paged: %s", e.Query)
		pages++
		if q.Get("continue") != "" {
			continued++
		}
	}
	assert.GreaterOrEqual(t, pages, 3, "13 Secrets in pages of 5")
	assert.Equal(t, pages-1, continued, "each page after the first continues the List")

	live, err := kube.CoreV1().Secrets(ns).Get(context.Background(), "zz-ours", metav1.GetOptions{})
	require.NoError(t, err)
	live.Data["token"] = []byte("edited")
	_, err = kube.CoreV1().Secrets(ns).Update(context.Background(), live, metav1.UpdateOptions{FieldManager: "kubectl-edit"})
	require.NoError(t, err)
	cs = applyOK(t, c, cl, opts)
	assert.Equal(t, Configured, cs.Changes[0].Action, "drift found through the paged List")
}
