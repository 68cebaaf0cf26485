package dashboard

import (
	"fmt"
	"net/http"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/lineage"
)

// clusterCard is one cluster on the clusters page.
type clusterCard struct {
	ClusterView
	// LastRun is the newest record of the cluster on the lineage branch.
	LastRun string
}

// clustersPage is the data of the clusters page.
type clustersPage struct {
	Clusters []clusterCard
	// LineageError says why the lineage branch could not be read.
	LineageError string
	// FromLineage says the clusters come from the lineage branch (no
	// daemon).
	FromLineage bool
}

// clusters serves the clusters page: each cluster's applied revision,
// result, counts, drift, suspension and last error.
func (s *server) clusters(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	recs, lerr := s.records(ctx)
	data := clustersPage{LineageError: lerr}
	var views []ClusterView
	if s.o.Daemon == nil {
		views, data.FromLineage = clustersOf(recs), true
	} else {
		var err error
		if views, err = s.o.Daemon.Clusters(ctx); err != nil {
			s.fail(w, r, http.StatusServiceUnavailable, err.Error())
			return
		}
	}
	for _, v := range views {
		v.Errors = s.redact(shorten(v.Errors))
		v.Unreachable = s.o.Redactor.Redact(v.Unreachable)
		if contains(v.Errors, v.Unreachable) {
			v.Unreachable = "" // said once is enough
		}
		card := clusterCard{ClusterView: v}
		for _, rec := range recs {
			if rec.Cluster != v.Name || rec.Result == lineage.DryRun {
				continue
			}
			if card.LastRun == "" {
				card.LastRun = rec.RunID
			}
			if rec.Source.Revision == v.Applied.Revision && card.Applied.Message == "" {
				card.Applied.Message, card.Applied.Author = rec.Source.Message, rec.Source.Author
			}
		}
		card.Applied.Message = s.o.Redactor.Redact(card.Applied.Message)
		card.Offered.Message = s.o.Redactor.Redact(card.Offered.Message)
		data.Clusters = append(data.Clusters, card)
	}
	s.render(w, r, http.StatusOK, "clusters", "Clusters", "clusters", data)
}

// clustersOf is each cluster as its newest applied record (not a
// pull-request check) says, for a dashboard without a daemon.
func clustersOf(recs []lineage.Record) []ClusterView {
	seen := map[string]bool{}
	var out []ClusterView
	for _, r := range recs {
		if r.Cluster == "" || seen[r.Cluster] || r.Result == lineage.DryRun {
			continue
		}
		seen[r.Cluster] = true
		v := ClusterView{Name: r.Cluster, Finished: r.Finished, Counts: recordCounts(r), Errors: r.Errors,
			Applied: Commit{Revision: r.Source.Revision, Message: r.Source.Message, Author: r.Source.Author, Repo: r.Source.URL},
			Result:  reconcile.ResultSucceeded}
		if r.Result == lineage.Failed {
			v.Result = reconcile.ResultFailed
		}
		for _, o := range r.Objects {
			if o.Reason == reconcile.ReasonDrift {
				v.Drifted++
			}
		}
		out = append(out, v)
	}
	sortViews(out)
	return out
}

// maxCardErrors is how many errors a cluster's card lists; its last run
// has them all.
const maxCardErrors = 5

// shorten keeps the first errors of a card, and says how many it left out.
func shorten(errs []string) []string {
	if len(errs) <= maxCardErrors+1 {
		return errs
	}
	out := append([]string(nil), errs[:maxCardErrors]...)
	return append(out, fmt.Sprintf("… and %d more: see the last run", len(errs)-maxCardErrors))
}
