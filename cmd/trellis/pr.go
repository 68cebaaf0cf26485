package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"trellis.dev/trellis/reconcile"
	"trellis.dev/trellis/reconcile/clusterrun"
	"trellis.dev/trellis/reconcile/pullrequest"
	"trellis.dev/trellis/render"
)

// tokenEnv is where `trellis pr` finds the GitHub token when no file is
// given (GitHub Actions' name).
const tokenEnv = "GITHUB_TOKEN"

type prOptions struct {
	githubRepo string
	number     int
	apiURL     string
	tokenFile  string
	repo       string
	path       string
	kubeconfig string
	context    string
	kube       *kubeFlags
	sourceID   string
	// render bounds the render of each side.
	render renderBoundsOptions
	// sops are the keys of the repo's SOPS files (never used for a fork).
	sops sopsOptions
	// Lineage: where the check's records go (no repo: nowhere).
	lineageRepo, lineageBranch, lineageStateDir, lineageAuthor string
}

func newPRCommand(s streams) *cobra.Command {
	var o prOptions
	cmd := &cobra.Command{
		Use:   "pr --github-repo OWNER/NAME --pr N",
		Short: "Check a pull request of the config repo: a plan comment and status checks on GitHub",
		Long: `Check pull request N of the config repo on GitHub: fetch its base and head,
validate the head, render both, and plan each cluster (objects added, changed and
removed, with their diffs, and the prune guard's verdict). With --kubeconfig or
--context, the head is also dry-run against each cluster (server-side apply, dry
run), except for a pull request from a fork, which never gets cluster
credentials.

The result goes to one sticky comment on the pull request, updated in place on
every run, and to the commit statuses trellis/validate and trellis/plan on its
head. The comment is printed to standard output too. Secret values are never
shown.

The token is read from --github-token-file, else from $GITHUB_TOKEN; it needs
to read the repository and pull requests, and to write issue comments and commit
statuses.

Exit status: 0 the pull request is valid and its plan can be applied; 1 it is
not (invalid declarations, a prune the guard refuses, objects the dry run
refuses); 2 usage error; 3 an error (GitHub's API, Git, an unreachable cluster).`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPR(cmd.Context(), o, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.githubRepo, "github-repo", "", "the config repo on GitHub, OWNER/NAME (required)")
	f.IntVar(&o.number, "pr", 0, "the pull request's number (required)")
	f.StringVar(&o.apiURL, "github-api-url", "", "GitHub's REST API (default https://api.github.com; https://HOST/api/v3 for GitHub Enterprise Server)")
	f.StringVar(&o.tokenFile, "github-token-file", "", "file holding the GitHub token (default: $"+tokenEnv+")")
	f.StringVar(&o.repo, "repo", "", "where to clone the config repo from, a URL or a directory (default: the repository's clone URL from the API)")
	f.StringVar(&o.path, "path", ".", "directory of the config repo inside the Git repository")
	o.kube = addKubeFlags(f, &o.kubeconfig, &o.context, "kubeconfig for a live dry-run of the head (default: no dry-run)",
		"kubeconfig context for the live dry-run, instead of the one each Cluster declares")
	f.StringVar(&o.sourceID, "source-id", reconcile.DefaultSourceID, "id of the source whose inventory the live dry-run asks what an apply would prune (the daemon's --source-id)")
	addRenderBoundsFlags(f, &o.render)
	addSOPSFlags(f, &o.sops)
	addLineageRecordFlags(f, &o.lineageRepo, &o.lineageBranch, &o.lineageStateDir, &o.lineageAuthor)
	return cmd
}

// runPR checks the pull request and maps its result to an exit code.
func runPR(ctx context.Context, o prOptions, s streams) error {
	opts, err := o.checkOptions()
	if err != nil {
		return err
	}
	res, err := pullrequest.Check(ctx, opts)
	if res != nil && res.Body != "" {
		fmt.Fprint(s.out, res.Body)
	}
	if err != nil {
		return &exitError{code: exitUnknown, err: err}
	}
	if err := recordCheck(ctx, o, res, s); err != nil {
		return &exitError{code: exitUnknown, err: err}
	}
	return prOutcome(s, res)
}

// recordCheck pushes the check's lineage records, with --lineage-repo.
func recordCheck(ctx context.Context, o prOptions, res *pullrequest.Result, s streams) error {
	if o.lineageRepo == "" {
		return nil
	}
	w, err := newCLILineageWriter(o.lineageRepo, o.lineageBranch, o.lineageStateDir, o.lineageAuthor)
	if err != nil {
		return err
	}
	recs := res.Records()
	if err := w.Write(ctx, []byte(res.Body), recs...); err != nil {
		return err
	}
	for _, rec := range recs {
		fmt.Fprintf(s.err, "lineage run %s recorded on %s (%s)\n", rec.RunID, w.Branch, rec.Result)
	}
	return nil
}

// checkOptions turns the flags into the check's options; a flag in error
// is a usage error.
func (o prOptions) checkOptions() (pullrequest.Options, error) {
	switch {
	case o.githubRepo == "":
		return pullrequest.Options{}, usageError{errors.New("--github-repo OWNER/NAME is required")}
	case o.number <= 0:
		return pullrequest.Options{}, usageError{errors.New("--pr N is required: the pull request's number")}
	}
	token, err := githubToken(o.tokenFile)
	if err != nil {
		return pullrequest.Options{}, err
	}
	gh, err := pullrequest.NewGitHub(pullrequest.GitHubOptions{APIURL: o.apiURL, Token: token, Repo: o.githubRepo})
	if err != nil {
		return pullrequest.Options{}, usageError{err}
	}
	bounds, err := o.render.bounds()
	if err != nil {
		return pullrequest.Options{}, err
	}
	keys, err := o.sops.keys()
	if err != nil {
		return pullrequest.Options{}, err
	}
	opts := pullrequest.Options{GitHub: gh, Number: o.number, RepoURL: o.repo, GitToken: token, Path: o.path, SourceID: o.sourceID, RenderBounds: bounds, SOPS: keys}
	kube, err := o.kube.kube()
	if err != nil {
		return pullrequest.Options{}, err
	}
	if o.kubeconfig != "" || o.context != "" {
		opts.Dial = func(_ context.Context, cluster render.Cluster, single bool) (*reconcile.Client, error) {
			if o.context != "" && !single {
				return nil, fmt.Errorf("cluster %s: --context names one cluster's context, and the pull request declares several", cluster.Name)
			}
			cfg, _, err := clusterrun.KubeConfig(kube, cluster)
			if err != nil {
				return nil, err
			}
			return clusterrun.NewClient(cfg)
		}
	}
	return opts, nil
}

// githubToken reads the token from file, else from $GITHUB_TOKEN. Its
// value is never part of a message.
func githubToken(file string) (string, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return "", usageError{fmt.Errorf("--github-token-file: %w", err)}
		}
		if token := strings.TrimSpace(string(data)); token != "" {
			return token, nil
		}
		return "", usageError{fmt.Errorf("--github-token-file %s: the file is empty", file)}
	}
	if token := strings.TrimSpace(os.Getenv(tokenEnv)); token != "" {
		return token, nil
	}
	return "", usageError{errors.New("no GitHub token: pass --github-token-file or set $" + tokenEnv)}
}

// prOutcome prints where the comment went and the statuses, and returns
// the exit: 3 when a status is an error, 1 when one failed.
func prOutcome(s streams, res *pullrequest.Result) error {
	if res.Comment != nil {
		fmt.Fprintf(s.err, "%s#%d: comment %s: %s\n", res.Repo, res.PullRequest.Number, res.Comment.Action, res.Comment.HTMLURL)
	}
	worst := pullrequest.StateSuccess
	for _, st := range res.Statuses {
		fmt.Fprintf(s.err, "%s %s: %s\n", st.Context, st.State, st.Description)
		if st.State == pullrequest.StateError || (st.State == pullrequest.StateFailure && worst != pullrequest.StateError) {
			worst = st.State
		}
	}
	switch worst {
	case pullrequest.StateError:
		return &exitError{code: exitUnknown}
	case pullrequest.StateFailure:
		return failed()
	}
	return nil
}
