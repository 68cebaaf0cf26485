package examples

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"trellis.dev/trellis/test/controlplane"
)

// TestWorkflowGivesForksNoCredentials reads the Actions example: the step
// that writes the kubeconfig runs only for a pull request from the
// repository itself, and no step checks out the pull request's code.
func TestWorkflowGivesForksNoCredentials(t *testing.T) {
	root, err := controlplane.RepoRoot()
	require.NoError(t, err)
	data, err := os.ReadFile(filepath.Join(root, "examples", ".github", "workflows", "trellis-pr.yaml"))
	require.NoError(t, err)
	var wf struct {
		Jobs map[string]struct {
			Steps []struct {
				Name string            `json:"name"`
				If   string            `json:"if"`
				Uses string            `json:"uses"`
				With map[string]string `json:"with"`
				Env  map[string]string `json:"env"`
				Run  string            `json:"run"`
			} `json:"steps"`
		} `json:"jobs"`
	}
	require.NoError(t, yaml.Unmarshal(data, &wf))
	credentialSteps := 0
	for _, job := range wf.Jobs {
		for _, s := range job.Steps {
			text := strings.Join([]string{s.Run, strings.Join(values(s.Env), " "), strings.Join(values(s.With), " ")}, " ")
			if strings.Contains(text, "secrets.TRELLIS_KUBECONFIG") {
				credentialSteps++
				assert.Equal(t, "github.event.pull_request.head.repo.full_name == github.repository", s.If, "step %q hands cluster credentials to a fork's check", s.Name)
			}
			if strings.HasPrefix(s.Uses, "actions/checkout") {
				assert.Equal(t, "${{ env.TRELLIS_SOURCE }}", s.With["repository"], "step %q checks out something other than trellis's source", s.Name)
				assert.NotContains(t, s.With["ref"], "github.event.pull_request", "step %q checks out the pull request", s.Name)
			}
		}
	}
	assert.Equal(t, 1, credentialSteps)
}

func values(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
