package render

// Hostile config repos: each case is an attack on the loader, tried as an
// attacker would (a repo, or a pull request's head, that trellis loads
// while it holds credentials). Each must be refused at path:line:col (or,
// for empty files, skipped), within a bounded time and allocation, with
// nothing read outside the repo (a canary file outside it must appear in
// no output) and no process started (a `git` on PATH records any call).

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// canary is the content of every file outside the repo that an attack
// points at.
const canary = "CANARY-outside-the-repo-5f3a"

const hostileCluster = `apiVersion: trellis.dev/v1alpha1
kind: Cluster
metadata: {name: dev}
spec: {namespaces: {ml: {quota: {cpu: 8, memory: 32Gi, gpu: 2}}}}
`

// embedPipeline is a CUE file whose Pipeline's env holds what @embed
// reads, attr being the attribute's arguments.
func embedPipeline(attr string) string {
	return `@extern(embed)

package nlp

import "trellis.dev/schema"

_leak: _ @embed(` + attr + `)

p: schema.#Pipeline & {
	metadata: name: "leak"
	spec: {cluster: "dev", namespace: "ml", steps: [{name: "a", image: "busybox", env: LEAK: "\(_leak)"}]}
}
`
}

// kustomization is a kustomization under clusters/dev/app with resources.
func kustomization(resources ...string) map[string]string {
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
	for _, r := range resources {
		k += "  - " + r + "\n"
	}
	return map[string]string{
		"clusters/dev/app/kustomization.yaml": k,
		"clusters/dev/app/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: ml}\n",
	}
}

// hostileCase is one attack: files of the repo besides cluster.yaml,
// setup for what Git cannot hold (symlinks, pipes), and what Dir must
// report: the problems (path:line:col: message, a message may end with
// "…" to match its start) or none.
type hostileCase struct {
	name   string
	files  map[string]string
	setup  func(t *testing.T, repo, outside string)
	limits Limits
	want   []string
}

// link makes a symlink at repo/name pointing to target.
func link(t *testing.T, repo, name, target string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(repo, name)), 0o755))
	require.NoError(t, os.Symlink(target, filepath.Join(repo, name)))
}

func hostileCases() []hostileCase {
	remote := func(name, ref, why string) hostileCase {
		return hostileCase{
			name:  "kustomize remote " + name,
			files: kustomization("cm.yaml", ref),
			want:  []string{fmt.Sprintf("clusters/dev/app/kustomization.yaml:5:5: resources: remote base %q is not allowed (%s): kustomizations may only use files inside the repository", ref, why)},
		}
	}
	return []hostileCase{
		{
			name:  "cue embed of a hidden symlink to a host file",
			files: map[string]string{"teams/nlp/p.cue": embedPipeline(`file=".s/p.txt", type=text`)},
			setup: func(t *testing.T, repo, outside string) {
				link(t, repo, "teams/nlp/.s/p.txt", filepath.Join(outside, "passwd"))
			},
			want: []string{`teams/nlp/p.cue:7:10: @embed file ".s/p.txt": symlink leaves the repository (points to $OUT/passwd); it is not followed`},
		},
		{
			name:  "cue embed through a link to the root",
			files: map[string]string{"teams/nlp/p.cue": embedPipeline(`file=".r/proc/self/environ", type=text`)},
			setup: func(t *testing.T, repo, _ string) { link(t, repo, "teams/nlp/.r", "/") },
			want:  []string{`teams/nlp/p.cue:7:10: @embed file ".r/proc/self/environ": teams/nlp/.r: symlink leaves the repository (points to /); it is not followed`},
		},
		{
			name: "cue embed of a link in an ignored directory",
			files: map[string]string{
				".trellisignore":  "vault/\n",
				"teams/nlp/p.cue": embedPipeline(`file="../../vault/key.txt", type=text`),
			},
			setup: func(t *testing.T, repo, outside string) {
				link(t, repo, "vault/key.txt", filepath.Join(outside, "passwd"))
			},
			want: []string{`teams/nlp/p.cue:7:10: @embed: cannot refer to parent directory`},
		},
		{
			name: "cue embed of a link in an ignored directory of the package",
			files: map[string]string{
				".trellisignore":  "teams/nlp/vault/\n",
				"teams/nlp/p.cue": embedPipeline(`file="vault/key.txt", type=text`),
			},
			setup: func(t *testing.T, repo, outside string) {
				link(t, repo, "teams/nlp/vault/key.txt", filepath.Join(outside, "passwd"))
			},
			want: []string{`teams/nlp/p.cue:7:10: @embed file "vault/key.txt": symlink leaves the repository (points to $OUT/passwd); it is not followed`},
		},
		{
			name:  "cue embed glob over links",
			files: map[string]string{"teams/nlp/p.cue": embedPipeline(`glob=".s/*.txt", type=text`)},
			setup: func(t *testing.T, repo, outside string) {
				link(t, repo, "teams/nlp/.s/p.txt", filepath.Join(outside, "passwd"))
			},
			want: []string{`teams/nlp/p.cue:7:10: @embed file ".s/p.txt": symlink leaves the repository (points to $OUT/passwd); it is not followed`},
		},
		{
			name:  "cue embed of /dev/zero",
			files: map[string]string{"teams/nlp/p.cue": embedPipeline(`file=".z.txt", type=text`)},
			setup: func(t *testing.T, repo, _ string) { link(t, repo, "teams/nlp/.z.txt", "/dev/zero") },
			want:  []string{`teams/nlp/p.cue:7:10: @embed file ".z.txt": symlink leaves the repository (points to /dev/zero); it is not followed`},
		},
		{
			name:  "cue embed of /dev/zero, the link seen by the walk",
			files: map[string]string{"teams/nlp/p.cue": embedPipeline(`file="z.txt", type=text`)},
			setup: func(t *testing.T, repo, _ string) { link(t, repo, "teams/nlp/z.txt", "/dev/zero") },
			want:  []string{`teams/nlp/z.txt:1:1: symlink leaves the repository (points to /dev/zero); it is not followed`},
		},
		{
			name:  "cue embed of a named pipe",
			files: map[string]string{"teams/nlp/p.cue": embedPipeline(`file=".pipe.txt", type=text`)},
			setup: func(t *testing.T, repo, _ string) {
				require.NoError(t, syscall.Mkfifo(filepath.Join(repo, "teams/nlp/.pipe.txt"), 0o644))
			},
			want: []string{`teams/nlp/p.cue:7:10: @embed file ".pipe.txt": not a regular file (a named pipe); only regular files, directories and symlinks to them inside the repository are read`},
		},
		{
			name:   "cue embed of a large file",
			files:  map[string]string{"teams/nlp/p.cue": embedPipeline(`file="big.txt", type=text`), "teams/nlp/big.txt": strings.Repeat("x", 100<<10)},
			limits: Limits{FileBytes: 64 << 10},
			want:   []string{`teams/nlp/p.cue:7:10: @embed file "big.txt": file is 100 KiB, over the limit of 64 KiB for one file`},
		},
		{
			name:  "cue embed under .git",
			files: map[string]string{"teams/nlp/p.cue": embedPipeline(`file=".git/config", type=text`), "teams/nlp/.git/config": "[remote]\n\turl = https://x:" + canary + "@example.com\n"},
			want:  []string{`teams/nlp/p.cue:7:10: @embed file ".git/config": files under .git are never read`},
		},
		{
			name:  "cue embed of an absolute path",
			files: map[string]string{"teams/nlp/p.cue": embedPipeline(`file="/etc/passwd", type=text`)},
			want:  []string{`teams/nlp/p.cue:7:10: @embed: only relative files are allowed`},
		},
		{
			name:  "cue file that is a link to a host file",
			files: map[string]string{"teams/nlp/ok.cue": "package nlp\n"},
			setup: func(t *testing.T, repo, outside string) {
				link(t, repo, "teams/nlp/p.cue", filepath.Join(outside, "passwd"))
			},
			want: []string{`teams/nlp/p.cue:1:1: symlink leaves the repository (points to $OUT/passwd); it is not followed`},
		},
		{
			name:  "cue.mod/module.cue linked to a host file",
			files: map[string]string{"teams/nlp/ok.cue": "package nlp\n"},
			setup: func(t *testing.T, repo, outside string) {
				link(t, repo, "cue.mod/module.cue", filepath.Join(outside, "passwd"))
			},
			want: []string{`cue.mod/module.cue:1:1: symlink leaves the repository (points to $OUT/passwd); it is not followed`},
		},
		{
			name:  "cue.mod/module.cue linked to /dev/zero",
			files: map[string]string{"teams/nlp/ok.cue": "package nlp\n"},
			setup: func(t *testing.T, repo, _ string) { link(t, repo, "cue.mod/module.cue", "/dev/zero") },
			want:  []string{`cue.mod/module.cue:1:1: symlink leaves the repository (points to /dev/zero); it is not followed`},
		},
		{
			name: "cue module dependency from a registry",
			files: map[string]string{
				"cue.mod/module.cue": "module: \"example.com/platform@v0\"\nlanguage: version: \"v0.12.0\"\ndeps: \"registry.example/lib@v0\": v: \"v0.1.0\"\n",
				"teams/nlp/p.cue":    "package nlp\n\nimport \"registry.example/lib\"\n\nx: lib.x\n",
			},
			want: []string{`teams/nlp/p.cue:3:8: …`},
		},
		{
			name:  "cue tool import",
			files: map[string]string{"teams/nlp/p.cue": "package nlp\n\nimport \"tool/exec\"\n\nrun: exec.Run & {cmd: \"id\"}\n"},
			want:  []string{`teams/nlp/p.cue:3:8: import "tool/exec": CUE tool packages are not allowed in a config repo`},
		},
		remote("scp-like", "deploy@host.example:org/repo", "an SSH address"),
		remote("github scp-like", "github.com:org/repo", "a GitHub repository"),
		remote("GITHUB.COM", "GITHUB.COM/org/repo", "a GitHub repository"),
		remote("with a timeout", "example.com/org/repo?timeout=3600", "a query, which only remote bases take"),
		remote("https", "https://example.com/org/repo.git", "a URL"),
		remote("git::", "git::https://example.com/org/repo", "a URL"),
		remote("host:path", "gitlab.example:org/repo", "a URL or host:path address"),
		{
			name: "kustomize remote-looking base that exists in the repo",
			files: func() map[string]string {
				files := kustomization("cm.yaml", "github.com/org/repo")
				files["clusters/dev/app/github.com/org/repo/kustomization.yaml"] = "resources: []\n"
				return files
			}(),
			want: []string{`clusters/dev/app/kustomization.yaml:5:5: resources: remote base "github.com/org/repo" is not allowed (a GitHub repository): kustomizations may only use files inside the repository`},
		},
		{
			name:  "kustomize file above its directory",
			files: mergeFiles(kustomization("cm.yaml", "../../../common/cm.yaml"), map[string]string{"common/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: s, namespace: ml, annotations: {trellis.dev/cluster: dev}}\n"}),
			want:  []string{`clusters/dev/app/kustomization.yaml:5:5: resources: file "../../../common/cm.yaml" is outside the kustomization's directory: a kustomization reads files only in or below its own directory (make the file's directory a base, with a kustomization of its own)`},
		},
		{
			name:  "kustomize resource linked to a host file",
			files: kustomization("cm.yaml", "leak.yaml"),
			setup: func(t *testing.T, repo, outside string) {
				link(t, repo, "clusters/dev/app/leak.yaml", filepath.Join(outside, "secret.yaml"))
			},
			want: []string{`clusters/dev/app/leak.yaml:1:1: symlink leaves the repository (points to $OUT/secret.yaml); it is not followed`},
		},
		{
			name:  "kustomize resource through a hidden link to a host directory",
			files: kustomization("cm.yaml", ".h/secret.yaml"),
			setup: func(t *testing.T, repo, outside string) { link(t, repo, "clusters/dev/app/.h", outside) },
			want:  []string{`clusters/dev/app/kustomization.yaml:5:5: resources: ".h/secret.yaml": clusters/dev/app/.h: symlink leaves the repository (points to $OUT); it is not followed`},
		},
		{
			name:  "kustomize resource that does not exist",
			files: kustomization("cm.yaml", "missing.yaml"),
			want:  []string{`clusters/dev/app/kustomization.yaml:5:5: resources: "missing.yaml" does not exist in the repository`},
		},
		{
			name: "kustomize generator file linked outside",
			files: map[string]string{
				"clusters/dev/app/kustomization.yaml": "configMapGenerator:\n  - name: g\n    namespace: ml\n    files: [key=.k.txt]\n",
			},
			setup: func(t *testing.T, repo, outside string) {
				link(t, repo, "clusters/dev/app/.k.txt", filepath.Join(outside, "passwd"))
			},
			want: []string{`clusters/dev/app/kustomization.yaml:4:13: configMapGenerator[].files: ".k.txt": symlink leaves the repository (points to $OUT/passwd); it is not followed`},
		},
		{
			name: ".trellisignore linked to a host file",
			setup: func(t *testing.T, repo, outside string) {
				link(t, repo, ".trellisignore", filepath.Join(outside, "passwd"))
			},
			want: []string{`.trellisignore:1:1: symlink leaves the repository (points to $OUT/passwd); it is not followed`},
		},
		{
			name:  ".trellisignore linked to /dev/zero",
			setup: func(t *testing.T, repo, _ string) { link(t, repo, "sub/.trellisignore", "/dev/zero") },
			want:  []string{`sub/.trellisignore:1:1: symlink leaves the repository (points to /dev/zero); it is not followed`},
		},
		{
			name:   ".trellisignore too large",
			files:  map[string]string{".trellisignore": strings.Repeat("# padding\n", 10<<10)},
			limits: Limits{FileBytes: 64 << 10},
			want:   []string{`.trellisignore:1:1: file is 100 KiB, over the limit of 64 KiB for one file`},
		},
		{
			name: "manifest linked to a host file",
			setup: func(t *testing.T, repo, outside string) {
				link(t, repo, "clusters/dev/leak.yaml", filepath.Join(outside, "secret.yaml"))
			},
			want: []string{`clusters/dev/leak.yaml:1:1: symlink leaves the repository (points to $OUT/secret.yaml); it is not followed`},
		},
		{
			name: "symlink loop",
			setup: func(t *testing.T, repo, _ string) {
				link(t, repo, "a.yaml", "b.yaml")
				link(t, repo, "b.yaml", "a.yaml")
			},
			want: []string{
				`a.yaml:1:1: symlink cannot be resolved: too many levels of symbolic links`,
				`b.yaml:1:1: symlink cannot be resolved: too many levels of symbolic links`,
			},
		},
		{
			name: "manifest that is a named pipe",
			setup: func(t *testing.T, repo, _ string) {
				require.NoError(t, syscall.Mkfifo(filepath.Join(repo, "pipe.yaml"), 0o644))
			},
			want: []string{`pipe.yaml:1:1: not a regular file (a named pipe); only regular files, directories and symlinks to them inside the repository are read`},
		},
		{
			name:  "a 5 MiB manifest",
			files: map[string]string{"clusters/dev/big.yaml": "# " + strings.Repeat("x", 5<<20) + "\n"},
			want:  []string{`clusters/dev/big.yaml:1:1: file is 5.0 MiB, over the limit of 4 MiB for one file`},
		},
		{
			name: "a repo over its limit",
			files: func() map[string]string {
				files := map[string]string{}
				for i := range 20 {
					files[fmt.Sprintf("pad/%02d.yaml", i)] = "# " + strings.Repeat("x", 10<<10) + "\n"
				}
				return files
			}(),
			limits: Limits{RepoBytes: 64 << 10},
			want:   []string{`pad/06.yaml:1:1: the repository holds more than 64 KiB to read, the limit for one repository; nothing more is read`},
		},
		{
			name: "too many files",
			files: func() map[string]string {
				files := map[string]string{}
				for i := range 50 {
					files[fmt.Sprintf("many/%02d.yaml", i)] = ""
				}
				return files
			}(),
			limits: Limits{Entries: 20},
			want:   []string{`many:1:1: the repository has more than 20 files and directories, the limit for one repository`},
		},
		{
			name: "empty and comment-only files are skipped",
			files: map[string]string{
				"empty.yaml": "", "comment.yaml": "# nothing yet\n", "empty.json": "", "blank.json": "\n  \n",
				"markers.yaml": "---\n# a comment\n---\n",
			},
		},
		{
			name: "two plain manifests with one identity (validate runs render's checks)",
			files: map[string]string{
				"clusters/dev/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: ml}\n",
				"clusters/dev/b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: ml}\n",
			},
			want: []string{`clusters/dev/b.yaml:1:1: ConfigMap/ml/x is also rendered from clusters/dev/a.yaml`},
		},
		{
			name: "a secret value in a CUE conflict",
			files: map[string]string{"teams/nlp/p.cue": `package nlp

import "trellis.dev/schema"

p: schema.#Pipeline & {
	metadata: name: "p"
	spec: {cluster: "dev", namespace: "ml", steps: [{name: "a", image: "busybox", env: DB_PASSWORD: "` + canary + `-rotated"}]}
}
p: spec: steps: [{env: DB_PASSWORD: "` + canary + `"}]
`},
			want: []string{`teams/nlp/p.cue:9:37: p.spec.steps[0].env.DB_PASSWORD: conflicting values <value elided> and <value elided>`},
		},
	}
}

func mergeFiles(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// recordingGit puts a git on PATH that records its calls, and returns the
// file it records them in.
func recordingGit(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	calls := filepath.Join(bin, "calls")
	script := "#!/bin/sh\necho \"$0 $*\" >> " + calls + "\nexit 1\n"
	for _, name := range []string{"git", "kustomize", "helm", "cue"} {
		require.NoError(t, os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755))
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return calls
}

// refusingRegistry points CUE's registry at a server that counts requests.
func refusingRegistry(t *testing.T) *atomic.Int32 {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		http.Error(w, "no", http.StatusNotFound)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("CUE_REGISTRY", strings.TrimPrefix(srv.URL, "http://")+"+insecure")
	return &n
}

// TestHostileRepos loads each attack and checks what it reports, that it
// read nothing outside the repo, started no process and reached no
// network, within a minute and 256 MiB of allocation.
func TestHostileRepos(t *testing.T) {
	calls := recordingGit(t)
	registry := refusingRegistry(t)
	t.Setenv("TRELLIS_CANARY_ENV", canary)
	for _, c := range hostileCases() {
		t.Run(c.name, func(t *testing.T) {
			outside := t.TempDir()
			for _, name := range []string{"passwd", "secret.yaml"} {
				require.NoError(t, os.WriteFile(filepath.Join(outside, name), []byte("apiVersion: v1\nkind: Secret\nmetadata: {name: "+canary+"}\n"), 0o644))
			}
			repo := t.TempDir()
			write(t, filepath.Join(repo, "cluster.yaml"), hostileCluster)
			for name, content := range c.files {
				write(t, filepath.Join(repo, filepath.FromSlash(name)), content)
			}
			if c.setup != nil {
				c.setup(t, repo, outside)
			}

			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			res, err := Dir(ctx, repo, Options{Revision: "r", Limits: c.limits})
			var after runtime.MemStats
			runtime.ReadMemStats(&after)

			require.NoError(t, ctx.Err(), "the load must end within its time")
			assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(256<<20), "allocated")
			var got []string
			for _, p := range Problems(err, repo, nil) {
				got = append(got, strings.ReplaceAll(p.String(), outside, "$OUT"))
			}
			if len(c.want) == 0 {
				require.NoError(t, err, "%v", got)
				require.NotNil(t, res)
			} else {
				require.Error(t, err)
				require.Len(t, got, len(c.want), "%q", got)
				for i, want := range c.want {
					if prefix, ok := strings.CutSuffix(want, "…"); ok {
						assert.True(t, strings.HasPrefix(got[i], prefix), "%q does not start with %q", got[i], prefix)
					} else {
						assert.Equal(t, want, got[i])
					}
				}
			}
			assert.NotContains(t, fmt.Sprint(got, err), canary, "a value from outside the repo, or a secret, is in a message")
		})
	}
	data, err := os.ReadFile(calls)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("processes started while loading: %s", data)
	}
	assert.Zero(t, registry.Load(), "requests to a CUE registry")
}

// TestHostileManyDocuments: a file of 120,000 junk documents reports 100
// problems and how many more there were, without finding them all.
func TestHostileManyDocuments(t *testing.T) {
	repo := t.TempDir()
	write(t, filepath.Join(repo, "cluster.yaml"), hostileCluster)
	write(t, filepath.Join(repo, "junk.yaml"), strings.Repeat("---\n- junk\n", 120_000))
	_, err := Dir(t.Context(), repo, Options{})
	problems := Problems(err, repo, nil)
	require.Len(t, problems, DefaultProblems+1)
	last := problems[DefaultProblems]
	assert.Equal(t, 300, last.More)
	assert.Equal(t, "… and 300 more problems", last.String())
	assert.Equal(t, "junk.yaml:2:1: not a trellis declaration or a Kubernetes object: want a mapping with apiVersion and kind", problems[0].String())
}

// TestHostileStopped: a load stops when its context ends, even in the
// middle of a CUE evaluation, with an error that says why.
func TestHostileStopped(t *testing.T) {
	repo := t.TempDir()
	write(t, filepath.Join(repo, "cluster.yaml"), hostileCluster)
	write(t, filepath.Join(repo, "teams/slow.cue"), "package teams\n\nimport \"list\"\n\nn: [for i in list.Range(0, 120, 1) for j in list.Range(0, 120, 1) {i * j}]\n")
	ctx, cancel := context.WithTimeoutCause(t.Context(), 50*time.Millisecond, errors.New("the render timeout expired"))
	defer cancel()
	_, err := Dir(ctx, repo, Options{})
	require.ErrorIs(t, err, ErrStopped)
	assert.EqualError(t, err, "render stopped: the render timeout expired")

	cancelled, cancelNow := context.WithCancel(t.Context())
	cancelNow()
	_, err = Dir(cancelled, repo, Options{})
	require.ErrorIs(t, err, context.Canceled)
}
