package dashboard

import (
	"fmt"
	"net/url"
	"sort"

	"trellis.dev/trellis/reconcile/lineage"
)

// kindNames are the kinds of lineage's nodes as a graph shows them; the
// kinds are also the nodes' CSS classes.
var kindNames = map[string]string{
	lineage.NodeCommit: "commit", lineage.NodeRun: "pipeline run", lineage.NodeModel: "model", lineage.NodeEndpoint: "endpoint",
	lineage.NodeExperiment: "experiment", lineage.NodeTrial: "optimal trial",
}

// columns place each kind of node, left to right.
var columns = map[string]int{
	lineage.NodeCommit: 0, lineage.NodeRun: 1, lineage.NodeExperiment: 1, lineage.NodeModel: 2, lineage.NodeTrial: 2, lineage.NodeEndpoint: 3,
}

// Node is one box of a drawn lineage graph: a node of lineage.Graph, where
// it links and where it sits.
type Node struct {
	lineage.Node
	// Key names the node in the page: its kind and label, which a
	// lineage graph has one node of.
	Key string
	// Href is where the node links: the commit on its Git host, the
	// record of the run that found the node; "" for none.
	Href string
	// X and Y are its top-left corner.
	X, Y int
}

// Edge links two nodes by their Keys; Path is its SVG path.
type Edge struct {
	From, To string
	Label    string
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

// draw lays out lineage's graph of a walk (lineage.Chain.Graph,
// lineage.Outcome.Graph), each node linking to its commit's page or to
// its run's record.
func draw(lg lineage.Graph, links linker) Graph {
	var g Graph
	keys := map[string]string{}
	for _, n := range lg.Nodes {
		href := n.Link
		if n.Kind != lineage.NodeCommit {
			href = links.run(n.RunID)
		}
		keys[n.ID] = n.Kind + ":" + n.Label
		g.Nodes = append(g.Nodes, Node{Node: n, Key: keys[n.ID], Href: href})
	}
	for _, e := range lg.Edges {
		g.Edges = append(g.Edges, Edge{From: keys[e.From], To: keys[e.To], Label: e.Label})
	}
	return layout(g)
}

// layout places the nodes left to right, one column per kind, as a tree
// from the roots: a leaf takes the next free row, a parent sits at the
// middle of its children; then it draws the edges as curves from the
// right side of a node to the left side of the next.
func layout(g Graph) Graph {
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
		if !hasParent[n.Key] {
			roots = append(roots, n.Key)
		}
	}
	for _, id := range roots {
		place(id)
	}
	for _, n := range g.Nodes {
		place(n.Key)
	}
	maxCol := 0
	for i := range g.Nodes {
		n := &g.Nodes[i]
		col := columns[n.Kind]
		maxCol = max(maxCol, col)
		n.X = margin + col*(nodeWidth+colGap)
		n.Y = margin + int(row[n.Key]*float64(nodeHeight+rowGap))
	}
	pos := map[string]Node{}
	for _, n := range g.Nodes {
		pos[n.Key] = n
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
