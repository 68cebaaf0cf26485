package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestAnnotationEscaping escapes as GitHub's toolkit does (@actions/core
// command.ts): a message's %, CR and LF; a property's also : and ,.
func TestAnnotationEscaping(t *testing.T) {
	assert.Equal(t, "50%25 of a%0Ab: c, d", escapeData("50% of a\nb: c, d"))
	assert.Equal(t, "dir%2Ca%3Ab.yaml%0D", escapeProperty("dir,a:b.yaml\r"))
}
