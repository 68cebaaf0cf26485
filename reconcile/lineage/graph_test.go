package lineage

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCommitURL(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct{ repo, want string }{
		{"https://github.com/acme/ml-config.git", "https://github.com/acme/ml-config/commit/" + sha},
		{"https://github.com/acme/ml-config", "https://github.com/acme/ml-config/commit/" + sha},
		{"https://x-access-token:s3cr3t@github.com/acme/ml-config.git", "https://github.com/acme/ml-config/commit/" + sha},
		{"https://x-access-token@github.com/acme/ml-config.git", "https://github.com/acme/ml-config/commit/" + sha},
		{"git@github.com:acme/ml-config.git", "https://github.com/acme/ml-config/commit/" + sha},
		{"ssh://git@github.com/acme/ml-config.git", "https://github.com/acme/ml-config/commit/" + sha},
		{"https://gitlab.com/group/sub/repo.git", "https://gitlab.com/group/sub/repo/-/commit/" + sha},
		{"https://git.internal.example/acme/ml-config.git", ""}, // a host it does not know
		{"https://github.com.evil.example/acme/ml-config", ""},
		{"/srv/git/config", ""},
		{"file:///srv/git/config", ""},
		{"http://127.0.0.1:4321/config.git", ""},
		{"https://github.com/acme", ""},                                                           // no repository
		{"https://github.com/acme/../evil/repo", ""},                                              // no climbing
		{"https://github.com/acme/ml-config/../../x", ""},                                         // nor out of the repository
		{"javascript://github.com/acme/repo", ""},                                                 // only Git's schemes
		{"https://github.com/acme/repo?x=<script>", "https://github.com/acme/repo/commit/" + sha}, // the query is dropped
	} {
		assert.Equal(t, tc.want, CommitURL(tc.repo, sha), tc.repo)
	}
	assert.Empty(t, CommitURL("https://github.com/acme/repo", ""), "no revision")
	assert.Empty(t, CommitURL("https://github.com/acme/repo", "main"), "a branch name is no commit")
	assert.Empty(t, CommitURL("https://github.com/acme/repo", "<script>"), "nor is markup")
}

// FuzzCommitURL: whatever a record says its repo URL is, a link is none
// or an https page of a known host, with nothing a page could misread.
func FuzzCommitURL(f *testing.F) {
	for _, s := range []string{"https://github.com/acme/r.git", "git@gitlab.com:g/s/r.git", "ssh://git@codeberg.org/a/b",
		"https://github.com/a/../b", "javascript:alert(1)", "https://github.com/a/b?<script>", "git@github.com:a/b\"c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, repo string) {
		got := CommitURL(repo, "0123456789abcdef0123456789abcdef01234567")
		if got == "" {
			return
		}
		known := false
		for host := range forges {
			known = known || strings.HasPrefix(got, "https://"+host+"/")
		}
		if !known || strings.ContainsAny(got, "\"'<> \\?#\n\r\t") || strings.Contains(got, "..") || strings.Contains(got, "@") {
			t.Fatalf("CommitURL(%q) = %q", repo, got)
		}
	})
}

func TestFirstLine(t *testing.T) {
	assert.Equal(t, "train iris", FirstLine("\n  train iris\n\nwith more trees\n"))
	assert.Equal(t, "", FirstLine(""))
}

// TestGraphEscapes shows that a hostile commit message cannot end a label
// or open markup in DOT or Mermaid.
func TestGraphEscapes(t *testing.T) {
	g := Graph{Nodes: []Node{
		{ID: "n0", Kind: NodeCommit, Label: "ab12cd3", Detail: `x"] --> evil["<script>|#`},
		{ID: "n1", Kind: NodeRun, Label: `a\"b`},
	}, Edges: []Edge{{From: "n0", To: "n1", Label: `"|`}}}
	assert.Equal(t, "flowchart LR\n"+
		"  n0[\"commit: ab12cd3<br/>x#34;] --#62; evil[#34;#60;script#62;#124;#35;\"]\n"+
		"  n1[\"run: a\\#34;b\"]\n"+
		"  n0 -->|\"#34;#124;\"| n1\n", g.Mermaid())
	assert.Equal(t, "digraph lineage {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n"+
		"  n0 [label=\"commit\\nab12cd3\\nx\\\"] --> evil[\\\"<script>|#\"];\n"+
		"  n1 [label=\"run\\na\\\\\\\"b\"];\n"+
		"  n0 -> n1 [label=\"\\\"|\"];\n}\n", g.DOT())
}

// TestOutcomeGraphExperiments: the experiments a commit's applies
// followed hang off the commit, each with its optimal trial, once each
// however many applies followed them.
func TestOutcomeGraphExperiments(t *testing.T) {
	const rev = "0123456789abcdef0123456789abcdef01234567"
	exp := Followed{Kind: KindExperiment, Namespace: "ml", Name: "tune", Phase: "Succeeded",
		Outputs: []Output{{Step: "tune-x7k2", Kind: OutputParameter, Name: "lr", Value: "0.01"}}}
	recs := []Record{
		{RunID: "r2", Cluster: "staging", Source: Source{Revision: rev}, Followed: []Followed{exp}},
		{RunID: "r1", Cluster: "staging", Source: Source{Revision: rev, Message: "tune\n"}, Followed: []Followed{exp}},
	}
	out, err := Forward(recs, rev[:7])
	require.NoError(t, err)
	g := out.Graph()
	assert.Equal(t, []Node{
		{ID: "n0", Kind: NodeCommit, Label: rev[:7], Detail: "tune", RunID: "r1"},
		{ID: "n1", Kind: NodeExperiment, Label: "staging/ml/tune", Detail: "Succeeded", RunID: "r2"},
		{ID: "n2", Kind: NodeTrial, Label: "staging/ml/tune-x7k2", Detail: "best of the experiment", RunID: "r2"},
	}, g.Nodes)
	assert.Equal(t, []Edge{{From: "n0", To: "n1", Label: "followed by run r2"}, {From: "n1", To: "n2", Label: "optimal trial"}}, g.Edges)
}
