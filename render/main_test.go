package render

import (
	"os"
	"testing"

	"trellis.dev/trellis/test/peakrss"
)

// TestMain makes the test binary a render child when DirIsolated runs it.
func TestMain(m *testing.M) {
	if IsRenderChild() {
		os.Exit(ServeIsolated(os.Stdin, os.Stdout, os.Stderr))
	}
	code := m.Run()
	peakrss.Cleanup()
	os.Exit(code)
}
