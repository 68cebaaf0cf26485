package render

import (
	"encoding/json"
	"errors"
	"path"
	"sort"
	"strings"

	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/token"
)

// AnnotationSOPSWithheld marks an object loaded from a SOPS file that was
// not decrypted (SOPSKeys.Withheld): its values are placeholders.
const AnnotationSOPSWithheld = "trellis.dev/sops-withheld"

// minSOPSValue is the shortest decrypted value looked for in the objects
// kustomize builds (shorter ones would match unrelated text).
const minSOPSValue = 8

// sopsLoad decrypts rel's data when it is a SOPS file. It returns what to
// load (data itself when it is not one) and the decryption (nil then);
// ok is false when the file is not to be loaded: its problem is recorded.
func (l *loader) sopsLoad(rel string, data []byte) (out []byte, dec *sopsDecrypted, ok bool) {
	dec, err := decryptSOPSFile(rel, data, l.sopsKeys)
	if err != nil {
		l.errs.add(sopsProblem(rel, data, err))
		return nil, nil, false
	}
	if dec == nil {
		return data, nil, true
	}
	l.secrets = append(l.secrets, dec.Values...)
	for _, v := range dec.Values {
		if len(v) >= minSOPSValue {
			l.sopsValues[v] = rel
		}
	}
	if dec.Withheld {
		l.repo.SOPSWithheld = append(l.repo.SOPSWithheld, rel)
	}
	return dec.Plain, dec, true
}

// sopsProblem places a SOPS error at its line and column of rel.
func sopsProblem(rel string, data []byte, err error) cueerrors.Error {
	var se *sopsError
	if !errors.As(err, &se) || se.Line < 1 {
		return fileError(rel, "%v", err)
	}
	f := token.NewFile(rel, -1, len(data)+1)
	f.SetLinesForContent(data)
	offset := 0
	if lines := f.Lines(); se.Line-1 < len(lines) {
		offset = min(lines[se.Line-1]+max(se.Col-1, 0), len(data))
	}
	return cueerrors.Newf(f.Pos(offset, token.NoRelPos), "%s", se.Msg)
}

// loadSOPSManifests loads a decrypted SOPS file: only v1 Secrets, whose
// values every redactor hides, may come from one.
func (l *loader) loadSOPSManifests(rel string, data []byte, dec *sopsDecrypted) {
	manifests, declarations := len(l.repo.Manifests), len(l.repo.Declarations)
	l.loadYAML(rel, dec.Plain)
	if len(l.repo.Declarations) > declarations {
		l.repo.Declarations = l.repo.Declarations[:declarations]
		l.errs.add(fileError(rel, "a SOPS-encrypted file holds a trellis declaration: only v1 Secrets may be encrypted (decrypted values are Secret values, hidden everywhere); keep the declaration in plain text and its secrets in a Secret"))
	}
	kept := l.repo.Manifests[:manifests]
	for _, m := range l.repo.Manifests[manifests:] {
		if m.Object.GetAPIVersion() != "v1" || m.Object.GetKind() != "Secret" {
			l.errs.add(fileError(rel, "a SOPS-encrypted file holds %s %s: only v1 Secrets may be encrypted (decrypted values are Secret values, hidden everywhere); put the values in a Secret and refer to it", m.Object.GetKind(), m.Object.GetName()))
			continue
		}
		if dec.Withheld {
			ann := m.Object.GetAnnotations()
			if ann == nil {
				ann = map[string]string{}
			}
			ann[AnnotationSOPSWithheld] = "true"
			m.Object.SetAnnotations(ann)
		}
		m.origin = origin{} // positions in the decrypted text would mislead
		kept = append(kept, m)
	}
	l.repo.Manifests = kept
}

// checkSOPSLeaks refuses an object that kustomize built from the
// kustomization in dir which is not a Secret yet holds a value decrypted
// from a SOPS file (a configMapGenerator fed a SOPS file, say).
func (l *loader) checkSOPSLeaks(file string, m map[string]any) bool {
	if len(l.sopsValues) == 0 || (m["apiVersion"] == "v1" && m["kind"] == "Secret") {
		return true
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return true
	}
	text := string(raw)
	var from []string
	for v, src := range l.sopsValues {
		enc, _ := json.Marshal(v)
		if strings.Contains(text, strings.Trim(string(enc), `"`)) {
			from = append(from, src)
		}
	}
	if len(from) == 0 {
		return true
	}
	sort.Strings(from)
	kind, _ := m["kind"].(string)
	name := ""
	if md, ok := m["metadata"].(map[string]any); ok {
		name, _ = md["name"].(string)
	}
	l.errs.add(fileError(file, "kustomize build: %s %s holds a value decrypted from the SOPS file %s: decrypted values may only go into Secrets (a secretGenerator, or a Secret resource)", kind, name, path.Clean(from[0])))
	return false
}
