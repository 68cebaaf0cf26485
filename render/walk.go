package render

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
)

// IgnoreFile holds gitignore-style patterns of paths trellis skips. It may
// sit in any directory; its patterns apply below it.
const IgnoreFile = ".trellisignore"

// kustomizationNames are the file names that make a directory a kustomization.
var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// tree is what a walk of the config repo found.
type tree struct {
	// root is the repo's absolute path with symlinks resolved.
	root string
	// manifests are YAML and JSON files, relative to root with '/'.
	manifests []string
	// cueDirs are directories holding .cue files, relative to root.
	cueDirs []string
	// kustomizations are directories holding a kustomization file that is
	// not below another one.
	kustomizations []string
	// allKustomizations are all directories holding a kustomization file.
	allKustomizations []string
	// files are all regular files walked (and symlinks to files inside the
	// repo), for kustomize's in-memory filesystem.
	files []string
}

// walk lists the files of the repo at root, skipping hidden entries,
// cue.mod and ignored paths. Files below a kustomization are left to
// kustomize. Every symlink is checked: one that leaves the repo (or dangles)
// is an error, and nothing it points to is read.
func walk(root string) (*tree, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return nil, err
	}
	t := &tree{root: abs}
	var errs errorList
	var patterns []gitignore.Pattern
	matcher := gitignore.NewMatcher(nil)
	var kustomizeDirs []string
	cueDirs := map[string]bool{}

	err = filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(mustRel(abs, p))
		if rel == "." {
			rel = ""
		}
		name := d.Name()
		if rel != "" && (strings.HasPrefix(name, ".") || (d.IsDir() && name == "cue.mod")) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		parts := splitRel(rel)
		if rel != "" && matcher.Match(parts, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			isDir, ok := checkSymlink(abs, p, rel, &errs)
			if !ok || isDir {
				return nil // directories are walked where they really are
			}
		}
		if d.IsDir() {
			if ps := readIgnore(p, parts); len(ps) > 0 {
				patterns = append(patterns, ps...)
				matcher = gitignore.NewMatcher(patterns)
			}
			if isKustomization(p) {
				kustomizeDirs = append(kustomizeDirs, rel)
				if !underAny(rel, kustomizeDirs[:len(kustomizeDirs)-1]) {
					t.kustomizations = append(t.kustomizations, rel)
				}
			}
			return nil
		}
		t.files = append(t.files, rel)
		if underAny(rel, kustomizeDirs) {
			return nil
		}
		switch strings.ToLower(path.Ext(name)) {
		case ".yaml", ".yml", ".json":
			t.manifests = append(t.manifests, rel)
		case ".cue":
			cueDirs[path.Dir(rel)] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	t.allKustomizations = kustomizeDirs
	for d := range cueDirs {
		t.cueDirs = append(t.cueDirs, d)
	}
	sort.Strings(t.cueDirs)
	return t, errs.err()
}

// checkSymlink reports whether the symlink at p resolves inside root, and
// whether it is a directory. Only link metadata is read, never content.
func checkSymlink(root, p, rel string, errs *errorList) (isDir, ok bool) {
	target, err := filepath.EvalSymlinks(p)
	if err != nil {
		errs.add(fileError(rel, "symlink cannot be resolved: %v", unwrapPathError(err)))
		return false, false
	}
	if !within(root, target) {
		link, _ := os.Readlink(p)
		errs.add(fileError(rel, "symlink leaves the repository (points to %s); it is not followed", link))
		return false, false
	}
	info, err := os.Stat(target)
	if err != nil {
		errs.add(fileError(rel, "symlink cannot be resolved: %v", unwrapPathError(err)))
		return false, false
	}
	return info.IsDir(), true
}

func readIgnore(dir string, domain []string) []gitignore.Pattern {
	data, err := os.ReadFile(filepath.Join(dir, IgnoreFile))
	if err != nil {
		return nil
	}
	var ps []gitignore.Pattern
	s := bufio.NewScanner(bytes.NewReader(data))
	for s.Scan() {
		line := strings.TrimRight(s.Text(), " \t\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		ps = append(ps, gitignore.ParsePattern(line, domain))
	}
	return ps
}

func isKustomization(dir string) bool {
	for _, n := range kustomizationNames {
		if info, err := os.Lstat(filepath.Join(dir, n)); err == nil && info.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// within reports whether path p is root or below it.
func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

func underAny(rel string, dirs []string) bool {
	for _, d := range dirs {
		if d == "" || rel == d || strings.HasPrefix(rel, d+"/") {
			return true
		}
	}
	return false
}

func splitRel(rel string) []string {
	if rel == "" {
		return nil
	}
	return strings.Split(rel, "/")
}

func mustRel(root, p string) string {
	rel, err := filepath.Rel(root, p)
	if err != nil {
		return p
	}
	return rel
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
