package render

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
)

// A config repo is hostile input: every byte of it is read through one
// view, confined to the repo's directory by os.Root (each path component
// is opened relative to the one before, with openat; a symlink is
// followed only while it stays beneath the root, so it may point anywhere
// inside the repo, never outside it). The view reads only regular files
// and directories (devices, named pipes and sockets are refused before
// they are opened), never anything under .git, and counts what it reads
// against Limits. The walk, the YAML and JSON loader, kustomize's
// in-memory filesystem and CUE's overlay are all filled through it.

// Limits bound what loading one repo may read and report. Zero fields take
// the defaults.
type Limits struct {
	// FileBytes is the largest file read. Default 4 MiB.
	FileBytes int64
	// RepoBytes bounds the bytes read from the repo in all. Default 32 MiB.
	RepoBytes int64
	// Entries bounds the directory entries listed. Default 100,000.
	Entries int64
	// Problems is how many problems are reported; the rest are counted
	// ("… and N more problems"). Default 100.
	Problems int
}

// Default limits.
const (
	DefaultFileBytes = 4 << 20
	DefaultRepoBytes = 32 << 20
	DefaultEntries   = 100_000
	DefaultProblems  = 100
)

func (l Limits) withDefaults() Limits {
	if l.FileBytes <= 0 {
		l.FileBytes = DefaultFileBytes
	}
	if l.RepoBytes <= 0 {
		l.RepoBytes = DefaultRepoBytes
	}
	if l.Entries <= 0 {
		l.Entries = DefaultEntries
	}
	if l.Problems <= 0 {
		l.Problems = DefaultProblems
	}
	return l
}

// view is the confined view of a config repo.
type view struct {
	// dir is the repo's absolute path, symlinks resolved: positions and
	// messages are relative to it.
	dir    string
	root   rootFS
	limits Limits
	ctx    context.Context
	// read and listed count the bytes read and the entries listed.
	read, listed atomic.Int64
	// exhausted is set once a limit on the whole repo is reached: loading
	// stops.
	exhausted atomic.Bool
}

// rootFS is what the view reads the repo's directory with: an os.Root.
// (The benchmarks compare it with plain system calls.)
type rootFS interface {
	Stat(name string) (fs.FileInfo, error)
	Lstat(name string) (fs.FileInfo, error)
	Readlink(name string) (string, error)
	OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error)
	Close() error
}

var _ rootFS = (*os.Root)(nil)

// openRoot opens a repo's directory for the view.
type openRoot func(dir string) (rootFS, error)

func openOSRoot(dir string) (rootFS, error) { return os.OpenRoot(dir) }

// openView opens the repo at dir (with open, default os.OpenRoot). dir
// itself (given by the operator, not the repo) may be reached through
// symlinks.
func openView(ctx context.Context, dir string, limits Limits, open openRoot) (*view, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return nil, err
	}
	if open == nil {
		open = openOSRoot
	}
	root, err := open(abs)
	if err != nil {
		return nil, err
	}
	return &view{dir: abs, root: root, limits: limits.withDefaults(), ctx: ctx}, nil
}

func (v *view) close() { _ = v.root.Close() }

// viewError is a path the view refuses, and why. Its message names the
// path relative to the repo; the loader places it at path:1:1.
type viewError struct {
	// Path is the path asked for, Culprit the one refused (a symlink on
	// the way, or Path itself).
	Path, Culprit string
	Reason        string
	// Err is the underlying error, if any (fs.ErrNotExist, a limit).
	Err error
}

func (e *viewError) Error() string {
	if e.Culprit != "" && e.Culprit != e.Path {
		return fmt.Sprintf("%s: %s: %s", e.Path, e.Culprit, e.Reason)
	}
	return e.Path + ": " + e.Reason
}

func (e *viewError) Unwrap() error { return e.Err }

// message is the reason, naming the culprit when it is not the path the
// problem is reported at.
func (e *viewError) message() string {
	if e.Culprit != "" && e.Culprit != e.Path {
		return e.Culprit + ": " + e.Reason
	}
	return e.Reason
}

// errLimit marks a refusal by a limit of Limits; errFileLimit, also
// errLimit, one by the limit on one file.
var (
	errLimit     = errors.New("limit exceeded")
	errFileLimit = fmt.Errorf("%w: file too large", errLimit)
)

// clean checks that rel is a path inside the repo that the view may read.
func (v *view) clean(rel string) (string, error) {
	if err := v.ctx.Err(); err != nil {
		return "", err
	}
	if v.exhausted.Load() {
		return "", &viewError{Path: rel, Reason: "not read: a limit on the repository was reached", Err: errLimit}
	}
	if rel == "" {
		rel = "."
	}
	if !fs.ValidPath(rel) {
		return "", &viewError{Path: rel, Reason: "not a path inside the repository", Err: fs.ErrInvalid}
	}
	if slices.Contains(strings.Split(rel, "/"), ".git") {
		return "", &viewError{Path: rel, Reason: "files under .git are never read", Err: fs.ErrPermission}
	}
	return rel, nil
}

// stat describes rel, following symlinks inside the repo: a regular file
// or a directory, else an error saying why not.
func (v *view) stat(rel string) (fs.FileInfo, error) {
	rel, err := v.clean(rel)
	if err != nil {
		return nil, err
	}
	info, err := v.root.Stat(rel)
	if err != nil {
		return nil, v.explain(rel, err)
	}
	if err := irregular(rel, info); err != nil {
		return nil, err
	}
	return info, nil
}

// lstat describes rel itself (a symlink is not followed).
func (v *view) lstat(rel string) (fs.FileInfo, error) {
	rel, err := v.clean(rel)
	if err != nil {
		return nil, err
	}
	info, err := v.root.Lstat(rel)
	if err != nil {
		return nil, v.explain(rel, err)
	}
	return info, nil
}

// irregular refuses what is neither a regular file nor a directory.
func irregular(rel string, info fs.FileInfo) error {
	m := info.Mode()
	if m.IsRegular() || m.IsDir() {
		return nil
	}
	what := "an irregular file"
	switch {
	case m&fs.ModeNamedPipe != 0:
		what = "a named pipe"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	case m&fs.ModeDevice != 0:
		what = "a device"
	}
	return &viewError{Path: rel, Reason: "not a regular file (" + what + "); only regular files, directories and symlinks to them inside the repository are read", Err: fs.ErrPermission}
}

// open opens rel, a regular file or (when dirOK) a directory. The file is
// checked before it is opened (a named pipe would block, a device have
// side effects) and again after, so that a swap in between is refused.
func (v *view) open(rel string, dirOK bool) (*os.File, fs.FileInfo, error) {
	info, err := v.stat(rel)
	if err != nil {
		return nil, nil, err
	}
	if info.IsDir() && !dirOK {
		return nil, nil, &viewError{Path: rel, Reason: "is a directory", Err: fs.ErrInvalid}
	}
	f, err := v.root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, v.explain(rel, err)
	}
	got, err := f.Stat()
	if err == nil && !os.SameFile(info, got) {
		err = &viewError{Path: rel, Reason: "changed while it was read", Err: fs.ErrInvalid}
	}
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	return f, got, nil
}

// readFile reads the regular file rel, within the limits.
func (v *view) readFile(rel string) ([]byte, error) {
	f, info, err := v.open(rel, false)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	max := v.limits.FileBytes
	if info.Size() > max {
		return nil, &viewError{Path: rel, Reason: fmt.Sprintf("file is %s, over the limit of %s for one file", byteSize(info.Size()), byteSize(max)), Err: errFileLimit}
	}
	if err := v.charge(rel, info.Size()); err != nil {
		return nil, err
	}
	data, err := readAll(io.LimitReader(f, max+1), info.Size())
	if err != nil {
		return nil, &viewError{Path: rel, Reason: unwrapPathError(err).Error(), Err: err}
	}
	if int64(len(data)) > max {
		return nil, &viewError{Path: rel, Reason: fmt.Sprintf("file grew over the limit of %s for one file while it was read", byteSize(max)), Err: errFileLimit}
	}
	if extra := int64(len(data)) - info.Size(); extra > 0 {
		if err := v.charge(rel, extra); err != nil {
			return nil, err
		}
	}
	return data, v.ctx.Err()
}

// readAll is io.ReadAll into a buffer of size+1 bytes to begin with: a
// file that keeps the size it had read in two calls, not one per 512
// bytes and more.
func readAll(r io.Reader, size int64) ([]byte, error) {
	b := make([]byte, 0, size+1)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // grown: it changed while read
		}
	}
}

// charge counts n more bytes read against the repo's limit.
func (v *view) charge(rel string, n int64) error {
	if total := v.read.Add(n); total > v.limits.RepoBytes {
		v.exhausted.Store(true)
		return &viewError{Path: rel, Reason: fmt.Sprintf("the repository holds more than %s to read, the limit for one repository; nothing more is read", byteSize(v.limits.RepoBytes)), Err: errLimit}
	}
	return nil
}

// readDir lists the directory rel, sorted by name, within the limit on
// entries.
func (v *view) readDir(rel string) ([]fs.DirEntry, error) {
	f, _, err := v.open(rel, true)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []fs.DirEntry
	for {
		batch, err := f.ReadDir(256)
		out = append(out, batch...)
		if total := v.listed.Add(int64(len(batch))); total > v.limits.Entries {
			v.exhausted.Store(true)
			return nil, &viewError{Path: rel, Reason: fmt.Sprintf("the repository has more than %d files and directories, the limit for one repository", v.limits.Entries), Err: errLimit}
		}
		if errors.Is(err, io.EOF) || (err == nil && len(batch) == 0) {
			break
		}
		if err != nil {
			return nil, &viewError{Path: rel, Reason: unwrapPathError(err).Error(), Err: err}
		}
		if err := v.ctx.Err(); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

// explain turns an error of os.Root about rel into one that says which
// symlink on the way leaves the repository or dangles.
func (v *view) explain(rel string, err error) error {
	if ctxErr := v.ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	parts := strings.Split(rel, "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		info, lerr := v.root.Lstat(p)
		if lerr != nil {
			break
		}
		if info.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		if _, serr := v.root.Stat(p); serr != nil {
			target, _ := v.root.Readlink(p)
			if errors.Is(serr, fs.ErrNotExist) || errors.Is(serr, syscall.ELOOP) {
				return &viewError{Path: rel, Culprit: p, Reason: "symlink cannot be resolved: " + unwrapPathError(serr).Error(), Err: fs.ErrNotExist}
			}
			return &viewError{Path: rel, Culprit: p, Reason: fmt.Sprintf("symlink leaves the repository (points to %s); it is not followed", target), Err: fs.ErrPermission}
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		return &viewError{Path: rel, Reason: "no such file or directory", Err: fs.ErrNotExist}
	}
	return &viewError{Path: rel, Reason: unwrapPathError(err).Error(), Err: err}
}

// byteSize prints n in KiB or MiB.
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// viewProblem is err (from the view) as a problem at rel:1:1, or err as it
// is when it is not the view's.
func viewProblem(rel string, err error) error {
	var ve *viewError
	if errors.As(err, &ve) {
		at := ve.Path
		if at == "." || at == "" {
			at = rel
		}
		return fileError(at, "%s", ve.message())
	}
	return err
}
