package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var lineageServeURL = regexp.MustCompile(`^dashboard: (http://127\.0\.0\.1:\d+/ui/)\n$`)

// TestLineageServe: `trellis lineage serve` serves the dashboard's pages
// from a lineage branch alone: the clusters as their newest records say,
// a run, the endpoint's graph; it writes nothing and stops with its
// context (Ctrl-C, SIGTERM).
func TestLineageServe(t *testing.T) {
	_, url := lineageServer(t)
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"lineage", "serve", "--repo", url, "--addr", "127.0.0.1:0"}, &stdout, &stderr)
	}()
	require.Eventually(t, func() bool { return lineageServeURL.MatchString(stdout.String()) }, time.Minute, 5*time.Millisecond,
		"stdout: %s, stderr: %s", &stdout, &stderr)
	ui := lineageServeURL.FindStringSubmatch(stdout.String())[1]
	get := func(page string) (int, string) {
		resp, err := http.Get(ui + page)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}

	status, home := get("")
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, home, `data-cluster="prod"`)
	assert.Contains(t, home, `data-cluster="staging"`)
	assert.Contains(t, home, "cluster prod: connection refused", "prod's last error")
	assert.NotContains(t, home, "/ui/pulls", "no daemon, no pull requests")
	recs := lineageRecords()
	status, run := get("runs/" + recs[0].RunID)
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, run, "msg=applied run="+recs[0].RunID, "its log")
	status, graph := get("lineage/endpoints/staging/iris")
	require.Equal(t, http.StatusOK, status)
	for _, edge := range []string{
		`data-from="commit:ab12cd3" data-to="run:staging/ml/train-iris-5f2a9c"`,
		`data-from="run:staging/ml/train-iris-5f2a9c" data-to="model:s3://models/iris/train-iris-5f2a9c/model"`,
		`data-from="model:s3://models/iris/train-iris-5f2a9c/model" data-to="endpoint:staging/ml/iris"`,
	} {
		assert.Contains(t, graph, edge)
	}
	req, err := http.NewRequest(http.MethodPost, ui, strings.NewReader(""))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)

	cancel()
	assert.Equal(t, 0, <-exited, "stderr: %s", &stderr)
	_, err = http.Get(ui)
	assert.Error(t, err, "stopped")
}
