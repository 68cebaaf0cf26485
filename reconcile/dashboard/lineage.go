package dashboard

import (
	"errors"
	"net/http"
	"sort"

	"trellis.dev/trellis/reconcile/lineage"
)

// maxRevisions is how many revisions the lineage index lists.
const maxRevisions = 40

// endpointRow is one endpoint on the lineage index.
type endpointRow struct {
	Cluster string
	lineage.Followed
	RunID string
}

// revisionRow is one revision on the lineage index.
type revisionRow struct {
	lineage.Source
	Clusters []string
	Result   lineage.Result
	RunID    string
}

// lineageIndex is the data of the lineage index.
type lineageIndex struct {
	Endpoints    []endpointRow
	Revisions    []revisionRow
	LineageError string
}

// lineageIndex lists the endpoints and revisions of the lineage branch,
// each a link to its graph.
func (s *server) lineageIndex(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	recs, lerr := s.records(ctx)
	data := lineageIndex{LineageError: lerr}
	seenEP, seenRev := map[string]bool{}, map[string]int{}
	for _, rec := range recs {
		for _, f := range rec.Followed {
			key := rec.Cluster + "/" + f.Name
			if f.Kind == lineage.KindInferenceService && f.ModelURI != "" && !seenEP[key] {
				seenEP[key] = true
				data.Endpoints = append(data.Endpoints, endpointRow{Cluster: rec.Cluster, Followed: f, RunID: rec.RunID})
			}
		}
		if rec.Result == lineage.DryRun || len(rec.Source.Revision) < 7 {
			continue
		}
		if i, ok := seenRev[rec.Source.Revision]; ok {
			if !contains(data.Revisions[i].Clusters, rec.Cluster) {
				data.Revisions[i].Clusters = append(data.Revisions[i].Clusters, rec.Cluster)
			}
			continue
		}
		if len(data.Revisions) == maxRevisions {
			continue
		}
		seenRev[rec.Source.Revision] = len(data.Revisions)
		data.Revisions = append(data.Revisions, revisionRow{Source: rec.Source, Clusters: []string{rec.Cluster}, Result: rec.Result, RunID: rec.RunID})
	}
	for i := range data.Revisions {
		sort.Strings(data.Revisions[i].Clusters)
	}
	s.render(w, r, http.StatusOK, "lineage", "Lineage", "lineage", data)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// graphPage is the data of a lineage graph's page.
type graphPage struct {
	// What the graph starts from: "endpoint" or "commit".
	From  string
	Name  string
	Graph Graph
	// Chain is the endpoint's trace; Outcome the commit's.
	Chain   *lineage.Chain
	Outcome *lineage.Outcome
}

// endpointGraph draws the lineage of the model an endpoint serves, back
// to its commit: lineage trace's walk.
func (s *server) endpointGraph(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	cluster, name := r.PathValue("cluster"), r.PathValue("endpoint")
	recs, lerr := s.records(ctx)
	if lerr != "" {
		s.fail(w, r, http.StatusServiceUnavailable, lerr)
		return
	}
	chain, err := lineage.Trace(recs, name, cluster)
	if err != nil {
		s.fail(w, r, statusOf(err), err.Error())
		return
	}
	s.render(w, r, http.StatusOK, "graph", "Lineage of endpoint "+name, "lineage",
		graphPage{From: "endpoint", Name: cluster + "/" + name, Graph: draw(chain.Graph(), s.links), Chain: &chain})
}

// commitGraph draws what a commit led to: lineage trace --revision's
// walk.
func (s *server) commitGraph(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	rev := r.PathValue("revision")
	recs, lerr := s.records(ctx)
	if lerr != "" {
		s.fail(w, r, http.StatusServiceUnavailable, lerr)
		return
	}
	out, err := lineage.Forward(recs, rev)
	if err != nil {
		s.fail(w, r, statusOf(err), err.Error())
		return
	}
	s.render(w, r, http.StatusOK, "graph", "Lineage of commit "+lineage.ShortRevision(rev), "lineage",
		graphPage{From: "commit", Name: rev, Graph: draw(out.Graph(), s.links), Outcome: &out})
}

// statusOf is the HTTP status of a lineage error.
func statusOf(err error) int {
	if errors.Is(err, lineage.ErrNotFound) {
		return http.StatusNotFound
	}
	return http.StatusBadRequest
}
