package main

import (
	"bytes"
	"context"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVersion checks what `trellis version` and `--version` say, and how a
// build's VCS stamp becomes the commit.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out, errOut bytes.Buffer
		require.Equal(t, 0, run(context.Background(), args, &out, &errOut), args)
		assert.Equal(t, versionLine()+"\n", out.String(), args)
	}
	info := func(main string, settings ...debug.BuildSetting) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			return &debug.BuildInfo{Main: debug.Module{Version: main}, Settings: settings}, true
		}
	}
	rev := debug.BuildSetting{Key: "vcs.revision", Value: "62fa30f89c2f"}
	assert.Contains(t, formatVersion("v0.3.0", info("(devel)", rev)), "trellis v0.3.0 (commit 62fa30f89c2f, ")
	assert.Contains(t, formatVersion("dev", info("(devel)", rev, debug.BuildSetting{Key: "vcs.modified", Value: "true"})),
		"trellis dev (commit 62fa30f89c2f-dirty, ")
	assert.Contains(t, formatVersion("dev", info("v0.4.1")), "trellis v0.4.1 (commit unknown, ")
	assert.Contains(t, formatVersion("dev", func() (*debug.BuildInfo, bool) { return nil, false }), "trellis dev (commit unknown, ")
}

// TestUnknownCommandIsUsage checks that a command that does not exist exits
// 2, as every usage error does.
func TestUnknownCommandIsUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	assert.Equal(t, exitUsage, run(context.Background(), []string{"aply"}, &out, &errOut))
	assert.Contains(t, errOut.String(), `unknown command "aply"`)
}
