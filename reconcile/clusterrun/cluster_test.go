package clusterrun

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/lineage"
	"trellis.dev/trellis/reconcile/mlkind"
	"trellis.dev/trellis/render"
)

// events records what a Printer is told, one line per call.
type events []string

func (e *events) add(format string, args ...any) { *e = append(*e, fmt.Sprintf(format, args...)) }
func (e *events) Connected(cluster, context string, err error) {
	e.add("connected %s %q %v", cluster, context, err)
}
func (e *events) Change(ch reconcile.Change) { e.add("change %s", ch.String()) }
func (e *events) Applied(cs *reconcile.ChangeSet, err error) {
	e.add("applied %s %v", cs.Summary(), err)
}
func (e *events) Status(ref reconcile.ObjectRef, st mlkind.Status, _ string) {
	e.add("status %s %s", ref.Name, st)
}
func (e *events) Waited(cluster string, notReady, total int) {
	e.add("waited %s %d/%d", cluster, notReady, total)
}
func (e *events) Followed(cluster string, f []lineage.Followed) {
	e.add("followed %s %d", cluster, len(f))
}

func TestClusterUnreachable(t *testing.T) {
	var got events
	refused := errors.New("cluster dev: connection refused")
	out := Cluster(context.Background(), render.Cluster{Name: "dev"}, Options{
		Revision: "abc", Wait: true, Timeout: time.Minute,
		Connect: func(render.Cluster) (*reconcile.Client, string, error) { return nil, "kind-dev", refused },
	}, &got)
	assert.Equal(t, refused, out.Err)
	assert.Equal(t, refused, out.Error())
	assert.Equal(t, refused, out.RecordErr())
	require.NotNil(t, out.ChangeSet, "a cluster not reached still has a change set, for its record")
	assert.Equal(t, "dev", out.ChangeSet.Cluster)
	assert.Equal(t, "abc", out.ChangeSet.Revision)
	assert.Equal(t, refused.Error(), out.ChangeSet.Error)
	assert.Nil(t, out.Client)
	require.Len(t, got, 2, "nothing waited for or followed: %q", got)
	assert.Equal(t, `connected dev "kind-dev" cluster dev: connection refused`, got[0])
	assert.True(t, strings.HasPrefix(got[1], "applied ") && strings.HasSuffix(got[1], refused.Error()), got[1])
}

// TestClusterApplyWait applies a ConfigMap to a real apiserver and waits
// for it: the Printer hears of the connection, the change, the apply and
// the wait, in that order.
func TestClusterApplyWait(t *testing.T) {
	if cp == nil {
		t.Skip("needs the control plane")
	}
	ns := cp.Namespace(t)
	cm := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "settings", "namespace": ns},
		"data":     map[string]any{"lr": "0.1"},
	}}
	var got events
	out := Cluster(context.Background(), render.Cluster{Name: "dev", Objects: []*unstructured.Unstructured{cm}}, Options{
		SourceID: "clusterrun-test", Revision: "abc", Wait: true, Timeout: time.Minute,
		Connect: func(render.Cluster) (*reconcile.Client, string, error) {
			c, err := NewClient(rest.CopyConfig(cp.RESTConfig()))
			return c, "test", err
		},
	}, &got)
	require.NoError(t, out.Error(), "%q", got)
	require.NotNil(t, out.Client)
	assert.Equal(t, 1, out.ChangeSet.Count(reconcile.Created))
	require.GreaterOrEqual(t, len(got), 4, "%q", got)
	assert.Equal(t, `connected dev "test" <nil>`, got[0])
	assert.Contains(t, got[1], "change "+ns+"/configmap/settings created")
	assert.Contains(t, got, "status settings Current")
	assert.Equal(t, "waited dev 0/1", got[len(got)-1], "no runs: nothing followed")
}

func TestNewClientBoundsRequests(t *testing.T) {
	cfg := &rest.Config{Host: "https://127.0.0.1:1"}
	_, _ = NewClient(cfg)
	assert.Equal(t, RequestTimeout, cfg.Timeout)
	cfg = &rest.Config{Host: "https://127.0.0.1:1", Timeout: time.Second}
	_, _ = NewClient(cfg)
	assert.Equal(t, time.Second, cfg.Timeout, "a timeout of the caller's is kept")
}

func TestOutcomeError(t *testing.T) {
	failed := &reconcile.ChangeSet{Cluster: "dev", Changes: []reconcile.Change{{Action: reconcile.Failed}, {Action: reconcile.Created}}}
	ok := &reconcile.ChangeSet{Cluster: "dev", Changes: []reconcile.Change{{Action: reconcile.Created}}}
	notReady := errors.New("cluster dev: 1 objects not ready")
	tests := []struct {
		name      string
		out       Outcome
		err, rerr string
	}{
		{"success", Outcome{ChangeSet: ok}, "", ""},
		{"objects failed", Outcome{ChangeSet: failed}, "cluster dev: 1 of 2 objects failed", ""},
		{"not ready", Outcome{ChangeSet: ok, WaitErr: notReady}, notReady.Error(), notReady.Error()},
		{"apply error first", Outcome{ChangeSet: failed, Err: errors.New("boom"), WaitErr: notReady}, "boom", "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errText := func(err error) string {
				if err == nil {
					return ""
				}
				return err.Error()
			}
			assert.Equal(t, tt.err, errText(tt.out.Error()))
			assert.Equal(t, tt.rerr, errText(tt.out.RecordErr()))
		})
	}
}
