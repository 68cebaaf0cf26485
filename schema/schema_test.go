package schema

import (
	"testing"

	"cuelang.org/go/cue/cuecontext"
	"github.com/stretchr/testify/require"
)

func TestLoad(t *testing.T) {
	s, err := Load(cuecontext.New())
	require.NoError(t, err)
	for _, k := range Kinds {
		v, ok := s.Kind(k)
		require.True(t, ok, k)
		require.True(t, v.Exists(), k)
	}
	_, ok := s.Kind("Nope")
	require.False(t, ok)
}

func TestJSONSchema(t *testing.T) {
	s, err := Load(cuecontext.New())
	require.NoError(t, err)
	b, err := s.JSONSchema("")
	require.NoError(t, err)
	t.Log(string(b))
}
