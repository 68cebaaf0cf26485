package dashboard

import (
	"fmt"
	"net/url"
	"sort"

	"trellis.dev/trellis/reconcile/lineage"
)

// Kinds of the nodes of a lineage graph, which are also their CSS
// classes.
const (
	NodeCommit     = "commit"
	NodeRun        = "run"
	NodeModel      = "model"
	NodeEndpoint   = "endpoint"
	NodeExperiment = "experiment"
	NodeTrial      = "trial"
)

// kindNames are the kinds as a graph shows them.
var kindNames = map[string]string{
	NodeCommit: "commit", NodeRun: "pipeline run", NodeModel: "model", NodeEndpoint: "endpoint",
	NodeExperiment: "experiment", NodeTrial: "optimal trial",
}

// columns place each kind of node, left to right.
var columns = map[string]int{
	NodeCommit: 0, NodeRun: 1, NodeExperiment: 1, NodeModel: 2, NodeTrial: 2, NodeEndpoint: 3,
}

// Node is one box of a lineage graph.
type Node struct {
	// ID is unique in the graph: kind, then what names it.
	ID     string
	Kind   string
	Label  string
	Detail string
	// Href is where the node links: the commit on its Git host, a run's
	// record page; "" for none.
	Href string
	// X and Y are its top-left corner, set by layout.
	X, Y int
}

// Edge links two nodes by their IDs; Path is its SVG path, set by layout.
type Edge struct {
	From, To string
	Path     string
}

// Graph is a lineage graph, laid out left to right.
type Graph struct {
	Nodes         []Node
	Edges         []Edge
	Width, Height int
}

// Sizes of the drawing, in SVG user units.
const (
	nodeWidth  = 230
	nodeHeight = 58
	colGap     = 64
	rowGap     = 22
	margin     = 12
)

// graphBuilder collects nodes and edges without duplicates.
type graphBuilder struct {
	g     Graph
	index map[string]int
	edges map[[2]string]bool
}

func newGraphBuilder() *graphBuilder {
	return &graphBuilder{index: map[string]int{}, edges: map[[2]string]bool{}}
}

func (b *graphBuilder) node(n Node) string {
	if _, ok := b.index[n.ID]; !ok {
		b.index[n.ID] = len(b.g.Nodes)
		b.g.Nodes = append(b.g.Nodes, n)
	}
	return n.ID
}

func (b *graphBuilder) edge(from, to string) {
	if from == "" || to == "" || b.edges[[2]string{from, to}] {
		return
	}
	b.edges[[2]string{from, to}] = true
	b.g.Edges = append(b.g.Edges, Edge{From: from, To: to})
}

// commitNode is the node of a record's revision.
func (b *graphBuilder) commitNode(src lineage.Source, links linker) string {
	return b.node(Node{ID: "commit:" + src.Revision, Kind: NodeCommit, Label: lineage.ShortRevision(src.Revision),
		Detail: firstLine(src.Message), Href: links.commit(src.URL, src.Revision)})
}

// runNode is the node of a followed Workflow run, linking to the record
// that followed it (or created it).
func (b *graphBuilder) runNode(cluster string, f lineage.Followed, rec string, links linker) string {
	detail := f.Phase
	if detail == "" {
		detail = "not followed"
	}
	return b.node(Node{ID: "run:" + cluster + "/" + f.Namespace + "/" + f.Name, Kind: NodeRun, Label: f.Name,
		Detail: detail, Href: links.run(rec)})
}

func (b *graphBuilder) modelNode(uri string) string {
	return b.node(Node{ID: "model:" + uri, Kind: NodeModel, Label: uri, Detail: "artifact"})
}

func (b *graphBuilder) endpointNode(cluster, namespace, name, detail, rec string, links linker) string {
	return b.node(Node{ID: "endpoint:" + cluster + "/" + namespace + "/" + name, Kind: NodeEndpoint, Label: name,
		Detail: detail, Href: links.run(rec)})
}

// TraceGraph draws what lineage.Trace found: the commit whose pipeline
// run produced the model an endpoint serves.
func TraceGraph(c lineage.Chain, links linker) Graph {
	b := newGraphBuilder()
	ep := b.endpointNode(c.Endpoint.Cluster, c.Serving.Namespace, c.Serving.Name, c.Serving.Phase, c.Endpoint.RunID, links)
	model := b.modelNode(c.ModelURI)
	if c.Producer != nil {
		var commit string
		if c.Creator != nil {
			commit = b.commitNode(c.Creator.Source, links)
		}
		run := b.runNode(c.Endpoint.Cluster, *c.Producer, c.ProducerRecord.RunID, links)
		b.edge(commit, run)
		b.edge(run, model)
	}
	b.edge(model, ep)
	return b.layout()
}

// ForwardGraph draws what lineage.Forward found: the pipeline runs a
// commit created, their model artifacts and the endpoints serving them,
// and the experiments its applies followed with their optimal trials.
func ForwardGraph(o lineage.Outcome, links linker) Graph {
	b := newGraphBuilder()
	for _, p := range o.Runs {
		commit := b.commitNode(p.Creator.Source, links)
		rec := p.Creator.RunID
		run := b.runNode(p.Cluster, p.Run, rec, links)
		b.edge(commit, run)
		for _, out := range p.Run.Outputs {
			if out.Kind != lineage.OutputArtifact {
				continue
			}
			model := b.modelNode(out.Value)
			b.edge(run, model)
			for _, s := range p.Served {
				if s.Pin.URI == out.Value {
					ep := b.endpointNode(p.Cluster, s.Pin.Namespace, s.Pin.Endpoint, "pinned", s.Record.RunID, links)
					b.edge(model, ep)
				}
			}
		}
	}
	for _, r := range o.Applied {
		commit := b.commitNode(r.Source, links)
		for _, f := range r.Followed {
			if f.Kind != lineage.KindExperiment {
				continue
			}
			exp := b.node(Node{ID: "experiment:" + r.Cluster + "/" + f.Namespace + "/" + f.Name, Kind: NodeExperiment,
				Label: f.Name, Detail: f.Phase, Href: links.run(r.RunID)})
			b.edge(commit, exp)
			if trial := optimalTrial(f); trial != "" {
				b.edge(exp, b.node(Node{ID: "trial:" + r.Cluster + "/" + f.Namespace + "/" + trial, Kind: NodeTrial,
					Label: trial, Detail: "best of the experiment", Href: links.run(r.RunID)}))
			}
		}
	}
	return b.layout()
}

// optimalTrial is the trial an Experiment's outputs come from.
func optimalTrial(f lineage.Followed) string {
	for _, o := range f.Outputs {
		if o.Step != "" {
			return o.Step
		}
	}
	return ""
}

// layout places the nodes left to right, one column per kind, as a tree
// from the roots: a leaf takes the next free row, a parent sits at the
// middle of its children; then it draws the edges as curves from the
// right side of a node to the left side of the next.
func (b *graphBuilder) layout() Graph {
	g := b.g
	children := map[string][]string{}
	hasParent := map[string]bool{}
	for _, e := range g.Edges {
		children[e.From] = append(children[e.From], e.To)
		hasParent[e.To] = true
	}
	row := map[string]float64{}
	next := 0.0
	var place func(id string) float64
	place = func(id string) float64 {
		if r, ok := row[id]; ok {
			return r
		}
		row[id] = -1 // visiting: a cycle, impossible from records, ends here
		var sum float64
		var n int
		for _, c := range children[id] {
			if r := place(c); r >= 0 {
				sum += r
				n++
			}
		}
		if n == 0 {
			row[id] = next
			next++
		} else {
			row[id] = sum / float64(n)
		}
		return row[id]
	}
	roots := make([]string, 0, len(g.Nodes))
	for _, n := range g.Nodes {
		if !hasParent[n.ID] {
			roots = append(roots, n.ID)
		}
	}
	for _, id := range roots {
		place(id)
	}
	for _, n := range g.Nodes {
		place(n.ID)
	}
	maxCol := 0
	for i := range g.Nodes {
		n := &g.Nodes[i]
		col := columns[n.Kind]
		maxCol = max(maxCol, col)
		n.X = margin + col*(nodeWidth+colGap)
		n.Y = margin + int(row[n.ID]*float64(nodeHeight+rowGap))
	}
	pos := map[string]Node{}
	for _, n := range g.Nodes {
		pos[n.ID] = n
	}
	for i := range g.Edges {
		e := &g.Edges[i]
		from, to := pos[e.From], pos[e.To]
		x1, y1 := from.X+nodeWidth, from.Y+nodeHeight/2
		x2, y2 := to.X-6, to.Y+nodeHeight/2
		mid := (x1 + x2) / 2
		e.Path = fmt.Sprintf("M%d %d C%d %d, %d %d, %d %d", x1, y1, mid, y1, mid, y2, x2, y2)
	}
	sort.SliceStable(g.Edges, func(i, j int) bool { return g.Edges[i].From < g.Edges[j].From })
	sort.SliceStable(g.Nodes, func(i, j int) bool {
		if g.Nodes[i].X != g.Nodes[j].X {
			return g.Nodes[i].X < g.Nodes[j].X
		}
		return g.Nodes[i].Y < g.Nodes[j].Y
	})
	g.Width = 2*margin + (maxCol+1)*nodeWidth + maxCol*colGap
	g.Height = 2*margin + max(1, int(next))*(nodeHeight+rowGap) - rowGap
	return g
}

// linker makes the links of pages and graph nodes.
type linker struct {
	// prefix is where the dashboard is mounted, "/ui/".
	prefix string
}

// run is the page of a run's record; "" for none.
func (l linker) run(id string) string {
	if id == "" {
		return ""
	}
	return l.prefix + "runs/" + url.PathEscape(id)
}

// commit is the commit's page on its Git host, when the host is known.
func (l linker) commit(repoURL, rev string) string {
	return CommitURL(repoURL, rev)
}
