package dashboard

import (
	"errors"
	"net/http"
	"sort"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/lineage"
)

// maxRuns is how many runs a cluster's page lists.
const maxRuns = 30

// runRow is one run in a cluster's list.
type runRow struct {
	lineage.Record
	Counts map[reconcile.Action]int
}

// clusterPage is the data of a cluster's page.
type clusterPage struct {
	Cluster      string
	Runs         []runRow
	More         int
	LineageError string
}

// cluster serves a cluster's last runs.
func (s *server) cluster(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	name := r.PathValue("cluster")
	recs, lerr := s.records(ctx)
	data := clusterPage{Cluster: name, LineageError: lerr}
	for _, rec := range recs {
		if rec.Cluster != name {
			continue
		}
		if len(data.Runs) == maxRuns {
			data.More++
			continue
		}
		data.Runs = append(data.Runs, runRow{Record: rec, Counts: recordCounts(rec)})
	}
	s.render(w, r, http.StatusOK, "cluster", "Cluster "+name, "clusters", data)
}

// runPage is the data of a run's page.
type runPage struct {
	lineage.Record
	Counts map[reconcile.Action]int
	// Changed are the objects the run wrote, pruned or failed; Unchanged
	// the others.
	Changed, Unchanged []lineage.Object
	Log                string
	LogError           string
	// Endpoints are the InferenceServices followed, for links to their
	// lineage graph.
	Endpoints []lineage.Followed
}

// run serves a run's record: its change set, the runs it followed, its
// log.
func (s *server) run(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	id := r.PathValue("run")
	recs, lerr := s.records(ctx)
	if lerr != "" {
		s.fail(w, r, http.StatusServiceUnavailable, lerr)
		return
	}
	var data runPage
	found := false
	for _, rec := range recs {
		if rec.RunID == id {
			data.Record, found = rec, true
			break
		}
	}
	if !found {
		s.fail(w, r, http.StatusNotFound, "no run "+id+" on the lineage branch")
		return
	}
	data.Counts = recordCounts(data.Record)
	for _, o := range data.Objects {
		if o.Action == reconcile.Unchanged || o.Action == reconcile.Skipped && o.Reason == "" {
			data.Unchanged = append(data.Unchanged, o)
		} else {
			data.Changed = append(data.Changed, o)
		}
	}
	sort.SliceStable(data.Changed, func(i, j int) bool { return actionRank(data.Changed[i].Action) < actionRank(data.Changed[j].Action) })
	for _, f := range data.Followed {
		if f.Kind == lineage.KindInferenceService && f.ModelURI != "" {
			data.Endpoints = append(data.Endpoints, f)
		}
	}
	log, err := s.o.Lineage.Log(ctx, id)
	switch {
	case errors.Is(err, lineage.ErrNotFound):
		data.LogError = "this run has no log"
	case err != nil:
		data.LogError = s.o.Redactor.Redact(err.Error())
	default:
		data.Log = string(log)
	}
	s.render(w, r, http.StatusOK, "run", "Run "+id, "clusters", data)
}

// actionRank orders a change set: failures first, then writes, prunes.
func actionRank(a reconcile.Action) int {
	switch a {
	case reconcile.Failed:
		return 0
	case reconcile.Created, reconcile.Adopted:
		return 1
	case reconcile.Configured:
		return 2
	case reconcile.Pruned:
		return 3
	}
	return 4
}
