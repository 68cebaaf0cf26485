package dashboard

import (
	"net/http"
	"sort"
)

// pullsPage is the data of the pull requests page.
type pullsPage struct {
	PullRequests []PullRequestView
}

// pulls serves the last plan of each pull request checked.
func (s *server) pulls(w http.ResponseWriter, r *http.Request) {
	if s.o.Daemon == nil {
		s.fail(w, r, http.StatusNotFound, "pull requests are checked by trellis serve --github-repo; this dashboard has no daemon")
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	prs, err := s.o.Daemon.PullRequests(ctx)
	if err != nil {
		s.fail(w, r, http.StatusServiceUnavailable, err.Error())
		return
	}
	for i := range prs {
		p := &prs[i]
		p.Title = s.o.Redactor.Redact(p.Title)
		p.Problems = s.redact(p.Problems)
		for j := range p.Plans {
			p.Plans[j].Errors = s.redact(p.Plans[j].Errors)
		}
	}
	sort.SliceStable(prs, func(i, j int) bool { return prs[i].Number > prs[j].Number })
	s.render(w, r, http.StatusOK, "pulls", "Pull requests", "pulls", pullsPage{PullRequests: prs})
}

// sortViews sorts clusters by name.
func sortViews(v []ClusterView) {
	sort.Slice(v, func(i, j int) bool { return v[i].Name < v[j].Name })
}
