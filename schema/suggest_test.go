package schema

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestClosest(t *testing.T) {
	for _, tt := range []struct {
		word       string
		candidates []string
		want       string
	}{
		{"stagin", []string{"prod", "staging"}, "staging"},
		{"Staging", []string{"prod", "staging"}, "staging"},
		{"endpoint", Kinds, "Endpoint"},
		{"pipelnie", Kinds, "Pipeline"},
		{"replica", []string{"replicas", "autoscaling"}, "replicas"},
		{"dev", []string{"prod", "staging"}, ""},
		{"x", []string{"prod"}, ""},
		{"ab", []string{"ac", "ab"}, "ab"},
		{"qouta", []string{"quota", "paths"}, "quota"},
		{"retrys", []string{"retries", "resources"}, "retries"},
	} {
		assert.Equal(t, tt.want, Closest(tt.word, tt.candidates), tt.word)
	}
}

func TestHint(t *testing.T) {
	assert.Equal(t, "did you mean staging? (known: prod, staging)", Hint("stagin", []string{"staging", "prod"}))
	assert.Equal(t, "known: prod, staging", Hint("dev", []string{"staging", "prod"}))
	assert.Equal(t, "none are declared", Hint("dev", nil))
}
