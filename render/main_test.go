package render

import (
	"os"
	"testing"
)

// TestMain makes the test binary a render child when DirIsolated runs it.
func TestMain(m *testing.M) {
	if IsRenderChild() {
		os.Exit(ServeIsolated(os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
