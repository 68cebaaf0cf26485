package dashboard

import (
	"net/url"
	"regexp"
	"strings"
)

// hexRevision is a full or abbreviated commit hash.
var hexRevision = regexp.MustCompile(`^[0-9a-f]{7,64}$`)

// repoPath is a repository's path on a forge: owner/name, maybe groups.
var repoPath = regexp.MustCompile(`^[A-Za-z0-9_.~-]+(/[A-Za-z0-9_.~-]+)+$`)

// forges are the hosts whose commit pages CommitURL knows, by the path
// between the repository and the hash.
var forges = map[string]string{
	"github.com":    "/commit/",
	"gitlab.com":    "/-/commit/",
	"bitbucket.org": "/commits/",
	"codeberg.org":  "/commit/",
}

// CommitURL returns the page of commit rev of the config repo repoURL
// (https://, ssh://, or git@host:path) on its Git host, or "" when the
// host is not one it knows (a self-hosted server, a local directory). No
// credentials of repoURL are kept.
func CommitURL(repoURL, rev string) string {
	if !hexRevision.MatchString(rev) {
		return ""
	}
	host, path := hostPath(repoURL)
	sep, ok := forges[strings.ToLower(host)]
	if !ok || path == "" {
		return ""
	}
	path = strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	if !repoPath.MatchString(path) || strings.Contains(path, "..") {
		return ""
	}
	return "https://" + strings.ToLower(host) + "/" + path + sep + rev
}

// hostPath splits a Git URL into its host and the repository's path.
func hostPath(repoURL string) (string, string) {
	if u, err := url.Parse(repoURL); err == nil && u.Host != "" {
		switch u.Scheme {
		case "https", "http", "ssh", "git":
			return u.Hostname(), u.Path
		}
		return "", ""
	}
	// scp-like: [user@]host:path
	if at := strings.Index(repoURL, "@"); at >= 0 {
		rest := repoURL[at+1:]
		if host, path, ok := strings.Cut(rest, ":"); ok && !strings.Contains(host, "/") {
			return host, path
		}
	}
	return "", ""
}

// firstLine is the first line of a commit message.
func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
