package source

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
)

// Environment variables that hold secrets when no file is given.
const (
	EnvToken    = "TRELLIS_GIT_TOKEN"
	EnvPassword = "TRELLIS_GIT_PASSWORD"
)

// tokenUser is the username sent with a token when none is given (GitHub
// accepts any username with a token; this is the conventional one).
const tokenUser = "x-access-token"

// Auth says where credentials come from. Secrets are read from files or the
// environment at every Poll (so rotated secrets are picked up), never from
// flag values or URLs, and never appear in errors or logs.
//
// For https (and loopback http): a token (TokenFile, else $TRELLIS_GIT_TOKEN)
// is sent as the basic-auth password, with Username or "x-access-token"; a
// password (PasswordFile, else $TRELLIS_GIT_PASSWORD) needs Username. Files
// win over the environment.
//
// For ssh: SSHKeyFile is the private key (its passphrase, if any, from
// PasswordFile or $TRELLIS_GIT_PASSWORD); KnownHostsFile is required and must
// exist: the server's host key is verified against it, and there is no
// insecure fallback. The user is the URL's (git@...), else Username, else
// "git".
type Auth struct {
	Username       string
	PasswordFile   string
	TokenFile      string
	SSHKeyFile     string
	KnownHostsFile string
}

// credentials is go-git's auth method plus the secrets it holds, so that
// errors can be checked for them.
type credentials struct {
	method  transport.AuthMethod
	secrets []string
}

// credentials reads the secrets for a URL of kind k.
func (a Auth) credentials(k kind, rawURL string) (credentials, error) {
	switch k {
	case kindHTTP:
		return a.basic()
	case kindSSH:
		return a.ssh(rawURL)
	}
	return credentials{}, nil
}

// basic is basic auth for https, or no auth when no secret is configured.
func (a Auth) basic() (credentials, error) {
	user, secret, err := a.httpSecret()
	if err != nil || secret == "" {
		return credentials{}, err
	}
	return credentials{
		method:  &githttp.BasicAuth{Username: user, Password: secret},
		secrets: []string{secret},
	}, nil
}

func (a Auth) httpSecret() (user, secret string, err error) {
	tokenUserOr := func() string {
		if a.Username != "" {
			return a.Username
		}
		return tokenUser
	}
	needUser := func(pw string) (string, string, error) {
		if a.Username == "" {
			return "", "", errors.New("a password needs " + FlagUsername)
		}
		return a.Username, pw, nil
	}
	switch {
	case a.TokenFile != "":
		secret, err = readSecretFile("token", a.TokenFile)
		return tokenUserOr(), secret, err
	case a.PasswordFile != "":
		if secret, err = readSecretFile("password", a.PasswordFile); err != nil {
			return "", "", err
		}
		return needUser(secret)
	case os.Getenv(EnvToken) != "":
		return tokenUserOr(), strings.TrimSpace(os.Getenv(EnvToken)), nil
	case os.Getenv(EnvPassword) != "":
		return needUser(strings.TrimSpace(os.Getenv(EnvPassword)))
	}
	return "", "", nil
}

// readSecretFile reads a secret, without its trailing newline. Errors name
// the file, never the content.
func readSecretFile(what, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s file: %w", what, err)
	}
	secret := strings.TrimSpace(string(b))
	if secret == "" {
		return "", fmt.Errorf("%s file %s: empty", what, path)
	}
	return secret, nil
}

// ssh is public-key auth with known_hosts verification.
func (a Auth) ssh(rawURL string) (credentials, error) {
	if a.KnownHostsFile == "" {
		return credentials{}, errors.New("ssh needs " + FlagKnownHostsFile + ": host keys are always verified")
	}
	if _, err := os.Stat(a.KnownHostsFile); err != nil {
		return credentials{}, fmt.Errorf("known_hosts: %w", err)
	}
	if a.SSHKeyFile == "" {
		return credentials{}, errors.New("ssh needs " + FlagSSHKeyFile)
	}
	ep, err := transport.NewEndpoint(rawURL)
	if err != nil {
		return credentials{}, errors.New("malformed ssh URL")
	}
	user := ep.User
	if user == "" {
		user = a.Username
	}
	if user == "" {
		user = "git"
	}
	var passphrase string
	switch {
	case a.PasswordFile != "":
		if passphrase, err = readSecretFile("ssh key passphrase", a.PasswordFile); err != nil {
			return credentials{}, err
		}
	default:
		passphrase = strings.TrimSpace(os.Getenv(EnvPassword))
	}
	keys, err := gitssh.NewPublicKeysFromFile(user, a.SSHKeyFile, passphrase)
	if err != nil {
		return credentials{}, fmt.Errorf("ssh key %s: %w", a.SSHKeyFile, err)
	}
	db, err := gitssh.NewKnownHostsDb(a.KnownHostsFile)
	if err != nil {
		return credentials{}, fmt.Errorf("known_hosts %s: %w", a.KnownHostsFile, err)
	}
	port := "22"
	if ep.Port != 0 {
		port = fmt.Sprint(ep.Port)
	}
	// Both set, so go-git never falls back to the default known_hosts files.
	keys.HostKeyCallback = db.HostKeyCallback()
	keys.HostKeyAlgorithms = db.HostKeyAlgorithms(net.JoinHostPort(ep.Host, port))
	return credentials{method: keys, secrets: nonEmpty(passphrase)}, nil
}

func nonEmpty(s ...string) []string {
	var out []string
	for _, v := range s {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// Method returns the go-git credentials Auth gives for rawURL, for a
// writer that pushes to the repository a Source polls (the lineage
// branch); nil when none are needed.
func (a Auth) Method(rawURL string) (transport.AuthMethod, error) {
	k, err := classify(rawURL)
	if err != nil {
		return nil, err
	}
	c, err := a.credentials(k, rawURL)
	if err != nil {
		return nil, err
	}
	return c.method, nil
}
