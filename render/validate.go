package render

import (
	"fmt"
	"maps"
	"slices"
	"sort"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/token"

	"trellis.dev/trellis/schema"
)

// validate checks what no single declaration can: references between
// declarations, unique names, node pools, pipeline graphs and quotas.
func (l *loader) validate() {
	sort.SliceStable(l.repo.Declarations, func(i, j int) bool {
		return declLess(l.repo.Declarations[i], l.repo.Declarations[j])
	})
	clusters := l.uniqueNames()
	clusterDecls := map[string]*Declaration{}
	for _, d := range l.repo.Declarations {
		if d.Kind == schema.KindCluster {
			clusterDecls[d.Name] = d
		}
	}
	for _, d := range l.repo.Declarations {
		if d.Kind == schema.KindCluster {
			continue
		}
		c, ok := clusters[d.Cluster]
		if !ok {
			l.errs.addf(d.pos(pathCluster), "spec.cluster: undeclared cluster %q: %s", d.Cluster, schema.Hint(d.Cluster, slices.Collect(maps.Keys(clusters))))
			continue
		}
		ns, ok := c.Spec.Namespaces[d.Namespace]
		if !ok {
			l.errs.addf(d.pos(pathNamespace), "spec.namespace: namespace %q is not declared by Cluster %q: %s", d.Namespace, d.Cluster, schema.Hint(d.Namespace, slices.Collect(maps.Keys(c.Spec.Namespaces))))
			continue
		}
		chk := refCheck{l: l, d: d, cluster: c, ns: ns}
		switch spec := d.spec.(type) {
		case *schema.Pipeline, *schema.Experiment:
			// Their checks look at the declaration and its Cluster
			// only: a cache keeps those that passed.
			key := checkKey(d, clusterDecls[d.Cluster])
			if l.cache.passed(key) {
				continue
			}
			before := l.errs.n + l.errs.dropped
			if p, ok := spec.(*schema.Pipeline); ok {
				chk.pipeline(p)
			} else {
				chk.experiment(spec.(*schema.Experiment))
			}
			if l.errs.n+l.errs.dropped == before {
				l.cache.pass(key)
			}
		case *schema.Endpoint:
			chk.endpoint(spec, l.repo.Declarations)
		}
	}
	l.checkManifestClusters(clusters)
	l.checkTenancy(clusters)
}

// declLess orders declarations by kind (as schema.Kinds), cluster, name
// and path.
func declLess(a, b *Declaration) bool {
	if a.Kind != b.Kind {
		return kindOrder(a.Kind) < kindOrder(b.Kind)
	}
	if a.Cluster != b.Cluster {
		return a.Cluster < b.Cluster
	}
	if a.Name != b.Name {
		return a.Name < b.Name
	}
	return a.Path < b.Path
}

func kindOrder(kind string) int {
	for i, k := range schema.Kinds {
		if k == kind {
			return i
		}
	}
	return len(schema.Kinds)
}

// uniqueNames reports duplicate names per kind and cluster, and returns
// the clusters by name.
func (l *loader) uniqueNames() map[string]*schema.Cluster {
	clusters := map[string]*schema.Cluster{}
	first := map[string]*Declaration{}
	for _, d := range l.repo.Declarations {
		key := d.Kind + "\x00" + d.Cluster + "\x00" + d.Name
		if prev, dup := first[key]; dup {
			where := "cluster " + d.Cluster
			if d.Kind == schema.KindCluster {
				where = "the repository"
			}
			l.errs.addf(d.pos(pathName), "metadata.name: duplicate %s %q in %s (first declared at %s)", d.Kind, d.Name, where, l.posString(prev.pos(pathName)))
			continue
		}
		first[key] = d
		if c, ok := d.spec.(*schema.Cluster); ok {
			clusters[d.Name] = c
		}
	}
	return clusters
}

// pos returns the position of a field of the declaration as the user wrote
// it, or of its nearest ancestor.
func (d *Declaration) pos(p cue.Path) token.Pos {
	sels := p.Selectors()
	path := make([]string, len(sels))
	for i, s := range sels {
		path[i] = s.String()
	}
	return nearestPos(d.origin.value(), path)
}

func (l *loader) posString(p token.Pos) string {
	return fmt.Sprintf("%s:%d:%d", relPath(l.root, p.Filename()), p.Line(), p.Column())
}

// checkManifestClusters reports plain manifests that no cluster takes.
func (l *loader) checkManifestClusters(clusters map[string]*schema.Cluster) {
	for _, m := range l.repo.Manifests {
		id := m.Object.GetKind() + "/" + m.Object.GetName()
		switch {
		case m.Cluster == "":
			l.errs.addf(m.pos, "%s is not assigned to a cluster: put it under %s/<cluster>/ or annotate it %s: <cluster>", id, ClustersDir, LabelCluster)
		case clusters[m.Cluster] == nil:
			l.errs.addf(m.pos, "%s: undeclared cluster %q: %s", id, m.Cluster, schema.Hint(m.Cluster, slices.Collect(maps.Keys(clusters))))
		}
	}
}
