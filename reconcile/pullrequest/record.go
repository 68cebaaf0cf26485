package pullrequest

import (
	"strconv"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/lineage"
	"trellis.dev/trellis/source"
)

// Records returns the lineage records of the check, one per cluster of
// the head (one for the whole repo when the head is invalid), with the
// comment as their log. A check is a dry run: its objects are the plan's
// changes (created, configured, pruned), its result dry-run, or failed
// when the head is invalid, a live dry-run refused an object or the prune
// guard refused the removals. Run ids read
// <time>-pr<N>-<cluster>-<short head>.
func (r *Result) Records() []lineage.Record {
	pr := r.PullRequest
	src := lineage.Source{
		URL:      source.StripCredentials(pr.Base.CloneURL),
		Ref:      pullRef(pr.Number),
		Revision: pr.Head.SHA,
		Message:  pr.Title,
	}
	if src.URL == "" {
		src.URL = "https://github.com/" + r.Repo
	}
	prefix := "pr" + strconv.Itoa(pr.Number)
	newRecord := func(cluster string) lineage.Record {
		id := prefix
		if cluster != "" {
			id += "-" + cluster
		}
		return lineage.Record{
			SchemaVersion: lineage.SchemaVersion,
			RunID:         lineage.RunID(r.Started, id, pr.Head.SHA),
			Source:        src, Cluster: cluster,
			Started: r.Started, Finished: r.Finished,
			Result:       lineage.DryRun,
			Declarations: []lineage.Declaration{},
			Objects:      []lineage.Object{},
		}
	}
	if !r.Valid() {
		rec := newRecord("")
		rec.Result = lineage.Failed
		for _, p := range r.Problems {
			rec.Errors = append(rec.Errors, p.String())
		}
		return []lineage.Record{rec}
	}
	var out []lineage.Record
	for i := range r.Clusters {
		c := &r.Clusters[i]
		rec := newRecord(c.Cluster)
		if r.declarations != nil {
			rec.Declarations = lineage.Declarations(r.declarations, c.Cluster)
		}
		for _, ch := range c.Changes {
			o := ch.Ref
			rec.Objects = append(rec.Objects, lineage.Object{Group: o.Group, Version: o.Version, Kind: o.Kind,
				Namespace: o.Namespace, Name: o.Name, Action: ch.Action})
		}
		if c.PruneRefusal != "" {
			rec.Errors = append(rec.Errors, c.PruneRefusal)
		}
		if c.LiveError != "" {
			rec.Errors = append(rec.Errors, "live dry-run: "+c.LiveError)
		}
		for _, d := range c.Live {
			if d.Action == reconcile.Failed {
				rec.Errors = append(rec.Errors, d.Ref.String()+": "+d.Err)
			}
		}
		if len(rec.Errors) > 0 {
			rec.Result = lineage.Failed
		}
		out = append(out, rec)
	}
	return out
}
