package render

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
)

// viewFS is the view as an io/fs.FS (for fs.Glob): every call goes
// through the view's checks and limits.
type viewFS struct{ v *view }

var (
	_ fs.ReadDirFS  = viewFS{}
	_ fs.ReadFileFS = viewFS{}
	_ fs.StatFS     = viewFS{}
)

func (f viewFS) Open(name string) (fs.File, error) {
	info, err := f.v.stat(name)
	if err != nil {
		return nil, err
	}
	if info.IsDir() {
		entries, err := f.v.readDir(name)
		if err != nil {
			return nil, err
		}
		return &dirFile{info: info, entries: entries}, nil
	}
	data, err := f.v.readFile(name)
	if err != nil {
		return nil, err
	}
	return &memFile{Reader: bytes.NewReader(data), info: info}, nil
}

func (f viewFS) Stat(name string) (fs.FileInfo, error) { return f.v.stat(name) }

func (f viewFS) ReadFile(name string) ([]byte, error) { return f.v.readFile(name) }

func (f viewFS) ReadDir(name string) ([]fs.DirEntry, error) { return f.v.readDir(name) }

// memFile is a file read whole through the view.
type memFile struct {
	*bytes.Reader
	info fs.FileInfo
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *memFile) Close() error               { return nil }

// dirFile is a directory listed through the view.
type dirFile struct {
	info    fs.FileInfo
	entries []fs.DirEntry
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dirFile) Close() error               { return nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.Name(), Err: errors.New("is a directory")}
}

func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if n <= 0 {
		out := d.entries
		d.entries = nil
		return out, nil
	}
	if len(d.entries) == 0 {
		return nil, io.EOF
	}
	n = min(n, len(d.entries))
	out := d.entries[:n]
	d.entries = d.entries[n:]
	return out, nil
}
