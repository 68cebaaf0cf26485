package source

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"trellis.dev/trellis/test/gitserver"
)

// newKey generates an OpenPGP key and returns it with its armored public
// key.
func newKey(t testing.TB, name string) (*openpgp.Entity, string) {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@trellis.dev", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	require.NoError(t, err)
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	require.NoError(t, err)
	require.NoError(t, e.Serialize(w))
	require.NoError(t, w.Close())
	return e, buf.String()
}

func TestVerifySignedCommits(t *testing.T) {
	trusted, trustedKey := newKey(t, "trusted")
	stranger, _ := newKey(t, "stranger")
	_, otherKey := newKey(t, "other")
	r := newRemote(t, gitserver.Options{})

	spec := r.spec(t)
	spec.VerifyKeys = []string{otherKey, trustedKey}
	s := mustNew(t, spec)

	signed := r.Push(t, r.url, gitserver.Change{Files: map[string]string{"a": "signed\n"}, SignKey: trusted})
	rev := mustPoll(t, s)
	assert.Equal(t, signed, rev.Commit)
	assert.Equal(t, "signed\n", readFile(t, rev.Dir, "a"))

	tests := map[string]struct {
		key    *openpgp.Entity
		reason string
	}{
		"unsigned":           {nil, "unsigned"},
		"signed by stranger": {stranger, "not signed by any of the 2 verify keys"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			sha := r.Push(t, r.url, gitserver.Change{Files: map[string]string{"a": name}, SignKey: tt.key})
			for range 2 { // refused on every poll, not only the first
				_, err := s.Poll(context.Background())
				var verr *VerificationError
				require.ErrorAs(t, err, &verr)
				assert.Equal(t, sha, verr.Commit)
				assert.Equal(t, tt.reason, verr.Reason)
				assert.Contains(t, err.Error(), r.url+": commit "+sha)
				assert.NoDirExists(t, filepath.Join(filepath.Dir(rev.Dir), sha), "not checked out")
			}
		})
	}
	assert.Equal(t, "signed\n", readFile(t, rev.Dir, "a"), "the verified revision stays")
}

func TestVerifyErrorUnwraps(t *testing.T) {
	_, key := newKey(t, "trusted")
	stranger, _ := newKey(t, "stranger")
	commit := &object.Commit{Message: "m", Author: object.Signature{When: time.Unix(0, 0)}}
	err := verify(commit, []string{key})
	var verr *VerificationError
	require.ErrorAs(t, err, &verr)
	assert.NoError(t, verr.Unwrap(), "an unsigned commit has no OpenPGP error")

	var sig bytes.Buffer
	encoded := &plumbing.MemoryObject{}
	require.NoError(t, commit.EncodeWithoutSignature(encoded))
	content, err := encoded.Reader()
	require.NoError(t, err)
	require.NoError(t, openpgp.ArmoredDetachSign(&sig, stranger, content, nil))
	commit.PGPSignature = sig.String()
	err = verify(commit, []string{key})
	require.ErrorAs(t, err, &verr)
	assert.Error(t, verr.Unwrap(), "the OpenPGP error is kept")
	assert.NoError(t, verify(commit, nil), "no keys, no verification")
}

func TestNewRefusesABadVerifyKey(t *testing.T) {
	_, err := New(Spec{URL: t.TempDir(), VerifyKeys: []string{"not a key"}})
	require.ErrorContains(t, err, "verify key 1")
}

func TestVerifyPlainDirectory(t *testing.T) {
	trusted, trustedKey := newKey(t, "trusted")
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a"), []byte("a"), 0o644))
	wt, err := repo.Worktree()
	require.NoError(t, err)
	_, err = wt.Add("a")
	require.NoError(t, err)
	sig := &object.Signature{Name: "t", Email: "t@trellis.dev", When: time.Unix(0, 0)}
	_, err = wt.Commit("signed", &git.CommitOptions{Author: sig, SignKey: trusted})
	require.NoError(t, err)

	s := mustNew(t, Spec{URL: dir, VerifyKeys: []string{trustedKey}})
	mustPoll(t, s)

	_, err = wt.Commit("unsigned", &git.CommitOptions{Author: sig, AllowEmptyCommits: true})
	require.NoError(t, err)
	_, err = s.Poll(context.Background())
	var verr *VerificationError
	require.ErrorAs(t, err, &verr)

	plain := mustNew(t, Spec{URL: t.TempDir(), VerifyKeys: []string{trustedKey}})
	_, err = plain.Poll(context.Background())
	require.ErrorContains(t, err, "no commit to verify")
}
