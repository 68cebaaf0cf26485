// Package mlkind is trellis' one interpreter of the status of ML kinds:
// Argo Workflows, WorkflowTemplates and CronWorkflows, Katib Experiments
// and their optimal trial, Kubeflow training jobs (PyTorchJob, TFJob,
// TrainJob) and KServe InferenceServices.
//
// Health says whether an object is ready, in progress or failed (what
// `apply --wait` waits for); Observe describes a run or an endpoint (its
// phase, times, outputs, serving URL, what lineage records) and takes its
// verdict of done from Health, so that waiting and following never judge
// the same object differently. WorkflowOutputs and OptimalTrial read a
// run's outputs. Every other kind is judged by kstatus.
package mlkind
