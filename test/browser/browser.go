// Package browser starts a real headless Chromium for tests, driven with
// chromedp: Debian's chromium package, which `make browser` installs.
//
// A test that needs it fails, with what to do, when Chromium is missing;
// under -short it is skipped instead, as the control plane's tests are.
package browser

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// EnvPath names the Chromium binary; default /usr/bin/chromium, else
// chromium on $PATH.
const EnvPath = "TRELLIS_CHROMIUM"

// Path returns the Chromium binary, or an error that says how to get one.
func Path() (string, error) {
	if p := os.Getenv(EnvPath); p != "" {
		if _, err := exec.LookPath(p); err != nil {
			return "", fmt.Errorf("$%s: %w", EnvPath, err)
		}
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", nil
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("no Chromium: run `make browser` (apt-get install -y chromium), or set $%s to a Chromium binary", EnvPath)
}

// Start starts a headless Chromium with a fresh profile, stopped when the
// test ends, and returns the context of its first tab. Chromium is kept
// off the network but for the pages it is sent to (no background
// networking, component updates, sync or QUIC).
func Start(t testing.TB) context.Context {
	t.Helper()
	path, err := Path()
	if err != nil {
		if testing.Short() {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
		chromedp.WindowSize(1360, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first action starts the browser, tied to ctx (not to a timeout).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium %s: %v", path, err)
	}
	return ctx
}

// EnvScreenshots names a directory that keeps the screenshots of every
// run; without it they go to the test's artifact directory, kept with
// `go test -artifacts -outputdir DIR`.
const EnvScreenshots = "TRELLIS_SCREENSHOTS"

// ScreenshotDir returns where the test's screenshots go, and logs it.
func ScreenshotDir(t *testing.T) string {
	t.Helper()
	dir := t.ArtifactDir()
	if env := os.Getenv(EnvScreenshots); env != "" {
		dir = filepath.Join(env, t.Name())
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatalf("$%s: %v", EnvScreenshots, err)
		}
	}
	t.Logf("screenshots: %s", dir)
	return dir
}

// Screenshot writes a PNG of the whole page to dir/name and returns its
// path.
func Screenshot(ctx context.Context, dir, name string) (string, error) {
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return "", fmt.Errorf("screenshot %s: %w", name, err)
	}
	path := filepath.Join(dir, name)
	return path, os.WriteFile(path, png, 0o644)
}
