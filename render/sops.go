package render

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
	yaml "go.yaml.in/yaml/v3"
)

// SOPS files (https://getsops.io) are decrypted while the repo loads, in
// memory, with the age keys the operator gives (SOPSKeys): nothing else.
// The decryption here is trellis's own, written to SOPS's file format
// (YAML, JSON and dotenv; values sealed with AES-256-GCM under a data key
// that each recipient's age stanza encrypts; a MAC over the values): the
// SOPS library's decrypt path links the AWS, GCP, Azure, Vault and
// HuaweiCloud SDKs and a key service, and a file naming only such keys
// would make it call out. Here a file whose data key no given age
// identity opens is an error ("key missing"), whatever else it names:
// nothing is executed and nothing is reached over the network. The tests
// encrypt with the SOPS library itself, so the two agree.
//
// A file with SOPS metadata is never loaded encrypted: it decrypts, or it
// is an error at its path (so is a file with ENC[…] values and no or
// broken metadata). Decrypted values are Secret values: a SOPS file's
// objects must be v1 Secrets (or feed a kustomize secretGenerator), so
// that every redactor (render output, diffs, lineage, logs, comments)
// hides them like any Secret's (SecretValuesOf).

// SOPSKeys are the keys that decrypt the repo's SOPS files.
type SOPSKeys struct {
	// Age are age identities (AGE-SECRET-KEY-1…), each the text of a key
	// file (comments and several keys allowed), as SOPS_AGE_KEY holds.
	Age []string `json:"age,omitempty"`
	// Withheld, when set, is why no key is given (a pull request from a
	// fork): SOPS files are then checked but not decrypted, each
	// encrypted value replaced by a placeholder naming its ciphertext's
	// digest (sops-withheld-…), and the files are listed in
	// Result.SOPSWithheld. Such a render must never be applied.
	Withheld string `json:"withheld,omitempty"`
}

// WithheldPrefix starts the placeholder that stands for a value not
// decrypted (see SOPSKeys.Withheld).
const WithheldPrefix = "sops-withheld-"

// sopsError is a problem with a SOPS file at a line and column (1-based;
// 0 when unknown).
type sopsError struct {
	Line, Col int
	Msg       string
}

func (e *sopsError) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg) }

func sopsErrorf(line, col int, format string, args ...any) *sopsError {
	return &sopsError{Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// sopsDecrypted is a decrypted SOPS file.
type sopsDecrypted struct {
	// Plain is the file decrypted, in its format (YAML for YAML, JSON for
	// JSON, dotenv for dotenv), without the sops metadata.
	Plain []byte
	// Values are the decrypted values (only those that were encrypted).
	Values []string
	// Withheld is set when the values were replaced by placeholders.
	Withheld bool
}

// sopsKeyring holds the parsed age identities, or why none may be used.
type sopsKeyring struct {
	ids      []age.Identity
	withheld string
}

// keyring parses the identities of k.
func (k SOPSKeys) keyring() (*sopsKeyring, error) {
	r := &sopsKeyring{withheld: k.Withheld}
	if k.Withheld != "" {
		return r, nil
	}
	for i, text := range k.Age {
		ids, err := age.ParseIdentities(strings.NewReader(text))
		if err != nil {
			// The error of age names no key material.
			return nil, fmt.Errorf("SOPS age key %d: %v (an age key file holds lines AGE-SECRET-KEY-1…)", i+1, err)
		}
		r.ids = append(r.ids, ids...)
	}
	return r, nil
}

// sopsFormat is the SOPS store of a file: by its name, as sops chooses.
func sopsFormat(rel string) string {
	switch {
	case strings.HasSuffix(rel, ".json"):
		return "json"
	case strings.HasSuffix(rel, ".env"):
		return "dotenv"
	case strings.HasSuffix(rel, ".yaml") || strings.HasSuffix(rel, ".yml"):
		return "yaml"
	}
	return ""
}

// encMarker starts every value SOPS encrypts.
const encMarker = "ENC[AES256_GCM,"

// decryptSOPSFile decrypts data, the file rel, when it is a SOPS file;
// it returns nil, nil for any other file.
func decryptSOPSFile(rel string, data []byte, keys *sopsKeyring) (*sopsDecrypted, error) {
	switch sopsFormat(rel) {
	case "yaml", "json":
		return decryptSOPSYAML(data, keys, sopsFormat(rel) == "json")
	case "dotenv":
		return decryptSOPSDotenv(data, keys)
	}
	if i := bytes.Index(data, []byte(encMarker)); i >= 0 {
		line, col := lineCol(data, i)
		return nil, sopsErrorf(line, col, "holds a SOPS-encrypted value, but SOPS files are read only as .yaml, .yml, .json or .env: rename it, or decrypt it")
	}
	return nil, nil
}

// lineCol is the 1-based line and column of offset i in data.
func lineCol(data []byte, i int) (int, int) {
	line := 1 + bytes.Count(data[:i], []byte("\n"))
	col := i - bytes.LastIndexByte(data[:i], '\n')
	return line, col
}

// noMetadata is the error of a file with ENC[…] values and no metadata.
func noMetadata(data []byte) error {
	i := bytes.Index(data, []byte(encMarker))
	if i < 0 {
		return nil
	}
	line, col := lineCol(data, i)
	return sopsErrorf(line, col, "SOPS-encrypted value, but the file has no SOPS metadata (a top-level sops key): it cannot be decrypted and is never applied encrypted; encrypt the file again with sops")
}

// sopsMetadata is the part of SOPS's metadata that decrypting needs.
type sopsMetadata struct {
	Age []struct {
		Recipient string `yaml:"recipient"`
		Enc       string `yaml:"enc"`
	} `yaml:"age"`
	PGP []struct {
		Fingerprint string `yaml:"fp"`
	} `yaml:"pgp"`
	KMS       []any `yaml:"kms"`
	GCPKMS    []any `yaml:"gcp_kms"`
	HCKMS     []any `yaml:"hckms"`
	AzureKV   []any `yaml:"azure_kv"`
	Vault     []any `yaml:"hc_vault"`
	KeyGroups []any `yaml:"key_groups"`

	LastModified            string `yaml:"lastmodified"`
	MAC                     string `yaml:"mac"`
	UnencryptedSuffix       string `yaml:"unencrypted_suffix"`
	EncryptedSuffix         string `yaml:"encrypted_suffix"`
	UnencryptedRegex        string `yaml:"unencrypted_regex"`
	EncryptedRegex          string `yaml:"encrypted_regex"`
	UnencryptedCommentRegex string `yaml:"unencrypted_comment_regex"`
	EncryptedCommentRegex   string `yaml:"encrypted_comment_regex"`
	MACOnlyEncrypted        bool   `yaml:"mac_only_encrypted"`

	unencryptedRe, encryptedRe *regexp.Regexp
}

// check validates the metadata and compiles its regexps.
func (m *sopsMetadata) check() error {
	if len(m.KeyGroups) > 0 {
		return errors.New("SOPS key groups (Shamir secret sharing) are not supported: encrypt the file for age recipients without key groups")
	}
	if m.MAC == "" || m.LastModified == "" {
		return errors.New("SOPS metadata without mac or lastmodified: the file is damaged; encrypt it again with sops")
	}
	if m.UnencryptedCommentRegex != "" || m.EncryptedCommentRegex != "" {
		return errors.New("SOPS files encrypted with a comment regex are not supported: encrypt the file again without --encrypted-comment-regex/--unencrypted-comment-regex")
	}
	var err error
	if m.UnencryptedRegex != "" {
		if m.unencryptedRe, err = regexp.Compile(m.UnencryptedRegex); err != nil {
			return fmt.Errorf("SOPS metadata: unencrypted_regex: %v", err)
		}
	}
	if m.EncryptedRegex != "" {
		if m.encryptedRe, err = regexp.Compile(m.EncryptedRegex); err != nil {
			return fmt.Errorf("SOPS metadata: encrypted_regex: %v", err)
		}
	}
	return nil
}

// encrypted reports whether SOPS encrypts the value at path (its keys),
// by the rules of sops.Tree.shouldBeEncrypted.
func (m *sopsMetadata) encrypted(path []string) bool {
	enc := true
	if m.UnencryptedSuffix != "" {
		for _, p := range path {
			if strings.HasSuffix(p, m.UnencryptedSuffix) {
				enc = false
				break
			}
		}
	}
	if m.EncryptedSuffix != "" {
		enc = false
		for _, p := range path {
			if strings.HasSuffix(p, m.EncryptedSuffix) {
				enc = true
				break
			}
		}
	}
	if m.unencryptedRe != nil {
		for _, p := range path {
			if m.unencryptedRe.MatchString(p) {
				enc = false
				break
			}
		}
	}
	if m.encryptedRe != nil {
		enc = false
		for _, p := range path {
			if m.encryptedRe.MatchString(p) {
				enc = true
				break
			}
		}
	}
	return enc
}

// recipients names the file's keys, for messages.
func (m *sopsMetadata) recipients() string {
	var parts []string
	for _, a := range m.Age {
		parts = append(parts, "age "+a.Recipient)
	}
	for _, p := range m.PGP {
		parts = append(parts, "PGP "+p.Fingerprint)
	}
	for _, k := range []struct {
		name string
		n    int
	}{{"AWS KMS", len(m.KMS)}, {"GCP KMS", len(m.GCPKMS)}, {"HuaweiCloud KMS", len(m.HCKMS)}, {"Azure Key Vault", len(m.AzureKV)}, {"HashiCorp Vault", len(m.Vault)}} {
		if k.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s key(s)", k.n, k.name))
		}
	}
	if len(parts) == 0 {
		return "no recipients"
	}
	return strings.Join(parts, ", ")
}

// dataKey opens the file's data key with the keyring's age identities.
func (m *sopsMetadata) dataKey(keys *sopsKeyring) ([]byte, error) {
	hint := "give its age key with --sops-age-key-file, SOPS_AGE_KEY_FILE or SOPS_AGE_KEY (trellis serve: --sops-age-key-file on a mounted Secret)"
	if len(m.Age) == 0 {
		return nil, fmt.Errorf("SOPS key missing: the file is encrypted for %s, and trellis decrypts with age keys only (it never calls a KMS or runs gpg): add an age recipient with sops updatekeys or sops -r -i --add-age", m.recipients())
	}
	if len(keys.ids) == 0 {
		return nil, fmt.Errorf("SOPS key missing: the file is encrypted for %s and no age key was given: %s", m.recipients(), hint)
	}
	for _, a := range m.Age {
		r, err := age.Decrypt(armor.NewReader(strings.NewReader(a.Enc)), keys.ids...)
		if err != nil {
			var none *age.NoIdentityMatchError
			if errors.As(err, &none) {
				continue
			}
			return nil, fmt.Errorf("SOPS data key for age recipient %s: %v", a.Recipient, err)
		}
		key, err := io.ReadAll(io.LimitReader(r, 64))
		if err != nil {
			return nil, fmt.Errorf("SOPS data key for age recipient %s: %v", a.Recipient, err)
		}
		if len(key) != 32 {
			return nil, fmt.Errorf("SOPS data key for age recipient %s: %d bytes, want 32", a.Recipient, len(key))
		}
		return key, nil
	}
	return nil, fmt.Errorf("SOPS key missing: the file is encrypted for %s and none of the age keys given opens it: %s", m.recipients(), hint)
}

// checkMAC compares the MAC computed over the values with the file's.
func (m *sopsMetadata) checkMAC(key []byte, sum hash.Hash) error {
	at := m.LastModified
	if t, err := time.Parse(time.RFC3339, at); err == nil {
		at = t.Format(time.RFC3339)
	}
	mac, err := openValue(m.MAC, key, at)
	if err != nil {
		return fmt.Errorf("SOPS MAC: %v", err)
	}
	if got := fmt.Sprintf("%X", sum.Sum(nil)); got != mac.text {
		return errors.New("SOPS MAC mismatch: the file was changed after it was encrypted (edit it with sops, never by hand)")
	}
	return nil
}

// newMAC starts the MAC's hash as SOPS does.
func (m *sopsMetadata) newMAC() hash.Hash {
	h := sha512.New()
	if m.MACOnlyEncrypted {
		h.Write(macOnlyEncryptedInit)
	}
	return h
}

// macOnlyEncryptedInit is sops.MACOnlyEncryptedInitialization.
var macOnlyEncryptedInit = []byte{0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0xb, 0xb, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69}

// encValue matches a value SOPS encrypted (aes.Cipher's format).
var encValue = regexp.MustCompile(`^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]`)

// plainValue is a decrypted value: its text, and its SOPS type (str, int,
// float, bool, bytes, time, comment).
type plainValue struct {
	text, typ string
}

// macBytes is the value as SOPS hashes it (sops.ToBytes of the typed
// value).
func (p plainValue) macBytes() ([]byte, error) {
	switch p.typ {
	case "int":
		n, err := strconv.Atoi(p.text)
		return []byte(strconv.Itoa(n)), err
	case "float":
		f, err := strconv.ParseFloat(p.text, 64)
		return []byte(strconv.FormatFloat(f, 'f', -1, 64)), err
	case "bool":
		b, err := strconv.ParseBool(p.text)
		if b {
			return []byte("True"), err
		}
		return []byte("False"), err
	case "time":
		var t time.Time
		if err := t.UnmarshalText([]byte(p.text)); err != nil {
			return nil, err
		}
		return t.MarshalText()
	}
	return []byte(p.text), nil
}

// openValue decrypts one ENC[…] value with its additional data (the
// value's path, keys joined by ':' and ended by one).
func openValue(s string, key []byte, aad string) (plainValue, error) {
	if s == "" {
		return plainValue{typ: "str"}, nil
	}
	m := encValue.FindStringSubmatch(s)
	if m == nil {
		return plainValue{}, errors.New("not a SOPS-encrypted value (ENC[AES256_GCM,…]) where the file's rules say one must be")
	}
	data, err1 := base64.StdEncoding.DecodeString(m[1])
	iv, err2 := base64.StdEncoding.DecodeString(m[2])
	tag, err3 := base64.StdEncoding.DecodeString(m[3])
	if err := errors.Join(err1, err2, err3); err != nil || len(iv) == 0 || len(tag) != 16 {
		return plainValue{}, errors.New("damaged SOPS-encrypted value (bad base64, IV or tag)")
	}
	switch m[4] {
	case "str", "int", "float", "bool", "bytes", "time", "comment":
	default:
		return plainValue{}, fmt.Errorf("SOPS-encrypted value of unknown type %q", m[4])
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return plainValue{}, err
	}
	gcm, err := cipher.NewGCMWithNonceSize(block, len(iv))
	if err != nil {
		return plainValue{}, err
	}
	plain, err := gcm.Open(nil, iv, append(data, tag...), []byte(aad))
	if err != nil {
		return plainValue{}, errors.New("SOPS-encrypted value does not decrypt (it was moved, edited, or encrypted with another data key)")
	}
	return plainValue{text: string(plain), typ: m[4]}, nil
}

// withheldValue is the placeholder of a value not decrypted.
func withheldValue(s string) string {
	sum := sha256.Sum256([]byte(s))
	return WithheldPrefix + hex.EncodeToString(sum[:8])
}

// sopsWalk decrypts values in place and feeds the MAC.
type sopsWalk struct {
	meta   *sopsMetadata
	key    []byte
	keys   *sopsKeyring
	mac    hash.Hash
	values []string
}

// leaf decrypts (or withholds) the scalar s at path, when the rules say
// it is encrypted, and hashes it; it returns the value to write.
func (w *sopsWalk) leaf(s string, plainMAC func() ([]byte, error), path []string) (plainValue, bool, error) {
	if !w.meta.encrypted(path) {
		if strings.HasPrefix(s, encMarker) {
			return plainValue{}, false, errors.New("an ENC[…] value where the file's rules (its encrypted_regex, suffixes) say values are not encrypted: it was edited by hand and is never applied encrypted; encrypt the file again with sops")
		}
		if !w.meta.MACOnlyEncrypted && plainMAC != nil {
			b, err := plainMAC()
			if err != nil {
				return plainValue{}, false, err
			}
			w.mac.Write(b)
		}
		return plainValue{}, false, nil
	}
	if w.keys.withheld != "" {
		if !encValue.MatchString(s) && s != "" {
			return plainValue{}, false, errors.New("not a SOPS-encrypted value (ENC[AES256_GCM,…]) where the file's rules say one must be")
		}
		return plainValue{text: withheldValue(s), typ: "str"}, true, nil
	}
	p, err := openValue(s, w.key, strings.Join(path, ":")+":")
	if err != nil {
		return plainValue{}, false, err
	}
	if p.typ == "comment" {
		return plainValue{}, false, errors.New("SOPS-encrypted comment in a value's place is not supported")
	}
	b, err := p.macBytes()
	if err != nil {
		return plainValue{}, false, fmt.Errorf("SOPS value of type %s: %v", p.typ, err)
	}
	w.mac.Write(b)
	w.values = append(w.values, p.text)
	return p, true, nil
}

// decryptSOPSYAML decrypts a YAML (or JSON) SOPS file; nil, nil when it
// has no sops metadata and no encrypted value.
func decryptSOPSYAML(data []byte, keys *sopsKeyring, asJSON bool) (*sopsDecrypted, error) {
	if !bytes.Contains(data, []byte("sops")) && !bytes.Contains(data, []byte(encMarker)) {
		return nil, nil
	}
	var docs []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, noMetadata(data) // the loader reports the syntax error; nil when none is encrypted
		}
		docs = append(docs, &doc)
	}
	var metaNode, metaKey *yaml.Node
	for i, doc := range docs {
		if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
			continue
		}
		m := doc.Content[0]
		for j := 0; j+1 < len(m.Content); j += 2 {
			if m.Content[j].Value != "sops" {
				continue
			}
			if i == 0 && metaNode == nil {
				metaKey, metaNode = m.Content[j], m.Content[j+1]
			}
			m.Content = append(m.Content[:j], m.Content[j+2:]...)
			j -= 2
		}
	}
	if metaNode == nil {
		if err := noMetadata(data); err != nil {
			return nil, err
		}
		return nil, nil
	}
	at := func(n *yaml.Node, err error) error { return sopsErrorf(n.Line, n.Column, "%v", err) }
	if metaNode.Kind != yaml.MappingNode {
		return nil, at(metaKey, errors.New("SOPS metadata (the top-level sops key) is not a mapping: the file is damaged; encrypt it again with sops"))
	}
	meta := &sopsMetadata{}
	if err := metaNode.Decode(meta); err != nil {
		return nil, at(metaKey, fmt.Errorf("SOPS metadata: %v", err))
	}
	if err := meta.check(); err != nil {
		return nil, at(metaKey, err)
	}
	w := &sopsWalk{meta: meta, keys: keys, mac: meta.newMAC()}
	if keys.withheld == "" {
		key, err := meta.dataKey(keys)
		if err != nil {
			return nil, at(metaKey, err)
		}
		w.key = key
	}
	for _, doc := range docs {
		if err := w.node(doc, nil); err != nil {
			return nil, err
		}
	}
	if keys.withheld == "" {
		if err := meta.checkMAC(w.key, w.mac); err != nil {
			return nil, at(metaKey, err)
		}
	}
	plain, err := emitYAML(docs, asJSON)
	if err != nil {
		return nil, at(metaKey, err)
	}
	return &sopsDecrypted{Plain: plain, Values: w.values, Withheld: keys.withheld != ""}, nil
}

// node walks n at path, as sops walks its tree: a mapping's values under
// their keys, a sequence's items at the sequence's path.
func (w *sopsWalk) node(n *yaml.Node, path []string) error {
	n.HeadComment, n.LineComment, n.FootComment = "", "", ""
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if err := w.node(c, path); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			if err := w.node(c, path); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			k.HeadComment, k.LineComment, k.FootComment = "", "", ""
			if k.Kind != yaml.ScalarNode {
				return sopsErrorf(k.Line, k.Column, "SOPS file with a key that is not a string")
			}
			if err := w.node(n.Content[i+1], append(path[:len(path):len(path)], k.Value)); err != nil {
				return err
			}
		}
	case yaml.AliasNode:
		return sopsErrorf(n.Line, n.Column, "YAML alias in a SOPS file: sops never writes one; encrypt the file again with sops")
	case yaml.ScalarNode:
		return w.scalar(n, path)
	}
	return nil
}

// scalar decrypts one scalar in place.
func (w *sopsWalk) scalar(n *yaml.Node, path []string) error {
	var v any
	if err := n.Decode(&v); err != nil {
		return sopsErrorf(n.Line, n.Column, "%v", err)
	}
	if v == nil {
		return nil // sops neither encrypts nor hashes a null
	}
	plainMAC := func() ([]byte, error) {
		switch v := v.(type) {
		case string:
			return []byte(v), nil
		case int:
			return []byte(strconv.Itoa(v)), nil
		case float64:
			return []byte(strconv.FormatFloat(v, 'f', -1, 64)), nil
		case bool:
			if v {
				return []byte("True"), nil
			}
			return []byte("False"), nil
		case time.Time:
			return v.MarshalText()
		}
		return nil, fmt.Errorf("SOPS file with a value of type %T, which sops does not read", v)
	}
	s, _ := v.(string)
	p, changed, err := w.leaf(s, plainMAC, path)
	if err != nil {
		return sopsErrorf(n.Line, n.Column, "%s: %v", strings.Join(path, "."), err)
	}
	if !changed {
		return nil
	}
	n.Value, n.Style = p.text, 0
	switch p.typ {
	case "int":
		n.Tag = "!!int"
	case "float":
		n.Tag = "!!float"
	case "bool":
		n.Tag = "!!bool"
	case "time":
		n.Tag = "!!timestamp"
	default:
		n.Tag, n.Style = "!!str", yaml.DoubleQuotedStyle
	}
	return nil
}

// emitYAML writes the documents back, as YAML or as JSON.
func emitYAML(docs []*yaml.Node, asJSON bool) ([]byte, error) {
	var b bytes.Buffer
	for i, doc := range docs {
		if i > 0 && !asJSON {
			b.WriteString("---\n")
		}
		if asJSON {
			var v any
			if err := doc.Decode(&v); err != nil {
				return nil, err
			}
			out, err := jsonMarshalYAMLValue(v)
			if err != nil {
				return nil, err
			}
			b.Write(out)
			b.WriteByte('\n')
			continue
		}
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(doc); err != nil {
			return nil, err
		}
		if err := enc.Close(); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// decryptSOPSDotenv decrypts a dotenv SOPS file (KEY=VALUE lines, the
// metadata flattened into sops_… keys); nil, nil when it has none.
func decryptSOPSDotenv(data []byte, keys *sopsKeyring) (*sopsDecrypted, error) {
	type entry struct {
		key, value string
		line       int
	}
	var entries []entry
	flat := map[string]string{}
	metaLine := 0
	for i, line := range strings.Split(string(data), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			if bytes.Contains(data, []byte("sops_mac=")) {
				return nil, sopsErrorf(i+1, 1, "not a KEY=VALUE line in a SOPS dotenv file")
			}
			return nil, noMetadata(data)
		}
		v = strings.ReplaceAll(v, `\n`, "\n")
		if name, ok := strings.CutPrefix(k, "sops_"); ok {
			flat[name] = v
			if metaLine == 0 {
				metaLine = i + 1
			}
			continue
		}
		entries = append(entries, entry{k, v, i + 1})
	}
	if len(flat) == 0 {
		return nil, noMetadata(data)
	}
	at := func(err error) error { return sopsErrorf(metaLine, 1, "%v", err) }
	meta, err := unflattenSOPS(flat)
	if err != nil {
		return nil, at(err)
	}
	if err := meta.check(); err != nil {
		return nil, at(err)
	}
	w := &sopsWalk{meta: meta, keys: keys, mac: meta.newMAC()}
	if keys.withheld == "" {
		if w.key, err = meta.dataKey(keys); err != nil {
			return nil, at(err)
		}
	}
	var out strings.Builder
	for _, e := range entries {
		v := e.value
		p, changed, err := w.leaf(v, func() ([]byte, error) { return []byte(v), nil }, []string{e.key})
		if err != nil {
			return nil, sopsErrorf(e.line, 1, "%s: %v", e.key, err)
		}
		if changed {
			v = p.text
		}
		fmt.Fprintf(&out, "%s=%s\n", e.key, strings.ReplaceAll(v, "\n", `\n`))
	}
	if keys.withheld == "" {
		if err := meta.checkMAC(w.key, w.mac); err != nil {
			return nil, at(err)
		}
	}
	return &sopsDecrypted{Plain: []byte(out.String()), Values: w.values, Withheld: keys.withheld != ""}, nil
}

// unflattenSOPS reads dotenv's flattened metadata (age__list_0__map_enc,
// mac, …) into sopsMetadata.
func unflattenSOPS(flat map[string]string) (*sopsMetadata, error) {
	m := &sopsMetadata{}
	type ageKey = struct {
		Recipient string `yaml:"recipient"`
		Enc       string `yaml:"enc"`
	}
	ages := map[int]*ageKey{}
	maxAge := -1
	for k, v := range flat {
		head, rest, nested := strings.Cut(k, "__list_")
		if nested {
			idx, field, ok := strings.Cut(rest, "__map_")
			n, err := strconv.Atoi(idx)
			if !ok || err != nil || n < 0 || n > 1000 {
				return nil, fmt.Errorf("SOPS metadata: unreadable key sops_%s", k)
			}
			switch head {
			case "age":
				a := ages[n]
				if a == nil {
					a = &ageKey{}
					ages[n] = a
				}
				maxAge = max(maxAge, n)
				switch field {
				case "recipient":
					a.Recipient = v
				case "enc":
					a.Enc = v
				}
			case "pgp":
				if field == "fp" {
					m.PGP = append(m.PGP, struct {
						Fingerprint string `yaml:"fp"`
					}{v})
				}
			case "kms":
				m.KMS = append(m.KMS, v)
			case "gcp_kms":
				m.GCPKMS = append(m.GCPKMS, v)
			case "hckms":
				m.HCKMS = append(m.HCKMS, v)
			case "azure_kv":
				m.AzureKV = append(m.AzureKV, v)
			case "hc_vault":
				m.Vault = append(m.Vault, v)
			case "key_groups":
				m.KeyGroups = append(m.KeyGroups, v)
			}
			continue
		}
		switch k {
		case "lastmodified":
			m.LastModified = v
		case "mac":
			m.MAC = v
		case "unencrypted_suffix":
			m.UnencryptedSuffix = v
		case "encrypted_suffix":
			m.EncryptedSuffix = v
		case "unencrypted_regex":
			m.UnencryptedRegex = v
		case "encrypted_regex":
			m.EncryptedRegex = v
		case "unencrypted_comment_regex":
			m.UnencryptedCommentRegex = v
		case "encrypted_comment_regex":
			m.EncryptedCommentRegex = v
		case "mac_only_encrypted":
			m.MACOnlyEncrypted = v == "true"
		}
	}
	for i := 0; i <= maxAge; i++ {
		if a := ages[i]; a != nil {
			m.Age = append(m.Age, *a)
		}
	}
	return m, nil
}

// jsonMarshalYAMLValue writes a decoded YAML value as indented JSON.
func jsonMarshalYAMLValue(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }
