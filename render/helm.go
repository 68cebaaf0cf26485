package render

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	chartloader "helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/releaseutil"
	sigsyaml "sigs.k8s.io/yaml"
)

// Helm charts vendored in the repo are rendered here, in-process, with
// Helm's own chart loader and template engine, for kustomize's helmCharts
// field: kustomize's HelmChartInflationGenerator would run a `helm`
// binary, which trellis never does. What a chart may do is bounded:
//
//   - the chart is a directory or a .tgz inside the repo (chartHome),
//     read through the view; a .tgz (and a subchart's) is unpacked here,
//     within helmMaxBytes and helmMaxFiles, so a decompression bomb stops
//     at the cap;
//   - remote repositories (repo:, oci://) are refused, with how to vendor
//     the chart; a dependency must be vendored under charts/;
//   - the engine has no cluster client: lookup returns nothing; DNS
//     (getHostByName) is off; .Files holds the chart's files only;
//   - values.schema.json is not checked (Helm's checker fetches remote
//     $refs and reads local files);
//   - hooks are not run: hook manifests are dropped, as
//     `helm template --no-hooks` does, and so are NOTES.txt and partials.
//
// The rendered objects are fed to kustomize as a resource file of the
// kustomization, so they are validated, applied and pruned like any
// other. A render that takes too long or too much memory is stopped by
// the render's bounds (the isolated child process of serve and pr).

// Caps on one chart, its subcharts included.
const (
	helmMaxBytes = 16 << 20
	helmMaxFiles = 5000
)

// helmChartFields are the fields of a helmCharts entry trellis reads.
var helmChartFields = map[string]bool{
	"name": true, "version": true, "repo": true, "releaseName": true, "namespace": true,
	"valuesFile": true, "additionalValuesFiles": true, "valuesInline": true, "valuesMerge": true,
	"includeCRDs": true, "skipHooks": true, "skipTests": true, "apiVersions": true, "kubeVersion": true,
}

// helmChart is one entry of a kustomization's helmCharts.
type helmChart struct {
	Name                  string         `json:"name"`
	Version               string         `json:"version"`
	Repo                  string         `json:"repo"`
	ReleaseName           string         `json:"releaseName"`
	Namespace             string         `json:"namespace"`
	ValuesFile            string         `json:"valuesFile"`
	AdditionalValuesFiles []string       `json:"additionalValuesFiles"`
	ValuesInline          map[string]any `json:"valuesInline"`
	ValuesMerge           string         `json:"valuesMerge"`
	IncludeCRDs           bool           `json:"includeCRDs"`
	SkipTests             bool           `json:"skipTests"`
	APIVersions           []string       `json:"apiVersions"`
	KubeVersion           string         `json:"kubeVersion"`
}

// vendorHint says how to vendor a chart.
func vendorHint(c helmChart, chartHome string) string {
	ref := c.Name
	if c.Repo != "" && !strings.HasPrefix(c.Repo, "oci://") {
		ref = "--repo " + c.Repo + " " + c.Name
	} else if c.Repo != "" {
		ref = strings.TrimSuffix(c.Repo, "/") + "/" + c.Name
	}
	version := ""
	if c.Version != "" {
		version = " --version " + c.Version
	}
	return fmt.Sprintf("vendor the chart into the repository (helm pull %s%s --untar --untardir %s), then drop repo", ref, version, chartHome)
}

// helmSource reads a chart's files through the view.
type helmSource struct {
	v     *view
	bytes int64
	files int
}

// add counts one file against the caps.
func (s *helmSource) add(name string, n int64) error {
	s.bytes += n
	s.files++
	if s.bytes > helmMaxBytes {
		return fmt.Errorf("chart is larger than %s (unpacked), the limit for one chart", byteSize(helmMaxBytes))
	}
	if s.files > helmMaxFiles {
		return fmt.Errorf("chart has more than %d files, the limit for one chart", helmMaxFiles)
	}
	return nil
}

// loadDir reads the chart directory rel (relative to the repo), its
// subcharts' archives unpacked.
func (s *helmSource) loadDir(rel string) ([]*chartloader.BufferedFile, error) {
	var out []*chartloader.BufferedFile
	var walk func(dir, prefix string) error
	walk = func(dir, prefix string) error {
		entries, err := s.v.readDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			full, name := path.Join(dir, e.Name()), path.Join(prefix, e.Name())
			info, err := s.v.stat(full)
			if err != nil {
				return err
			}
			if info.IsDir() {
				if err := walk(full, name); err != nil {
					return err
				}
				continue
			}
			data, err := s.v.readFile(full)
			if err != nil {
				return err
			}
			if err := s.add(name, int64(len(data))); err != nil {
				return err
			}
			if sub, ok := subchartArchive(name); ok {
				files, err := s.unpack(data, sub)
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				out = append(out, files...)
				continue
			}
			out = append(out, &chartloader.BufferedFile{Name: name, Data: data})
		}
		return nil
	}
	return out, walk(rel, "")
}

// subchartArchive reports whether name is a subchart's archive
// (charts/x.tgz, at any depth), and the directory to unpack it in.
func subchartArchive(name string) (string, bool) {
	dir, file := path.Split(name)
	if path.Base(dir) != "charts" || !(strings.HasSuffix(file, ".tgz") || strings.HasSuffix(file, ".tar.gz")) {
		return "", false
	}
	return path.Join(dir, strings.TrimSuffix(strings.TrimSuffix(file, ".tgz"), ".tar.gz")), true
}

// unpack reads a chart archive (gzip'd tar, one top directory) into
// files under prefix, within the caps: reading stops at the cap, so a
// decompression bomb costs no more than the cap.
func (s *helmSource) unpack(data []byte, prefix string) ([]*chartloader.BufferedFile, error) {
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("not a chart archive (gzip): %v", err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	var out []*chartloader.BufferedFile
	for {
		hd, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("chart archive: %v", err)
		}
		if hd.Typeflag != tar.TypeReg {
			continue // directories; links and devices are not chart files
		}
		name := path.Clean(strings.ReplaceAll(hd.Name, `\`, "/"))
		_, rest, ok := strings.Cut(name, "/")
		if !ok || strings.HasPrefix(name, "/") || leavesRepo(rest) || rest == "" {
			return nil, fmt.Errorf("chart archive: file %q is not inside the chart's directory", hd.Name)
		}
		remaining := helmMaxBytes - s.bytes
		content, err := io.ReadAll(io.LimitReader(tr, remaining+1))
		if err != nil {
			return nil, fmt.Errorf("chart archive: %v", err)
		}
		if err := s.add(rest, int64(len(content))); err != nil {
			return nil, err
		}
		rel := path.Join(prefix, rest)
		if sub, ok := subchartArchive(rel); ok {
			files, err := s.unpack(content, sub)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", rest, err)
			}
			out = append(out, files...)
			continue
		}
		out = append(out, &chartloader.BufferedFile{Name: rel, Data: content})
	}
}

// renderHelmChart renders one helmCharts entry of the kustomization in
// dir, its chart found under chartHome (relative to dir); it returns the
// objects as a YAML stream.
func (l *loader) renderHelmChart(dir, chartHome string, c helmChart) ([]byte, error) {
	if c.Repo != "" || strings.HasPrefix(c.Name, "oci://") {
		return nil, fmt.Errorf("remote chart %q (%s) is not fetched: %s", c.Name, orDefault(c.Repo, "an OCI reference"), vendorHint(c, chartHome))
	}
	if c.Name == "" || strings.Contains(c.Name, "/") || c.Name == "." || c.Name == ".." {
		return nil, fmt.Errorf("name %q is not a chart's name: give the name of a chart directory (or .tgz) under chartHome %q", c.Name, chartHome)
	}
	switch c.ValuesMerge {
	case "", "override", "merge":
	default:
		return nil, fmt.Errorf("valuesMerge %q is not supported: use override (the default) or merge", c.ValuesMerge)
	}
	home := path.Join(dir, chartHome)
	if leavesRepo(home) || path.IsAbs(chartHome) {
		return nil, fmt.Errorf("chartHome %q leaves the repository", chartHome)
	}
	files, where, err := l.chartFiles(home, c)
	if err != nil {
		return nil, err
	}
	chrt, err := chartloader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("chart %s: %v", where, err)
	}
	if err := checkVendored(chrt, where); err != nil {
		return nil, err
	}
	vals, err := l.helmValues(dir, chrt, c)
	if err != nil {
		return nil, err
	}
	return renderChart(chrt, vals, c, where)
}

// chartFiles reads the chart named by c under home: the directory
// home/name, else the archive home/name-version.tgz or home/name.tgz.
func (l *loader) chartFiles(home string, c helmChart) ([]*chartloader.BufferedFile, string, error) {
	src := &helmSource{v: l.view}
	dirRel := path.Join(home, c.Name)
	if info, err := l.view.stat(dirRel); err == nil && info.IsDir() {
		files, err := src.loadDir(dirRel)
		if err != nil {
			return nil, dirRel, fmt.Errorf("chart %s: %s", dirRel, viewMessage(err))
		}
		return files, dirRel, nil
	}
	var tried []string
	if c.Version != "" {
		tried = append(tried, path.Join(home, c.Name+"-"+c.Version+".tgz"))
	}
	tried = append(tried, path.Join(home, c.Name+".tgz"))
	for _, rel := range tried {
		info, err := l.view.stat(rel)
		if err != nil || info.IsDir() {
			continue
		}
		data, err := l.view.readFile(rel)
		if err != nil {
			return nil, rel, fmt.Errorf("chart %s: %s", rel, viewMessage(err))
		}
		if err := src.add(rel, int64(len(data))); err != nil {
			return nil, rel, fmt.Errorf("chart %s: %v", rel, err)
		}
		files, err := src.unpack(data, "")
		if err != nil {
			return nil, rel, fmt.Errorf("chart %s: %v", rel, err)
		}
		return files, rel, nil
	}
	return nil, dirRel, fmt.Errorf("chart %q is not in the repository: looked for the directory %s and %s; vendor it there (helm pull NAME --untar --untardir %s)", c.Name, dirRel, strings.Join(tried, ", "), home)
}

// checkVendored refuses a dependency of Chart.yaml that is not vendored
// under charts/.
func checkVendored(c *chart.Chart, where string) error {
	have := map[string]bool{}
	for _, sub := range c.Dependencies() {
		have[sub.Name()] = true
	}
	for _, dep := range c.Metadata.Dependencies {
		if have[dep.Name] {
			continue
		}
		from := ""
		if dep.Repository != "" {
			from = " from " + dep.Repository
		}
		return fmt.Errorf("chart %s: dependency %s%s is not vendored under charts/: trellis fetches nothing; run helm dependency build in the chart's directory and commit charts/%s (a directory or .tgz)", where, dep.Name, from, dep.Name)
	}
	for _, sub := range c.Dependencies() {
		if err := checkVendored(sub, where+"/charts/"+sub.Name()); err != nil {
			return err
		}
	}
	return nil
}

// helmValues merges the chart's values with valuesFile (instead of the
// chart's values.yaml), additionalValuesFiles and valuesInline, in that
// order, as kustomize does.
func (l *loader) helmValues(dir string, chrt *chart.Chart, c helmChart) (map[string]any, error) {
	vals := map[string]any{}
	files := c.AdditionalValuesFiles
	if c.ValuesFile != "" {
		files = append([]string{c.ValuesFile}, files...)
	}
	for _, f := range files {
		if remoteRef(f) != "" || path.IsAbs(f) {
			return nil, fmt.Errorf("values file %q: only files inside the repository are read", f)
		}
		rel := path.Join(dir, f)
		if leavesRepo(rel) {
			return nil, fmt.Errorf("values file %q leaves the repository", f)
		}
		data, err := l.view.readFile(rel)
		if err != nil {
			return nil, fmt.Errorf("values file %q: %s", f, viewMessage(err))
		}
		v, err := chartutil.ReadValues(data)
		if err != nil {
			return nil, fmt.Errorf("values file %q: %v", f, err)
		}
		vals = chartutil.CoalesceTables(v.AsMap(), vals)
	}
	if c.ValuesInline != nil {
		vals = chartutil.CoalesceTables(deepCopyValues(c.ValuesInline), vals)
	}
	if c.ValuesFile != "" {
		// valuesFile stands for the chart's values.yaml.
		chrt.Values = map[string]any{}
	}
	return vals, nil
}

// deepCopyValues copies a values tree (CoalesceTables changes its
// arguments).
func deepCopyValues(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			v = deepCopyValues(sub)
		}
		out[k] = v
	}
	return out
}

// renderChart renders chrt with vals, as `helm template --no-hooks`.
func renderChart(chrt *chart.Chart, vals map[string]any, c helmChart, where string) ([]byte, error) {
	caps := chartutil.DefaultCapabilities.Copy()
	if c.KubeVersion != "" {
		kv, err := chartutil.ParseKubeVersion(c.KubeVersion)
		if err != nil {
			return nil, fmt.Errorf("kubeVersion %q: %v", c.KubeVersion, err)
		}
		caps.KubeVersion = *kv
	}
	caps.APIVersions = append(caps.APIVersions, c.APIVersions...)
	release := orDefault(c.ReleaseName, "release-name")
	opts := chartutil.ReleaseOptions{Name: release, Namespace: orDefault(c.Namespace, "default"), Revision: 1, IsInstall: true}
	if err := chartutil.ProcessDependenciesWithMerge(chrt, vals); err != nil {
		return nil, fmt.Errorf("chart %s: dependencies: %v", where, err)
	}
	// No schema validation: Helm's fetches remote $refs and reads files.
	top, err := chartutil.ToRenderValuesWithSchemaValidation(chrt, vals, opts, caps, true)
	if err != nil {
		return nil, fmt.Errorf("chart %s: values: %v", where, err)
	}
	// engine.Engine{} has no cluster client (lookup returns nothing) and
	// no DNS.
	rendered, err := engine.Engine{}.Render(chrt, top)
	if err != nil {
		return nil, fmt.Errorf("chart %s: %v", where, err)
	}
	for name := range rendered {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(rendered, name)
		}
	}
	_, manifests, err := releaseutil.SortManifests(rendered, caps.APIVersions, releaseutil.InstallOrder)
	if err != nil {
		return nil, fmt.Errorf("chart %s: %v", where, err)
	}
	var b bytes.Buffer
	if c.IncludeCRDs {
		for _, crd := range chrt.CRDObjects() {
			fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", crd.Filename, crd.File.Data)
		}
	}
	for _, m := range manifests {
		if c.SkipTests && strings.Contains(m.Name, "/tests/") {
			continue
		}
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.Name, m.Content)
	}
	return b.Bytes(), nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// helmKustomization rewrites a kustomization for kustomize: helmCharts
// and helmGlobals removed, the charts' output files added to resources.
func helmKustomization(data []byte, outputs []string) ([]byte, error) {
	var k map[string]any
	if err := sigsyaml.Unmarshal(data, &k); err != nil {
		return nil, err
	}
	delete(k, "helmCharts")
	delete(k, "helmGlobals")
	res, _ := k["resources"].([]any)
	for _, o := range outputs {
		res = append(res, o)
	}
	k["resources"] = res
	return sigsyaml.Marshal(k)
}
