package render

import (
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"trellis.dev/trellis/schema"
)

// A Cache also keeps what each declaration rendered to, but its runs
// (which carry the revision), keyed by the SHA-256 of the declaration
// (defaulted) and of its Cluster's, with its kind, name, namespace and
// path. A declaration that did not change renders to copies of what it
// rendered before, and runs made again for the revision. A copy is new
// down to its metadata, which stamp changes; what is below (the spec)
// is shared with the cache and with the objects of earlier renders, and
// is never changed once rendered: whoever changes a rendered object
// changes a DeepCopy (as reconcile does).

// renderedDecl is what a declaration rendered to, without its runs.
type renderedDecl struct {
	objs []*unstructured.Unstructured
	// run is set for a Pipeline with runOnChange: its run without the
	// revision's label.
	run *unstructured.Unstructured
	gen int
}

// render renders d, of the Cluster cd, for revision, from the cache when
// it holds it; without a cache, as renderDeclaration. What it renders
// anew shares its equal parts through in.
func (c *Cache) render(d, cd *Declaration, revision string, in *interner) []*unstructured.Unstructured {
	spec := cd.spec.(*schema.Cluster)
	if c == nil {
		objs := renderDeclaration(d, spec, revision)
		in.objects(objs)
		return objs
	}
	key := strings.Join([]string{d.Kind, d.Name, d.Namespace, d.Path, string(d.sum[:]), cd.Name, string(cd.sum[:])}, "\x00")
	c.mu.Lock()
	e, ok := c.rendered[key]
	if ok {
		e.gen = c.gen
		c.stats.RenderHits++
	}
	c.mu.Unlock()
	if !ok {
		e = renderStatic(d, spec)
		in.objects(e.objs)
		if e.run != nil {
			in.objects([]*unstructured.Unstructured{e.run})
		}
		c.mu.Lock()
		e.gen = c.gen
		c.rendered[key] = e
		c.stats.RenderMisses++
		c.mu.Unlock()
	}
	out := make([]*unstructured.Unstructured, 0, len(e.objs)+1)
	for _, o := range e.objs {
		out = append(out, copyTop(o))
	}
	if e.run != nil {
		run := copyTop(e.run)
		if rev := labelValue(revision, true); rev != "" {
			setMetadataString(run, "labels", LabelRevision, rev) // as pipelineRun
		}
		out = append(out, run)
	}
	return out
}

// renderStatic renders what of d does not depend on the revision.
func renderStatic(d *Declaration, c *schema.Cluster) *renderedDecl {
	if p, ok := d.spec.(*schema.Pipeline); ok {
		in := kindInput{Name: d.Name, Namespace: d.Namespace, Cluster: c, Labels: p.Metadata.Labels, Annotations: p.Metadata.Annotations}
		objs, hash := pipelineTemplates(in, p)
		e := &renderedDecl{objs: objs}
		if p.Spec.RunOnChange {
			e.run = pipelineRun(in, &p.Spec, hash, objs[0]) // in.Revision is ""
		}
		return e
	}
	return &renderedDecl{objs: renderDeclaration(d, c, "")}
}

// copyTop copies an object and its metadata, sharing what is below.
func copyTop(o *unstructured.Unstructured) *unstructured.Unstructured {
	obj := make(map[string]any, len(o.Object))
	for k, v := range o.Object {
		obj[k] = v
	}
	if md, ok := obj["metadata"].(map[string]any); ok {
		cp := make(map[string]any, len(md))
		for k, v := range md {
			cp[k] = v
		}
		obj["metadata"] = cp
	}
	return &unstructured.Unstructured{Object: obj}
}

// sweepRendered drops what declarations that the last render did not
// render rendered to.
func (c *Cache) sweepRendered() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.rendered {
		if e.gen != c.gen {
			delete(c.rendered, k)
		}
	}
}
