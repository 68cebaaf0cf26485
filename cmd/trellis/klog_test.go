package main

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/klog/v2"
)

// TestRouteKlog: client-go's klog lines become slog lines, errors and
// warnings kept, info dropped; nothing in klog's raw "E1201 ..." form.
func TestRouteKlog(t *testing.T) {
	var buf bytes.Buffer
	routeKlog(&buf, slog.LevelWarn)
	t.Cleanup(func() { routeKlog(os.Stderr, slog.LevelWarn) })
	klog.ErrorS(errors.New("the server is currently unable to handle the request"), "Unhandled Error")
	klog.Errorf("couldn't get resource list for %s", "metrics.k8s.io/v1beta1")
	klog.InfoS("chatter")
	klog.Flush()
	out := buf.String()
	assert.Contains(t, out, `level=ERROR msg="Unhandled Error"`)
	assert.Contains(t, out, "source=client-go")
	assert.Contains(t, out, "couldn't get resource list for metrics.k8s.io/v1beta1")
	assert.NotContains(t, out, "chatter", "info is below the level")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		assert.True(t, strings.HasPrefix(line, "time="), "a slog line, not klog's own format: %q", line)
	}
}
