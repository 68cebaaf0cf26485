// Package crds holds the upstream CustomResourceDefinitions of the systems
// trellis renders to (Argo Workflows, KServe, Katib, the Kubeflow training
// operator and trainer), vendored unchanged and embedded in the binary.
//
// Each file is the upstream YAML byte for byte, compressed with gzip (-9 -n)
// only to keep the repository and the binary small; [Upstream] records where
// each came from and the SHA-256 of the uncompressed upstream file, and a test
// checks every file against it. README.md beside this file says the same for
// readers, with the license.
//
// The test control plane and `make demo` install them into a real
// kube-apiserver; offline schema validation reads them from here.
package crds

import (
	"bytes"
	"compress/gzip"
	"embed"
	"fmt"
	"io"
	"strings"
)

//go:embed *.yaml.gz
var files embed.FS

// Source says where one vendored CRD file comes from.
type Source struct {
	File   string // file name in this directory, without ".gz"
	Repo   string // upstream repository
	Path   string // path of the file in the upstream repository
	Commit string // upstream commit, or the release tag the module proxy serves
	SHA256 string // of the uncompressed upstream file
}

// Upstream lists every vendored CRD file, in the order they are installed.
var Upstream = []Source{
	{"argoproj.io_cronworkflows.yaml", "github.com/argoproj/argo-workflows",
		"manifests/base/crds/full/argoproj.io_cronworkflows.yaml", "f016ad89eb269d282aec06dc491c29f396a38df4",
		"31abde1c89c6c11cf1c97753676327e02b2f8dc47827e49383732ac6b1d828c6"},
	{"argoproj.io_workflows.yaml", "github.com/argoproj/argo-workflows",
		"manifests/base/crds/full/argoproj.io_workflows.yaml", "f016ad89eb269d282aec06dc491c29f396a38df4",
		"35ffc0d16c9c71db69ae113e562d90057eac75a60e7371aa3012a3171ccd8c39"},
	{"argoproj.io_workflowtemplates.yaml", "github.com/argoproj/argo-workflows",
		"manifests/base/crds/full/argoproj.io_workflowtemplates.yaml", "f016ad89eb269d282aec06dc491c29f396a38df4",
		"e932631a04a0f3a226b2ca8c68d43214c071c5d8aa6961b23298b81cbea3d9a5"},
	{"kubeflow.org_experiments.yaml", "github.com/kubeflow/katib",
		"manifests/v1beta1/components/crd/experiment.yaml", "v0.19.0",
		"c7f8a989368dcc87bcbb2739efa3b3e6f78d31f156857e0284e56c8bd6bf98db"},
	{"kubeflow.org_mpijobs.yaml", "github.com/kubeflow/training-operator",
		"manifests/base/crds/kubeflow.org_mpijobs.yaml", "v1.8.1",
		"7e45bdcb046e2c3ec2106f270bb0c00468e8a816d4b9b23f751c2cc750e7780c"},
	{"kubeflow.org_pytorchjobs.yaml", "github.com/kubeflow/training-operator",
		"manifests/base/crds/kubeflow.org_pytorchjobs.yaml", "v1.8.1",
		"2e38887fa7c47f01c4a13548feeb179d1e26b98f2eb3eb755b8ac64ac9084036"},
	{"kubeflow.org_tfjobs.yaml", "github.com/kubeflow/training-operator",
		"manifests/base/crds/kubeflow.org_tfjobs.yaml", "v1.8.1",
		"b5a332daa47d7b63b804818938ab77c529a9afaf27e36bdc5ab615775ca827c5"},
	{"serving.kserve.io_inferenceservices.yaml", "github.com/kserve/kserve",
		"config/crd/full/serving.kserve.io_inferenceservices.yaml", "aaac4e294dae2c7b1aa1886447793f3aa1c30912",
		"57c3bf13f77de94678bf2ae3748056ec071ad2b9e88d6a28f44fb4710758fcff"},
	{"trainer.kubeflow.org_trainjobs.yaml", "github.com/kubeflow/trainer",
		"manifests/base/crds/trainer.kubeflow.org_trainjobs.yaml", "v2.0.0",
		"d751d7642f623b262ccb93f33c4d7e157eeec86ba9747d3aa67700859f20b8e8"},
}

// Read returns the uncompressed upstream YAML of one vendored file, by the
// name Source.File gives it.
func Read(name string) ([]byte, error) {
	data, err := files.ReadFile(name + ".gz")
	if err != nil {
		return nil, fmt.Errorf("vendored CRD %s: %w", name, err)
	}
	return Gunzip(name, data)
}

// Gunzip uncompresses a gzip file's content; name is for errors.
func Gunzip(name string, data []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// IsCompressed reports whether a CRD file name is one of the gzip-compressed
// forms this package and the test control plane read.
func IsCompressed(name string) bool {
	return strings.HasSuffix(name, ".yaml.gz") || strings.HasSuffix(name, ".yml.gz")
}
