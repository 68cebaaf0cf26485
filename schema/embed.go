package schema

import (
	"embed"
	"io/fs"
	"path"
	"sort"
)

// ImportPath is the CUE import path under which declarations written in CUE
// find the schema: import "trellis.dev/schema".
const ImportPath = "trellis.dev/schema"

// APIVersion is the apiVersion of every declaration.
const APIVersion = "trellis.dev/v1alpha1"

//go:embed cue/*.cue
var cueFiles embed.FS

// Files returns the schema's CUE sources by base name, sorted by name.
func Files() []File {
	entries, err := fs.ReadDir(cueFiles, "cue")
	if err != nil {
		panic(err) // embedded at build time: cannot fail
	}
	files := make([]File, 0, len(entries))
	for _, e := range entries {
		data, err := cueFiles.ReadFile(path.Join("cue", e.Name()))
		if err != nil {
			panic(err)
		}
		files = append(files, File{Name: e.Name(), Data: data})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files
}

// File is one embedded CUE source file.
type File struct {
	Name string
	Data []byte
}
