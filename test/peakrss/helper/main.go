// Command helper runs a command and writes the resources it used, as
// getrusage reports them for it alone, to a file: see package peakrss.
//
//	helper OUT PATH [ARG]...
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: helper OUT PATH [ARG]...")
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[2], os.Args[3:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // dies with the helper
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	usage, _ := json.Marshal(map[string]int64{
		"maxrssKiB": ru.Maxrss, // kilobytes on Linux
		"cpuNanos":  ru.Utime.Nano() + ru.Stime.Nano(),
	})
	if err := os.WriteFile(os.Args[1], usage, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	os.Exit(cmd.ProcessState.ExitCode())
}
