package render

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/format/gitignore"
)

// IgnoreFile holds gitignore-style patterns of paths trellis skips. It may
// sit in any directory; its patterns apply below it.
const IgnoreFile = ".trellisignore"

// kustomizationNames are the file names that make a directory a kustomization.
var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// tree is what a walk of the config repo found. Paths are relative to the
// repo, with '/'.
type tree struct {
	// manifests are YAML and JSON files.
	manifests []string
	// cueDirs are directories holding .cue files.
	cueDirs []string
	// kustomizations are directories holding a kustomization file that is
	// not below another one.
	kustomizations []string
	// allKustomizations are all directories holding a kustomization file,
	// with the name of that file.
	allKustomizations map[string]string
	// files are all regular files walked (and symlinks to files inside the
	// repo).
	files []string
}

// walker is the state of one walk.
type walker struct {
	v        *view
	t        *tree
	errs     *errorList
	patterns []gitignore.Pattern
	matcher  gitignore.Matcher
	cueDirs  map[string]bool
	// kustomized are the kustomization directories found so far, in walk
	// order.
	kustomized []string
}

// walk lists the files of the repo, skipping hidden entries, cue.mod and
// ignored paths. Files below a kustomization are left to kustomize. Every
// entry is checked: a symlink that leaves the repo (or dangles) and
// anything that is neither a file nor a directory are errors, and nothing
// they point to is read. A symlink to a directory is not walked (the
// directory is walked where it really is).
func walk(v *view, errs *errorList) *tree {
	w := &walker{
		v: v, errs: errs,
		t:       &tree{allKustomizations: map[string]string{}},
		matcher: gitignore.NewMatcher(nil),
		cueDirs: map[string]bool{},
	}
	w.dir("")
	for d := range w.cueDirs {
		w.t.cueDirs = append(w.t.cueDirs, d)
	}
	sort.Strings(w.t.cueDirs)
	return w.t
}

// dir walks the directory rel ("" for the root).
func (w *walker) dir(rel string) {
	entries, err := w.v.readDir(orDot(rel))
	if err != nil {
		w.errs.addView(orDot(rel), err)
		return
	}
	w.readIgnore(rel, entries)
	if name := kustomizationIn(w.v, rel, entries); name != "" {
		w.t.allKustomizations[rel] = name
		if !underAny(rel, w.kustomized) {
			w.t.kustomizations = append(w.t.kustomizations, rel)
		}
		w.kustomized = append(w.kustomized, rel)
	}
	for _, e := range entries {
		if w.errs.full() {
			return
		}
		if !fs.ValidPath(e.Name()) {
			w.errs.addf(fileError(orDot(rel), "").Position(), "%q: not a valid file name (names must be UTF-8)", e.Name())
			continue
		}
		w.entry(path.Join(rel, e.Name()), e)
	}
}

// entry walks one entry of a directory.
func (w *walker) entry(rel string, e fs.DirEntry) {
	name := e.Name()
	isDir := e.IsDir()
	if strings.HasPrefix(name, ".") || (isDir && name == "cue.mod") {
		return
	}
	if w.matcher.Match(strings.Split(rel, "/"), isDir) {
		return
	}
	switch mode := e.Type(); {
	case isDir:
		w.dir(rel)
		return
	case mode&fs.ModeSymlink != 0:
		info, err := w.v.stat(rel)
		if err != nil {
			w.errs.addView(rel, err)
			return
		}
		if info.IsDir() {
			return // walked where it really is
		}
	case !mode.IsRegular():
		if info, err := e.Info(); err == nil {
			w.errs.addView(rel, irregular(rel, info))
		}
		return
	}
	w.t.files = append(w.t.files, rel)
	if underAny(rel, w.kustomized) {
		return
	}
	switch strings.ToLower(path.Ext(name)) {
	case ".yaml", ".yml", ".json":
		w.t.manifests = append(w.t.manifests, rel)
	case ".cue":
		w.cueDirs[orDot(path.Dir(rel))] = true
	}
}

// readIgnore adds the patterns of the directory's ignore file, read
// through the view like every file.
func (w *walker) readIgnore(rel string, entries []fs.DirEntry) {
	if !containsName(entries, IgnoreFile) {
		return
	}
	file := path.Join(rel, IgnoreFile)
	data, err := w.v.readFile(file)
	if err != nil {
		w.errs.addView(file, err)
		return
	}
	var domain []string
	if rel != "" {
		domain = strings.Split(rel, "/")
	}
	s := bufio.NewScanner(bytes.NewReader(data))
	s.Buffer(nil, len(data)+1)
	for s.Scan() {
		line := strings.TrimRight(s.Text(), " \t\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		w.patterns = append(w.patterns, gitignore.ParsePattern(line, domain))
	}
	w.matcher = gitignore.NewMatcher(w.patterns)
}

// kustomizationIn returns the name of the kustomization file among a
// directory's entries (a file, or a symlink to one inside the repo), or "".
func kustomizationIn(v *view, dir string, entries []fs.DirEntry) string {
	for _, n := range kustomizationNames {
		for _, e := range entries {
			if e.Name() != n {
				continue
			}
			if e.Type().IsRegular() {
				return n
			}
			if e.Type()&fs.ModeSymlink != 0 {
				if info, err := v.stat(path.Join(dir, n)); err == nil && info.Mode().IsRegular() {
					return n
				}
			}
		}
	}
	return ""
}

func containsName(entries []fs.DirEntry, name string) bool {
	for _, e := range entries {
		if e.Name() == name {
			return true
		}
	}
	return false
}

// orDot is rel, or "." for the root.
func orDot(rel string) string {
	if rel == "" {
		return "."
	}
	return rel
}

func underAny(rel string, dirs []string) bool {
	for _, d := range dirs {
		if d == "" || rel == d || strings.HasPrefix(rel, d+"/") {
			return true
		}
	}
	return false
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
