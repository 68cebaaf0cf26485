package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// EnvCRDDirs replaces DefaultCRDDirs' list: CRD files or directories,
// separated by colons. Relative entries are relative to the repository root.
const EnvCRDDirs = "TRELLIS_CRD_DIRS"

// moduleDownloadTimeout bounds `go mod download`, which may fetch from the
// module proxy on a cold cache.
const moduleDownloadTimeout = 5 * time.Minute

// moduleCRDs names CRD files inside a Go module.
type moduleCRDs struct {
	module, version string
	files           []string
}

// upstreamModuleCRDs are the Kubeflow CRDs that the module proxy serves; see
// ../shared/crds/README.md.
var upstreamModuleCRDs = []moduleCRDs{
	{"github.com/kubeflow/katib", "v0.19.0", []string{
		"manifests/v1beta1/components/crd/experiment.yaml",
	}},
	{"github.com/kubeflow/training-operator", "v1.8.1", []string{
		"manifests/base/crds/kubeflow.org_pytorchjobs.yaml",
		"manifests/base/crds/kubeflow.org_tfjobs.yaml",
	}},
	{"github.com/kubeflow/trainer/v2", "v2.0.0", []string{
		"manifests/base/crds/trainer.kubeflow.org_trainjobs.yaml",
	}},
}

var defaultCRDs struct {
	once  sync.Once
	paths []string
	err   error
}

// DefaultCRDDirs returns the CRD files and directories trellis renders to:
// ../shared/crds beside the repository (Argo Workflows, KServe) and the
// Katib Experiment, PyTorchJob, TFJob and TrainJob CRDs from the Go module
// cache, downloaded through the module proxy if needed. $TRELLIS_CRD_DIRS
// replaces the list. The result is computed once per process.
func DefaultCRDDirs() ([]string, error) {
	if env := os.Getenv(EnvCRDDirs); env != "" {
		return crdDirsFromEnv(env), nil
	}
	defaultCRDs.once.Do(func() {
		defaultCRDs.paths, defaultCRDs.err = locateDefaultCRDs()
	})
	return slices.Clone(defaultCRDs.paths), defaultCRDs.err
}

func crdDirsFromEnv(env string) []string {
	root, rootErr := RepoRoot()
	var paths []string
	for _, p := range filepath.SplitList(env) {
		switch {
		case p == "":
			continue
		case !filepath.IsAbs(p) && rootErr == nil:
			p = filepath.Join(root, p)
		}
		paths = append(paths, p)
	}
	return paths
}

func locateDefaultCRDs() ([]string, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	shared, err := sharedCRDDir(root)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), moduleDownloadTimeout)
	defer cancel()
	dirs, err := moduleDirs(ctx, upstreamModuleCRDs)
	if err != nil {
		return nil, err
	}
	paths := []string{shared}
	for _, m := range upstreamModuleCRDs {
		for _, f := range m.files {
			p := filepath.Join(dirs[m.module], filepath.FromSlash(f))
			if _, err := os.Stat(p); err != nil {
				return nil, fmt.Errorf("%s@%s: CRD file: %w", m.module, m.version, err)
			}
			paths = append(paths, p)
		}
	}
	return paths, nil
}

// sharedCRDDir finds shared/crds in the repository's parent directory or
// above: CI clones the repository with shared/ beside it.
func sharedCRDDir(root string) (string, error) {
	for dir := filepath.Dir(root); ; dir = filepath.Dir(dir) {
		candidate := filepath.Join(dir, "shared", "crds")
		if fi, err := os.Stat(candidate); err == nil && fi.IsDir() {
			return candidate, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("%s: no shared/crds beside the repository or above; set $%s",
				root, EnvCRDDirs)
		}
	}
}

// moduleDownload is one record of `go mod download -json`.
type moduleDownload struct {
	Path, Version, Dir, Error string
}

// moduleDirs returns the module cache directory of each module, running
// `go mod download -json` in an empty directory so that no go.mod is read or
// changed, whatever the modules of the caller.
func moduleDirs(ctx context.Context, mods []moduleCRDs) (map[string]string, error) {
	tmp, err := os.MkdirTemp("", "trellis-mod-download-")
	if err != nil {
		return nil, fmt.Errorf("go mod download: %w", err)
	}
	defer os.RemoveAll(tmp)
	args := []string{"mod", "download", "-json"}
	for _, m := range mods {
		args = append(args, m.module+"@"+m.version)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	dirs := map[string]string{}
	var errs []error
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var d moduleDownload
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go %v: decode output: %w (stderr: %s)", args, err, stderr.String())
		}
		if d.Error != "" {
			errs = append(errs, fmt.Errorf("%s@%s: %s", d.Path, d.Version, d.Error))
		}
		dirs[d.Path] = d.Dir
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("go mod download: %w", err)
	}
	for _, m := range mods {
		if dirs[m.module] == "" {
			return nil, fmt.Errorf("go mod download %s@%s: no directory (exit: %v, stderr: %s)",
				m.module, m.version, runErr, stderr.String())
		}
	}
	return dirs, nil
}
