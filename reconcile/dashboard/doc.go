// Package dashboard serves trellis' read-only dashboard: the clusters and
// the revision each runs, a cluster's last runs (change set, followed
// runs, log), the lineage graph from a commit or an endpoint (drawn as
// SVG in Go), and the last plan of each pull request.
//
// It reads through two narrow interfaces, Lineage (the lineage branch)
// and Daemon (what a running `trellis serve` knows; nil for `trellis
// lineage serve`), and never writes: every route is a GET, there are no
// forms, and every response carries a strict Content-Security-Policy.
// Pages are html/template, so that a hostile commit message or run name
// is text; free text from the daemon passes through the same redactor as
// the logs.
package dashboard
