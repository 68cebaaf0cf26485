package source

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/go-git/go-git/v5/plumbing"
)

// DefaultTimeout bounds one Poll when Spec.Timeout is zero.
const DefaultTimeout = 60 * time.Second

// DefaultBranch is the branch of a zero Ref.
const DefaultBranch = "main"

// Spec says what to poll.
type Spec struct {
	// URL is https://, http:// (loopback hosts only, for tests), ssh://,
	// scp-like (git@host:org/repo), file://, or the path of an existing
	// local directory, which is used in place.
	URL string
	// Ref is the branch, tag, semver range or commit to follow (default
	// branch main).
	Ref Ref
	// Path is a directory inside the repository ("" or "." for the root).
	Path string
	// Auth holds where credentials come from.
	Auth Auth
	// CacheDir holds the bare repository and checkouts, and survives
	// restarts (default: the user's cache directory, then trellis/source).
	CacheDir string
	// Timeout bounds one Poll (default DefaultTimeout).
	Timeout time.Duration
	// VerifyKeys are armored OpenPGP public keys; when any is given, a
	// commit must carry a signature made by one of them.
	VerifyKeys []string
	// CacheLimit bounds the bare repository of the cache: before a fetch,
	// a repository grown beyond it is emptied, and the fetch (shallow)
	// starts it anew (default DefaultCacheLimit; negative: no limit).
	CacheLimit int64
}

// DefaultCacheLimit is the default Spec.CacheLimit.
const DefaultCacheLimit = 256 << 20

// Ref names what to follow in a repository: exactly one field is set.
type Ref struct {
	Branch string
	Tag    string
	// SemVer is a range over tags, e.g. ">=1.0.0 <2.0.0": the highest
	// matching tag wins.
	SemVer string
	// Commit is a full 40-hex commit hash.
	Commit string
}

var commitPattern = regexp.MustCompile(`^[0-9a-f]{40}$`)

// ParseRef parses a ref given on the command line: "main" or
// "branch:main", "tag:v1.2.0", "semver:>=1.0.0 <2.0.0" or
// "commit:<40 hex>".
func ParseRef(s string) (Ref, error) {
	kind, value, found := strings.Cut(s, ":")
	if !found {
		kind, value = "branch", s
	}
	if value == "" {
		return Ref{}, fmt.Errorf("ref %q: empty %s", s, kind)
	}
	var ref Ref
	switch kind {
	case "branch":
		ref.Branch = value
	case "tag":
		ref.Tag = value
	case "semver":
		ref.SemVer = value
	case "commit":
		ref.Commit = strings.ToLower(value)
	default:
		return Ref{}, fmt.Errorf("ref %q: unknown kind %q (want branch, tag, semver or commit)", s, kind)
	}
	if err := ref.Validate(); err != nil {
		return Ref{}, fmt.Errorf("ref %q: %w", s, err)
	}
	return ref, nil
}

// String formats the ref as ParseRef reads it.
func (r Ref) String() string {
	switch {
	case r.Tag != "":
		return "tag:" + r.Tag
	case r.SemVer != "":
		return "semver:" + r.SemVer
	case r.Commit != "":
		return "commit:" + r.Commit
	case r.Branch != "":
		return "branch:" + r.Branch
	}
	return "branch:" + DefaultBranch
}

// Validate checks that at most one field is set and that it is well formed
// (a zero Ref means branch main).
func (r Ref) Validate() error {
	set := 0
	for _, v := range []string{r.Branch, r.Tag, r.SemVer, r.Commit} {
		if v != "" {
			set++
		}
	}
	if set > 1 {
		return errors.New("set only one of branch, tag, semver and commit")
	}
	switch {
	case r.Branch != "":
		return plumbing.NewBranchReferenceName(r.Branch).Validate()
	case r.Tag != "":
		return plumbing.NewTagReferenceName(r.Tag).Validate()
	case r.SemVer != "":
		if _, err := semver.NewConstraint(r.SemVer); err != nil {
			return fmt.Errorf("semver range: %w", err)
		}
	case r.Commit != "":
		if !commitPattern.MatchString(r.Commit) {
			return errors.New("commit must be 40 lowercase hex digits")
		}
	}
	return nil
}

func (r Ref) isZero() bool { return r == Ref{} }

// kind is how a Spec.URL is reached.
type kind int

const (
	kindDir kind = iota
	kindHTTP
	kindSSH
	kindFile
)

var scpLike = regexp.MustCompile(`^(?:[A-Za-z0-9._~-]+@)?[A-Za-z0-9.-]+:[^/\\]`)

// classify tells how raw is reached and validates it: a password in a URL
// is refused (secrets come from files or the environment), and http:// is
// only for loopback hosts.
func classify(raw string) (kind, error) {
	if info, err := os.Stat(raw); err == nil && info.IsDir() && !strings.Contains(raw, "://") {
		return kindDir, nil
	}
	if !strings.Contains(raw, "://") {
		if at := strings.Index(raw, "@"); at >= 0 && strings.Contains(raw[:at], ":") {
			return 0, errors.New("a password in the URL is refused: use " + FlagPasswordFile + " or $" + EnvPassword)
		}
		if scpLike.MatchString(raw) {
			return kindSSH, nil
		}
		return 0, errors.New("neither a Git URL nor an existing directory")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return 0, errors.New("malformed URL") // url.Error quotes the URL
	}
	if _, has := u.User.Password(); has {
		return 0, errors.New("a password in the URL is refused: use " + FlagPasswordFile + ", " + FlagTokenFile + ", $" + EnvPassword + " or $" + EnvToken)
	}
	switch u.Scheme {
	case "https":
		return kindHTTP, nil
	case "http":
		if !isLoopback(u.Hostname()) {
			return 0, errors.New("plain http is only allowed to a loopback host (tests); use https")
		}
		return kindHTTP, nil
	case "ssh":
		return kindSSH, nil
	case "file":
		return kindFile, nil
	}
	return 0, fmt.Errorf("unsupported scheme %q", u.Scheme)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// StripCredentials is raw without its credentials, for messages, logs,
// records and cache keys. Over http(s) all user info goes (a token is often
// written as the user name: https://TOKEN@host/...); over ssh the user
// name stays, as part of the address (ssh://git@host/...), and only a
// password goes. A path or an scp-like address (git@host:path) is returned
// as it is.
func StripCredentials(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.User == nil {
		return raw
	}
	switch _, has := u.User.Password(); {
	case u.Scheme == "http" || u.Scheme == "https":
		u.User = nil
	case has:
		u.User = url.User(u.User.Username())
	}
	return u.String()
}

// cleanPath validates Spec.Path: relative, inside the repository.
func cleanPath(p string) (string, error) {
	if p == "" {
		return ".", nil
	}
	p = filepath.Clean(filepath.FromSlash(p))
	if p != "." && !filepath.IsLocal(p) {
		return "", fmt.Errorf("path %q is not inside the repository", p)
	}
	return p, nil
}

// Moves reports whether a push to the full ref name pushed (as a push
// webhook names it, e.g. refs/heads/main) can change what r resolves to:
// a push to its branch, or of any tag for a tag or semver ref; never for
// a commit. An unknown ref ("") may.
func (r Ref) Moves(pushed string) bool {
	switch {
	case pushed == "":
		return true
	case r.Branch != "":
		return pushed == "refs/heads/"+r.Branch
	case r.Tag != "", r.SemVer != "":
		return strings.HasPrefix(pushed, "refs/tags/")
	}
	return false
}
