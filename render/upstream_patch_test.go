package render

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMergeUpstream pins the merge of a declaration's upstream field: RFC
// 7386's JSON merge patch, whole numbers as int64.
func TestMergeUpstream(t *testing.T) {
	rendered := func() map[string]any {
		return map[string]any{
			"predictor": map[string]any{
				"minReplicas": int64(1),
				"model":       map[string]any{"modelFormat": map[string]any{"name": "sklearn"}, "runtime": "kserve-sklearnserver"},
				"tolerations": []any{map[string]any{"key": "a"}},
			},
		}
	}
	for _, tt := range []struct {
		name, patch string
		want        map[string]any
	}{
		{"adds a field deep inside", `{"predictor":{"model":{"protocolVersion":"v2"}}}`, map[string]any{
			"predictor": map[string]any{
				"minReplicas": int64(1),
				"model":       map[string]any{"modelFormat": map[string]any{"name": "sklearn"}, "runtime": "kserve-sklearnserver", "protocolVersion": "v2"},
				"tolerations": []any{map[string]any{"key": "a"}},
			},
		}},
		{"null removes, numbers are int64", `{"predictor":{"model":{"runtime":null},"minReplicas":3,"timeout":1.5}}`, map[string]any{
			"predictor": map[string]any{
				"minReplicas": int64(3),
				"timeout":     1.5,
				"model":       map[string]any{"modelFormat": map[string]any{"name": "sklearn"}},
				"tolerations": []any{map[string]any{"key": "a"}},
			},
		}},
		{"a list replaces the list", `{"predictor":{"tolerations":[{"key":"b","x":null}]}}`, map[string]any{
			"predictor": map[string]any{
				"minReplicas": int64(1),
				"model":       map[string]any{"modelFormat": map[string]any{"name": "sklearn"}, "runtime": "kserve-sklearnserver"},
				"tolerations": []any{map[string]any{"key": "b"}},
			},
		}},
		{"a new object", `{"transformer":{"containers":[{"name":"t","image":"x"}]}}`, func() map[string]any {
			m := rendered()
			m["transformer"] = map[string]any{"containers": []any{map[string]any{"name": "t", "image": "x"}}}
			return m
		}()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var patch map[string]any
			require.NoError(t, json.Unmarshal([]byte(tt.patch), &patch))
			got := rendered()
			mergeUpstream(got, patch)
			assert.Equal(t, tt.want, got)
		})
	}
}
