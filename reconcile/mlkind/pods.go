package mlkind

import (
	"hash/fnv"
	"sort"
	"strconv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Argo's pod names (workflow/util GeneratePodName): a v1 pod is named
// after its node id; a v2 pod <workflow>-<template>-<fnv32a(node name)>,
// the prefix cut to leave room for the hash.
const (
	argoPodNameAnnotation = "workflows.argoproj.io/pod-name-format"
	argoMaxPodNamePrefix  = 253 - 10 - 1
)

// WorkflowPod is a Pod node of an Argo Workflow.
type WorkflowPod struct {
	// Step is the pipeline step (see StepOf).
	Step string
	// Pods are the names its pod may have, the likeliest first.
	Pods []string
	// Start is the node's startedAt.
	Start string
}

// WorkflowPods returns the Pod nodes of wf, in the order they started,
// with the names their pod may have.
func WorkflowPods(wf *unstructured.Unstructured) []WorkflowPod {
	nodes, _, _ := unstructured.NestedMap(wf.Object, "status", "nodes")
	v2First := wf.GetAnnotations()[argoPodNameAnnotation] == "v2"
	var out []WorkflowPod
	for _, n := range nodes {
		node, ok := n.(map[string]any)
		if !ok || str(node, "type") != "Pod" {
			continue
		}
		template := str(node, "templateName")
		if template == "" {
			template = nestedString(node, "templateRef", "template")
		}
		step := StepOf(node)
		id, v2 := str(node, "id"), argoPodNameV2(wf.GetName(), str(node, "name"), template)
		pods := []string{id, v2}
		if v2First {
			pods = []string{v2, id}
		}
		if id == v2 || id == "" {
			pods = []string{v2}
		}
		out = append(out, WorkflowPod{Step: step, Pods: pods, Start: str(node, "startedAt")})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Start != out[j].Start {
			return out[i].Start < out[j].Start
		}
		return out[i].Pods[0] < out[j].Pods[0]
	})
	return out
}

// argoPodNameV2 is the v2 name of the pod of a node, as Argo makes it.
func argoPodNameV2(workflow, nodeName, template string) string {
	if workflow == nodeName {
		return workflow
	}
	prefix := workflow
	if template != "" {
		prefix += "-" + template
	}
	if len(prefix) > argoMaxPodNamePrefix {
		prefix = prefix[:argoMaxPodNamePrefix]
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(nodeName))
	return prefix + "-" + strconv.FormatUint(uint64(h.Sum32()), 10)
}
