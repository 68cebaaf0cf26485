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
