package render

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"cuelang.org/go/cue/ast"
	cueerrors "cuelang.org/go/cue/errors"
	"cuelang.org/go/cue/load"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"
)

// cueOverlay is what CUE's loader sees of the repo: files under a virtual
// root, a directory that does not exist on the host.
type cueOverlay struct {
	// virtual is the root in the overlay, root the repo's real path, for
	// positions and messages.
	virtual, root string
	files         map[string]load.Source
	// data are the files' contents, by the same names.
	data map[string][]byte
	// mu guards renamed: errors are renamed from several goroutines.
	mu sync.Mutex
	// renamed are the token files of positions moved from virtual to
	// root.
	renamed map[*token.File]*token.File
}

func newCUEOverlay(root string) (*cueOverlay, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	// Absolute on every OS, and on none of them a directory that exists.
	virtual := filepath.Join(filepath.VolumeName(root)+string(filepath.Separator), "trellis-repo-"+hex.EncodeToString(b[:]))
	return &cueOverlay{virtual: virtual, root: root, files: map[string]load.Source{}, data: map[string][]byte{}, renamed: map[*token.File]*token.File{}}, nil
}

func (o *cueOverlay) add(rel string, data []byte) {
	name := filepath.Join(o.virtual, filepath.FromSlash(rel))
	o.files[name] = load.FromBytes(data)
	o.data[name] = data
}

// config loads from the overlay, with positions in the repo's real path.
func (o *cueOverlay) config() *load.Config {
	return &load.Config{
		Dir:        o.virtual,
		ModuleRoot: o.virtual,
		Overlay:    o.files,
		ParseFile: func(name string, src any, cfg parser.Config) (*ast.File, error) {
			return parser.ParseFile(o.realName(name), src, cfg)
		},
		Registry: noRegistry{},
		Env:      []string{},
	}
}

// realName is a file name of the overlay in the repo's real path.
func (o *cueOverlay) realName(name string) string {
	if rest, ok := strings.CutPrefix(name, o.virtual); ok {
		return o.root + rest
	}
	return name
}

// rename moves the positions and messages of CUE's errors from the
// virtual root to the repo's path.
func (o *cueOverlay) rename(err error) error {
	var out cueerrors.Error
	for _, e := range cueerrors.Errors(err) {
		out = cueerrors.Append(out, &renamedError{e: e, o: o})
	}
	return out
}

func (o *cueOverlay) renamePos(p token.Pos) token.Pos {
	f := p.File()
	if f == nil || !strings.HasPrefix(f.Name(), o.virtual) {
		return p
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	nf, ok := o.renamed[f]
	if !ok {
		nf = token.NewFile(o.realName(f.Name()), -1, f.Size())
		nf.SetLines(f.Lines())
		o.renamed[f] = nf
	}
	return nf.Pos(p.Offset(), token.NoRelPos)
}

// renamedError is a CUE error with its positions and messages moved from
// the overlay's virtual root to the repo's path.
type renamedError struct {
	e cueerrors.Error
	o *cueOverlay
}

func (e *renamedError) Position() token.Pos { return e.o.renamePos(e.e.Position()) }

func (e *renamedError) InputPositions() []token.Pos {
	in := e.e.InputPositions()
	out := make([]token.Pos, len(in))
	for i, p := range in {
		out[i] = e.o.renamePos(p)
	}
	return out
}

func (e *renamedError) Msg() (string, []any) {
	format, args := e.e.Msg()
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a
		if s := fmt.Sprint(a); strings.Contains(s, e.o.virtual) {
			out[i] = strings.ReplaceAll(s, e.o.virtual, e.o.root)
		}
	}
	return strings.ReplaceAll(format, e.o.virtual, e.o.root), out
}

func (e *renamedError) Path() []string { return e.e.Path() }

func (e *renamedError) Error() string {
	return strings.ReplaceAll(e.e.Error(), e.o.virtual, e.o.root)
}

var _ cueerrors.Error = (*renamedError)(nil)
