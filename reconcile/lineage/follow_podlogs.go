package lineage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"

	"trellis.dev/trellis/reconcile/mlkind"
	"trellis.dev/trellis/reconcile/redact"
)

// DefaultPodLogLimit bounds the pod logs copied for one Workflow run.
const DefaultPodLogLimit = 64 << 10

// podLogTimeout bounds the fetch of one pod's log, so that one
// unreachable kubelet does not hold up the following of other runs.
const podLogTimeout = 20 * time.Second

// podLogSink writes the logs of one run's pods to w, each line prefixed
// with "[<workflow>/<step>] ", up to limit bytes of log in all.
type podLogSink struct {
	w         io.Writer
	red       *redact.Redactor
	limit     int
	used      int
	truncated bool
}

// remaining is how many more bytes of log the sink takes.
func (s *podLogSink) remaining() int { return max(s.limit-s.used, 0) }

// write copies one pod's log, cut to what remains of the limit, redacted,
// every line prefixed and ended by a newline. The first cut is noted by a line
// of its own.
func (s *podLogSink) write(prefix string, data []byte) error {
	if len(data) == 0 || s.truncated {
		return nil
	}
	cut := len(data) > s.remaining()
	data = data[:min(len(data), s.remaining())]
	s.used += len(data)
	if s.red != nil {
		data = []byte(s.red.Redact(string(data)))
	}
	var buf bytes.Buffer
	for line := range bytes.Lines(data) {
		buf.WriteString(prefix)
		buf.Write(line)
		if !bytes.HasSuffix(line, []byte("\n")) {
			buf.WriteByte('\n')
		}
	}
	if cut || s.remaining() == 0 {
		s.truncated = true
		fmt.Fprintf(&buf, "%spod logs cut at %d bytes\n", prefix, s.limit)
	}
	_, err := s.w.Write(buf.Bytes())
	return err
}

// podLogs copies the logs of the main containers of wf's Pod nodes to
// opts.PodLogs. A pod whose log cannot be read (gone, no kubelet) is
// skipped after one Debug line.
func (f *follower) podLogs(ctx context.Context, wf *unstructured.Unstructured) {
	if f.opts.PodLogs == nil {
		return
	}
	core, err := f.coreClient()
	if err != nil {
		f.log.Debug("no pod logs", "error", err)
		return
	}
	sink := &podLogSink{w: f.opts.PodLogs, red: f.opts.Redactor, limit: f.opts.PodLogLimit}
	for _, n := range mlkind.WorkflowPods(wf) {
		if sink.remaining() == 0 {
			return
		}
		data, err := podLog(ctx, core, wf.GetNamespace(), n.Pods, int64(sink.remaining()))
		if err != nil {
			f.log.Debug("no pod log", "kind", wf.GetKind(), "namespace", wf.GetNamespace(), "name", wf.GetName(),
				"step", n.Step, "error", err)
			continue
		}
		if err := sink.write("["+wf.GetName()+"/"+n.Step+"] ", data); err != nil {
			f.log.Debug("pod logs not written", "error", err)
			return
		}
	}
}

// coreClient returns the clientset pod logs are read with, made once.
func (f *follower) coreClient() (kubernetes.Interface, error) {
	if f.core == nil && f.coreErr == nil {
		f.core, f.coreErr = kubernetes.NewForConfig(f.c.Config)
	}
	return f.core, f.coreErr
}

// podLog reads at most limit bytes of the main container's log of the
// first of pods that answers.
func podLog(ctx context.Context, core kubernetes.Interface, ns string, pods []string, limit int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, podLogTimeout)
	defer cancel()
	var err error
	for _, name := range pods {
		var rc io.ReadCloser
		rc, err = core.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{Container: "main", LimitBytes: &limit}).Stream(ctx)
		if err != nil {
			err = fmt.Errorf("Pod/%s/%s: %w", ns, name, err)
			continue
		}
		data, rerr := io.ReadAll(io.LimitReader(rc, limit))
		_ = rc.Close()
		if rerr != nil {
			return data, fmt.Errorf("Pod/%s/%s: read log: %w", ns, name, rerr)
		}
		return data, nil
	}
	return nil, err
}

// discardLogger is the logger of a Follow without FollowOptions.Log.
var discardLogger = slog.New(slog.DiscardHandler)
