package source

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
)

// target is what a ref resolved to: a ref name ("" for a commit ref) and
// the commit it points at (peeled, for annotated tags).
type target struct {
	ref    plumbing.ReferenceName
	commit plumbing.Hash
}

// remote is the source's remote, over the bare repository's storage.
func (s *Source) remote() *git.Remote {
	return git.NewRemote(s.repo.Storer, &config.RemoteConfig{
		Name: "origin",
		URLs: []string{s.spec.URL},
	})
}

// resolve lists the remote's refs (one request) and picks the one the
// spec's ref names. A commit ref needs no listing.
func (s *Source) resolve(ctx context.Context, creds credentials) (target, error) {
	if s.spec.Ref.Commit != "" {
		return target{commit: plumbing.NewHash(s.spec.Ref.Commit)}, nil
	}
	refs, err := s.remote().ListContext(ctx, &git.ListOptions{
		Auth:          creds.method,
		PeelingOption: git.AppendPeeled,
	})
	if err != nil {
		return target{}, fmt.Errorf("list refs: %w", err)
	}
	return pick(s.spec.Ref, refs)
}

// pick finds the ref in a listing: a branch, a tag (peeled to its commit),
// or the highest tag in a semver range.
func pick(ref Ref, refs []*plumbing.Reference) (target, error) {
	hashes := make(map[plumbing.ReferenceName]plumbing.Hash, len(refs))
	for _, r := range refs {
		if r.Type() == plumbing.HashReference {
			hashes[r.Name()] = r.Hash()
		}
	}
	peeled := func(name plumbing.ReferenceName) (target, bool) {
		h, ok := hashes[name+"^{}"]
		if !ok {
			h, ok = hashes[name]
		}
		return target{ref: name, commit: h}, ok
	}
	var name plumbing.ReferenceName
	switch {
	case ref.Tag != "":
		name = plumbing.NewTagReferenceName(ref.Tag)
	case ref.SemVer != "":
		tag, err := highestTag(ref.SemVer, hashes)
		if err != nil {
			return target{}, err
		}
		name = plumbing.NewTagReferenceName(tag)
	default:
		branch := ref.Branch
		if branch == "" {
			branch = DefaultBranch
		}
		name = plumbing.NewBranchReferenceName(branch)
	}
	t, ok := peeled(name)
	if !ok {
		return target{}, fmt.Errorf("%s not found", name)
	}
	return t, nil
}

// highestTag is the name of the highest tag that parses as a semantic
// version and satisfies the range. Equal versions (v1.0.0 and 1.0.0) are
// ordered by name, so the choice is stable.
func highestTag(rng string, refs map[plumbing.ReferenceName]plumbing.Hash) (string, error) {
	c, err := semver.NewConstraint(rng)
	if err != nil {
		return "", fmt.Errorf("semver range %q: %w", rng, err)
	}
	var names []string
	for name := range refs {
		if name.IsTag() && !strings.HasSuffix(name.String(), "^{}") {
			names = append(names, name.Short())
		}
	}
	sort.Strings(names)
	var best *semver.Version
	var bestName string
	for _, name := range names {
		v, err := semver.NewVersion(name)
		if err != nil || !c.Check(v) {
			continue
		}
		if best == nil || v.GreaterThan(best) {
			best, bestName = v, name
		}
	}
	if best == nil {
		return "", fmt.Errorf("no tag matches semver range %q", rng)
	}
	return bestName, nil
}
