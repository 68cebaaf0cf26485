package controlplane

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// modulePath is the module whose go.mod marks the repository root.
const modulePath = "trellis.dev/trellis"

// Environment variables that point at the control-plane binaries.
const (
	// EnvKubebuilderAssets is the directory envtest users already have, holding
	// etcd and kube-apiserver.
	EnvKubebuilderAssets = "KUBEBUILDER_ASSETS"
	// EnvToolsBin is a directory holding etcd and kube-apiserver built by
	// `make tools`.
	EnvToolsBin = "TRELLIS_TOOLS_BIN"
)

// Binaries are the paths of the executables a control plane runs.
type Binaries struct {
	Etcd          string
	KubeAPIServer string
}

// ErrBinariesNotFound is returned when etcd or kube-apiserver cannot be found.
var ErrBinariesNotFound = errors.New("control-plane binaries not found")

// FindBinaries locates etcd and kube-apiserver: in dir when it is not empty,
// otherwise in $KUBEBUILDER_ASSETS, $TRELLIS_TOOLS_BIN and the directory
// `make tools` builds them into (ToolsDir), in that order. The first
// directory that holds both wins.
func FindBinaries(dir string) (Binaries, error) {
	var candidates []string
	if dir != "" {
		candidates = []string{dir}
	} else {
		candidates = binaryDirs()
	}
	for _, d := range candidates {
		b := Binaries{Etcd: filepath.Join(d, "etcd"), KubeAPIServer: filepath.Join(d, "kube-apiserver")}
		if isExecutable(b.Etcd) && isExecutable(b.KubeAPIServer) {
			return b, nil
		}
	}
	return Binaries{}, fmt.Errorf("%w: etcd and kube-apiserver are in none of [%s]; "+
		"run `make tools` to build them, or set $%s or $%s",
		ErrBinariesNotFound, strings.Join(candidates, ", "), EnvKubebuilderAssets, EnvToolsBin)
}

// binaryDirs lists the directories FindBinaries searches by default.
func binaryDirs() []string {
	var dirs []string
	for _, env := range []string{EnvKubebuilderAssets, EnvToolsBin} {
		if d := os.Getenv(env); d != "" {
			dirs = append(dirs, d)
		}
	}
	if d, err := ToolsDir(); err == nil {
		dirs = append(dirs, d)
	}
	return dirs
}

// toolsInputs are the files, relative to the repository root, that etcd and
// kube-apiserver are built from; test/controlplane.mk's TOOLS_DEPS lists the
// same, in the same order.
var toolsInputs = []string{"test/tools/go.mod", "test/tools/go.sum", "test/tools/etcd/main.go"}

// ToolsDir returns the directory `make tools` builds etcd and kube-apiserver
// into: $XDG_CACHE_HOME/trellis/tools/KEY (~/.cache when XDG_CACHE_HOME is
// unset), where KEY is the first 16 hex digits of the SHA-256 of the build's
// inputs, concatenated. Every clone of one revision shares it.
func ToolsDir() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, f := range toolsInputs {
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil {
			return "", fmt.Errorf("tools directory: %w", err)
		}
		h.Write(data)
	}
	cache, err := userCache()
	if err != nil {
		return "", fmt.Errorf("tools directory: %w", err)
	}
	return filepath.Join(cache, "trellis", "tools", hex.EncodeToString(h.Sum(nil))[:16]), nil
}

// userCache returns $XDG_CACHE_HOME, or ~/.cache: the same directory on every
// platform, as test/controlplane.mk computes it.
func userCache() (string, error) {
	if cache := os.Getenv("XDG_CACHE_HOME"); cache != "" {
		return cache, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".cache"), nil
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// RepoRoot returns the directory of the go.mod whose module is
// trellis.dev/trellis, walking up from the working directory.
func RepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if declaresModule(filepath.Join(dir, "go.mod"), modulePath) {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("%s: no go.mod of module %s here or above", wd, modulePath)
		}
	}
}

// declaresModule reports whether the go.mod at path declares module mod.
func declaresModule(path, mod string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == mod
		}
	}
	return false
}
