package source

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

const (
	checkoutsDir  = "checkouts"
	tmpPrefix     = ".tmp-"
	keepCheckouts = 2 // the current one and the one before, which a reader may still use
)

// checkout returns <cache>/checkouts/<commit>, writing it first when it
// does not exist: into a temporary directory, synced, then renamed, so a
// checkout directory that exists is always complete. Older checkouts
// beyond the last two are removed.
func (s *Source) checkout(commit *object.Commit) (string, error) {
	base := filepath.Join(s.cache, checkoutsDir)
	dir := filepath.Join(base, commit.Hash.String())
	if !isDir(dir) {
		if err := writeCheckout(commit, base, dir); err != nil {
			return "", fmt.Errorf("checkout %s: %w", commit.Hash, err)
		}
	}
	now := time.Now()
	if err := os.Chtimes(dir, now, now); err != nil {
		return "", fmt.Errorf("checkout %s: %w", commit.Hash, err)
	}
	if err := prune(base, dir); err != nil {
		return "", fmt.Errorf("prune checkouts: %w", err)
	}
	return dir, nil
}

func writeCheckout(commit *object.Commit, base, dir string) error {
	tree, err := commit.Tree()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(base, tmpPrefix)
	if err != nil {
		return err
	}
	if err := writeTree(tree, tmp); err != nil {
		return errors.Join(err, os.RemoveAll(tmp))
	}
	if err := os.Rename(tmp, dir); err != nil {
		if isDir(dir) { // written meanwhile by another process
			return os.RemoveAll(tmp)
		}
		return errors.Join(err, os.RemoveAll(tmp))
	}
	return syncPath(base)
}

// writeTree writes every file of tree under root, with its mode; symlinks
// are created as symlinks, submodules are skipped. Every write goes
// through an os.Root: a tree whose symlink is a directory on the way of a
// later file (a/ -> /etc, then a/passwd) cannot write outside root.
func writeTree(tree *object.Tree, root string) error {
	r, err := os.OpenRoot(root)
	if err != nil {
		return err
	}
	defer r.Close()
	return tree.Files().ForEach(func(f *object.File) error {
		rel := filepath.FromSlash(f.Name)
		if !filepath.IsLocal(rel) || hasGitDir(f.Name) {
			return fmt.Errorf("%s: refused path", f.Name)
		}
		if dir := filepath.Dir(rel); dir != "." {
			if err := r.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("%s: %w", f.Name, err)
			}
		}
		switch f.Mode {
		case filemode.Symlink:
			target, err := f.Contents()
			if err != nil {
				return fmt.Errorf("%s: %w", f.Name, err)
			}
			return r.Symlink(target, rel)
		case filemode.Executable:
			return writeFile(r, rel, f, 0o755)
		}
		return writeFile(r, rel, f, 0o644)
	})
}

func hasGitDir(name string) bool {
	for _, part := range strings.Split(name, "/") {
		if strings.EqualFold(part, ".git") {
			return true
		}
	}
	return false
}

// writeFile writes f at path under root; an existing entry (a symlink
// among them) is an error, never followed.
func writeFile(root *os.Root, path string, f *object.File, mode fs.FileMode) error {
	r, err := f.Reader()
	if err != nil {
		return fmt.Errorf("%s: %w", f.Name, err)
	}
	defer r.Close()
	out, err := root.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, r)
	if err == nil {
		err = out.Sync()
	}
	return errors.Join(err, out.Close())
}

func syncPath(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// prune removes leftover temporary directories (an interrupted checkout)
// and all checkouts but current and the most recently used other one.
func prune(base, current string) error {
	entries, err := os.ReadDir(base)
	if err != nil {
		return err
	}
	type used struct {
		path string
		at   time.Time
	}
	var others []used
	var errs []error
	for _, e := range entries {
		path := filepath.Join(base, e.Name())
		switch {
		case strings.HasPrefix(e.Name(), tmpPrefix):
			errs = append(errs, os.RemoveAll(path))
		case path != current && commitPattern.MatchString(e.Name()):
			if info, err := e.Info(); err == nil {
				others = append(others, used{path, info.ModTime()})
			}
		}
	}
	sort.Slice(others, func(i, j int) bool { return others[i].at.After(others[j].at) })
	for i, o := range others {
		if i >= keepCheckouts-1 {
			errs = append(errs, os.RemoveAll(o.path))
		}
	}
	return errors.Join(errs...)
}

// subdir is path inside root; it must be a directory that, symlinks
// resolved, stays inside root.
func subdir(root, path string) (string, error) {
	dir := filepath.Join(root, path)
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return "", err
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("path %s not found", path)
	}
	if rel, err := filepath.Rel(realRoot, real); err != nil || (rel != "." && !filepath.IsLocal(rel)) {
		return "", fmt.Errorf("path %s leads outside the repository", path)
	}
	if !isDir(real) {
		return "", fmt.Errorf("path %s is not a directory", path)
	}
	return dir, nil
}
