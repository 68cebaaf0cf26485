package render

import (
	"encoding/json"
	"errors"
	"io/fs"
	"path"
	"regexp"
	"strconv"
	"strings"

	"cuelang.org/go/cue"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// memRoot is where the repo sits in kustomize's in-memory filesystem.
const memRoot = "/repo"

// Kustomize never sees the disk. Before anything is built, every path a
// kustomization names (resources, bases, components, patches, generator
// files, ...) is checked against an allow-list: a relative path that
// exists inside the repo, that kustomize cannot take for a remote
// repository or URL, and, for a file, in or below the kustomization's
// directory; a base is a directory with a kustomization of its own. Plugins
// and Helm charts are refused. Only then are the files kustomize may read
// (those below kustomizations, and those named) copied through the view
// into an in-memory filesystem, and kustomize builds from it with
// root-only load restrictions, plugins and exec disabled. Nothing runs a
// program (kustomize's remote bases run git) or opens a connection
// (remote resources are fetched over HTTP).

// kustomizeBuilder builds the repo's kustomizations.
type kustomizeBuilder struct {
	fs filesys.FileSystem
	k  *krusty.Kustomizer
}

// kustomizeCheck is the state of checking a repo's kustomizations: the
// files they may read.
type kustomizeCheck struct {
	t *tree
	// named are files named by kustomizations outside the walked files
	// (hidden ones, or below a symlinked directory).
	named map[string]bool
	// helm are the rendered charts of each kustomization's helmCharts, by
	// directory, then by the name of the resource file they become.
	helm map[string]map[string][]byte
}

func (l *loader) newKustomizeBuilder(c *kustomizeCheck) (*kustomizeBuilder, bool) {
	mem := filesys.MakeFsInMemory()
	var dirs []string
	for d := range c.t.allKustomizations {
		dirs = append(dirs, d)
	}
	files := map[string]bool{}
	for _, rel := range c.t.files {
		if underAny(rel, dirs) {
			files[rel] = true
		}
	}
	for rel := range c.named {
		files[rel] = true
	}
	ok := true
	for rel := range files {
		data, err := l.view.readFile(rel)
		if err != nil {
			l.errs.addView(rel, err)
			ok = false
			continue
		}
		var sopsOK bool
		if data, _, sopsOK = l.sopsLoad(rel, data); !sopsOK {
			ok = false
			continue
		}
		if err := mem.WriteFile(path.Join(memRoot, rel), data); err != nil {
			l.errs.add(fileError(rel, "%v", err))
			ok = false
		}
	}
	for _, dir := range sortedKeys(c.helm) {
		if err := l.writeHelmOutputs(mem, dir, c.t.allKustomizations[dir], c.helm[dir]); err != nil {
			l.errs.add(err)
			ok = false
		}
	}
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	opts.PluginConfig = types.DisabledPluginConfig()
	return &kustomizeBuilder{fs: mem, k: krusty.MakeKustomizer(opts)}, ok
}

// loadKustomizations checks every kustomization file, then builds those
// assigned to a cluster by their location (clusters/<name>/...); the others
// are bases, used only through overlays.
func (l *loader) loadKustomizations(t *tree) {
	if len(t.allKustomizations) == 0 {
		return
	}
	c := &kustomizeCheck{t: t, named: map[string]bool{}, helm: map[string]map[string][]byte{}}
	clean := true
	for _, dir := range sortedKeys(t.allKustomizations) {
		clean = l.checkKustomization(c, dir) && clean
	}
	if !clean {
		return
	}
	b, ok := l.newKustomizeBuilder(c)
	if !ok {
		return
	}
	for _, dir := range t.kustomizations {
		if clusterOf(dir, nil) == "" {
			continue
		}
		l.buildKustomization(b, dir, t.allKustomizations[dir])
	}
}

func (l *loader) buildKustomization(b *kustomizeBuilder, dir, name string) {
	file := path.Join(dir, name)
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
		if !l.checkSOPSLeaks(file, m) {
			continue
		}
		if m, err = jsonValues(m); err != nil {
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

// baseFields name directories (kustomizations) as well as files.
var baseFields = map[string]bool{"resources": true, "bases": true, "components": true}

// kustomizationForbidden lists fields that run code or fetch charts.
// helmCharts are rendered by trellis itself (helm.go).
var kustomizationForbidden = []string{"generators", "transformers", "validators", "helmChartInflationGenerator"}

// checkKustomization refuses remote bases, plugins and paths that are not
// files of the repo, at the position of the offending entry.
func (l *loader) checkKustomization(c *kustomizeCheck, dir string) bool {
	file := path.Join(dir, c.t.allKustomizations[dir])
	data, err := l.view.readFile(file)
	if err != nil {
		l.errs.addView(file, err)
		return false
	}
	v, ok := l.yamlValue(file, data)
	if !ok {
		return false
	}
	before := l.errs.count()
	for _, f := range kustomizationForbidden {
		if fv := v.LookupPath(cue.ParsePath(f)); fv.Exists() {
			l.errs.addf(fv.Pos(), "%s: kustomize plugins are not allowed in a config repo (Helm charts are: vendor the chart and use helmCharts)", f)
		}
	}
	l.checkHelmCharts(c, dir, v)
	for _, field := range kustomizationFields {
		for _, sv := range lookupStrings(v, field) {
			if msg := l.checkKustomizePath(c, dir, field, mustString(sv)); msg != "" {
				l.errs.addf(sv.Pos(), "%s: %s", field, msg)
			}
		}
	}
	return l.errs.count() == before
}

// checkKustomizePath checks one path named by field of the kustomization
// in dir, and returns why it is refused ("" when it is not).
func (l *loader) checkKustomizePath(c *kustomizeCheck, dir, field, p string) string {
	if _, after, ok := strings.Cut(p, "="); ok && strings.Contains(field, "Generator") {
		p = after // key=path
	}
	if field == "patchesStrategicMerge" && strings.Contains(p, "\n") {
		return "" // an inline patch
	}
	if why := remoteRef(p); why != "" {
		what := "file"
		if baseFields[field] {
			what = "base"
		}
		return "remote " + what + " " + quote(p) + " is not allowed (" + why + "): kustomizations may only use files inside the repository"
	}
	if path.IsAbs(p) || strings.HasPrefix(p, `\`) {
		return "absolute path " + quote(p) + " is not allowed: kustomizations may only use files inside the repository"
	}
	rel := path.Join(dir, p)
	if leavesRepo(rel) {
		return "path " + quote(p) + " leaves the repository"
	}
	info, err := l.view.stat(rel)
	if err != nil {
		var ve *viewError
		if errors.As(err, &ve) && !errors.Is(err, fs.ErrNotExist) {
			return quote(p) + ": " + ve.message()
		}
		return quote(p) + " does not exist in the repository"
	}
	if info.IsDir() {
		if !baseFields[field] {
			return quote(p) + " is a directory, not a file"
		}
		if _, ok := c.t.allKustomizations[rel]; !ok {
			return "directory " + quote(p) + " is not a kustomization trellis reads (it holds no kustomization file, or it is hidden or ignored)"
		}
		return ""
	}
	if !underAny(rel, []string{dir}) {
		return "file " + quote(p) + " is outside the kustomization's directory: a kustomization reads files only in or below its own directory (make the file's directory a base, with a kustomization of its own)"
	}
	c.named[rel] = true
	return ""
}

// remoteRef says why kustomize could take p for a remote repository or a
// URL (it clones the first with git, fetches the second over HTTP), or ""
// when it cannot. It mirrors kustomize's own parsing (api/internal/git,
// NewRepoSpecFromURL, and loader.IsRemoteFile), loosely: anything that
// looks remote is refused, even if a file of that name exists.
func remoteRef(p string) string {
	lower := strings.ToLower(p)
	first, _, _ := strings.Cut(p, "/")
	switch {
	case strings.Contains(p, "://"):
		return "a URL"
	case strings.HasPrefix(lower, "git::"):
		return "a git URL"
	case scpUser.MatchString(p):
		return "an SSH address"
	case strings.HasPrefix(lower, "github.com/") || strings.HasPrefix(lower, "github.com:") || lower == "github.com":
		return "a GitHub repository"
	case strings.Contains(first, ":"):
		return "a URL or host:path address"
	case strings.Contains(p, "?"):
		return "a query, which only remote bases take"
	case strings.Contains(strings.TrimPrefix(p, "./"), "//"):
		return "a repository's subdirectory marker //"
	}
	return ""
}

// scpUser matches the user@ of an scp-like address, as kustomize does.
var scpUser = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*@`)

// leavesRepo reports whether a cleaned path relative to the repo's root
// points above it.
func leavesRepo(rel string) bool {
	return rel == ".." || strings.HasPrefix(rel, "../")
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

func quote(s string) string { return strconv.Quote(s) }

// jsonValues is m with its numbers as JSON decodes them into an
// unstructured object (int64, float64): kustomize gives ints, which
// unstructured's DeepCopy refuses.
func jsonValues(m map[string]any) (map[string]any, error) {
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(raw); err != nil {
		return nil, err
	}
	return obj.Object, nil
}
