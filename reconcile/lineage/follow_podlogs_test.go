package lineage

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/reconcile"
)

func TestLineageArgoPodNameV2(t *testing.T) {
	// FNV-1a("hello") is 1335831723, as in Argo's own pod name tests.
	assert.Equal(t, "wf-tpl-1335831723", argoPodNameV2("wf", "hello", "tpl"))
	assert.Equal(t, "wf-1335831723", argoPodNameV2("wf", "hello", ""), "no template: the workflow's name alone")
	assert.Equal(t, "wf", argoPodNameV2("wf", "wf", "tpl"), "the workflow's own node")
	long := argoPodNameV2(strings.Repeat("w", 200), "hello", strings.Repeat("t", 100))
	assert.Len(t, long, 242+1+10, "prefix cut to leave room for the hash")
	assert.True(t, strings.HasSuffix(long, "-1335831723"))
}

func TestLineagePodNodes(t *testing.T) {
	wf := followFixture(t, "workflow")
	got := podNodes(wf)
	require.Len(t, got, 2, "the Pod nodes, not the DAG")
	assert.Equal(t, podNode{
		step:  "train",
		pods:  []string{"train-iris-7xk2q-step-train-467207319", "train-iris-7xk2q-467207319"},
		start: "2026-11-26T18:15:05Z",
	}, got[0], "v2 names first when the workflow says so")
	assert.Equal(t, "evaluate", got[1].step, "in the order they started")
	assert.Equal(t, []string{"train-iris-7xk2q-step-evaluate-2516907616", "train-iris-7xk2q-2516907616"}, got[1].pods)

	wf.SetAnnotations(nil)
	got = podNodes(wf)
	assert.Equal(t, []string{"train-iris-7xk2q-467207319", "train-iris-7xk2q-step-train-467207319"}, got[0].pods,
		"without the annotation, the node id (v1) first")
}

func TestLineagePodLogSink(t *testing.T) {
	var out bytes.Buffer
	s := &podLogSink{w: &out, limit: 40}
	require.NoError(t, s.write("[wf/train] ", []byte("epoch 1\nepoch 2\n")))
	require.NoError(t, s.write("[wf/evaluate] ", []byte("no newline at the end, and more")))
	assert.Equal(t, 0, s.remaining())
	require.NoError(t, s.write("[wf/deploy] ", []byte("dropped: over the limit\n")))
	assert.Equal(t,
		"[wf/train] epoch 1\n"+
			"[wf/train] epoch 2\n"+
			"[wf/evaluate] no newline at the end, a\n"+
			"[wf/evaluate] pod logs cut at 40 bytes\n",
		out.String())

	out.Reset()
	s = &podLogSink{w: &out, limit: 100}
	require.NoError(t, s.write("[wf/train] ", nil))
	require.NoError(t, s.write("[wf/train] ", []byte("a\r\nb\n\nc")))
	assert.Equal(t, "[wf/train] a\r\n[wf/train] b\n[wf/train] \n[wf/train] c\n", out.String(), "every line, empty ones too")
	assert.Equal(t, 93, s.remaining())

	out.Reset()
	red, err := reconcile.NewRedactor(reconcile.DefaultRedactPatterns)
	require.NoError(t, err)
	s = &podLogSink{w: &out, red: red.WithValues("hunter2"), limit: 100}
	require.NoError(t, s.write("[wf/train] ", []byte("login with hunter2\nMINIO_SECRET=abc123\n")))
	assert.NotContains(t, out.String(), "hunter2")
	assert.NotContains(t, out.String(), "abc123")
	assert.Equal(t, 2, strings.Count(out.String(), "[wf/train] "))
}
