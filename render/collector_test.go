package render

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"trellis.dev/trellis/schema"
)

// TestRenderExperimentCollectors checks where each metrics collector tells
// Katib to find the metrics: the source Katib's defaults would fill in
// (katib v0.19.0 pkg/apis/controller/experiments/v1beta1/experiment_defaults.go,
// setDefaultMetricsCollector) is written out, with the declared path.
func TestRenderExperimentCollectors(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   *schema.MetricsCollector
		want map[string]any
	}{
		{"default StdOut", nil, map[string]any{"collector": map[string]any{"kind": "StdOut"}}},
		{"File", &schema.MetricsCollector{Kind: "File", Path: "/out/metrics.log"}, map[string]any{
			"collector": map[string]any{"kind": "File"},
			"source":    map[string]any{"fileSystemPath": map[string]any{"path": "/out/metrics.log", "kind": "File"}},
		}},
		{"File JSON", &schema.MetricsCollector{Kind: "File", Path: "/out/m.json", Format: "JSON"}, map[string]any{
			"collector": map[string]any{"kind": "File"},
			"source":    map[string]any{"fileSystemPath": map[string]any{"path": "/out/m.json", "kind": "File", "format": "JSON"}},
		}},
		{"TensorFlowEvent", &schema.MetricsCollector{Kind: "TensorFlowEvent", Path: "/logs"}, map[string]any{
			"collector": map[string]any{"kind": "TensorFlowEvent"},
			"source":    map[string]any{"fileSystemPath": map[string]any{"path": "/logs", "kind": "Directory"}},
		}},
		{"Prometheus", &schema.MetricsCollector{Kind: "Prometheus", Port: 8080, Path: "/metrics"}, map[string]any{
			"collector": map[string]any{"kind": "Prometheus"},
			"source":    map[string]any{"httpGet": map[string]any{"port": int64(8080), "path": "/metrics"}},
		}},
		{"None", &schema.MetricsCollector{Kind: "None"}, map[string]any{"collector": map[string]any{"kind": "None"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, metricsCollectorSpec(schema.Objective{Collector: tt.in}))
		})
	}
}
