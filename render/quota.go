package render

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/resource"

	"trellis.dev/trellis/schema"
)

// fits reports, at path, each resource of r that, taken times copies,
// exceeds the namespace's quota. what says what the copies are.
func (c refCheck) fits(path string, r *schema.Resources, copies int64, what string) {
	q := c.ns.Quota
	if r == nil || q == nil {
		return
	}
	where := fmt.Sprintf("namespace %q of cluster %q", c.d.Namespace, c.d.Cluster)
	times := func(each string) string {
		if copies == 1 {
			return ""
		}
		return fmt.Sprintf(" (%s × %s)", each, what)
	}
	if q.GPU != nil && r.GPU*copies > *q.GPU {
		c.errorf(path+".gpu", "requests %d nvidia.com/gpu%s, over the quota of %d in %s",
			r.GPU*copies, times(fmt.Sprint(r.GPU)), *q.GPU, where)
	}
	for _, res := range []struct {
		name       string
		want, have schema.Quantity
	}{{"cpu", r.CPU, q.CPU}, {"memory", r.Memory, q.Memory}} {
		if res.want == "" || res.have == "" {
			continue
		}
		want, err1 := resource.ParseQuantity(string(res.want))
		have, err2 := resource.ParseQuantity(string(res.have))
		if err1 != nil || err2 != nil {
			continue // the schema checked the syntax; an overflow is not ours to report
		}
		total := want.DeepCopy()
		total.Mul(copies)
		if total.Cmp(have) > 0 {
			c.errorf(path+"."+res.name, "requests %s %s%s, over the quota of %s in %s",
				total.String(), res.name, times(want.String()), have.String(), where)
		}
	}
}

// limits checks that a workload's declared CPU and memory limits are not
// below its requests, which the apiserver would refuse.
func (c refCheck) limits(path string, r *schema.WorkloadResources) {
	if r == nil || r.Limits == nil {
		return
	}
	for _, res := range []struct {
		name           string
		request, limit schema.Quantity
	}{{"cpu", r.CPU, r.Limits.CPU}, {"memory", r.Memory, r.Limits.Memory}} {
		if res.request != "" && res.limit != "" && quantityLess(res.limit, res.request) {
			c.errorf(path+".limits."+res.name, "limit %s is below the request of %s", res.limit, res.request)
		}
	}
}
