package render

import (
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"

	"trellis.dev/trellis/test/sopstest"
)

// sopsSecret is a Secret with values of several lengths and a multi-line
// one.
const sopsSecret = `apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: ml
  labels: {app: db}
type: Opaque
stringData:
  password: hunter2-correct-horse
  cert: |
    -----BEGIN CERT-----
    line two
data:
  token: ` + "c2VjcmV0LXRva2VuLXZhbHVl" + ` # secret-token-value
`

// TestSOPSDecryptsWhatSOPSEncrypts decrypts files that the SOPS library
// encrypted, in each format and under each rule of what is encrypted,
// and gets back what was encrypted, typed values and all (the MAC, over
// every value, checks that trellis walks the file as sops does).
func TestSOPSDecryptsWhatSOPSEncrypts(t *testing.T) {
	key := sopstest.NewKey(t)
	other := sopstest.NewKey(t)
	keys, err := SOPSKeys{Age: []string{"# created: now\n" + other.Identity + "\n" + key.Identity + "\n"}}.keyring()
	require.NoError(t, err)
	typed := "a: text\nnum: 42\nf: 1.5\nb: true\nnull_one: null\nlist: [x, 7, false]\nnested: {deep: {er: value}}\nplain_unencrypted: seen\n# a comment\nmulti: |\n  one\n  two\n"
	for _, tc := range []struct {
		name, file, plain string
		rules             sopstest.Rules
	}{
		{"yaml, everything", "s.yaml", typed, sopstest.Rules{}},
		{"yaml, Kubernetes rules", "s.yaml", sopsSecret, sopstest.KubernetesRules},
		{"yaml, unencrypted regex", "s.yaml", sopsSecret, sopstest.Rules{UnencryptedRegex: "^(apiVersion|kind|metadata)$"}},
		{"yaml, encrypted suffix, MAC of encrypted only", "s.yaml", "a: 1\nb_secret: two\nc: [3]\n", sopstest.Rules{EncryptedSuffix: "_secret", MACOnlyEncrypted: true}},
		{"yaml, several documents", "s.yaml", sopsSecret + "---\n" + strings.ReplaceAll(sopsSecret, "name: db", "name: db2"), sopstest.KubernetesRules},
		{"json", "s.json", `{"a": "text", "n": 42, "f": 1.5, "b": false, "list": ["x", {"y": "z"}]}`, sopstest.Rules{}},
		{"dotenv", "s.env", "USER=admin\nPASSWORD=hunter2-correct-horse\n# comment\nMULTI=a\\nb\n", sopstest.Rules{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			format := map[string]string{".yaml": "yaml", ".json": "json", ".env": "dotenv"}[filepath.Ext(tc.file)]
			enc := sopstest.Encrypt(t, format, []byte(tc.plain), tc.rules, key.Recipient)
			require.Contains(t, string(enc), encMarker)
			dec, err := decryptSOPSFile(tc.file, enc, keys)
			require.NoError(t, err)
			require.NotNil(t, dec)
			assert.NotContains(t, string(dec.Plain), "ENC[")
			assert.NotContains(t, string(dec.Plain), "sops")
			assert.NotEmpty(t, dec.Values)
			if format == "dotenv" {
				assert.Equal(t, tc.plain[:strings.Index(tc.plain, "# comment")]+tc.plain[strings.Index(tc.plain, "MULTI"):], string(dec.Plain))
				return
			}
			assert.Equal(t, yamlDocs(t, tc.plain), yamlDocs(t, string(dec.Plain)))
		})
	}
}

// yamlDocs decodes a YAML stream into its documents, for comparison.
func yamlDocs(t *testing.T, s string) []any {
	t.Helper()
	var out []any
	for _, doc := range strings.Split(s, "\n---\n") {
		var v any
		require.NoError(t, sigsyaml.Unmarshal([]byte(doc), &v))
		out = append(out, v)
	}
	return out
}

// TestSOPSRefused: what must never load, each refused at its path, line
// and column with a message that says what to do, and no encrypted or
// decrypted value in any message.
func TestSOPSRefused(t *testing.T) {
	key, stranger := sopstest.NewKey(t), sopstest.NewKey(t)
	enc := string(sopstest.Encrypt(t, "yaml", []byte(sopsSecret), sopstest.KubernetesRules, key.Recipient))
	encLine := 1 + strings.Count(enc[:strings.Index(enc, "\nsops:")+1], "\n")
	tampered := strings.Replace(enc, "password: ENC[AES256_GCM,data:", "password: ENC[AES256_GCM,data:AAAA", 1)
	swapped := strings.Replace(enc, "kind: Secret", "kind: Secret\nimmutable: true", 1)
	configMap := string(sopstest.Encrypt(t, "yaml", []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: ml}\ndata: {password: hunter2-correct-horse}\n"), sopstest.KubernetesRules, key.Recipient))
	noMeta := enc[:strings.Index(enc, "\nsops:")+1]
	kmsOnly := strings.Replace(enc, "    age:\n", "    kms:\n        - arn: arn:aws:kms:us-east-1:1:key/x\n          enc: abc\n    age_was:\n", 1)
	for _, tc := range []struct {
		name, content string
		keys          SOPSKeys
		want          string
	}{
		{"no key given", enc, SOPSKeys{}, "clusters/dev/secret.yaml:" + itoa(encLine) + ":1: SOPS key missing: the file is encrypted for age " + key.Recipient + " and no age key was given: give its age key with --sops-age-key-file"},
		{"another key", enc, SOPSKeys{Age: []string{stranger.Identity}}, "none of the age keys given opens it"},
		{"KMS only", kmsOnly, SOPSKeys{Age: []string{key.Identity}}, "SOPS key missing: the file is encrypted for 1 AWS KMS key(s), and trellis decrypts with age keys only (it never calls a KMS or runs gpg)"},
		{"tampered value", tampered, SOPSKeys{Age: []string{key.Identity}}, "stringData.password: SOPS-encrypted value does not decrypt"},
		{"value added by hand", swapped, SOPSKeys{Age: []string{key.Identity}}, "SOPS MAC mismatch: the file was changed after it was encrypted"},
		{"metadata cut off", noMeta, SOPSKeys{Age: []string{key.Identity}}, "SOPS-encrypted value, but the file has no SOPS metadata"},
		{"not a Secret", configMap, SOPSKeys{Age: []string{key.Identity}}, "clusters/dev/secret.yaml:1:1: a SOPS-encrypted file holds ConfigMap c: only v1 Secrets may be encrypted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := t.TempDir()
			write(t, filepath.Join(repo, "cluster.yaml"), hostileCluster)
			write(t, filepath.Join(repo, "clusters/dev/secret.yaml"), tc.content)
			_, err := Dir(t.Context(), repo, Options{SOPS: tc.keys})
			require.Error(t, err)
			msg := strings.Join(problemStrings(err, repo), "\n")
			assert.Contains(t, msg, tc.want)
			assert.NotContains(t, msg, "hunter2")
			assert.NotContains(t, msg, "ENC[")
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func problemStrings(err error, repo string) []string {
	var out []string
	for _, p := range Problems(err, repo, nil) {
		out = append(out, p.String())
	}
	return out
}

// sopsRepo is a repo with a SOPS-encrypted Secret, and a kustomization
// whose secretGenerator reads a SOPS-encrypted dotenv file.
func sopsRepo(t *testing.T, key sopstest.Key) string {
	t.Helper()
	repo := t.TempDir()
	write(t, filepath.Join(repo, "cluster.yaml"), hostileCluster)
	write(t, filepath.Join(repo, "clusters/dev/secret.yaml"), string(sopstest.Encrypt(t, "yaml", []byte(sopsSecret), sopstest.KubernetesRules, key.Recipient)))
	write(t, filepath.Join(repo, "clusters/dev/app/kustomization.yaml"), "namespace: ml\nsecretGenerator:\n- name: creds\n  envs: [creds.env]\n  options: {disableNameSuffixHash: true}\n")
	write(t, filepath.Join(repo, "clusters/dev/app/creds.env"), string(sopstest.Encrypt(t, "dotenv", []byte("API_KEY=api-key-from-dotenv\n"), sopstest.Rules{}, key.Recipient)))
	return repo
}

// TestSOPSRenders: a repo's SOPS files decrypt into the Secrets applied,
// whose values SecretValuesOf gives every redactor; in a child process
// too (the keys go on its standard input, never its arguments or
// environment).
func TestSOPSRenders(t *testing.T) {
	key := sopstest.NewKey(t)
	repo := sopsRepo(t, key)
	opts := Options{SOPS: SOPSKeys{Age: []string{key.Identity}}}
	for name, run := range map[string]func() (*Result, error){
		"in process": func() (*Result, error) { return Dir(t.Context(), repo, opts) },
		"isolated":   func() (*Result, error) { return DirIsolated(t.Context(), repo, opts, Isolation{}) },
	} {
		t.Run(name, func(t *testing.T) {
			res, err := run()
			require.NoError(t, err)
			db, creds := sopsObject(res, "Secret", "db"), sopsObject(res, "Secret", "creds")
			require.NotNil(t, db)
			require.NotNil(t, creds)
			assert.Equal(t, "hunter2-correct-horse", db.Object["stringData"].(map[string]any)["password"])
			assert.Equal(t, "c2VjcmV0LXRva2VuLXZhbHVl", db.Object["data"].(map[string]any)["token"])
			assert.Equal(t, base64.StdEncoding.EncodeToString([]byte("api-key-from-dotenv")), creds.Object["data"].(map[string]any)["API_KEY"])
			assert.Contains(t, SecretValuesOf(db), "hunter2-correct-horse")
			assert.Contains(t, SecretValuesOf(db), "secret-token-value")
			assert.Contains(t, SecretValuesOf(creds), "api-key-from-dotenv")
			assert.Empty(t, res.SOPSWithheld)
		})
	}
}

// TestSOPSLeakRefused: a configMapGenerator fed a SOPS file would put
// decrypted values where no redactor looks: refused.
func TestSOPSLeakRefused(t *testing.T) {
	key := sopstest.NewKey(t)
	repo := sopsRepo(t, key)
	write(t, filepath.Join(repo, "clusters/dev/app/kustomization.yaml"), "namespace: ml\nconfigMapGenerator:\n- name: creds\n  envs: [creds.env]\n")
	_, err := Dir(t.Context(), repo, Options{SOPS: SOPSKeys{Age: []string{key.Identity}}})
	require.Error(t, err)
	msg := strings.Join(problemStrings(err, repo), "\n")
	assert.Contains(t, msg, "clusters/dev/app/kustomization.yaml:1:1: kustomize build: ConfigMap creds")
	assert.Contains(t, msg, "holds a value decrypted from the SOPS file clusters/dev/app/creds.env: decrypted values may only go into Secrets")
	assert.NotContains(t, msg, "api-key-from-dotenv")
}

// TestSOPSWithheld: without keys by policy (a fork's pull request), SOPS
// files load with placeholders that change only when the ciphertext does,
// marked so, and listed.
func TestSOPSWithheld(t *testing.T) {
	key := sopstest.NewKey(t)
	repo := sopsRepo(t, key)
	opts := Options{SOPS: SOPSKeys{Withheld: "pull request from a fork"}}
	res, err := Dir(t.Context(), repo, opts)
	require.NoError(t, err)
	assert.Equal(t, []string{"clusters/dev/app/creds.env", "clusters/dev/secret.yaml"}, sortedCopy(res.SOPSWithheld))
	db := sopsObject(res, "Secret", "db")
	require.NotNil(t, db)
	assert.Equal(t, "true", db.GetAnnotations()[AnnotationSOPSWithheld])
	pw := db.Object["stringData"].(map[string]any)["password"].(string)
	assert.True(t, strings.HasPrefix(pw, WithheldPrefix), pw)
	again, err := Dir(t.Context(), repo, opts)
	require.NoError(t, err)
	assert.Equal(t, pw, sopsObject(again, "Secret", "db").Object["stringData"].(map[string]any)["password"])
	out, _ := json.Marshal(res)
	assert.NotContains(t, string(out), "hunter2")
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// sopsObject is the rendered object of kind and name, in any cluster.
func sopsObject(res *Result, kind, name string) *unstructured.Unstructured {
	for _, c := range res.Clusters {
		for _, o := range c.Objects {
			if o.GetKind() == kind && o.GetName() == name {
				return o
			}
		}
	}
	return nil
}

// FuzzSOPS: the SOPS reader never panics, nor returns a decrypted file
// with ENC[…] values left in it, whatever the file.
func FuzzSOPS(f *testing.F) {
	key := sopstest.NewKey(f)
	f.Add("s.yaml", sopstest.Encrypt(f, "yaml", []byte(sopsSecret), sopstest.KubernetesRules, key.Recipient))
	f.Add("s.json", sopstest.Encrypt(f, "json", []byte(`{"a": [1, "b"]}`), sopstest.Rules{}, key.Recipient))
	f.Add("s.env", sopstest.Encrypt(f, "dotenv", []byte("A=b\n"), sopstest.Rules{}, key.Recipient))
	f.Add("s.yaml", []byte("a: ENC[AES256_GCM,data:x,iv:y,tag:z,type:str]\n"))
	keys, err := SOPSKeys{Age: []string{key.Identity}}.keyring()
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		for _, k := range []*sopsKeyring{keys, {withheld: "fork"}} {
			dec, err := decryptSOPSFile(name, data, k)
			if err == nil && dec != nil && k.withheld == "" {
				assert.NotContains(t, string(dec.Plain), encMarker)
			}
		}
	})
}
