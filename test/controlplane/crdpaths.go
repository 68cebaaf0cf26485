package controlplane

import (
	"os"
	"path/filepath"
)

// EnvCRDDirs replaces DefaultCRDDirs' list: CRD files or directories,
// separated by colons. Relative entries are relative to the repository root.
const EnvCRDDirs = "TRELLIS_CRD_DIRS"

// VendoredCRDDir is where the repository keeps the upstream CRDs trellis
// renders to, relative to its root (see schema/crds/README.md).
const VendoredCRDDir = "schema/crds"

// DefaultCRDDirs returns the CRD files and directories trellis renders to:
// the upstream CRDs vendored in the repository's schema/crds (Argo
// Workflows, KServe, Katib, the training operator and trainer). A non-empty
// $TRELLIS_CRD_DIRS replaces the list; to add CRDs to the vendored ones, list
// schema/crds in it too.
func DefaultCRDDirs() ([]string, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	env := os.Getenv(EnvCRDDirs)
	if env == "" {
		return []string{filepath.Join(root, filepath.FromSlash(VendoredCRDDir))}, nil
	}
	var paths []string
	for _, p := range filepath.SplitList(env) {
		switch {
		case p == "":
			continue
		case !filepath.IsAbs(p):
			p = filepath.Join(root, p)
		}
		paths = append(paths, p)
	}
	return paths, nil
}
