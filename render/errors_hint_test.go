package render

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestTypeConflict pins the one line a value of the wrong type becomes,
// whichever side of CUE's conflict the user's value is on.
func TestTypeConflict(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`spec.replicas.min: conflicting values "2" and int (mismatched types string and int)`,
			`spec.replicas.min: "2" is a string, want an integer: write 2 without quotes`},
		{`spec.replicas.min: conflicting values "2" and 1 (mismatched types string and int)`,
			`spec.replicas.min: "2" is a string, want an integer: write 2 without quotes`},
		{`spec.retries: conflicting values "three" and int (mismatched types string and int)`,
			`spec.retries: "three" is a string, want an integer`},
		{`spec.isolated: conflicting values "true" and bool (mismatched types string and bool)`,
			`spec.isolated: "true" is a string, want true or false: write true without quotes`},
		{`spec.retries: conflicting values 0 and {a:1} (mismatched types int and struct)`,
			`spec.retries: want an integer, not a mapping`},
		{`spec.env: conflicting values [1] and {} (mismatched types list and struct)`,
			`spec.env: want a mapping, not a list`},
		{`spec.image: conflicting values 3 and string (mismatched types int and string)`,
			`spec.image: 3 is an integer, want a string`},
		{`spec.env.TOKEN: conflicting values <value elided> and string (mismatched types int and string)`,
			`spec.env.TOKEN: <value elided> is an integer, want a string`},
		{`spec.target: invalid value 150 (out of bound <=100)`, `spec.target: invalid value 150 (out of bound <=100)`},
	} {
		assert.Equal(t, tc.want, typeConflict(tc.in), tc.in)
	}
}

// TestFieldHint pins the suggestion for a field the schema does not allow,
// for a declaration checked against its kind (the path names the kind) and
// one written in CUE against a definition (the path names the value).
func TestFieldHint(t *testing.T) {
	for _, tc := range []struct {
		path []string
		want string
	}{
		{[]string{"#Kinds", "Endpoint", "spec", "replica"}, "did you mean replicas? (known: autoscaling, canaryPercent, cluster, container, model, namespace, nodePool, replicas, resources, serviceAccountName, timeout, transformer, upstream)"},
		{[]string{"#Kinds", "Pipeline", "spec", "steps", "0", "retrys"}, "did you mean retries? (known: args, arguments, backoff, command, continueOn, depends, dependsOn, env, envRefs, image, initContainers, inputs, mounts, name, nodePool, outputs, resources, retries, retryPolicy, sidecars, source, task, timeout, upstream, when, withItems, withParam)"},
		{[]string{"#Kinds", "Cluster", "spec", "namespaces", "ml", "qouta"}, "did you mean quota? (known: access, allowFrom, isolated, labels, limits, paths, quota, serviceAccount)"},
		{[]string{"#Kinds", "Endpoint", "spec", "zzzzzzz"}, "known: autoscaling, canaryPercent, cluster, container, model, namespace, nodePool, replicas, resources, serviceAccountName, timeout, transformer, upstream"},
		{[]string{"train", "spec", "steps", "0", "retrys"}, "did you mean retries?"},
		{[]string{"mnist", "spec", "replica"}, "did you mean replicas?"},
		{[]string{"config", "bogus"}, ""},
	} {
		assert.Equal(t, tc.want, fieldHint(tc.path), tc.path)
	}
}
