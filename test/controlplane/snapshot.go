package controlplane

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// EnvSnapshots set to "off" makes Start install CRDs into a fresh etcd every
// time instead of starting from a cached snapshot.
const EnvSnapshots = "TRELLIS_CONTROLPLANE_SNAPSHOTS"

const (
	// snapshotFormat is part of every snapshot key; change it when the layout
	// of a snapshot or the apiserver flags that shape stored data change.
	snapshotFormat = "trellis-controlplane-snapshot/v1"
	// snapshotManifest lists, in a snapshot, the CRDs it holds.
	snapshotManifest = "crds.json"
	// snapshotMaxAge is how long an unused snapshot is kept.
	snapshotMaxAge = 7 * 24 * time.Hour
)

// snapshot is a cached etcd data directory with CRDs installed.
type snapshot struct {
	etcdDir string
	crds    []crdRef
}

func (o Options) snapshots() bool {
	return !o.NoSnapshot && os.Getenv(EnvSnapshots) != "off"
}

// ensureSnapshot returns the snapshot for these binaries, apiserver flags and
// CRD files, building it first when there is none.
func ensureSnapshot(ctx context.Context, opts Options, bins Binaries, paths []string) (*snapshot, error) {
	root, err := snapshotRoot()
	if err != nil {
		return nil, err
	}
	key, err := snapshotKey(bins, opts.APIServerArgs, paths)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, key)
	if snap, err := loadSnapshot(dir); !errors.Is(err, fs.ErrNotExist) {
		return markUsed(snap, dir), err
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("control-plane snapshot cache: %w", err)
	}
	unlock, err := lockFile(ctx, dir+".lock")
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Another test binary may have built it while this one waited.
	if snap, err := loadSnapshot(dir); !errors.Is(err, fs.ErrNotExist) {
		return markUsed(snap, dir), err
	}
	return buildSnapshot(ctx, opts, bins, paths, dir)
}

// markUsed refreshes the modification time of a snapshot, which pruning
// goes by.
func markUsed(snap *snapshot, dir string) *snapshot {
	if snap != nil {
		now := time.Now()
		_ = os.Chtimes(dir, now, now)
	}
	return snap
}

// snapshotRoot is $XDG_CACHE_HOME/trellis/controlplane (~/.cache when
// XDG_CACHE_HOME is unset), beside the tools of ToolsDir: snapshots are keyed
// by what they are built from, so every clone of the repository shares them.
func snapshotRoot() (string, error) {
	cache, err := userCache()
	if err != nil {
		return "", fmt.Errorf("control-plane snapshot cache: %w", err)
	}
	return filepath.Join(cache, "trellis", "controlplane"), nil
}

// snapshotKey identifies what a snapshot depends on: the binaries (by path,
// size and modification time), the extra apiserver flags and the CRD files
// (by path and content).
func snapshotKey(bins Binaries, apiserverArgs, paths []string) (string, error) {
	h := sha256.New()
	fmt.Fprintln(h, snapshotFormat)
	for _, b := range []string{bins.Etcd, bins.KubeAPIServer} {
		fi, err := os.Stat(b)
		if err != nil {
			return "", fmt.Errorf("snapshot key: %w", err)
		}
		fmt.Fprintln(h, b, fi.Size(), fi.ModTime().UnixNano())
	}
	fmt.Fprintln(h, strings.Join(apiserverArgs, "\x00"))
	files, err := crdFiles(paths)
	if err != nil {
		return "", err
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("snapshot key: %w", err)
		}
		fmt.Fprintln(h, filepath.Base(f), len(data)) // by name: clones share snapshots
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))[:20], nil
}

func loadSnapshot(dir string) (*snapshot, error) {
	path := filepath.Join(dir, snapshotManifest)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("control-plane snapshot: %w", err)
	}
	snap := &snapshot{etcdDir: filepath.Join(dir, "etcd")}
	if err := json.Unmarshal(data, &snap.crds); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return snap, nil
}

// buildSnapshot starts a throwaway control plane, installs the CRDs, stops
// it gracefully and keeps its etcd data as the snapshot in dir. Builders
// racing for the same dir are harmless: the first rename wins.
func buildSnapshot(ctx context.Context, opts Options, bins Binaries, paths []string, dir string) (*snapshot, error) {
	root := filepath.Dir(dir)
	pruneSnapshots(root, time.Now().Add(-snapshotMaxAge))
	staging, err := os.MkdirTemp(root, ".building-")
	if err != nil {
		return nil, fmt.Errorf("control-plane snapshot cache: %w", err)
	}
	defer os.RemoveAll(staging)
	opts.Logger.Info("installing CRDs into a new control-plane snapshot; later starts reuse it", "snapshot", dir)
	builderOpts := opts
	builderOpts.Dir, builderOpts.Detach = filepath.Join(staging, "plane"), false
	cp, err := startPlane(ctx, builderOpts, bins, "")
	if err != nil {
		return nil, err
	}
	defer cp.Stop()
	refs, err := installCRDs(ctx, cp.restConfig, paths)
	if err != nil {
		return nil, err
	}
	if err := cp.stopProcesses(); err != nil {
		return nil, err
	}
	if err := copyTree(filepath.Join(cp.dir, "etcd"), filepath.Join(staging, "etcd")); err != nil {
		return nil, fmt.Errorf("control-plane snapshot: %w", err)
	}
	manifest, err := json.Marshal(refs)
	if err != nil {
		return nil, fmt.Errorf("control-plane snapshot: %w", err)
	}
	if err := os.WriteFile(filepath.Join(staging, snapshotManifest), manifest, 0o600); err != nil {
		return nil, fmt.Errorf("control-plane snapshot: %w", err)
	}
	if err := cp.Stop(); err != nil { // removes staging/plane before the rename
		return nil, err
	}
	if err := os.Rename(staging, dir); err != nil && !isDir(dir) {
		return nil, fmt.Errorf("control-plane snapshot: %w", err)
	}
	return loadSnapshot(dir)
}

// pruneSnapshots removes snapshots, and leftovers of builds, not used since
// before.
func pruneSnapshots(root string, before time.Time) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.ModTime().Before(before) {
			_ = os.RemoveAll(filepath.Join(root, e.Name())) // snapshots, build leftovers, lock files
		}
	}
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// copyTree copies the directory src to dst, which must not exist, keeping
// runs of zeros as holes: etcd preallocates its 64 MB write-ahead log.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		return copySparse(path, target)
	})
}

func copySparse(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, out.Close()) }()
	buf := make([]byte, 64<<10)
	var size int64
	for {
		n, readErr := io.ReadFull(in, buf)
		if n > 0 {
			if err := writeOrSkip(out, buf[:n]); err != nil {
				return err
			}
			size += int64(n)
		}
		if errors.Is(readErr, io.EOF) || errors.Is(readErr, io.ErrUnexpectedEOF) {
			return out.Truncate(size)
		}
		if readErr != nil {
			return readErr
		}
	}
}

// writeOrSkip writes block, or seeks past it when it is all zeros.
func writeOrSkip(out *os.File, block []byte) error {
	for _, b := range block {
		if b != 0 {
			_, err := out.Write(block)
			return err
		}
	}
	_, err := out.Seek(int64(len(block)), io.SeekCurrent)
	return err
}
