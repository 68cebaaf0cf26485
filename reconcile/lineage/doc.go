// Package lineage records what each run of trellis did and writes it back
// to Git.
//
// # Records
//
// A run is one revision applied to one cluster (by the daemon or by a
// one-shot apply) or one pull-request check. Its Record is JSON with a
// schemaVersion: the source (URL without credentials, ref, revision,
// author, message), the cluster, start and end, the result, every
// declaration and every object with its action and content hash, the run
// objects it followed (Workflow runs, Katib Experiments, InferenceServices)
// with their phases and outputs, the models it pinned, and its errors.
//
// # Teed logs
//
// NewRun returns a Run whose Logger writes every log record, at the same
// moment, to the caller's handler (standard output) and to the run's own
// log, as tee does. The run log is text, bounded in size, and redacted
// like everything else.
//
// # Following runs
//
// An apply starts work that goes on after it: Argo Workflow runs, Katib
// Experiments, KServe InferenceServices rolling out. Targets picks them
// from a change set (those created or configured), and Follow reads each
// every few seconds (one GET each) until all have finished, a timeout
// (default 30 minutes) has passed or the context ends. Observe, a pure
// function, turns a live object into a Followed: a Workflow's phase,
// times, nodes counted by phase and outputs (parameters and artifact
// URIs); an Experiment's phase from its conditions and its optimal
// trial's parameters and metrics; an InferenceService's readiness, URL,
// model URI and traffic split. What has not finished when following stops
// keeps the phase last seen, with a message saying so. Follow logs each
// phase change, calls OnFinished as each run finishes (the daemon re-pins
// endpoints when a pipeline run succeeds), and copies the logs of a
// finished Workflow's pods, prefixed with [<workflow>/<step>], redacted
// and bounded, to a writer of the caller's choice; a pod whose log cannot
// be read is skipped.
//
// # Redaction
//
// Every string of a record and every log attribute goes through a
// redact.Redactor before it is written anywhere; its callers give it the
// values of every Secret of the revision (render.Result.SecretValues).
//
// # Write-back
//
// A Writer keeps records on disk (STATE/pending/<run-id>/) until they are
// pushed, so that a restart loses nothing, and pushes each as one commit on
// the lineage branch (default trellis/lineage, created as an orphan):
// runs/<YYYY-MM-DD>/<run-id>/run.json and run.log. A rejected push is
// fetched, the commits re-made on the new tip and pushed again with
// bounded exponential backoff: never a force push, never a lost record.
//
// # Reading
//
// Open reads the records of a lineage branch (from a URL, or a local
// repository), and Trace walks them from an endpoint to the model it
// serves, the pipeline run that produced it and the revision that created
// that run.
package lineage
