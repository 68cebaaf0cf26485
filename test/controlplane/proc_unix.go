//go:build unix && !linux

package controlplane

import "syscall"

// sysProcAttr starts a detached process in its own session, so that it
// survives its parent and the parent's terminal.
func sysProcAttr(detach bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: detach}
}

// pidRunsFrom cannot read another process's arguments portably here, so it
// trusts the pid when the process exists.
func pidRunsFrom(pid int, _ string) bool { return pidAlive(pid) }
