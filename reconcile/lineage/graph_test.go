package lineage

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCommitURL(t *testing.T) {
	const sha = "ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12"
	for remote, want := range map[string]string{
		"https://github.com/ml/platform.git":            "https://github.com/ml/platform/commit/" + sha,
		"https://github.com/ml/platform":                "https://github.com/ml/platform/commit/" + sha,
		"https://x-access-token@github.com/ml/plat.git": "https://github.com/ml/plat/commit/" + sha,
		"git@github.com:ml/platform.git":                "https://github.com/ml/platform/commit/" + sha,
		"ssh://git@github.com/ml/platform.git":          "https://github.com/ml/platform/commit/" + sha,
		"https://git.example.com/ml/platform.git":       "",
		"/srv/git/platform":                             "",
		"https://github.com.evil.example/ml/platform":   "",
		"https://github.com/ml/platform/../../x":        "",
	} {
		assert.Equal(t, want, CommitURL(remote, sha), remote)
	}
	assert.Empty(t, CommitURL("https://github.com/ml/platform", ""))
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
