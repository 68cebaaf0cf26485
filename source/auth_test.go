package source

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"trellis.dev/trellis/test/gitserver"
)

// canary is a secret that must never show in an error.
const canary = "canary-7f3a9c1e-do-not-print"

func TestBasicAuthSources(t *testing.T) {
	tests := []struct {
		name     string
		auth     Auth
		env      map[string]string
		user, pw string
		wantErr  string
	}{
		{name: "no secret", auth: Auth{}},
		{name: "token file", auth: Auth{TokenFile: secretFile(t, "tok")}, user: "x-access-token", pw: "tok"},
		{name: "token file and user", auth: Auth{Username: "bot", TokenFile: secretFile(t, "tok")}, user: "bot", pw: "tok"},
		{name: "password file", auth: Auth{Username: "bot", PasswordFile: secretFile(t, "pw")}, user: "bot", pw: "pw"},
		{name: "password needs a user", auth: Auth{PasswordFile: secretFile(t, "pw")}, wantErr: "needs --git-username"},
		{name: "token env", env: map[string]string{EnvToken: "envtok"}, user: "x-access-token", pw: "envtok"},
		{name: "password env", auth: Auth{Username: "bot"}, env: map[string]string{EnvPassword: "envpw"}, user: "bot", pw: "envpw"},
		{name: "file wins over env", auth: Auth{Username: "bot", PasswordFile: secretFile(t, "pw")},
			env: map[string]string{EnvToken: "envtok"}, user: "bot", pw: "pw"},
		{name: "missing file", auth: Auth{TokenFile: "/nonexistent/token"}, wantErr: "token file: open /nonexistent/token"},
		{name: "empty file", auth: Auth{TokenFile: secretFile(t, "")}, wantErr: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvToken, "")
			t.Setenv(EnvPassword, "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			creds, err := tt.auth.credentials(kindHTTP, "https://example.com/r.git")
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			if tt.pw == "" {
				assert.Nil(t, creds.method)
				return
			}
			assert.Equal(t, &githttp.BasicAuth{Username: tt.user, Password: tt.pw}, creds.method)
			assert.Equal(t, []string{tt.pw}, creds.secrets)
		})
	}
}

func TestWrongPasswordIsAClearErrorWithoutTheSecret(t *testing.T) {
	r := newRemote(t, gitserver.Options{})
	r.commit(t, map[string]string{"a": "a"}, "first")

	spec := r.spec(t)
	spec.Auth.PasswordFile = secretFile(t, canary)
	_, err := mustNew(t, spec).Poll(context.Background())
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), r.url+": "), err.Error())
	assert.Contains(t, err.Error(), "authentication required")
	assert.NotContains(t, err.Error(), canary)

	t.Setenv(EnvToken, canary)
	spec.Auth = Auth{}
	_, err = mustNew(t, spec).Poll(context.Background())
	require.Error(t, err)
	assert.NotContains(t, err.Error(), canary)
	assert.Contains(t, err.Error(), "authentication required")
}

func TestScrub(t *testing.T) {
	err := scrub(assert.AnError, []string{canary})
	assert.Same(t, assert.AnError, err)
	err = scrub(errorString("dial "+canary+" failed"), []string{"", canary})
	assert.Equal(t, "dial [redacted] failed", err.Error())
	assert.NotContains(t, err.Error(), canary)
}

type errorString string

func (e errorString) Error() string { return string(e) }

func run(t testing.TB, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %s: %s", strings.Join(args, " "), out)
}
