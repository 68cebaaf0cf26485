package main

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/api/resource"

	"trellis.dev/trellis/render"
)

// renderBoundsOptions are the flags that bound the renders serve and pr
// run on revisions and pull-request heads they do not trust: each runs in
// a child process of trellis, killed at the timeout or past its memory.
// defaultRenderMemory is render.DefaultIsolatedMemory as a flag value.
const defaultRenderMemory = "512Mi"

type renderBoundsOptions struct {
	timeout time.Duration
	memory  string
}

func addRenderBoundsFlags(f *pflag.FlagSet, o *renderBoundsOptions) {
	f.DurationVar(&o.timeout, "render-timeout", render.DefaultTimeout, "how long the render of a revision or of a pull request's side may take; one that takes longer is reported and not applied")
	f.StringVar(&o.memory, "render-memory", defaultRenderMemory, "how much memory the render of a revision or of a pull request's side may take (it runs in a child process, killed past it)")
}

// bounds are the render bounds the flags say.
func (o renderBoundsOptions) bounds() (render.Bounds, error) {
	if o.timeout < 0 {
		return render.Bounds{}, usageError{fmt.Errorf("--render-timeout must be positive, not %s", o.timeout)}
	}
	if o.memory == "" {
		o.memory = defaultRenderMemory
	}
	q, err := resource.ParseQuantity(o.memory)
	if err != nil || q.Value() < 64<<20 {
		return render.Bounds{}, usageError{fmt.Errorf("--render-memory must be a quantity of at least 64Mi, such as 512Mi, not %q", o.memory)}
	}
	return render.Bounds{Timeout: o.timeout, Isolation: &render.Isolation{MemoryBytes: q.Value()}}, nil
}
