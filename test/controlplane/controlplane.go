package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
)

// Defaults for Options.
const (
	DefaultContextName  = "trellis-test"
	DefaultStartTimeout = 2 * time.Minute
)

// maxStartAttempts bounds the retries when another process takes one of the
// ports between the moment the OS offered it and the moment etcd or
// kube-apiserver binds it.
const maxStartAttempts = 3

// Options configure Start. The zero value is a temporary, attached control
// plane without CRDs.
type Options struct {
	// Dir is the working directory for the etcd data, certificates, logs and
	// kubeconfig. It must be absent or empty. Empty means a new temporary
	// directory. Stop removes it in both cases.
	Dir string
	// BinDir holds etcd and kube-apiserver. Empty means FindBinaries' search.
	BinDir string
	// ContextName names the context and the cluster in the kubeconfig.
	// Default DefaultContextName.
	ContextName string
	// StartTimeout bounds the wait for kube-apiserver's /readyz.
	// Default DefaultStartTimeout.
	StartTimeout time.Duration
	// WithDefaultCRDs installs DefaultCRDDirs after startup.
	WithDefaultCRDs bool
	// CRDPaths are CRD files or directories installed after startup, after
	// the default ones.
	CRDPaths []string
	// Detach runs the processes in their own session so that they outlive
	// the caller; Load finds them again from Dir.
	Detach bool
	// APIServerArgs are extra kube-apiserver flags, such as
	// "--feature-gates=...", appended after trellis's own.
	APIServerArgs []string
	// NoSnapshot installs the CRDs into a fresh etcd instead of starting from
	// a cached snapshot that has them (see Start).
	NoSnapshot bool
	// Logger receives progress messages. Nil discards them.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.ContextName == "" {
		o.ContextName = DefaultContextName
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

// ControlPlane is a running etcd and kube-apiserver.
type ControlPlane struct {
	dir         string
	kubeconfig  string
	restConfig  *rest.Config
	etcd        *process
	apiserver   *process
	stopOnce    sync.Once
	stopErr     error
	clientsOnce sync.Once
	clients     *clients
	clientsErr  error
}

// Start starts etcd and kube-apiserver, waits until the apiserver is ready,
// writes a kubeconfig and installs the CRDs that opts ask for. On error,
// everything it started is stopped again.
//
// Installing large CRDs costs more than starting the control plane, so by
// default Start keeps a snapshot of an etcd data directory with the CRDs
// installed under ~/.cache/trellis/controlplane, keyed by the binaries,
// the extra apiserver flags and the CRD files' content, and seeds etcd from
// it. Options.NoSnapshot or $TRELLIS_CONTROLPLANE_SNAPSHOTS=off turn this off.
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	opts = opts.withDefaults()
	bins, err := FindBinaries(opts.BinDir)
	if err != nil {
		return nil, err
	}
	paths, err := opts.crdPaths()
	if err != nil {
		return nil, err
	}
	var snap *snapshot
	seed := ""
	if len(paths) > 0 && opts.snapshots() {
		if snap, err = ensureSnapshot(ctx, opts, bins, paths); err != nil {
			return nil, err
		}
		seed = snap.etcdDir
	}
	cp, err := startPlane(ctx, opts, bins, seed)
	if err != nil {
		return nil, err
	}
	begin := time.Now()
	if snap != nil {
		err = waitCRDs(ctx, cp.restConfig, snap.crds)
	} else if len(paths) > 0 {
		_, err = installCRDs(ctx, cp.restConfig, paths)
	}
	if err != nil {
		return nil, errors.Join(err, cp.Stop())
	}
	if len(paths) > 0 {
		opts.Logger.Info("CRDs ready", "fromSnapshot", snap != nil, "took", time.Since(begin).Round(time.Millisecond))
	}
	return cp, nil
}

// startPlane starts the processes, with etcd's data copied from seed when
// it is not empty, retrying when a port was taken under our feet.
func startPlane(ctx context.Context, opts Options, bins Binaries, seed string) (*ControlPlane, error) {
	begin := time.Now()
	for attempt := 1; ; attempt++ {
		cp, err := startOnce(ctx, opts, bins, seed)
		if err == nil {
			opts.Logger.Info("control plane ready", "host", cp.restConfig.Host, "dir", cp.dir,
				"took", time.Since(begin).Round(time.Millisecond))
			return cp, nil
		}
		if !errors.Is(err, errAddressInUse) || attempt == maxStartAttempts {
			return nil, err
		}
		opts.Logger.Info("a port was taken before the control plane bound it, retrying", "attempt", attempt)
	}
}

func startOnce(ctx context.Context, opts Options, bins Binaries, seed string) (*ControlPlane, error) {
	dir, err := prepareDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	cp := &ControlPlane{dir: dir, kubeconfig: filepath.Join(dir, "kubeconfig")}
	if err := cp.launch(ctx, opts, bins, seed); err != nil {
		if stopErr := cp.Stop(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		return nil, err
	}
	return cp, nil
}

// prepareDir returns the absolute working directory, creating it. An
// existing directory must be empty, because Stop removes it.
func prepareDir(dir string) (string, error) {
	if dir == "" {
		d, err := os.MkdirTemp("", "trellis-controlplane-")
		if err != nil {
			return "", fmt.Errorf("create working directory: %w", err)
		}
		return d, nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("%s: %w", dir, err)
	}
	if entries, err := os.ReadDir(abs); err == nil && len(entries) > 0 {
		return "", fmt.Errorf("%s: working directory is not empty, and Stop would remove it", abs)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return "", fmt.Errorf("create working directory: %w", err)
	}
	return abs, nil
}

// launch generates the PKI, starts both processes and waits for readiness.
// A non-empty seed is an etcd data directory to start from.
func (cp *ControlPlane) launch(ctx context.Context, opts Options, bins Binaries, seed string) error {
	p, err := newPKI(filepath.Join(cp.dir, "pki"))
	if err != nil {
		return err
	}
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	host := "https://127.0.0.1:" + strconv.Itoa(ports[1])
	if cp.restConfig, err = writeKubeconfig(cp.kubeconfig, opts.ContextName, host, p); err != nil {
		return err
	}
	if seed != "" {
		if err := copyTree(seed, filepath.Join(cp.dir, "etcd")); err != nil {
			return fmt.Errorf("seed etcd data: %w", err)
		}
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	cp.etcd, err = startProcess("etcd", bins.Etcd, etcdArgs(cp.dir, etcdURL),
		filepath.Join(cp.dir, "etcd.log"), opts.Detach)
	if err != nil {
		return err
	}
	args := append(apiserverArgs(p, etcdURL, ports[1]), opts.APIServerArgs...)
	cp.apiserver, err = startProcess("kube-apiserver", bins.KubeAPIServer, args,
		filepath.Join(cp.dir, "kube-apiserver.log"), opts.Detach)
	if err != nil {
		return err
	}
	if opts.Detach {
		// Record the pids at once, so that `down` can stop processes whose
		// starter died before they became ready.
		if err := cp.saveState(); err != nil {
			return err
		}
	}
	return cp.waitReady(ctx, opts.StartTimeout)
}

func etcdArgs(dir, url string) []string {
	return []string{
		"--data-dir=" + filepath.Join(dir, "etcd"),
		"--listen-client-urls=" + url,
		"--advertise-client-urls=" + url,
		// The peer port is never used by a one-member cluster; port 0 keeps
		// it from clashing with another etcd on the default 2380.
		"--listen-peer-urls=http://127.0.0.1:0",
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	}
}

func apiserverArgs(p *pki, etcdURL string, port int) []string {
	return []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + p.dir,
		"--tls-cert-file=" + p.path(servingCertFile),
		"--tls-private-key-file=" + p.path(servingKeyFile),
		"--client-ca-file=" + p.path(caCertFile),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://127.0.0.1:" + strconv.Itoa(port),
		"--service-account-key-file=" + p.path(saPubFile),
		"--service-account-signing-key-file=" + p.path(saKeyFile),
		"--service-cluster-ip-range=10.0.0.0/24",
		"--allow-privileged=true",
		// Without a controller-manager no namespace gets a default service
		// account, so the ServiceAccount plugin would reject every Pod.
		"--disable-admission-plugins=ServiceAccount",
		// Nothing runs behind the kubernetes Service; skip its endpoints.
		"--endpoint-reconciler-type=none",
		"--enable-priority-and-fairness=false",
		"--profiling=false",
	}
}

// RESTConfig returns a copy of the admin's client configuration.
func (cp *ControlPlane) RESTConfig() *rest.Config { return rest.CopyConfig(cp.restConfig) }

// KubeconfigPath returns the path of the admin kubeconfig.
func (cp *ControlPlane) KubeconfigPath() string { return cp.kubeconfig }

// Dir returns the working directory.
func (cp *ControlPlane) Dir() string { return cp.dir }

// Stop stops kube-apiserver and etcd and removes the working directory. It
// is safe to call more than once.
func (cp *ControlPlane) Stop() error {
	cp.stopOnce.Do(func() {
		errs := []error{cp.stopProcesses()}
		if err := os.RemoveAll(cp.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", cp.dir, err))
		}
		cp.stopErr = errors.Join(errs...)
	})
	return cp.stopErr
}

// stopProcesses kills kube-apiserver, which keeps no state and takes a second
// to shut down gracefully, then stops etcd gracefully, so that its data can
// be kept as a snapshot.
func (cp *ControlPlane) stopProcesses() error {
	var errs []error
	if cp.apiserver != nil {
		errs = append(errs, cp.apiserver.stop(syscall.SIGKILL))
	}
	if cp.etcd != nil {
		errs = append(errs, cp.etcd.stop(syscall.SIGTERM))
	}
	return errors.Join(errs...)
}

// crdPaths lists the CRD files and directories that opts ask for.
func (o Options) crdPaths() ([]string, error) {
	if !o.WithDefaultCRDs {
		return o.CRDPaths, nil
	}
	defaults, err := DefaultCRDDirs()
	if err != nil {
		return nil, err
	}
	return append(defaults, o.CRDPaths...), nil
}
