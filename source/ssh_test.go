package source

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	"trellis.dev/trellis/test/gitserver"
)

func TestSSHRefusesMissingKnownHosts(t *testing.T) {
	key, _ := sshClientKey(t, "")
	url := "ssh://git@git.example.com/org/repo.git"
	tests := map[string]struct {
		auth    Auth
		wantErr string
	}{
		"no known_hosts":       {Auth{SSHKeyFile: key}, "ssh needs --git-known-hosts-file"},
		"missing known_hosts":  {Auth{SSHKeyFile: key, KnownHostsFile: "/nonexistent/known_hosts"}, "known_hosts: stat /nonexistent/known_hosts"},
		"no key":               {Auth{KnownHostsFile: knownHosts(t, "")}, "ssh needs --git-ssh-key-file"},
		"scp-like, no known":   {Auth{SSHKeyFile: key}, "ssh needs --git-known-hosts-file"},
		"wrong key passphrase": {Auth{SSHKeyFile: encryptedKey(t), KnownHostsFile: knownHosts(t, ""), PasswordFile: secretFile(t, canary)}, "ssh key"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			u := url
			if strings.HasPrefix(name, "scp") {
				u = "git@git.example.com:org/repo.git"
			}
			_, err := New(Spec{URL: u, Auth: tt.auth, CacheDir: t.TempDir()})
			require.ErrorContains(t, err, tt.wantErr)
			assert.True(t, strings.HasPrefix(err.Error(), u+": "), err.Error())
			assert.NotContains(t, err.Error(), canary)
		})
	}
}

func TestSSHPoll(t *testing.T) {
	r := newRemote(t, gitserver.Options{})
	sha := r.commit(t, map[string]string{"a.yaml": "a: 1\n"}, "first")
	keyFile, pub := sshClientKey(t, "passphrase")
	srv := startSSH(t, filepath.Dir(r.RepoDir("config")), pub)
	auth := Auth{SSHKeyFile: keyFile, PasswordFile: secretFile(t, "passphrase"), KnownHostsFile: knownHosts(t, srv.line)}

	// scp-like URLs (git@host:path) have no port, so they are only
	// classified (TestClassify), not served here.
	s := mustNew(t, Spec{URL: "ssh://git@" + srv.addr + "/config.git", Auth: auth, CacheDir: t.TempDir()})
	rev := mustPoll(t, s)
	assert.Equal(t, sha, rev.Commit)
	assert.Equal(t, "a: 1\n", readFile(t, rev.Dir, "a.yaml"))
	assert.False(t, mustPoll(t, s).Changed)
}

func TestSSHRefusesAnUnknownHostKey(t *testing.T) {
	r := newRemote(t, gitserver.Options{})
	r.commit(t, map[string]string{"a.yaml": "a: 1\n"}, "first")
	keyFile, pub := sshClientKey(t, "")
	srv := startSSH(t, filepath.Dir(r.RepoDir("config")), pub)
	impostor := startSSH(t, filepath.Dir(r.RepoDir("config")), pub)
	url := "ssh://git@" + srv.addr + "/config.git"

	tests := map[string]struct{ knownHosts, wantErr string }{
		"host not listed": {"", "knownhosts: key is unknown"},
		"another key":     {knownhosts.Line([]string{srv.addr}, impostor.key), "knownhosts: key mismatch"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			auth := Auth{SSHKeyFile: keyFile, KnownHostsFile: knownHosts(t, tt.knownHosts)}
			_, err := mustNew(t, Spec{URL: url, Auth: auth, CacheDir: t.TempDir()}).Poll(context.Background())
			require.ErrorContains(t, err, tt.wantErr)
			assert.True(t, strings.HasPrefix(err.Error(), url+": "), err.Error())
		})
	}
}

// sshClientKey writes an ed25519 private key (encrypted when passphrase is
// set) and returns its file and public key.
func sshClientKey(t testing.TB, passphrase string) (string, ssh.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
	}
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "id_ed25519")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(block), 0o600))
	sshPub, err := ssh.NewPublicKey(pub)
	require.NoError(t, err)
	return path, sshPub
}

func encryptedKey(t testing.TB) string {
	t.Helper()
	path, _ := sshClientKey(t, "the right passphrase")
	return path
}

func knownHosts(t testing.TB, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "known_hosts")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	return path
}

// sshServer is a minimal Git-over-SSH server: it runs git-upload-pack on
// repositories under a root for one authorized client key.
type sshServer struct {
	addr string
	line string // its known_hosts line
	key  ssh.PublicKey
}

func startSSH(t testing.TB, root string, client ssh.PublicKey) *sshServer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	hostKey, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if string(key.Marshal()) == string(client.Marshal()) {
				return nil, nil
			}
			return nil, fmt.Errorf("unknown client key")
		},
	}
	cfg.AddHostKey(hostKey)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); serveSSH(conn, cfg, root) }()
		}
	}()
	addr := ln.Addr().String()
	return &sshServer{addr: addr, line: knownhosts.Line([]string{addr}, hostKey.PublicKey()), key: hostKey.PublicKey()}
}

func serveSSH(conn net.Conn, cfg *ssh.ServerConfig, root string) {
	defer conn.Close()
	sc, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		go serveSession(ch, chReqs, root)
	}
}

// serveSession answers one exec of git-upload-pack '<path>'.
func serveSession(ch ssh.Channel, reqs <-chan *ssh.Request, root string) {
	defer ch.Close()
	for req := range reqs {
		var exe struct{ Command string }
		if req.Type != "exec" || ssh.Unmarshal(req.Payload, &exe) != nil {
			_ = req.Reply(false, nil)
			continue
		}
		name, arg, _ := strings.Cut(exe.Command, " ")
		if name != "git-upload-pack" {
			_ = req.Reply(false, nil)
			return
		}
		_ = req.Reply(true, nil)
		cmd := exec.Command("git", "upload-pack", filepath.Join(root, strings.Trim(arg, "'")))
		stdin, _ := cmd.StdinPipe()
		go func() { _, _ = io.Copy(stdin, ch); _ = stdin.Close() }()
		cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
		status := uint32(0)
		if err := cmd.Run(); err != nil {
			status = 1
		}
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
		return
	}
}
