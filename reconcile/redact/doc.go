// Package redact is trellis' one redactor. Secret (and Pair, for a diff)
// hides the values of a Secret object by their place; a Redactor hides
// secrets in free text: every value of every Secret of the revision
// (render.Result.SecretValues, render.SecretValues for a repo that failed
// to load) plus DefaultPatterns. Logs, diffs, lineage records and run
// logs, and pull-request comments all go through it.
package redact
