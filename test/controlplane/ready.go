package controlplane

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"k8s.io/client-go/rest"
)

// readyPollInterval is how often Start probes /readyz.
const readyPollInterval = 100 * time.Millisecond

// waitReady polls kube-apiserver's /readyz until it answers ok, either
// process exits, or timeout passes.
func (cp *ControlPlane) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client, err := rest.HTTPClientFor(cp.restConfig)
	if err != nil {
		return fmt.Errorf("readiness client: %w", err)
	}
	tick := time.NewTicker(readyPollInterval)
	defer tick.Stop()
	for {
		lastErr := probeReadyz(ctx, client, cp.restConfig.Host)
		if lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kube-apiserver at %s not ready: %w (last probe: %w)\nend of %s:\n%s\nend of %s:\n%s",
				cp.restConfig.Host, ctx.Err(), lastErr,
				cp.apiserver.logPath, cp.apiserver.logTail(), cp.etcd.logPath, cp.etcd.logTail())
		case <-cp.etcd.exited():
			return cp.etcd.exitError()
		case <-cp.apiserver.exited():
			return cp.apiserver.exitError()
		case <-tick.C:
		}
	}
}

// Healthy probes /readyz once, and checks that both processes still run.
func (cp *ControlPlane) Healthy(ctx context.Context) error {
	for _, p := range []*process{cp.etcd, cp.apiserver} {
		if p == nil || !p.alive() {
			return fmt.Errorf("control plane in %s: process not running", cp.dir)
		}
	}
	client, err := rest.HTTPClientFor(cp.restConfig)
	if err != nil {
		return fmt.Errorf("readiness client: %w", err)
	}
	return probeReadyz(ctx, client, cp.restConfig.Host)
}

// probeReadyz asks host's /readyz once.
func probeReadyz(ctx context.Context, client *http.Client, host string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, host+"/readyz", nil)
	if err != nil {
		return fmt.Errorf("readyz request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s/readyz: %w", host, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s/readyz: %s: %s", host, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
