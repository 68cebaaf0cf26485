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
// model → endpoint, and commit → experiment → optimal trial. Chain.Graph
// and Outcome.Graph build it; `lineage trace -o
// dot|mermaid|json`, the merged-PR summary and the dashboard draw it.
type Graph struct {
	Nodes []Node `json:"nodes"`
	Edges []Edge `json:"edges"`
}

// Node is one thing of the walk. ID is unique in its graph and safe in DOT
// and Mermaid (n0, n1, ...); so is the pair of its Kind and Label.
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

// graphBuilder adds nodes once each, by their kind and label, and edges
// once each, by their ends: a graph has one node of a kind and label.
type graphBuilder struct {
	g   Graph
	ids map[string]string
}

func (b *graphBuilder) node(n Node) string {
	if b.ids == nil {
		b.ids = map[string]string{}
	}
	key := n.Kind + " " + n.Label
	if id, ok := b.ids[key]; ok {
		return id
	}
	n.ID = fmt.Sprintf("n%d", len(b.g.Nodes))
	b.ids[key] = n.ID
	b.g.Nodes = append(b.g.Nodes, n)
	return n.ID
}

func (b *graphBuilder) edge(from, to, label string) {
	for _, e := range b.g.Edges {
		if e.From == from && e.To == to {
			return
		}
	}
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
		commit = b.node(commitNode(*c.Creator))
		run = b.node(runNode(c.Endpoint.Cluster, *c.Producer, c.ProducerRecord.RunID))
	}
	model := b.node(Node{Kind: NodeModel, Label: c.ModelURI})
	endpoint := b.node(Node{
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
// its applies created, their artifacts, and the endpoints pinned to them;
// then the Katib Experiments its applies followed, with their optimal
// trials.
func (o Outcome) Graph() Graph {
	var b graphBuilder
	first := o.Applied[len(o.Applied)-1]
	commit := b.node(commitNode(first))
	for _, p := range o.Runs {
		run := b.node(runNode(p.Cluster, p.Run, p.Creator.RunID))
		b.edge(commit, run, "created by run "+p.Creator.RunID)
		for _, out := range p.Run.Outputs {
			if out.Kind != OutputArtifact {
				continue
			}
			model := b.node(Node{Kind: NodeModel, Label: out.Value})
			b.edge(run, model, "output "+out.Step+"/"+out.Name)
		}
		for _, sv := range p.Served {
			endpoint := b.node(Node{
				Kind: NodeEndpoint, Label: p.Cluster + "/" + sv.Pin.Namespace + "/" + sv.Pin.Endpoint, RunID: sv.Record.RunID,
			})
			from := run
			if sv.Pin.URI != "" {
				from = b.node(Node{Kind: NodeModel, Label: sv.Pin.URI})
				b.edge(run, from, "output "+sv.Pin.Step+"/"+sv.Pin.Artifact)
			}
			b.edge(from, endpoint, "serves, pinned by run "+sv.Record.RunID)
		}
	}
	for _, r := range o.Applied {
		for _, f := range r.Followed {
			if f.Kind != KindExperiment {
				continue
			}
			prefix := r.Cluster + "/" + f.Namespace + "/"
			exp := b.node(Node{Kind: NodeExperiment, Label: prefix + f.Name, Detail: f.Phase, RunID: r.RunID})
			b.edge(commit, exp, "followed by run "+r.RunID)
			if trial := optimalTrial(f); trial != "" {
				b.edge(exp, b.node(Node{Kind: NodeTrial, Label: prefix + trial, Detail: "best of the experiment", RunID: r.RunID}), "optimal trial")
			}
		}
	}
	return b.g
}

// optimalTrial is the trial an Experiment's outputs come from: their Step.
func optimalTrial(f Followed) string {
	for _, o := range f.Outputs {
		if o.Step != "" {
			return o.Step
		}
	}
	return ""
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

// hexRevision is a full or abbreviated commit hash.
var hexRevision = regexp.MustCompile(`^[0-9a-f]{7,64}$`)

// repoPath is a repository's path on a forge: owner/name, maybe groups.
var repoPath = regexp.MustCompile(`^[A-Za-z0-9_.~-]+(/[A-Za-z0-9_.~-]+)+$`)

// forges are the hosts whose commit pages CommitURL knows, by the path
// between the repository and the hash.
var forges = map[string]string{
	"github.com":    "/commit/",
	"gitlab.com":    "/-/commit/",
	"bitbucket.org": "/commits/",
	"codeberg.org":  "/commit/",
}

// CommitURL returns the page of commit revision of the repo at remote
// (https://, ssh://, or git@host:path) on its Git host, or "" when the
// host is not one it knows (a self-hosted server, a local directory) or
// revision is no commit hash. No credentials of remote are kept.
func CommitURL(remote, revision string) string {
	if !hexRevision.MatchString(revision) {
		return ""
	}
	host, path := hostPath(remote)
	sep, ok := forges[strings.ToLower(host)]
	if !ok || path == "" {
		return ""
	}
	path = strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	if !repoPath.MatchString(path) || strings.Contains(path, "..") {
		return ""
	}
	return "https://" + strings.ToLower(host) + "/" + path + sep + revision
}

// hostPath splits a Git URL into its host and the repository's path.
func hostPath(remote string) (string, string) {
	if u, err := url.Parse(remote); err == nil && u.Host != "" {
		switch u.Scheme {
		case "https", "http", "ssh", "git":
			return u.Hostname(), u.Path
		}
		return "", ""
	}
	// scp-like: [user@]host:path
	if at := strings.Index(remote, "@"); at >= 0 {
		rest := remote[at+1:]
		if host, path, ok := strings.Cut(rest, ":"); ok && !strings.Contains(host, "/") {
			return host, path
		}
	}
	return "", ""
}

// FirstLine is the first line of s without surrounding space: a commit's
// subject.
func FirstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
