package render

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"trellis.dev/trellis/schema"
)

// Labels and annotations every rendered object carries.
const (
	LabelManagedBy      = "app.kubernetes.io/managed-by"
	ManagedByValue      = "trellis"
	LabelCluster        = "trellis.dev/cluster"
	AnnotationPath      = "trellis.dev/source-path"
	AnnotationRevision  = "trellis.dev/revision"
	AnnotationDecl      = "trellis.dev/declaration"
	AnnotationPrune     = "trellis.dev/prune"
	AnnotationKeepRuns  = "trellis.dev/keep-runs"
	AnnotationModelFrom = "trellis.dev/model-from"
	// LabelRevision is set on run objects (Workflow runs), whose revision
	// is also a selector.
	LabelRevision = "trellis.dev/revision"
	// LabelRunOf marks a run object (a Workflow run or a hashed Katib
	// Experiment) with the declaration it is a run of: runs are history,
	// never pruned with their templates, and the last keep-runs are kept.
	LabelRunOf = "trellis.dev/run-of"
)

// RunOf is the trellis.dev/run-of label value of the runs of the
// declaration of kind ("pipeline" or "experiment") named name.
func RunOf(kind, name string) string {
	return labelValue(kind+"-"+name, false)
}

// Declaration is one validated trellis declaration.
type Declaration struct {
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace,omitempty"`
	// Path is the file it was read from, relative to the repo, with '/'.
	Path string `json:"path"`
	// Hash is a content hash of the defaulted declaration.
	Hash string `json:"hash"`

	// sum is the SHA-256 of the defaulted declaration, which keys what it
	// renders to in a Cache.
	sum [32]byte
	// origin rebuilds its value as the user wrote it, for positions.
	origin origin
	spec   any // *schema.Cluster, *schema.Pipeline, *schema.Experiment or *schema.Endpoint
	// pkgDir is the directory of the CUE package it was found in (its
	// value may be made of files elsewhere, imported or inherited), "" for
	// YAML and JSON: tenancy.go judges it by both.
	pkgDir string
}

// Cluster is what one cluster should hold.
type Cluster struct {
	Name string
	// Spec is the Cluster declaration.
	Spec schema.ClusterSpec
	// Objects are the rendered objects, in apply order. Below metadata
	// they share equal values with each other, with the render cache and
	// with earlier Results: whoever changes one changes a DeepCopy.
	Objects []*unstructured.Unstructured
}

// Result is a rendered config repo.
type Result struct {
	Revision     string
	Declarations []Declaration
	// Manifests counts the plain manifests and kustomization outputs.
	Manifests int
	Clusters  []Cluster
	// SOPSWithheld are the SOPS files not decrypted, by policy (see
	// SOPSKeys.Withheld): their Secrets hold placeholders.
	SOPSWithheld []string `json:",omitempty"`
}

// kindInput is what a namespaced kind's renderer gets besides its spec.
type kindInput struct {
	// Name is the declaration's metadata.name.
	Name string
	// Namespace is spec.namespace.
	Namespace string
	// Cluster is the declaration's Cluster, for node pools.
	Cluster *schema.Cluster
	// Revision is the Git revision being rendered.
	Revision string
	// Labels and Annotations are metadata.labels and metadata.annotations
	// of the declaration (may be nil).
	Labels, Annotations map[string]string
}
