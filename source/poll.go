package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Revision is the result of one Poll.
type Revision struct {
	// Commit is the commit's hash ("" for a directory that is not a Git
	// work tree, or has no commit yet).
	Commit string
	// Ref is the resolved ref, e.g. refs/heads/main or refs/tags/v1.2.0;
	// "" for a commit ref and for a directory on a detached HEAD.
	Ref string
	// Author, Email and Message describe the commit; Time is its committer
	// time.
	Author, Email, Message string
	Time                   time.Time
	// Dir is the checked-out tree at Spec.Path. It stays valid until two
	// newer revisions have been checked out.
	Dir string
	// Changed is true on the first Poll of a Source and when the commit
	// differs from the previous Poll's (always true for a plain directory,
	// whose files can change without a commit).
	Changed bool
}

// Source polls one repository at one ref. Its methods are safe for
// concurrent use; one Source at a time should use a CacheDir for a given
// URL.
type Source struct {
	spec  Spec
	kind  kind
	url   string // Spec.URL without credentials: starts every error
	path  string // cleaned Spec.Path
	dir   string // absolute directory, for a plain directory
	cache string // <CacheDir>/<hash of URL>

	mu       sync.Mutex
	repo     *git.Repository // the bare repository, opened on first use
	last     *Revision
	lastTree string // the checkout root of last
}

// New validates spec and returns a Source. Nothing is fetched until Poll.
func New(spec Spec) (*Source, error) {
	s := &Source{spec: spec, url: StripCredentials(spec.URL)}
	var err error
	if s.kind, err = classify(spec.URL); err != nil {
		return nil, s.errorf("%w", err)
	}
	if s.path, err = cleanPath(spec.Path); err != nil {
		return nil, s.errorf("%w", err)
	}
	if err := spec.Ref.Validate(); err != nil {
		return nil, s.errorf("ref: %w", err)
	}
	if err := checkKeys(spec.VerifyKeys); err != nil {
		return nil, s.errorf("%w", err)
	}
	if s.spec.Timeout <= 0 {
		s.spec.Timeout = DefaultTimeout
	}
	if s.kind == kindDir {
		err = s.initDir()
	} else if _, err = spec.Auth.credentials(s.kind, spec.URL); err != nil {
		err = s.errorf("auth: %w", err)
	} else {
		err = s.initCache()
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// initCache picks the cache directory of this URL.
func (s *Source) initCache() error {
	root := s.spec.CacheDir
	if root == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return s.errorf("no cache directory: set CacheDir: %w", err)
		}
		root = filepath.Join(dir, "trellis", "source")
	}
	sum := sha256.Sum256([]byte(s.url))
	s.cache = filepath.Join(root, hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(filepath.Join(s.cache, checkoutsDir), 0o755); err != nil {
		return s.errorf("cache: %w", err)
	}
	return nil
}

// Poll returns the revision the ref names now. An unchanged remote costs
// one ref listing and no fetch (a commit ref costs nothing once fetched).
// Poll is bounded by Spec.Timeout. On error the previous Revision's Dir is
// still intact.
func (s *Source) Poll(ctx context.Context) (Revision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, s.spec.Timeout)
	defer cancel()
	if s.kind == kindDir {
		return s.pollDir()
	}
	creds, err := s.spec.Auth.credentials(s.kind, s.spec.URL)
	if err != nil {
		return Revision{}, s.errorf("auth: %w", err)
	}
	rev, err := s.pollRemote(ctx, creds)
	if err != nil {
		return Revision{}, scrub(s.errorf("%w", err), creds.secrets)
	}
	return rev, nil
}

// pollRemote lists, fetches if the ref moved and the commit is not cached,
// verifies and checks out.
func (s *Source) pollRemote(ctx context.Context, creds credentials) (Revision, error) {
	if err := s.open(); err != nil {
		return Revision{}, err
	}
	t, err := s.resolve(ctx, creds)
	if err != nil {
		return Revision{}, err
	}
	if s.last != nil && s.last.Commit == t.commit.String() && isDir(s.lastTree) {
		rev := *s.last
		rev.Changed, rev.Ref = false, t.ref.String()
		return rev, nil
	}
	commit, err := s.repo.CommitObject(t.commit)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		if err := s.collect(); err != nil {
			return Revision{}, err
		}
		if t, err = s.fetch(ctx, creds, t); err != nil {
			return Revision{}, err
		}
		commit, err = s.repo.CommitObject(t.commit)
	}
	if err != nil {
		return Revision{}, fmt.Errorf("commit %s: %w", t.commit, err)
	}
	if err := verify(commit, s.spec.VerifyKeys); err != nil {
		return Revision{}, err
	}
	root, err := s.checkout(commit)
	if err != nil {
		return Revision{}, err
	}
	dir, err := subdir(root, s.path)
	if err != nil {
		return Revision{}, fmt.Errorf("commit %s: %w", t.commit, err)
	}
	rev := revision(commit, dir)
	rev.Ref = t.ref.String()
	rev.Changed = s.last == nil || s.last.Commit != rev.Commit
	s.last, s.lastTree = &rev, root
	return rev, nil
}

// collect empties the bare repository when it outgrew Spec.CacheLimit:
// each fetch adds a shallow commit and its tree, and nothing else ever
// removes them. The fetch that follows starts it anew, at the same cost
// as the fetch it was about to make; the checkouts are left alone.
func (s *Source) collect() error {
	limit := s.spec.CacheLimit
	if limit == 0 {
		limit = DefaultCacheLimit
	}
	if limit < 0 {
		return nil
	}
	path := filepath.Join(s.cache, "repo.git")
	var size int64
	_ = filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, ierr := d.Info(); ierr == nil {
				size += info.Size()
			}
		}
		return nil
	})
	if size <= limit {
		return nil
	}
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("cache %s: %w", path, err)
	}
	s.repo = nil
	return s.open()
}

// open opens the bare repository, creating it on first use; a repository
// that cannot be opened (a damaged cache) is recreated.
func (s *Source) open() error {
	if s.repo != nil {
		return nil
	}
	path := filepath.Join(s.cache, "repo.git")
	repo, err := git.PlainOpen(path)
	if err != nil && !errors.Is(err, git.ErrRepositoryNotExists) {
		if rmErr := os.RemoveAll(path); rmErr != nil {
			return fmt.Errorf("cache %s: %w", path, errors.Join(err, rmErr))
		}
	}
	if err != nil {
		if repo, err = git.PlainInit(path, true); err != nil {
			return fmt.Errorf("cache %s: %w", path, err)
		}
	}
	s.repo = repo
	return nil
}

// revision describes commit, checked out at dir.
func revision(commit *object.Commit, dir string) Revision {
	return Revision{
		Commit:  commit.Hash.String(),
		Author:  commit.Author.Name,
		Email:   commit.Author.Email,
		Message: commit.Message,
		Time:    commit.Committer.When,
		Dir:     dir,
	}
}

func isDir(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.IsDir()
}
