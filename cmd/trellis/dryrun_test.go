package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDryRunFlag takes --dry-run as kubectl does.
func TestDryRunFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want bool
		err  string
	}{
		{nil, false, ""},
		{[]string{"--dry-run"}, true, ""},
		{[]string{"--dry-run=server"}, true, ""},
		{[]string{"--dry-run=none"}, false, ""},
		{[]string{"--dry-run=true"}, true, ""},
		{[]string{"--dry-run=false"}, false, ""},
		{[]string{"--dry-run=client"}, false, "no client-side dry run"},
		{[]string{"--dry-run=maybe"}, false, "must be none or server"},
	} {
		var on bool
		cmd := newApplyCommand(streams{out: &bytes.Buffer{}, err: &bytes.Buffer{}})
		err := cmd.ParseFlags(tt.args)
		if tt.err != "" {
			assert.ErrorContains(t, err, tt.err, tt.args)
			continue
		}
		require.NoError(t, err, tt.args)
		on = cmd.Flags().Lookup("dry-run").Value.String() == "server"
		assert.Equal(t, tt.want, on, tt.args)
	}
}

// TestDryRunClientIsUsage: a refused value is a usage error, exit 2.
func TestDryRunClientIsUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	assert.Equal(t, exitUsage, run(context.Background(), []string{"apply", ".", "--dry-run=client"}, &out, &errOut))
	assert.Contains(t, errOut.String(), "no client-side dry run")
}
