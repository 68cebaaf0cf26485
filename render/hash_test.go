package render

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAppendJSONAsMarshal: the bytes names are hashed from are
// json.Marshal's, whatever the value holds.
func TestAppendJSONAsMarshal(t *testing.T) {
	for _, v := range []any{
		map[string]any{"b": int64(1), "a": []any{"x", true, nil, 1.5, 1e21, 1e-7, int64(-3)}, "<&>": "\u2028\x01\"\\é\xff"},
		[]any{}, map[string]any{}, "", int(7), float64(3), map[string]string{"k": "v"},
		map[string]any{"spec": map[string]any{"tab\t": "line\nbreak", "z": map[string]any{}}},
	} {
		want, err := json.Marshal(v)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(appendJSON(nil, v)))
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add(`{"a":[1,"x<",true,null,{"b":1.5e300}],"é":"\u2028"}`)
	f.Fuzz(func(t *testing.T, doc string) {
		var v any
		if json.Unmarshal([]byte(doc), &v) != nil {
			return
		}
		v = normalized(v) // whole numbers as int64, as rendered values have them
		want, err := json.Marshal(v)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(appendJSON(nil, v)))
	})
}
