package peakrss

import (
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// allocateEnv makes the test binary a child that touches this many MiB.
const allocateEnv = "PEAKRSS_TEST_ALLOCATE_MIB"

func TestMain(m *testing.M) {
	if os.Getenv(allocateEnv) != "" {
		held := make([]byte, 160<<20)
		for i := range held {
			held[i] = 1
		}
		os.Exit(int(held[len(held)-1]) - 1)
	}
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

// A child's peak is its own: not its parent's, large, nor below what it
// touched.
func TestRunReportsTheChildsOwnPeak(t *testing.T) {
	held := make([]byte, 320<<20) // this process's peak, which a plain exec.Cmd would pass on
	for i := range held {
		held[i] = 1
	}

	small, err := Run(exec.Command("/bin/true"))
	require.NoError(t, err)
	require.Less(t, small.PeakRSS, 64.0, "the peak of /bin/true")

	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), allocateEnv+"=1")
	large, err := Run(child)
	require.NoError(t, err)
	require.GreaterOrEqual(t, large.PeakRSS, 160.0)
	require.Less(t, large.PeakRSS, 300.0)
	require.Positive(t, large.CPU)
	runtime.KeepAlive(held)
}

func TestRunPassesTheExitCode(t *testing.T) {
	_, err := Run(exec.Command("/bin/false"))
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	require.Equal(t, 1, exit.ExitCode())
}
