package render

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Fuzz targets over the walker and the loader on trees with symlinks: a
// fuzzed script builds a repo of files, directories, named pipes and
// symlinks pointing anywhere (inside the repo, out of it, to /, to
// /dev/zero), next to a directory of canary files outside it. Whatever
// the tree, the walk and the load end, never panic, give positioned
// problems with messages, list only files inside the repo, and never show
// a canary.

const fuzzCanary = "FUZZ-CANARY-outside"

// fuzzSeeds are tree scripts: one entry a line, "f PATH CONTENT" (\n in
// CONTENT is a newline), "d PATH", "l PATH TARGET", "p PATH" (a pipe).
var fuzzSeeds = []string{
	"f cluster.yaml apiVersion: trellis.dev/v1alpha1\\nkind: Cluster\\nmetadata: {name: dev}\\nspec: {namespaces: {ml: {}}}\\n",
	"l clusters/dev/leak.yaml ../../../outside/secret.yaml",
	"l .r /\nf p.cue @extern(embed)\\npackage p\\nx: _ @embed(file=\".r/etc/hostname\", type=text)\\n",
	"l .s ../outside\nf p.cue @extern(embed)\\npackage p\\nx: _ @embed(glob=\".s/*.yaml\")\\n",
	"l z.yaml /dev/zero",
	"l a.yaml b.yaml\nl b.yaml a.yaml",
	"d base\nf base/kustomization.yaml resources: [cm.yaml]\\n\nf base/cm.yaml apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: cm}\\n\nf clusters/dev/app/kustomization.yaml resources: [../../../base, github.com:org/repo]\\n",
	"l clusters/dev/app ../../outside\nf clusters/dev/x.yaml apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: x}\\n",
	"l .trellisignore ../outside/secret.yaml",
	"l cue.mod/module.cue /dev/zero\nf p.cue package p\\n",
	"p pipe.yaml",
	"l in.yaml sub/real.yaml\nf sub/real.yaml apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: r, annotations: {trellis.dev/cluster: dev}}\\n",
}

// fuzzTree builds the tree of script in a new directory and returns the
// repo and the directory outside it.
func fuzzTree(t *testing.T, script string) (repo, outside string) {
	dir := t.TempDir()
	repo, outside = filepath.Join(dir, "repo"), filepath.Join(dir, "outside")
	for _, d := range []string{repo, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range map[string]string{
		"secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata: {name: " + fuzzCanary + "}\n",
		"p.cue":       "package p\n\nx: \"" + fuzzCanary + "\"\n",
	} {
		if err := os.WriteFile(filepath.Join(outside, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(script, "\n")
	if len(lines) > 32 {
		lines = lines[:32]
	}
	for _, line := range lines {
		kind, rest, _ := strings.Cut(line, " ")
		name, arg, _ := strings.Cut(rest, " ")
		if !filepath.IsLocal(name) || len(name) > 128 {
			continue // the script builds inside the repo; targets may go anywhere
		}
		p := filepath.Join(repo, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			continue // a file or a link is in the way
		}
		switch kind {
		case "f":
			_ = os.WriteFile(p, []byte(strings.ReplaceAll(arg, `\n`, "\n")), 0o644)
		case "d":
			_ = os.MkdirAll(p, 0o755)
		case "l":
			_ = os.Symlink(arg, p)
		case "p":
			_ = syscall.Mkfifo(p, 0o644)
		}
	}
	return repo, outside
}

func addFuzzSeeds(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
}

// FuzzWalk walks fuzzed trees: every file it lists is a regular file
// inside the repo (through symlinks that stay in it).
func FuzzWalk(f *testing.F) {
	addFuzzSeeds(f)
	f.Fuzz(func(t *testing.T, script string) {
		repo, _ := fuzzTree(t, script)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		v, err := openView(ctx, repo, Limits{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer v.close()
		errs := newErrorList(DefaultProblems)
		tr := walk(v, errs)
		for _, rel := range tr.files {
			info, err := v.stat(rel)
			if err != nil || !info.Mode().IsRegular() {
				t.Fatalf("walk listed %s, which the view refuses: %v", rel, err)
			}
			real, err := filepath.EvalSymlinks(filepath.Join(repo, rel))
			if err != nil || !strings.HasPrefix(real, v.dir+string(filepath.Separator)) {
				t.Fatalf("walk listed %s, outside the repo (%s)", rel, real)
			}
		}
		for _, p := range Problems(errs.err(), repo, nil) {
			if p.Message == "" {
				t.Fatalf("empty message in %v", errs.err())
			}
		}
		if ctx.Err() != nil {
			t.Fatal("the walk did not end within a minute")
		}
	})
}

// FuzzLoadTree loads and renders fuzzed trees: the load ends, its
// problems have messages, and nothing from outside the repo shows in
// them or in what it rendered.
func FuzzLoadTree(f *testing.F) {
	addFuzzSeeds(f)
	f.Fuzz(func(t *testing.T, script string) {
		repo, _ := fuzzTree(t, script)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		res, err := Dir(ctx, repo, Options{Revision: "r", Limits: Limits{FileBytes: 1 << 20, RepoBytes: 4 << 20}})
		if ctx.Err() != nil {
			t.Fatal("the load did not end within a minute")
		}
		var out bytes.Buffer
		for _, p := range Problems(err, repo, nil) {
			if p.Message == "" {
				t.Fatalf("empty message in %v", err)
			}
			out.WriteString(p.String() + "\n")
		}
		if res != nil {
			for _, c := range res.Clusters {
				for _, o := range c.Objects {
					b, _ := o.MarshalJSON()
					out.Write(b)
				}
			}
		}
		if bytes.Contains(out.Bytes(), []byte(fuzzCanary)) {
			t.Fatalf("read outside the repo:\n%s", out.String())
		}
	})
}
