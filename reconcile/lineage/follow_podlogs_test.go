package lineage

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"trellis.dev/trellis/reconcile/redact"
)

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
	red, err := redact.New(redact.DefaultPatterns)
	require.NoError(t, err)
	s = &podLogSink{w: &out, red: red.WithValues("hunter2"), limit: 100}
	require.NoError(t, s.write("[wf/train] ", []byte("login with hunter2\nMINIO_SECRET=abc123\n")))
	assert.NotContains(t, out.String(), "hunter2")
	assert.NotContains(t, out.String(), "abc123")
	assert.Equal(t, 2, strings.Count(out.String(), "[wf/train] "))
}
