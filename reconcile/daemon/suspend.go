package daemon

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// Suspension is read from files in the state directory, so an operator can
// suspend and resume without a redeploy and without Git:
//
//	touch  STATE/suspend            # suspend the whole source
//	touch  STATE/suspend-<cluster>  # suspend one cluster
//	rm     STATE/suspend...         # resume
//
// In-cluster: kubectl -n trellis-system exec deploy/trellis -- /trellis suspend --state-dir /var/lib/trellis.
// A suspended cluster is neither applied nor corrected for drift; polling
// and rendering go on, so the latest revision applies on resume.

// SuspendFile is the name of the file that suspends the whole source.
const SuspendFile = "suspend"

// Suspended reports whether the cluster, or the whole source, is suspended
// by a file in stateDir. An empty stateDir suspends nothing.
func Suspended(stateDir, cluster string) bool {
	if stateDir == "" {
		return false
	}
	for _, name := range []string{SuspendFile, SuspendFile + "-" + cluster} {
		if _, err := os.Stat(filepath.Join(stateDir, name)); err == nil || !errors.Is(err, fs.ErrNotExist) {
			return true // an unreadable state dir errs on the side of doing nothing
		}
	}
	return false
}

// suspendPath is the file that suspends cluster ("" for the whole
// source).
func suspendPath(stateDir, cluster string) string {
	if cluster == "" {
		return filepath.Join(stateDir, SuspendFile)
	}
	return filepath.Join(stateDir, SuspendFile+"-"+cluster)
}

// Suspend creates the file that suspends cluster ("" for the whole
// source) in stateDir.
func Suspend(stateDir, cluster string) error {
	f, err := os.OpenFile(suspendPath(stateDir, cluster), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// Resume removes the file that suspends cluster ("" for the whole
// source); resuming what is not suspended is no error.
func Resume(stateDir, cluster string) error {
	err := os.Remove(suspendPath(stateDir, cluster))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
