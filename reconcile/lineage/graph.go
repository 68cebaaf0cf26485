package lineage

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Node kinds of a lineage graph.
const (
	NodeCommit     = "commit"
	NodeRun        = "run"
	NodeModel      = "model"
	NodeEndpoint   = "endpoint"
	NodeExperiment = "experiment"
	NodeTrial      = "trial"
)

// Graph is a lineage walk as nodes and edges: commit → pipeline run →
// model → endpoint. Trace and Forward build it; `lineage trace -o
// dot|mermaid|json`, the merged-PR summary and the dashboard draw it.
type Graph struct {
	Nodes []Node `json:"nodes"`
	Edges []Edge `json:"edges"`
}

// Node is one thing of the walk. ID is unique in its graph and safe in DOT
// and Mermaid (n0, n1, ...).
type Node struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// Label names it: a short commit hash, cluster/namespace/name, a URI.
	Label string `json:"label"`
	// Detail is one more line: a commit's subject, a run's phase.
	Detail string `json:"detail,omitempty"`
	// Link is where it can be seen: the commit on its Git host, when the
	// host is known; empty otherwise.
	Link string `json:"link,omitempty"`
	// RunID is the lineage record the node was found in.
	RunID string `json:"runId,omitempty"`
}

// Edge links two nodes by ID, with what links them ("created by run X",
// "output train/model", "serves").
type Edge struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Label string `json:"label,omitempty"`
}

// graphBuilder adds nodes once each, by a key of their own.
type graphBuilder struct {
	g   Graph
	ids map[string]string
}

func (b *graphBuilder) node(key string, n Node) string {
	if b.ids == nil {
		b.ids = map[string]string{}
	}
	if id, ok := b.ids[key]; ok {
		return id
	}
	n.ID = fmt.Sprintf("n%d", len(b.g.Nodes))
	b.ids[key] = n.ID
	b.g.Nodes = append(b.g.Nodes, n)
	return n.ID
}

func (b *graphBuilder) edge(from, to, label string) {
	b.g.Edges = append(b.g.Edges, Edge{From: from, To: to, Label: label})
}

func commitNode(r Record) Node {
	return Node{
		Kind: NodeCommit, Label: ShortRevision(r.Source.Revision),
		Detail: FirstLine(r.Source.Message), Link: CommitURL(r.Source.URL, r.Source.Revision), RunID: r.RunID,
	}
}

func runNode(cluster string, f Followed, runID string) Node {
	phase := f.Phase
	if phase == "" {
		phase = "not followed"
	}
	return Node{Kind: NodeRun, Label: cluster + "/" + f.Namespace + "/" + f.Name, Detail: f.Kind + ", " + phase, RunID: runID}
}

// Graph is the chain as a graph: commit → pipeline run → model → endpoint,
// as far as the records reach.
func (c Chain) Graph() Graph {
	var b graphBuilder
	e := c.Serving
	var commit, run string
	if c.Producer != nil {
		commit = b.node("commit", commitNode(*c.Creator))
		run = b.node("run", runNode(c.Endpoint.Cluster, *c.Producer, c.ProducerRecord.RunID))
	}
	model := b.node("model", Node{Kind: NodeModel, Label: c.ModelURI})
	endpoint := b.node("endpoint", Node{
		Kind: NodeEndpoint, Label: c.Endpoint.Cluster + "/" + e.Namespace + "/" + e.Name,
		Detail: strings.TrimSpace(e.Phase + " " + e.URL), RunID: c.Endpoint.RunID,
	})
	if c.Producer != nil {
		b.edge(commit, run, "created by run "+c.Creator.RunID)
		b.edge(run, model, "output "+c.Output.Step+"/"+c.Output.Name)
	}
	b.edge(model, endpoint, "serves")
	return b.g
}

// Graph is what a commit led to as a graph: the commit, the pipeline runs
// its applies created, their artifacts, and the endpoints pinned to them.
func (o Outcome) Graph() Graph {
	var b graphBuilder
	first := o.Applied[len(o.Applied)-1]
	commit := b.node("commit", commitNode(first))
	for _, p := range o.Runs {
		runKey := p.Cluster + "/" + p.Run.Namespace + "/" + p.Run.Name
		run := b.node("run "+runKey, runNode(p.Cluster, p.Run, p.Creator.RunID))
		b.edge(commit, run, "created by run "+p.Creator.RunID)
		for _, out := range p.Run.Outputs {
			if out.Kind != OutputArtifact {
				continue
			}
			model := b.node("model "+out.Value, Node{Kind: NodeModel, Label: out.Value})
			b.edge(run, model, "output "+out.Step+"/"+out.Name)
		}
		for _, sv := range p.Served {
			endpoint := b.node("endpoint "+p.Cluster+"/"+sv.Pin.Namespace+"/"+sv.Pin.Endpoint, Node{
				Kind: NodeEndpoint, Label: p.Cluster + "/" + sv.Pin.Namespace + "/" + sv.Pin.Endpoint, RunID: sv.Record.RunID,
			})
			from := run
			if sv.Pin.URI != "" {
				from = b.node("model "+sv.Pin.URI, Node{Kind: NodeModel, Label: sv.Pin.URI})
				if !b.hasEdge(run, from) {
					b.edge(run, from, "output "+sv.Pin.Step+"/"+sv.Pin.Artifact)
				}
			}
			b.edge(from, endpoint, "serves, pinned by run "+sv.Record.RunID)
		}
	}
	return b.g
}

func (b *graphBuilder) hasEdge(from, to string) bool {
	for _, e := range b.g.Edges {
		if e.From == from && e.To == to {
			return true
		}
	}
	return false
}

// DOT is the graph in Graphviz's language, left to right.
func (g Graph) DOT() string {
	var s strings.Builder
	s.WriteString("digraph lineage {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n")
	for _, n := range g.Nodes {
		label := n.Kind + "\\n" + dotEscape(n.Label)
		if n.Detail != "" {
			label += "\\n" + dotEscape(n.Detail)
		}
		fmt.Fprintf(&s, "  %s [label=\"%s\"", n.ID, label)
		if n.Link != "" {
			fmt.Fprintf(&s, ", URL=\"%s\"", dotEscape(n.Link))
		}
		s.WriteString("];\n")
	}
	for _, e := range g.Edges {
		fmt.Fprintf(&s, "  %s -> %s [label=\"%s\"];\n", e.From, e.To, dotEscape(e.Label))
	}
	s.WriteString("}\n")
	return s.String()
}

func dotEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", " ").Replace(s)
}

// Mermaid is the graph as a Mermaid flowchart, left to right, which GitHub
// draws in Markdown inside a ```mermaid block. Labels are quoted, with
// quotes and Markdown-active characters written as entities.
func (g Graph) Mermaid() string {
	var s strings.Builder
	s.WriteString("flowchart LR\n")
	for _, n := range g.Nodes {
		label := n.Kind + ": " + mermaidEscape(n.Label)
		if n.Detail != "" {
			label += "<br/>" + mermaidEscape(n.Detail)
		}
		fmt.Fprintf(&s, "  %s[\"%s\"]\n", n.ID, label)
	}
	for _, e := range g.Edges {
		if e.Label == "" {
			fmt.Fprintf(&s, "  %s --> %s\n", e.From, e.To)
			continue
		}
		fmt.Fprintf(&s, "  %s -->|\"%s\"| %s\n", e.From, mermaidEscape(e.Label), e.To)
	}
	for _, n := range g.Nodes {
		if n.Link != "" {
			fmt.Fprintf(&s, "  click %s href \"%s\"\n", n.ID, mermaidEscape(n.Link))
		}
	}
	return s.String()
}

// mermaidEscape writes what would end a quoted label, open markup or
// break a line as Mermaid's entity codes (#34; for &#34;).
func mermaidEscape(s string) string {
	return strings.NewReplacer(`"`, "#34;", "<", "#60;", ">", "#62;", "\n", " ", "`", "#96;", "|", "#124;", "#", "#35;").Replace(s)
}

// githubRemote matches a GitHub remote in its https and scp-like forms.
var githubRemote = regexp.MustCompile(`^(?:https://(?:[^@/]+@)?github\.com/|(?:ssh://)?git@github\.com[:/])([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?$`)

// CommitURL is where a commit of the repo at remote can be seen in a
// browser, for GitHub remotes; empty for others (a local path, a host
// whose commit pages are not known).
func CommitURL(remote, revision string) string {
	if revision == "" {
		return ""
	}
	m := githubRemote.FindStringSubmatch(remote)
	if m == nil {
		return ""
	}
	return "https://github.com/" + url.PathEscape(m[1]) + "/" + url.PathEscape(m[2]) + "/commit/" + url.PathEscape(revision)
}

// FirstLine is s up to its first line break: a commit's subject.
func FirstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
