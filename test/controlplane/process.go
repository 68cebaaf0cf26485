package controlplane

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// stopGrace is how long a process gets to exit after SIGTERM before SIGKILL.
const stopGrace = 10 * time.Second

// logTailBytes is how much of a process's log an error quotes.
const logTailBytes = 4 << 10

// errAddressInUse marks a start that lost a race for its port.
var errAddressInUse = errors.New("address already in use")

// process is one running etcd or kube-apiserver.
type process struct {
	name    string
	pid     int
	logPath string
	// cmd and done are set when this process started it; a process adopted
	// from a state file (see Load) has only its pid.
	cmd  *exec.Cmd
	done chan struct{}
}

// startProcess runs bin with args, its stdout and stderr appended to logPath.
// A detached process runs in its own session and outlives its parent;
// otherwise it is killed when the parent dies, where the OS supports that.
func startProcess(name, bin string, args []string, logPath string, detach bool) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s: open log: %w", name, err)
	}
	defer logFile.Close() // the child has its own copy of the descriptor
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr(detach)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: start %s: %w", name, bin, err)
	}
	p := &process{name: name, pid: cmd.Process.Pid, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // the exit status is in the log; done is what callers need
		close(p.done)
	}()
	return p, nil
}

// exited returns a channel closed when the process has exited, or nil for an
// adopted process (a nil channel blocks forever in a select).
func (p *process) exited() <-chan struct{} { return p.done }

// alive reports whether the process still runs.
func (p *process) alive() bool {
	if p.done != nil {
		select {
		case <-p.done:
			return false
		default:
			return true
		}
	}
	return pidAlive(p.pid)
}

// stop sends sig (SIGTERM for a graceful stop), waits up to stopGrace, then
// sends SIGKILL and waits again. Stopping a process that has already exited
// is not an error.
func (p *process) stop(sig syscall.Signal) error {
	if !p.alive() {
		return nil
	}
	if err := p.signal(sig); err != nil {
		return err
	}
	if p.waitExit(stopGrace) {
		return nil
	}
	if err := p.signal(syscall.SIGKILL); err != nil {
		return err
	}
	if !p.waitExit(stopGrace) {
		return fmt.Errorf("%s (pid %d): still running after SIGKILL", p.name, p.pid)
	}
	return nil
}

func (p *process) signal(sig syscall.Signal) error {
	proc, err := os.FindProcess(p.pid)
	if err != nil {
		return fmt.Errorf("%s (pid %d): %w", p.name, p.pid, err)
	}
	if p.cmd != nil {
		proc = p.cmd.Process
	}
	if err := proc.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("%s (pid %d): send %v: %w", p.name, p.pid, sig, err)
	}
	return nil
}

// waitExit waits until the process has exited or timeout has passed, and
// reports whether it exited.
func (p *process) waitExit(timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	if p.done != nil {
		select {
		case <-p.done:
			return true
		case <-deadline.C:
			return false
		}
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for pidAlive(p.pid) {
		select {
		case <-tick.C:
		case <-deadline.C:
			return false
		}
	}
	return true
}

// logTail returns the end of the process's log, for error messages.
func (p *process) logTail() string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > logTailBytes {
		_, _ = f.Seek(-logTailBytes, io.SeekEnd)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(reading log: %v)", err)
	}
	return strings.TrimSpace(string(data))
}

// exitError describes a process that exited during startup, quoting its log.
func (p *process) exitError() error {
	tail := p.logTail()
	err := fmt.Errorf("%s exited during startup; end of %s:\n%s", p.name, p.logPath, tail)
	if strings.Contains(tail, "address already in use") {
		return errors.Join(errAddressInUse, err)
	}
	return err
}

// pidAlive reports whether a process with this pid exists.
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	proc, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	return proc.Signal(syscall.Signal(0)) == nil
}

// freePorts asks the OS for n distinct free loopback ports. The listeners are
// closed before returning, so another process may take a port before ours
// binds it; Start retries when that happens.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
