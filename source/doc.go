// Package source fetches config repos: all Git goes through go-git.
//
// A source is a Git URL (https, ssh, file://) or a plain local directory, a
// ref, and a path inside the repo. This package resolves the revision that a
// render records on every object, and (with the daemon) polls remotes.
//
// # Polling
//
// New validates a Spec; each Poll of the Source then:
//
//  1. lists the remote's refs (go-git Remote.List: one request, GET
//     info/refs over http) and picks the ref: a branch, a tag (an annotated
//     tag is peeled to its commit), or the highest tag that satisfies a
//     semver range (Masterminds/semver; tags that do not parse are ignored,
//     prereleases only match a range that names one). A commit ref needs no
//     listing: a commit never moves.
//  2. If the commit is the one of the previous Poll and its checkout still
//     exists, returns it with Changed false: an unchanged remote costs one
//     ref listing and no fetch.
//  3. Otherwise, if the commit is not in the cache, fetches it: the one ref,
//     depth 1, no other tags. A commit ref is fetched by hash, depth 1, when
//     the server advertises allow-reachable-sha1-in-want or
//     allow-tip-sha1-in-want (GitHub and GitLab do); go-git refuses to ask
//     otherwise (a default `git http-backend`), so then every branch and tag
//     is fetched with its whole history (unshallowing the cache) and the
//     commit must be among them.
//  4. Verifies the commit's OpenPGP signature when Spec.VerifyKeys is set
//     (go-git Commit.Verify against each key). An unsigned commit, or one
//     signed by no given key, returns a *VerificationError on every Poll
//     and is not checked out.
//  5. Checks the commit out, once, and returns Dir: the checkout at
//     Spec.Path, which must be a directory inside the repository.
//
// Every Poll is bounded by Spec.Timeout (default 60 s) through its context.
// A failed Poll leaves the previous revision's files in place, so a caller
// keeps the last good revision while the remote is down.
//
// # The cache
//
// The cache survives restarts. Under Spec.CacheDir, each URL (without
// credentials) has its own directory, named after a hash of the URL:
//
//	<CacheDir>/<hash>/repo.git              a bare repository (shallow)
//	<CacheDir>/<hash>/checkouts/<commit>    one checked-out tree per commit
//
// A checkout is written into a temporary directory, synced and renamed, so
// a checkout directory that exists is complete; leftovers of an interrupted
// checkout are removed. Only the current checkout and the one before it
// are kept (a reader may still be using the previous one). repo.git only
// grows, a shallow commit per fetch: before a fetch, one beyond
// Spec.CacheLimit is emptied, and that fetch starts it anew. After a restart,
// the first Poll of an unchanged remote finds the commit in repo.git and its
// checkout on disk: one listing, no fetch (Changed is true: it is the first
// Poll of that Source). One Source at a time should use a given URL's cache
// directory.
//
// # URLs and credentials
//
// https:// uses basic auth (a token is the password, with the user
// "x-access-token" when none is given). http:// is allowed only to
// loopback hosts, for tests. ssh:// and scp-like URLs (git@host:org/repo)
// need a private key and a known_hosts file: host keys are always checked,
// with no insecure default. Secrets come from files or the environment
// (TRELLIS_GIT_TOKEN, TRELLIS_GIT_PASSWORD), never from a URL: a password
// in a URL is refused. Errors start with the URL and never contain a
// secret.
//
// file:// URLs go through go-git's file transport, which runs the
// git-upload-pack program, so it must be installed. A plain directory needs
// no Git at all: it is used in place, its revision is HEAD's commit when
// it is in a Git work tree ("" otherwise), and every Poll reports Changed,
// since its files can change without a commit.
package source
