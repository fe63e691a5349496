package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"kubernaut.io/stepvalidation/test/proc"
)

// component is a control-plane process the harness started itself.
type component = proc.Process

// startComponent starts binary with args, its output going to <dir>/<name>.log. The
// kernel kills it if the test process dies first (Pdeathsig).
func startComponent(dir, name, binary string, args ...string) (*component, error) {
	return startComponentEnv(dir, name, nil, binary, args...)
}

// startComponentEnv is startComponent with env added to the test's environment.
func startComponentEnv(dir, name string, env []string, binary string, args ...string) (*component, error) {
	if _, err := os.Stat(binary); err != nil {
		return nil, missingBinary(binary)
	}
	return proc.Start(dir, name, env, binary, args...)
}

// dieWithParent returns a path to run binary by, such that the kernel kills the
// process when the test process dies. envtest starts etcd and kube-apiserver itself
// and offers no way to set Pdeathsig, so they are started through a small script
// that execs them under setpriv(1) (util-linux, on every Debian system). Without
// setpriv, binary is returned as it is.
func dieWithParent(dir, binary string) (string, error) {
	if _, err := os.Stat(binary); err != nil {
		return "", missingBinary(binary)
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		return binary, nil
	}
	script := filepath.Join(dir, filepath.Base(binary))
	body := fmt.Sprintf("#!/bin/sh\nexec %q --pdeathsig KILL -- %q \"$@\"\n", setpriv, binary)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		return "", fmt.Errorf("writing the %s launcher: %w", filepath.Base(binary), err)
	}
	return script, nil
}

func missingBinary(path string) error {
	return errors.New(path + " not found: run `make tools` to build the control plane into bin/")
}

// Process is a program a test runs beside the control plane, e.g. the manager: its
// output goes to a log in the harness folder, and it dies with the test process.
type Process struct{ c *component }

// StartProcess starts binary with args and KUBECONFIG set to the admin kubeconfig.
// Stop stops it, unless the test stopped it first.
func (h *Harness) StartProcess(name, binary string, args ...string) (*Process, error) {
	return h.StartProcessEnv(name, binary, []string{"KUBECONFIG=" + h.KubeconfigPath}, args...)
}

// StartProcessEnv is StartProcess with env (NAME=value) instead of KUBECONFIG.
func (h *Harness) StartProcessEnv(name, binary string, env []string, args ...string) (*Process, error) {
	c, err := startComponentEnv(h.dir, name, env, binary, args...)
	if err != nil {
		return nil, err
	}
	p := &Process{c: c}
	h.processes = append(h.processes, p)
	return p, nil
}

// Kill kills the process with SIGKILL, as a crash would, and waits for it to exit.
func (p *Process) Kill() { p.c.Kill() }

// Stop sends SIGTERM, then SIGKILL after 10 seconds. A process that already
// exited is left as it is: a test may have stopped or killed it.
func (p *Process) Stop() error {
	select {
	case <-p.c.Done():
		return nil
	default:
	}
	return p.c.Stop()
}

// Exited returns an error with the end of the log once the process has exited;
// nil while it runs.
func (p *Process) Exited() error { return p.c.Exited() }

// Pid is the process's ID, e.g. to read its memory from /proc.
func (p *Process) Pid() int { return p.c.Pid() }

// LogPath is the file the process's output goes to.
func (p *Process) LogPath() string { return p.c.LogPath() }

// LogTail returns the last few kilobytes of the process's output.
func (p *Process) LogTail() string { return p.c.LogTail() }
