package crds

import (
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	openapierrors "k8s.io/kube-openapi/pkg/validation/errors"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	"sigs.k8s.io/yaml"
)

// Problem is one way an object breaks its CRD's schema: the path of the
// field (as "spec.templates[0].container.image"; empty for the object) and
// what is wrong with it.
type Problem struct {
	Path    string
	Message string
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// Schemas checks objects against the OpenAPI schemas of the vendored CRDs,
// as the apiserver does before it stores a custom resource: types, required
// fields, enums, patterns, bounds, and fields the schema does not know
// (which the apiserver would drop). Rules in x-kubernetes-validations (CEL)
// are not evaluated. A CRD file is read the first time an object of its
// group is checked. Safe for concurrent use.
type Schemas struct {
	mu      sync.Mutex
	files   map[string]*sync.Once // files read, or being read
	schemas map[schema.GroupVersionKind]*versionSchema
	err     error // the first failure to read a vendored file
}

// versionSchema is one served version of a CRD.
type versionSchema struct {
	schema    *spec.Schema
	validator *validate.SchemaValidator
}

// Default is the Schemas of the vendored CRDs, shared by the process.
var Default = &Schemas{}

// Validate checks obj, a custom resource as JSON-like maps, against its
// CRD. known is false when no vendored CRD serves obj's kind and version:
// then nothing is checked.
func (s *Schemas) Validate(obj map[string]any) (known bool, problems []Problem, err error) {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	gv, perr := schema.ParseGroupVersion(apiVersion)
	if perr != nil || kind == "" {
		return false, nil, nil
	}
	vs, err := s.lookup(gv.WithKind(kind))
	if vs == nil || err != nil {
		return false, nil, err
	}
	res := vs.validator.Validate(obj)
	for _, e := range res.Errors {
		problems = append(problems, problemOf(e))
	}
	problems = append(problems, unknownFields(obj, vs.schema, "", true)...)
	sort.Slice(problems, func(i, j int) bool {
		if problems[i].Path != problems[j].Path {
			return problems[i].Path < problems[j].Path
		}
		return problems[i].Message < problems[j].Message
	})
	return true, problems, nil
}

// Prepare reads, in parallel, the files of the CRDs that serve gvks, so
// that checking objects of several kinds does not parse the large files one
// after the other.
func (s *Schemas) Prepare(gvks []schema.GroupVersionKind) {
	var wg sync.WaitGroup
	for _, gvk := range gvks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = s.lookup(gvk) // an error is Validate's to report
		}()
	}
	wg.Wait()
}

func (s *Schemas) lookup(gvk schema.GroupVersionKind) (*versionSchema, error) {
	s.mu.Lock()
	if s.files == nil {
		s.files = map[string]*sync.Once{}
		s.schemas = map[schema.GroupVersionKind]*versionSchema{}
	}
	// Each file is named GROUP_PLURAL.yaml, and the plural of every
	// vendored kind is its lower-case name and "s": read that file first,
	// and the group's others only when it does not serve the kind (a large
	// Argo file takes most of a second to parse). Files are parsed without
	// the lock, so that several kinds load at once; one file is parsed
	// once, its readers waiting for it.
	likely := gvk.Group + "_" + strings.ToLower(gvk.Kind) + "s.yaml"
	s.mu.Unlock()
	for _, pass := range []func(string) bool{
		func(f string) bool { return f == likely },
		func(f string) bool { return strings.HasPrefix(f, gvk.Group+"_") },
	} {
		for _, src := range Upstream {
			if pass(src.File) && s.readOnce(src.File, gvk) {
				break
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.schemas[gvk], s.err
}

// readOnce reads a file's schemas unless another call did or does, and
// reports whether gvk is then known.
func (s *Schemas) readOnce(file string, gvk schema.GroupVersionKind) bool {
	s.mu.Lock()
	once := s.files[file]
	if once == nil {
		once = new(sync.Once)
		s.files[file] = once
	}
	s.mu.Unlock()
	once.Do(func() {
		read, err := readSchemas(file)
		s.mu.Lock()
		defer s.mu.Unlock()
		maps.Copy(s.schemas, read)
		if err != nil && s.err == nil {
			s.err = err
		}
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.schemas[gvk] != nil
}

// readSchemas reads the schemas of every served version of the CRDs in a
// vendored file.
func readSchemas(name string) (map[schema.GroupVersionKind]*versionSchema, error) {
	out := map[schema.GroupVersionKind]*versionSchema{}
	data, err := Read(name)
	if err != nil {
		return out, err
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return out, fmt.Errorf("vendored CRD %s: %w", name, err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := json.Unmarshal(js, &crd); err != nil {
		return out, fmt.Errorf("vendored CRD %s: %w", name, err)
	}
	for _, v := range crd.Spec.Versions {
		if !v.Served || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			continue
		}
		raw, err := json.Marshal(v.Schema.OpenAPIV3Schema)
		if err != nil {
			return out, fmt.Errorf("vendored CRD %s, version %s: %w", name, v.Name, err)
		}
		sch := new(spec.Schema)
		if err := json.Unmarshal(raw, sch); err != nil {
			return out, fmt.Errorf("vendored CRD %s, version %s: %w", name, v.Name, err)
		}
		gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind}
		out[gvk] = &versionSchema{
			schema:    sch,
			validator: validate.NewSchemaValidator(sch, nil, "", strfmt.Default),
		}
	}
	return out, nil
}

// problemOf turns a kube-openapi validation error into a Problem.
func problemOf(err error) Problem {
	v, ok := err.(*openapierrors.Validation)
	if !ok {
		return Problem{Message: err.Error()}
	}
	msg := v.Error()
	if v.Name != "" && v.Name != "." {
		// kube-openapi's messages start with the field's path.
		msg = strings.TrimSpace(strings.TrimPrefix(msg, v.Name))
	}
	msg = strings.TrimPrefix(msg, "in body ") // the only place a custom resource has
	path := v.Name
	if path == "." {
		path = ""
	}
	return Problem{Path: path, Message: msg}
}

// unknownFields returns a problem for each field of v that its schema does
// not declare and does not preserve, which the apiserver would drop: the
// same walk as its pruning (apiextensions-apiserver
// pkg/apiserver/schema/pruning/algorithm.go), reported instead of done.
// Metadata of the object and of embedded resources is not the CRD's to
// declare.
func unknownFields(v any, s *spec.Schema, path string, resourceRoot bool) []Problem {
	if s == nil {
		return nil
	}
	var out []Problem
	switch v := v.(type) {
	case map[string]any:
		preserve, _ := s.Extensions.GetBool("x-kubernetes-preserve-unknown-fields")
		embedded, _ := s.Extensions.GetBool("x-kubernetes-embedded-resource")
		for _, key := range sortedKeys(v) {
			child := join(path, key)
			if (resourceRoot || embedded) && (key == "apiVersion" || key == "kind" || key == "metadata") {
				continue
			}
			if ps, ok := s.Properties[key]; ok {
				out = append(out, unknownFields(v[key], &ps, child, false)...)
				continue
			}
			if ap := s.AdditionalProperties; ap != nil && (ap.Allows || ap.Schema != nil) {
				out = append(out, unknownFields(v[key], ap.Schema, child, false)...)
				continue
			}
			if !preserve {
				out = append(out, Problem{Path: child, Message: "unknown field: the upstream schema does not declare it, and the apiserver would drop it"})
			}
		}
	case []any:
		if s.Items != nil && s.Items.Schema != nil {
			for i, item := range v {
				out = append(out, unknownFields(item, s.Items.Schema, fmt.Sprintf("%s[%d]", path, i), false)...)
			}
		}
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
