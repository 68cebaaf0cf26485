package lineage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
	"trellis.dev/trellis/source"
)

// ErrNotFound is returned for a run id that is not on the branch.
var ErrNotFound = errors.New("not found")

// Store is the lineage branch as of its tip.
type Store struct {
	tree *object.Tree
}

// Open reads the lineage branch of repo: a local directory (a work tree or
// a bare repository; its branch, else its origin's) or a URL, cloned into
// memory.
func Open(ctx context.Context, repo, branch string, auth transport.AuthMethod) (*Store, error) {
	if branch == "" {
		branch = DefaultBranch
	}
	var r *git.Repository
	var err error
	if st, serr := os.Stat(repo); serr == nil && st.IsDir() {
		if r, err = git.PlainOpen(repo); errors.Is(err, git.ErrRepositoryNotExists) {
			r, err = git.PlainOpenWithOptions(repo, &git.PlainOpenOptions{DetectDotGit: true})
		}
	} else {
		r, err = git.CloneContext(ctx, memory.NewStorage(), nil, &git.CloneOptions{
			URL: repo, Auth: auth, ReferenceName: plumbing.NewBranchReferenceName(branch),
			SingleBranch: true, Depth: 1, Tags: git.NoTags,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("lineage repository %s: %w", source.StripCredentials(repo), err)
	}
	var ref *plumbing.Reference
	for _, name := range []plumbing.ReferenceName{
		plumbing.NewBranchReferenceName(branch), plumbing.NewRemoteReferenceName("origin", branch),
	} {
		if ref, err = r.Reference(name, true); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("lineage repository %s: branch %s: %w", source.StripCredentials(repo), branch, err)
	}
	c, err := r.CommitObject(ref.Hash())
	if err != nil {
		return nil, fmt.Errorf("lineage branch %s: %w", branch, err)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("lineage branch %s: %w", branch, err)
	}
	return &Store{tree: tree}, nil
}

// Records returns every record on the branch, newest first (by start,
// then run id).
func (s *Store) Records() ([]Record, error) {
	var out []Record
	err := s.tree.Files().ForEach(func(f *object.File) error {
		if path.Base(f.Name) != recordFile || path.Dir(path.Dir(path.Dir(f.Name))) != "runs" {
			return nil
		}
		text, err := f.Contents()
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		var rec Record
		if err := json.Unmarshal([]byte(text), &rec); err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		out = append(out, rec)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lineage branch: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Started.Equal(out[j].Started) {
			return out[i].Started.After(out[j].Started)
		}
		return out[i].RunID > out[j].RunID
	})
	return out, nil
}

// Record returns the record of a run.
func (s *Store) Record(runID string) (Record, error) {
	recs, err := s.Records()
	if err != nil {
		return Record{}, err
	}
	for _, r := range recs {
		if r.RunID == runID {
			return r, nil
		}
	}
	return Record{}, fmt.Errorf("run %s: %w", runID, ErrNotFound)
}

// Log returns the log of a run.
func (s *Store) Log(runID string) ([]byte, error) {
	rec, err := s.Record(runID)
	if err != nil {
		return nil, err
	}
	f, err := s.tree.File(rec.Dir() + "/" + logFile)
	if err != nil {
		return nil, fmt.Errorf("run %s: log: %w", runID, err)
	}
	rd, err := f.Reader()
	if err != nil {
		return nil, fmt.Errorf("run %s: log: %w", runID, err)
	}
	defer rd.Close()
	return io.ReadAll(rd)
}
