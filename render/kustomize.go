package render

import (
	"os"
	"path"
	"path/filepath"
	"strings"

	"cuelang.org/go/cue"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// memRoot is where the repo sits in kustomize's in-memory filesystem.
const memRoot = "/repo"

// Kustomize never sees the disk. The repo's files are copied into an
// in-memory filesystem, so a path that leaves the repo (by "..", an
// absolute path or a symlink) finds nothing; plugins, exec and Helm are
// disabled; and every kustomization is checked beforehand so that remote
// bases and paths leaving the repo get a clear, positioned error instead of
// a network fetch.

// kustomizeBuilder builds the repo's kustomizations.
type kustomizeBuilder struct {
	fs filesys.FileSystem
	k  *krusty.Kustomizer
}

func (l *loader) newKustomizeBuilder(t *tree) (*kustomizeBuilder, error) {
	fs := filesys.MakeFsInMemory()
	for _, rel := range t.files {
		data, err := os.ReadFile(filepath.Join(t.root, filepath.FromSlash(rel)))
		if err != nil {
			return nil, err
		}
		if err := fs.WriteFile(path.Join(memRoot, rel), data); err != nil {
			return nil, err
		}
	}
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsNone // confined by the in-memory filesystem
	opts.PluginConfig = types.DisabledPluginConfig()
	return &kustomizeBuilder{fs: fs, k: krusty.MakeKustomizer(opts)}, nil
}

// loadKustomizations checks every kustomization file, then builds those
// assigned to a cluster by their location (clusters/<name>/...); the others
// are bases, used only through overlays.
func (l *loader) loadKustomizations(t *tree) {
	if len(t.allKustomizations) == 0 {
		return
	}
	clean := true
	for _, dir := range t.allKustomizations {
		clean = l.checkKustomization(dir) && clean
	}
	if !clean {
		return
	}
	b, err := l.newKustomizeBuilder(t)
	if err != nil {
		l.errs.add(err)
		return
	}
	for _, dir := range t.kustomizations {
		if clusterOf(dir, nil) == "" {
			continue
		}
		l.buildKustomization(b, dir)
	}
}

func (l *loader) buildKustomization(b *kustomizeBuilder, dir string) {
	file := path.Join(dir, kustomizationFile(l.root, dir))
	resMap, err := b.k.Run(b.fs, path.Join(memRoot, dir))
	if err != nil {
		msg := strings.ReplaceAll(err.Error(), memRoot+"/", "")
		l.errs.add(fileError(file, "kustomize build: %s", msg))
		return
	}
	for _, res := range resMap.Resources() {
		m, err := res.Map()
		if err != nil {
			l.errs.add(fileError(file, "kustomize build: %v", err))
			continue
		}
		l.addManifest(file, dir, m, fileError(file, "").Position())
	}
}

// kustomizationFields lists the fields of a kustomization that name files
// or directories, as paths of strings or of lists of strings.
var kustomizationFields = []string{
	"resources", "bases", "components", "crds", "patchesStrategicMerge",
	"configurations", "patches[].path", "patchesJson6902[].path",
	"replacements[].path", "openapi.path",
	"configMapGenerator[].files", "configMapGenerator[].envs", "configMapGenerator[].env",
	"secretGenerator[].files", "secretGenerator[].envs", "secretGenerator[].env",
}

// kustomizationForbidden lists fields that run code or fetch charts.
var kustomizationForbidden = []string{"generators", "transformers", "validators", "helmCharts", "helmGlobals", "helmChartInflationGenerator"}

// checkKustomization refuses remote bases, plugins and paths that leave the
// repo, at the position of the offending entry.
func (l *loader) checkKustomization(dir string) bool {
	file := path.Join(dir, kustomizationFile(l.root, dir))
	data, err := os.ReadFile(filepath.Join(l.root, filepath.FromSlash(file)))
	if err != nil {
		l.errs.add(fileError(file, "%v", unwrapPathError(err)))
		return false
	}
	v, ok := l.yamlValue(file, data)
	if !ok {
		return false
	}
	before := l.errs.count()
	for _, f := range kustomizationForbidden {
		if fv := v.LookupPath(cue.ParsePath(f)); fv.Exists() {
			l.errs.addf(fv.Pos(), "%s: kustomize plugins and Helm charts are not allowed in a config repo", f)
		}
	}
	for _, field := range kustomizationFields {
		for _, sv := range lookupStrings(v, field) {
			l.checkKustomizePath(dir, field, sv)
		}
	}
	return l.errs.count() == before
}

func (l *loader) checkKustomizePath(dir, field string, sv cue.Value) {
	p := mustString(sv)
	if _, after, ok := strings.Cut(p, "="); ok && strings.Contains(field, "Generator") {
		p = after // key=path
	}
	switch {
	case isRemote(p):
		l.errs.addf(sv.Pos(), "%s: remote base %q is not allowed: kustomizations may only use files inside the repository", field, p)
	case path.IsAbs(p) || filepath.IsAbs(p):
		l.errs.addf(sv.Pos(), "%s: absolute path %q is not allowed: kustomizations may only use files inside the repository", field, p)
	case leavesRepo(path.Join(dir, p)):
		l.errs.addf(sv.Pos(), "%s: path %q leaves the repository", field, p)
	}
}

// leavesRepo reports whether a cleaned path relative to the repo's root
// points above it.
func leavesRepo(rel string) bool {
	return rel == ".." || strings.HasPrefix(rel, "../")
}

func isRemote(p string) bool {
	for _, s := range []string{"://", "git@", "?ref=", "?version=", "github.com/", "gitlab.com/", "bitbucket.org/"} {
		if strings.Contains(p, s) {
			return true
		}
	}
	return false
}

// lookupStrings returns the string values at a field path such as
// "patches[].path" (every element's path) or "resources" (every element).
func lookupStrings(v cue.Value, field string) []cue.Value {
	head, rest, hasRest := strings.Cut(field, "[].")
	fv := v.LookupPath(cue.ParsePath(head))
	if !fv.Exists() {
		return nil
	}
	if fv.IncompleteKind() == cue.StringKind {
		return []cue.Value{fv}
	}
	var out []cue.Value
	it, err := fv.List()
	if err != nil {
		return nil
	}
	for it.Next() {
		if hasRest {
			out = append(out, lookupStrings(it.Value(), rest)...)
		} else if it.Value().IncompleteKind() == cue.StringKind {
			out = append(out, it.Value())
		}
	}
	return out
}

func kustomizationFile(root, dir string) string {
	for _, n := range kustomizationNames {
		if _, err := os.Lstat(filepath.Join(root, filepath.FromSlash(dir), n)); err == nil {
			return n
		}
	}
	return kustomizationNames[0]
}
