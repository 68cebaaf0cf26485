// Package sopstest makes SOPS files for tests: an age key generated on
// the spot, and files encrypted with the SOPS library itself (so that
// trellis's own decryption is checked against SOPS's encryption, and no
// checked-in file depends on a key that could be lost).
//
// It links the whole SOPS library (its key services bring the cloud SDKs):
// only tests import it, never the trellis binary.
package sopstest

import (
	"testing"

	"filippo.io/age"
	"github.com/getsops/sops/v3"
	sopsaes "github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/cmd/sops/common"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/keys"
	"github.com/getsops/sops/v3/stores/dotenv"
	sopsjson "github.com/getsops/sops/v3/stores/json"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
	"github.com/getsops/sops/v3/version"
)

// Key is an age key pair: Identity is the key file's text
// (AGE-SECRET-KEY-1…), Recipient the public key (age1…).
type Key struct {
	Identity, Recipient string
}

// NewKey generates an age key.
func NewKey(t testing.TB) Key {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return Key{Identity: id.String(), Recipient: id.Recipient().String()}
}

// Rules say which values SOPS encrypts (sops's --encrypted-regex and
// friends); the zero value encrypts every value but those under keys
// ending in _unencrypted, as sops does by default.
type Rules struct {
	EncryptedRegex, UnencryptedRegex   string
	EncryptedSuffix, UnencryptedSuffix string
	MACOnlyEncrypted                   bool
}

// KubernetesRules encrypt only a Secret's data and stringData, as the
// .sops.yaml of most GitOps repositories says.
var KubernetesRules = Rules{EncryptedRegex: "^(data|stringData)$"}

type store interface {
	LoadPlainFile([]byte) (sops.TreeBranches, error)
	EmitEncryptedFile(sops.Tree) ([]byte, error)
}

// Encrypt encrypts plain, a file in format ("yaml", "json" or "dotenv"),
// for the recipients (age1…), as `sops encrypt` does.
func Encrypt(t testing.TB, format string, plain []byte, rules Rules, recipients ...string) []byte {
	t.Helper()
	var s store
	switch format {
	case "yaml":
		s = sopsyaml.NewStore(&config.YAMLStoreConfig{})
	case "json":
		s = sopsjson.NewStore(&config.JSONStoreConfig{})
	case "dotenv":
		s = dotenv.NewStore(&config.DotenvStoreConfig{})
	default:
		t.Fatalf("sopstest: unknown format %q", format)
	}
	branches, err := s.LoadPlainFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	var group sops.KeyGroup
	for _, r := range recipients {
		k, err := sopsage.MasterKeyFromRecipient(r)
		if err != nil {
			t.Fatal(err)
		}
		group = append(group, keys.MasterKey(k))
	}
	if rules == (Rules{}) {
		rules.UnencryptedSuffix = "_unencrypted"
	}
	tree := sops.Tree{Branches: branches, Metadata: sops.Metadata{
		KeyGroups:         []sops.KeyGroup{group},
		EncryptedRegex:    rules.EncryptedRegex,
		UnencryptedRegex:  rules.UnencryptedRegex,
		EncryptedSuffix:   rules.EncryptedSuffix,
		UnencryptedSuffix: rules.UnencryptedSuffix,
		MACOnlyEncrypted:  rules.MACOnlyEncrypted,
		Version:           version.Version,
	}}
	dataKey, errs := tree.GenerateDataKey()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if err := common.EncryptTree(common.EncryptTreeOpts{DataKey: dataKey, Tree: &tree, Cipher: sopsaes.NewCipher()}); err != nil {
		t.Fatal(err)
	}
	out, err := s.EmitEncryptedFile(tree)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
