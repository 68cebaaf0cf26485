package controlplane

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"trellis.dev/trellis/schema/crds"
)

// FieldManager is the server-side apply field manager of installed CRDs.
const FieldManager = "trellis-controlplane"

// crdWaitTimeout bounds the wait for CRDs to be established and served.
const crdWaitTimeout = 2 * time.Minute

// crdDoc is one CustomResourceDefinition read from a file.
type crdDoc struct {
	source string // file the document came from, for errors
	json   []byte // the document, as the apply patch body
	crd    apiextensionsv1.CustomResourceDefinition
}

// crdRef is what waiting for a CRD needs to know about it.
type crdRef struct {
	Name     string   `json:"name"`
	Group    string   `json:"group"`
	Plural   string   `json:"plural"`
	Versions []string `json:"versions"` // the served ones
}

func (d crdDoc) ref() crdRef {
	r := crdRef{Name: d.crd.Name, Group: d.crd.Spec.Group, Plural: d.crd.Spec.Names.Plural}
	for _, v := range d.crd.Spec.Versions {
		if v.Served {
			r.Versions = append(r.Versions, v.Name)
		}
	}
	return r
}

// InstallCRDs applies every CustomResourceDefinition found in paths (YAML
// files, or directories whose *.yaml, *.yml and gzip-compressed *.yaml.gz
// files are read, one level deep; multi-document files are split, other
// kinds are skipped) with server-side apply, then waits until each is
// established and its versions are served by discovery.
func InstallCRDs(ctx context.Context, cfg *rest.Config, paths ...string) error {
	_, err := installCRDs(ctx, cfg, paths)
	return err
}

func installCRDs(ctx context.Context, cfg *rest.Config, paths []string) ([]crdRef, error) {
	docs, err := readCRDs(paths)
	if err != nil {
		return nil, err
	}
	client, err := apiextensions.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("apiextensions client: %w", err)
	}
	refs := make([]crdRef, 0, len(docs))
	for _, d := range docs {
		_, err := client.ApiextensionsV1().CustomResourceDefinitions().Patch(ctx, d.crd.Name,
			types.ApplyPatchType, d.json, metav1.PatchOptions{FieldManager: FieldManager, Force: ptr(true)})
		if err != nil {
			return nil, fmt.Errorf("CustomResourceDefinition/%s (%s): apply: %w", d.crd.Name, d.source, err)
		}
		refs = append(refs, d.ref())
	}
	return refs, waitCRDs(ctx, cfg, refs)
}

// waitCRDs waits until every CRD is established and served by discovery.
func waitCRDs(ctx context.Context, cfg *rest.Config, refs []crdRef) error {
	ctx, cancel := context.WithTimeout(ctx, crdWaitTimeout)
	defer cancel()
	client, err := apiextensions.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("apiextensions client: %w", err)
	}
	if err := waitEstablished(ctx, client, refs); err != nil {
		return err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fmt.Errorf("discovery client: %w", err)
	}
	return waitServed(ctx, dc, refs)
}

// readCRDs reads the CRD documents of every file in paths.
func readCRDs(paths []string) ([]crdDoc, error) {
	files, err := crdFiles(paths)
	if err != nil {
		return nil, err
	}
	var docs []crdDoc
	for _, f := range files {
		d, err := readCRDFile(f)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d...)
	}
	return docs, nil
}

// crdFiles expands directories in paths to their YAML files.
func crdFiles(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("CRD path: %w", err)
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("CRD directory: %w", err)
		}
		for _, e := range entries {
			ext := filepath.Ext(e.Name())
			if !e.IsDir() && (ext == ".yaml" || ext == ".yml" || crds.IsCompressed(e.Name())) {
				files = append(files, filepath.Join(p, e.Name()))
			}
		}
	}
	return files, nil
}

// readCRDFile splits a YAML file, gzip-compressed when its name ends in
// .yaml.gz, into documents and keeps the CRDs.
func readCRDFile(path string) ([]crdDoc, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CRDs: %w", err)
	}
	if crds.IsCompressed(path) {
		if data, err = crds.Gunzip(path, data); err != nil {
			return nil, fmt.Errorf("read CRDs: %w", err)
		}
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs []crdDoc
	for i := 1; ; i++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, i, err)
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		js, err := yaml.YAMLToJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, i, err)
		}
		d := crdDoc{source: path, json: js}
		if err := json.Unmarshal(js, &d.crd); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, i, err)
		}
		if d.crd.Kind == "CustomResourceDefinition" && strings.HasPrefix(d.crd.APIVersion, "apiextensions.k8s.io/") {
			docs = append(docs, d)
		}
	}
}

// waitEstablished polls until every CRD reports Established=True.
func waitEstablished(ctx context.Context, client apiextensions.Interface, refs []crdRef) error {
	pending := make([]string, 0, len(refs))
	for _, r := range refs {
		pending = append(pending, r.Name)
	}
	var lastErr error
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		for len(pending) > 0 {
			crd, err := client.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, pending[0], metav1.GetOptions{})
			if err != nil {
				lastErr = err
				return false, nil
			}
			if !isEstablished(crd) {
				lastErr = fmt.Errorf("CustomResourceDefinition/%s: not established yet", crd.Name)
				return false, nil
			}
			pending = pending[1:]
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("wait for CRDs to be established: %w", withLast(err, lastErr))
	}
	return nil
}

func isEstablished(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established {
			return c.Status == apiextensionsv1.ConditionTrue
		}
	}
	return false
}

// waitServed polls discovery until every served version of every CRD lists
// its resource.
func waitServed(ctx context.Context, dc discovery.DiscoveryInterface, refs []crdRef) error {
	want := map[string][]string{} // group/version -> plurals
	for _, r := range refs {
		for _, v := range r.Versions {
			gv := r.Group + "/" + v
			want[gv] = append(want[gv], r.Plural)
		}
	}
	var lastErr error
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		for gv, plurals := range want {
			if lastErr = servesAll(dc, gv, plurals); lastErr != nil {
				return false, nil
			}
			delete(want, gv)
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("wait for CRDs in discovery: %w", withLast(err, lastErr))
	}
	return nil
}

// servesAll reports an error unless discovery lists every plural in gv.
func servesAll(dc discovery.DiscoveryInterface, gv string, plurals []string) error {
	list, err := dc.ServerResourcesForGroupVersion(gv)
	if err != nil {
		return fmt.Errorf("discovery %s: %w", gv, err)
	}
	for _, plural := range plurals {
		if !slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == plural }) {
			return fmt.Errorf("discovery %s: %s not served yet", gv, plural)
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// withLast adds the last condition error to a poll's timeout error.
func withLast(err, last error) error {
	if last == nil {
		return err
	}
	return fmt.Errorf("%w (last: %w)", err, last)
}
