package main

// Golden tests of the command line: each case runs the CLI in-process, as a
// user would from a shell, and compares its exit code, standard output and
// standard error with a golden file under testdata/golden. Run with UPDATE=1
// to rewrite the golden files from what the CLI prints now, then review the
// diff.
//
// A golden file is a small txtar-like archive: comment lines naming the
// command, then one section per stream:
//
//	# trellis validate examples
//	-- exit --
//	0
//	-- stdout --
//	...
//	-- stderr --
//	...
//
// Every directory under testdata/invalid is a tiny config repo that is
// invalid in one way (multi-error in several); it is copied to a temporary
// directory and validated there, and its errors are pinned in
// testdata/golden/invalid/<case>.golden.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	goldenDir  = "testdata/golden"
	invalidDir = "testdata/invalid"
	// moduleRoot is the repository's root, relative to this package.
	moduleRoot = "../.."
	// pinnedRevision makes rendered objects independent of the checkout.
	pinnedRevision = "0123456789abcdef0123456789abcdef01234567"
)

// updateGolden reports whether golden files are to be rewritten.
func updateGolden() bool { return os.Getenv("UPDATE") == "1" }

// cliResult is what one run of the CLI produced.
type cliResult struct {
	exit           int
	stdout, stderr string
}

// runCLI runs trellis with args in dir and returns what it printed, with
// every occurrence of the absolute paths in placeholders (value: the path)
// replaced by their key, so that output does not depend on the machine.
func runCLI(t *testing.T, dir string, args []string, placeholders map[string]string) cliResult {
	t.Helper()
	t.Chdir(dir)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return cliResult{
		exit:   code,
		stdout: replacePaths(stdout.String(), placeholders),
		stderr: replacePaths(stderr.String(), placeholders),
	}
}

// replacePaths replaces each path (as given and with symlinks resolved) by
// its placeholder, longest paths first.
func replacePaths(s string, placeholders map[string]string) string {
	type pair struct{ path, name string }
	var pairs []pair
	for name, p := range placeholders {
		pairs = append(pairs, pair{p, name})
		if real, err := filepath.EvalSymlinks(p); err == nil && real != p {
			pairs = append(pairs, pair{real, name})
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int { return len(b.path) - len(a.path) })
	for _, p := range pairs {
		s = strings.ReplaceAll(s, p.path, p.name)
	}
	return s
}

// goldenSections are the sections of a golden file, in order.
var goldenSections = []string{"exit", "stdout", "stderr"}

// format returns the golden file text of r, under a comment.
func (r cliResult) format(comment string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(comment, "\n"), "\n") {
		b.WriteString("# " + line + "\n")
	}
	for _, name := range goldenSections {
		b.WriteString("-- " + name + " --\n")
		b.WriteString(sectionText(r.section(name)))
	}
	return b.String()
}

func (r cliResult) section(name string) string {
	switch name {
	case "exit":
		return strconv.Itoa(r.exit) + "\n"
	case "stdout":
		return r.stdout
	default:
		return r.stderr
	}
}

// sectionText ends non-empty text with a newline, as txtar does: the CLI
// ends every line it prints, so nothing is lost.
func sectionText(s string) string {
	if s != "" && !strings.HasSuffix(s, "\n") {
		return s + "\n"
	}
	return s
}

var sectionMarker = regexp.MustCompile(`(?m)^-- ([a-z]+) --\n`)

// parseGolden splits a golden file into its sections by name.
func parseGolden(text string) map[string]string {
	sections := map[string]string{}
	marks := sectionMarker.FindAllStringSubmatchIndex(text, -1)
	for i, m := range marks {
		end := len(text)
		if i+1 < len(marks) {
			end = marks[i+1][0]
		}
		sections[text[m[2]:m[3]]] = text[m[1]:end]
	}
	return sections
}

// checkGolden compares r with the golden file at path, or rewrites it when
// UPDATE=1.
func checkGolden(t *testing.T, path, comment string, r cliResult) {
	t.Helper()
	got := r.format(comment)
	if updateGolden() {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	data, err := os.ReadFile(path)
	require.NoError(t, err, "golden file missing: run UPDATE=1 go test ./cmd/trellis/")
	want := string(data)
	if got == want {
		return
	}
	wantSections := parseGolden(want)
	sectionsEqual := true
	for _, name := range goldenSections {
		sectionsEqual = assert.Equal(t, wantSections[name], sectionText(r.section(name)),
			"%s: section %q differs (run UPDATE=1 go test ./cmd/trellis/ to accept)", path, name) && sectionsEqual
	}
	if sectionsEqual {
		assert.Equal(t, want, got, "%s differs (run UPDATE=1 go test ./cmd/trellis/ to accept)", path)
	}
}

// absolute returns the absolute form of a path relative to this package.
func absolute(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(rel)
	require.NoError(t, err)
	return p
}

// TestGoldenExamples pins validate and render of examples/, run from the
// repository's root as its README shows.
func TestGoldenExamples(t *testing.T) {
	root := absolute(t, moduleRoot)
	cases := []struct {
		name string
		args []string
	}{
		{"validate-examples", []string{"validate", "examples"}},
		{"render-examples", []string{"render", "examples", "--revision", pinnedRevision}},
		{"render-examples-json", []string{"render", "examples", "--revision", pinnedRevision, "-o", "json"}},
		{"render-examples-staging", []string{"render", "examples", "--revision", pinnedRevision, "--cluster", "staging"}},
		{"render-examples-unknown-cluster", []string{"render", "examples", "--revision", pinnedRevision, "--cluster", "nope"}},
		{"render-bad-output", []string{"render", "examples", "-o", "xml"}},
		{"validate-no-args", []string{"validate"}},
		{"schema-unknown-kind", []string{"schema", "--kind", "Nope"}},
		{"render-examples-misspelt-cluster", []string{"render", "examples", "--revision", pinnedRevision, "--cluster", "stagin"}},
		{"render-examples-name", []string{"render", "examples", "--revision", pinnedRevision, "--cluster", "staging", "-o", "name"}},
		{"schema-kind-any-case", []string{"schema", "--kind", "endpoint"}},
		{"schema-misspelt-kind", []string{"schema", "--kind", "Pipelnie"}},
		{"validate-examples-json", []string{"validate", "-o", "json", "examples"}},
		{"validate-json-invalid", []string{"validate", "-o", "json", "cmd/trellis/testdata/invalid/limit-below-request"}},
		{"validate-github", []string{"validate", "--format", "github", "cmd/trellis/testdata/invalid/experiment-placeholders"}},
		{"validate-bad-output", []string{"validate", "-o", "xml", "examples"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			golden := absolute(t, filepath.Join(goldenDir, c.name+".golden"))
			r := runCLI(t, root, c.args, map[string]string{"$ROOT": root})
			checkGolden(t, golden, "trellis "+strings.Join(c.args, " "), r)
		})
	}
}

// TestGoldenRenderJSONIsAList checks that -o json prints one v1 List whose
// items are the objects the YAML output prints, in the same order.
func TestGoldenRenderJSONIsAList(t *testing.T) {
	root := absolute(t, moduleRoot)
	r := runCLI(t, root, []string{"render", "examples", "--revision", pinnedRevision, "-o", "json"}, nil)
	require.Equal(t, 0, r.exit, r.stderr)
	var list struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Items      []struct {
			Kind string `json:"kind"`
		} `json:"items"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &list))
	assert.Equal(t, "v1", list.APIVersion)
	assert.Equal(t, "List", list.Kind)

	y := runCLI(t, root, []string{"render", "examples", "--revision", pinnedRevision}, nil)
	require.Equal(t, 0, y.exit, y.stderr)
	var yamlKinds []string
	for _, line := range strings.Split(y.stdout, "\n") {
		if k, ok := strings.CutPrefix(line, "kind: "); ok {
			yamlKinds = append(yamlKinds, k)
		}
	}
	var jsonKinds []string
	for _, it := range list.Items {
		jsonKinds = append(jsonKinds, it.Kind)
	}
	assert.Equal(t, yamlKinds, jsonKinds)
}

// TestGoldenExamplesRenderEveryKind checks that the examples render every
// kind of object the README promises, so that a change to the examples
// cannot silently drop one.
func TestGoldenExamplesRenderEveryKind(t *testing.T) {
	root := absolute(t, moduleRoot)
	r := runCLI(t, root, []string{"render", "examples", "--revision", pinnedRevision}, nil)
	require.Equal(t, 0, r.exit, r.stderr)
	for _, want := range []string{
		"apiVersion: v1\nkind: Namespace\n",
		"apiVersion: v1\nkind: ResourceQuota\n",
		"apiVersion: v1\nkind: LimitRange\n",
		"apiVersion: v1\nkind: ServiceAccount\n",
		"apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\n",
		"apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\n",
		"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n",
		"apiVersion: argoproj.io/v1alpha1\nkind: WorkflowTemplate\n",
		"apiVersion: argoproj.io/v1alpha1\nkind: CronWorkflow\n",
		"apiVersion: argoproj.io/v1alpha1\nkind: Workflow\n",
		"apiVersion: kubeflow.org/v1beta1\nkind: Experiment\n",
		"kind: PyTorchJob\n",
		"apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\n",
		"trellis.dev/model-from: mnist-train/train/model\n",
		"trellis.dev/source-path: clusters/prod/monitoring/kustomization.yaml\n",
		"trellis.dev/source-path: clusters/staging/manifests/feature-flags.yaml\n",
		"trellis.dev/source-path: teams/nlp/tokenizer-config.yaml\n",
	} {
		assert.Contains(t, r.stdout, want)
	}
}

// TestGoldenSchema checks that schema prints a JSON Schema defining every
// kind (its text is too big to pin), and that examples/trellis.schema.json,
// which the examples' YAML files point editors at, is what it prints.
func TestGoldenSchema(t *testing.T) {
	root := absolute(t, moduleRoot)
	r := runCLI(t, root, []string{"schema"}, nil)
	require.Equal(t, 0, r.exit, r.stderr)
	assert.Empty(t, r.stderr)
	var doc struct {
		Defs map[string]json.RawMessage `json:"$defs"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &doc), "schema prints invalid JSON")
	for _, kind := range []string{"Cluster", "Pipeline", "Experiment", "Endpoint"} {
		assert.Contains(t, doc.Defs, kind)
	}

	committed := filepath.Join(root, "examples", "trellis.schema.json")
	if updateGolden() {
		require.NoError(t, os.WriteFile(committed, []byte(r.stdout), 0o644))
		return
	}
	data, err := os.ReadFile(committed)
	require.NoError(t, err)
	assert.Equal(t, r.stdout, string(data), "examples/trellis.schema.json is stale: run UPDATE=1 go test ./cmd/trellis/")
}

// invalidSetup prepares the copy of a case that git cannot hold as it is.
var invalidSetup = map[string]func(t *testing.T, repo string){
	// A symlink inside the repo to a file outside it. The link is relative,
	// so that the message does not depend on where the test runs.
	"symlink-escape": func(t *testing.T, repo string) {
		outside := filepath.Join(filepath.Dir(repo), "outside.yaml")
		require.NoError(t, os.WriteFile(outside, []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: stolen\n"), 0o644))
		require.NoError(t, os.Symlink("../../../outside.yaml", filepath.Join(repo, "clusters", "dev", "leak.yaml")))
	},
	// An @embed of a hidden link to a file outside the repository.
	"cue-embed-outside": func(t *testing.T, repo string) {
		outside := filepath.Join(filepath.Dir(repo), "token.txt")
		require.NoError(t, os.WriteFile(outside, []byte("a token from outside\n"), 0o644))
		require.NoError(t, os.MkdirAll(filepath.Join(repo, "teams", "nlp", ".s"), 0o755))
		require.NoError(t, os.Symlink("../../../../token.txt", filepath.Join(repo, "teams", "nlp", ".s", "token.txt")))
	},
}

// TestGoldenInvalid validates each repo under testdata/invalid and pins the
// problems trellis reports.
func TestGoldenInvalid(t *testing.T) {
	entries, err := os.ReadDir(invalidDir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	require.GreaterOrEqual(t, len(names), 18)
	for name := range invalidSetup {
		require.Contains(t, names, name, "invalidSetup names a case that does not exist")
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			golden := absolute(t, filepath.Join(goldenDir, "invalid", name+".golden"))
			work := t.TempDir()
			repo := filepath.Join(work, name)
			require.NoError(t, os.CopyFS(repo, os.DirFS(filepath.Join(invalidDir, name))))
			if setup := invalidSetup[name]; setup != nil {
				setup(t, repo)
			}
			r := runCLI(t, work, []string{"validate", name}, map[string]string{"$TMP": work})
			assert.Equal(t, exitFailed, r.exit, "an invalid repo must fail validation")
			assert.Empty(t, r.stdout, "problems go to stderr")
			comment := fmt.Sprintf("trellis validate %s\n(in a copy of cmd/trellis/%s/%s)", name, invalidDir, name)
			checkGolden(t, golden, comment, r)
		})
	}
	// Every golden file of this test has its case.
	goldens, err := filepath.Glob(filepath.Join(goldenDir, "invalid", "*.golden"))
	require.NoError(t, err)
	for _, g := range goldens {
		assert.Contains(t, names, strings.TrimSuffix(filepath.Base(g), ".golden"), "golden file without a case: %s", g)
	}
}
