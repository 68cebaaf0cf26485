// Package schema holds trellis' declaration schemas and their Go types.
//
// # Source of truth
//
// The CUE files under cue/ define the four kinds (Cluster, Pipeline,
// Experiment, Endpoint) with their defaults, constraints and a doc comment on
// every field. They are embedded in the binary. Everything else derives from
// them:
//
//   - YAML and JSON declarations are unified with the same definitions
//     (see package render);
//   - CUE declarations import them as "trellis.dev/schema";
//   - `trellis schema` prints JSON Schema generated from them, for editors;
//   - the Go types in types.go mirror them, and a test keeps the two in step.
//
// # Messages
//
// CUE reports a failed pattern by printing the regular expression. Explain
// rewrites the schema's named patterns (#NamePattern, #CronPattern, ...) into
// words, so users read "must be a DNS-1123 label" rather than a regexp.
package schema
