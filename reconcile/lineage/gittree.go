package lineage

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// commitRun writes the run's files on top of parent's tree (an empty tree
// when parent is zero: an orphan commit) and returns the new commit.
func commitRun(s storer.EncodedObjectStorer, parent plumbing.Hash, p pendingRun, sig object.Signature) (plumbing.Hash, error) {
	var root *object.Tree
	var parents []plumbing.Hash
	if !parent.IsZero() {
		c, err := object.GetCommit(s, parent)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("commit %s: %w", parent, err)
		}
		if root, err = c.Tree(); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("commit %s: %w", parent, err)
		}
		parents = []plumbing.Hash{parent}
	}
	files := []object.TreeEntry{}
	for name, content := range map[string][]byte{recordFile: p.json, logFile: p.log} {
		h, err := storeBlob(s, content)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		files = append(files, object.TreeEntry{Name: name, Mode: filemode.Regular, Hash: h})
	}
	hash, err := storeTree(s, files)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if hash, err = putPath(s, root, strings.Split(p.record.Dir(), "/"), hash); err != nil {
		return plumbing.ZeroHash, err
	}
	c := &object.Commit{
		Author: sig, Committer: sig, Message: p.record.CommitMessage() + "\n",
		TreeHash: hash, ParentHashes: parents,
	}
	return storeObject(s, c)
}

// putPath returns the hash of base (nil: empty) with the directory path
// set to the tree leaf, creating intermediate directories.
func putPath(s storer.EncodedObjectStorer, base *object.Tree, path []string, leaf plumbing.Hash) (plumbing.Hash, error) {
	var entries []object.TreeEntry
	if base != nil {
		entries = append(entries, base.Entries...)
	}
	child := leaf
	if len(path) > 1 {
		var sub *object.Tree
		if base != nil {
			t, err := base.Tree(path[0])
			if err != nil && !errors.Is(err, object.ErrDirectoryNotFound) {
				return plumbing.ZeroHash, fmt.Errorf("tree %s: %w", path[0], err)
			}
			sub = t
		}
		var err error
		if child, err = putPath(s, sub, path[1:], leaf); err != nil {
			return plumbing.ZeroHash, err
		}
	}
	entries = slicesDeleteName(entries, path[0])
	entries = append(entries, object.TreeEntry{Name: path[0], Mode: filemode.Dir, Hash: child})
	return storeTree(s, entries)
}

func slicesDeleteName(entries []object.TreeEntry, name string) []object.TreeEntry {
	out := entries[:0:0]
	for _, e := range entries {
		if e.Name != name {
			out = append(out, e)
		}
	}
	return out
}

// storeTree stores a tree whose entries are sorted as Git sorts them: by
// name, a directory's name compared as if it ended with '/'.
func storeTree(s storer.EncodedObjectStorer, entries []object.TreeEntry) (plumbing.Hash, error) {
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	sort.Slice(entries, func(i, j int) bool { return key(entries[i]) < key(entries[j]) })
	return storeObject(s, &object.Tree{Entries: entries})
}

func storeBlob(s storer.EncodedObjectStorer, content []byte) (plumbing.Hash, error) {
	obj := s.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("blob: %w", err)
	}
	if _, err := w.Write(content); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("blob: %w", err)
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("blob: %w", err)
	}
	return s.SetEncodedObject(obj)
}

// encoder is a Git object that encodes itself (a tree, a commit).
type encoder interface {
	Encode(plumbing.EncodedObject) error
}

func storeObject(s storer.EncodedObjectStorer, o encoder) (plumbing.Hash, error) {
	obj := s.NewEncodedObject()
	if err := o.Encode(obj); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("git object: %w", err)
	}
	h, err := s.SetEncodedObject(obj)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("git object %s: %w", obj.Hash(), err)
	}
	return h, nil
}
