package render

import (
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	"cuelang.org/go/cue"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// checkHelmCharts renders the helmCharts of the kustomization in dir
// (see helm.go) into c.helm; each problem is placed at its entry.
func (l *loader) checkHelmCharts(c *kustomizeCheck, dir string, v cue.Value) {
	charts := v.LookupPath(cue.ParsePath("helmCharts"))
	if !charts.Exists() {
		if g := v.LookupPath(cue.ParsePath("helmGlobals")); g.Exists() {
			l.errs.addf(g.Pos(), "helmGlobals: no helmCharts use it")
		}
		return
	}
	chartHome := "charts"
	if g := v.LookupPath(cue.ParsePath("helmGlobals")); g.Exists() {
		it, err := g.Fields()
		if err != nil {
			l.errs.addf(g.Pos(), "helmGlobals: want a mapping with chartHome")
			return
		}
		for it.Next() {
			switch s, err := it.Value().String(); {
			case it.Selector().String() != "chartHome":
				l.errs.addf(it.Value().Pos(), "helmGlobals.%s: not supported: trellis reads only chartHome (a directory of the repository)", it.Selector())
				return
			case err != nil:
				l.errs.addf(it.Value().Pos(), "helmGlobals.chartHome: want a path")
				return
			default:
				chartHome = s
			}
		}
	}
	list, err := charts.List()
	if err != nil {
		l.errs.addf(charts.Pos(), "helmCharts: want a list of charts")
		return
	}
	outputs := map[string][]byte{}
	for i := 0; list.Next(); i++ {
		entry := list.Value()
		hc, ok := l.helmChartEntry(entry, i)
		if !ok {
			continue
		}
		out, err := l.renderHelmChart(dir, chartHome, hc)
		if err != nil {
			l.errs.addf(entry.Pos(), "helmCharts[%d]: %s", i, strings.ReplaceAll(err.Error(), "\n", " "))
			continue
		}
		outputs[fmt.Sprintf(".trellis-helm-%d-%s.yaml", i, hc.Name)] = out
	}
	if len(outputs) > 0 {
		c.helm[dir] = outputs
	}
}

// helmChartEntry decodes one helmCharts entry, refusing fields trellis
// does not read.
func (l *loader) helmChartEntry(entry cue.Value, i int) (helmChart, bool) {
	var hc helmChart
	it, err := entry.Fields()
	if err != nil {
		l.errs.addf(entry.Pos(), "helmCharts[%d]: want a mapping (name, releaseName, valuesFile, …)", i)
		return hc, false
	}
	var unknown []string
	for it.Next() {
		if !helmChartFields[it.Selector().String()] {
			unknown = append(unknown, it.Selector().String())
			l.errs.addf(it.Value().Pos(), "helmCharts[%d].%s: not supported (trellis reads %s)", i, it.Selector(), strings.Join(sortedKeys(helmChartFields), ", "))
		}
	}
	if len(unknown) > 0 {
		return hc, false
	}
	// Through JSON, as YAML values reach Helm (numbers as float64).
	raw, err := entry.MarshalJSON()
	if err == nil {
		err = json.Unmarshal(raw, &hc)
	}
	if err != nil {
		l.errs.addf(entry.Pos(), "helmCharts[%d]: %v", i, err)
		return hc, false
	}
	return hc, true
}

// writeHelmOutputs writes the charts' output into kustomize's in-memory
// filesystem and rewrites the kustomization to list them as resources.
func (l *loader) writeHelmOutputs(mem filesys.FileSystem, dir, name string, outputs map[string][]byte) error {
	file := path.Join(dir, name)
	data, err := mem.ReadFile(path.Join(memRoot, file))
	if err != nil {
		return fileError(file, "%v", err)
	}
	names := make([]string, 0, len(outputs))
	for n := range outputs {
		names = append(names, n)
	}
	sort.Strings(names)
	rewritten, err := helmKustomization(data, names)
	if err != nil {
		return fileError(file, "%v", err)
	}
	for _, n := range names {
		if err := mem.WriteFile(path.Join(memRoot, dir, n), outputs[n]); err != nil {
			return fileError(file, "%v", err)
		}
	}
	if err := mem.WriteFile(path.Join(memRoot, file), rewritten); err != nil {
		return fileError(file, "%v", err)
	}
	return nil
}
