package controlplane

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// stateFile, in the working directory of a detached control plane, records
// what Load needs to find its processes again.
const stateFile = "state.json"

type state struct {
	EtcdPID      int    `json:"etcdPID"`
	APIServerPID int    `json:"apiserverPID"`
	EtcdLog      string `json:"etcdLog"`
	APIServerLog string `json:"apiserverLog"`
}

func (cp *ControlPlane) saveState() error {
	data, err := json.MarshalIndent(state{
		EtcdPID:      cp.etcd.pid,
		APIServerPID: cp.apiserver.pid,
		EtcdLog:      cp.etcd.logPath,
		APIServerLog: cp.apiserver.logPath,
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode control-plane state: %w", err)
	}
	path := filepath.Join(cp.dir, stateFile)
	if err := os.WriteFile(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Load finds the detached control plane whose working directory is dir. It
// fails with an error wrapping fs.ErrNotExist when dir holds none. The
// processes may have died since: Healthy tells, and Stop cleans up either
// way. A pid that now belongs to an unrelated process is never signalled.
func Load(dir string) (*ControlPlane, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	path := filepath.Join(abs, stateFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("control plane in %s: %w", abs, err)
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cp := &ControlPlane{
		dir:        abs,
		kubeconfig: filepath.Join(abs, "kubeconfig"),
		etcd:       adopt("etcd", st.EtcdPID, st.EtcdLog, abs),
		apiserver:  adopt("kube-apiserver", st.APIServerPID, st.APIServerLog, abs),
	}
	if cp.restConfig, err = restConfigFromKubeconfig(cp.kubeconfig); err != nil {
		return nil, err
	}
	return cp, nil
}

// adopt returns the process recorded with pid, or a process that counts as
// exited (pid 0) when pid no longer runs a program from dir.
func adopt(name string, pid int, logPath, dir string) *process {
	if pid <= 0 || !pidRunsFrom(pid, dir) {
		pid = 0
	}
	return &process{name: name, pid: pid, logPath: logPath}
}
