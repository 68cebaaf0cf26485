package main

import (
	"github.com/spf13/pflag"

	"context"
	"fmt"
	"net/mail"
	"os"
	"path/filepath"
	"strings"

	"trellis.dev/trellis/reconcile/clusterrun"
	"trellis.dev/trellis/reconcile/lineage"
	"trellis.dev/trellis/reconcile/redact"
	"trellis.dev/trellis/render"
	"trellis.dev/trellis/source"
)

// applyRecorder makes the lineage record of each cluster a one-shot apply
// applies, and, with --lineage-repo, queues it and pushes it to the
// lineage branch.
type applyRecorder struct {
	src    lineage.Source
	res    *render.Result
	red    *redact.Redactor
	writer *lineage.Writer // nil: records are not written
}

// newApplyRecorder describes the revision of dir; the writer pushes to
// --lineage-repo with the credentials of $TRELLIS_GIT_TOKEN (or
// $TRELLIS_GIT_PASSWORD), records waiting in --lineage-state-dir.
func newApplyRecorder(dir, rev string, res *render.Result, o applyOptions) (*applyRecorder, error) {
	commit, err := source.LocalCommit(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	url := o.lineageRepo
	if url == "" {
		if url, err = filepath.Abs(dir); err != nil {
			return nil, err
		}
	}
	src := lineage.Source{URL: url, Revision: rev}
	if commit.Commit == rev {
		src.Ref, src.Message = commit.Ref, strings.TrimSpace(commit.Message)
		if commit.Author != "" {
			src.Author = commit.Author + " <" + commit.Email + ">"
		}
	}
	r := &applyRecorder{src: src, res: res, red: redact.Default().WithValues(res.SecretValues()...)}
	if o.lineageRepo == "" || o.dryRun {
		return r, nil
	}
	r.writer, err = newCLILineageWriter(o.lineageRepo, o.lineageBranch, o.lineageStateDir, o.lineageAuthor)
	return r, err
}

// newCLILineageWriter is the lineage writer of a one-shot command: it
// pushes to repo's branch with the credentials of $TRELLIS_GIT_TOKEN (or
// $TRELLIS_GIT_PASSWORD), records waiting in stateDir (default: the user
// cache directory's trellis/lineage) until pushed.
func newCLILineageWriter(repo, branch, stateDir, author string) (*lineage.Writer, error) {
	name, email, err := parseAuthor(author)
	if err != nil {
		return nil, err
	}
	auth, err := source.Auth{}.Method(repo)
	if err != nil {
		return nil, fmt.Errorf("--lineage-repo: %w", err)
	}
	if stateDir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("--lineage-state-dir: %w", err)
		}
		stateDir = filepath.Join(cache, "trellis", "lineage")
	}
	return &lineage.Writer{RepoURL: repo, Auth: auth, Branch: branch, StateDir: stateDir,
		AuthorName: name, AuthorEmail: email}, nil
}

// parseAuthor reads --lineage-author, "Name <email>".
func parseAuthor(s string) (name, email string, err error) {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name == "" {
		return "", "", usageError{fmt.Errorf("--lineage-author %q: want \"Name <email>\"", s)}
	}
	return a.Name, a.Address, nil
}

// addLineageRecordFlags registers the flags of a one-shot command's lineage
// records.
func addLineageRecordFlags(f *pflag.FlagSet, repo, branch, stateDir, author *string) {
	f.StringVar(author, "lineage-author", lineage.DefaultAuthor, "author and committer of lineage commits, \"Name <email>\"")
	f.StringVar(repo, "lineage-repo", "", "config repo (URL or directory) whose lineage branch receives the run's records (default: none)")
	f.StringVar(branch, "lineage-branch", lineage.DefaultBranch, "lineage branch of --lineage-repo")
	f.StringVar(stateDir, "lineage-state-dir", "", "where records wait until pushed (default: the user cache directory's trellis/lineage)")
}

// start begins the run of one cluster; its log receives every line the
// apply prints for the cluster.
func (r *applyRecorder) start(cluster render.Cluster) *lineage.Run {
	return lineage.NewRun(lineage.RunOptions{
		Source: r.src, Cluster: cluster.Name,
		Declarations: lineage.Declarations(r.res, cluster.Name),
		Redactor:     r.red,
	})
}

// finish makes the run's record and, with a writer, pushes it; a record
// that cannot be pushed stays queued in the state directory and is
// pushed by the next apply that records lineage.
func (r *applyRecorder) finish(ctx context.Context, lrun *lineage.Run, out clusterrun.Outcome, printLine func(string)) error {
	if r.writer == nil {
		return nil
	}
	cs := out.ChangeSet
	rec := lrun.Finish(cs, out.Followed, out.RecordErr())
	if werr := r.writer.Write(ctx, lrun.Log(), rec); werr != nil {
		return fmt.Errorf("cluster %s: %w", cs.Cluster, werr)
	}
	printLine(fmt.Sprintf("cluster %s: lineage run %s recorded on %s (%s)", cs.Cluster, rec.RunID, r.writer.Branch, rec.Result))
	return nil
}
