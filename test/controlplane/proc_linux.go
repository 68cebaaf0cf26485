package controlplane

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// sysProcAttr starts a detached process in its own session, so that it
// survives its parent and the parent's terminal; any other process is killed
// when its parent dies, so that a crashed test binary leaves nothing behind.
func sysProcAttr(detach bool) *syscall.SysProcAttr {
	if detach {
		return &syscall.SysProcAttr{Setsid: true}
	}
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// pidRunsFrom reports whether the process pid was started with an argument
// that mentions dir, which guards against signalling a recycled pid.
func pidRunsFrom(pid int, dir string) bool {
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	return bytes.Contains(cmdline, []byte(dir+string(os.PathSeparator)))
}
