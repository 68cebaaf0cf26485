// Package source fetches config repos: all Git goes through go-git.
//
// A source is a Git URL (https, ssh, file://) or a plain local directory, a
// ref, and a path inside the repo. This package resolves the revision that a
// render records on every object, and (with the daemon) polls remotes.
package source
