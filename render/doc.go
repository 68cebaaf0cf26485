// Package render turns a config repo into the objects each cluster should
// hold: it walks the repo, loads its YAML, JSON and CUE declarations and
// plain manifests and builds its kustomizations, validates everything
// (schemas, references, quotas), and renders the declarations into
// Argo Workflows, Katib, KServe and core objects.
//
// # Stages
//
// Dir is Load then Render. Load (load.go) walks the repo (walk.go), loads
// each YAML and JSON file (load.go), each CUE package (load_cue.go) and
// each kustomization assigned to a cluster (kustomize.go), then checks
// what no declaration checks alone (validate.go, refs.go, quota.go).
// Render (render.go) renders each cluster, one file per kind (cluster.go,
// pipeline.go, experiment.go, endpoint.go). A render is all or nothing:
// every problem is collected (errors.go) as a CUE error at path:line:col,
// and Problems formats them once, at the edge.
//
// # Cost
//
// YAML and JSON files and CUE packages are loaded by one worker per core
// (load_files.go, load_cue_eval.go), each with its own CUE context, and
// merged in the walk's order, so that the result and the problems are
// those of loading them in turn. A loaded declaration keeps its origin,
// not its CUE value (origin.go): the value is rebuilt from the same bytes
// for the position of a problem. A Cache (cache.go, cache_render.go)
// keeps what each file and package loaded and what each declaration
// rendered to, by content hash, for the next revision; Renderer
// (renderer.go) keeps one across the renders of the daemon, in a render
// child kept alive.
//
// # Hostile input
//
// A repo is hostile input (a pull request from a fork is one). Every byte
// of it is read through one view (view.go), opened with os.Root: paths
// are opened component by component beneath the repo (openat), so a
// symlink may point anywhere inside it and never out; pipes, sockets and devices are
// refused before they are opened; nothing under .git is read; sizes and
// entries are bounded (Limits). CUE loads from an overlay of files read
// through the view, rooted at a directory that does not exist, with
// @embed confined to the view and no module registry. Kustomize builds
// from an in-memory copy, after an allow-list of the paths its
// kustomizations name. Nothing runs a program or opens a connection.
//
// Dir and Load take a context and return as soon as it ends. A CUE
// evaluation cannot be interrupted, so a caller rendering what it does
// not trust (the daemon, a pull-request check) uses DirBounded, which runs
// the render in a child process (isolate.go) killed at its timeout or past
// its memory limit.
package render
