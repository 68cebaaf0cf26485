package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=..." (`make
// build` stamps `git describe`); otherwise the module's version when built
// with `go install trellis.dev/trellis/cmd/trellis@VERSION`, or "dev".
var version = "dev"

// versionLine is what `trellis version` and `trellis --version` print: the
// version, the commit it was built from (with "-dirty" when the work tree
// had changes), the Go version and the platform.
func versionLine() string {
	return formatVersion(version, debug.ReadBuildInfo)
}

func formatVersion(stamped string, readInfo func() (*debug.BuildInfo, bool)) string {
	v, commit := stamped, "unknown"
	if info, ok := readInfo(); ok {
		if v == "dev" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		settings := map[string]string{}
		for _, kv := range info.Settings {
			settings[kv.Key] = kv.Value
		}
		if rev := settings["vcs.revision"]; rev != "" {
			commit = rev
			if settings["vcs.modified"] == "true" {
				commit += "-dirty"
			}
		}
	}
	return fmt.Sprintf("trellis %s (commit %s, %s, %s/%s)", v, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func newVersionCommand(s streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of trellis (also: trellis --version)",
		Args:  exactArgs(0),
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintln(s.out, versionLine())
			return nil
		},
	}
}
