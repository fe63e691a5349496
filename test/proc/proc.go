// Package proc runs the programs tests start beside them (the control plane's
// components, Prometheus, the manager): output to a log file, a process group of
// their own, and SIGKILL from the kernel should the test process die first, so
// that nothing outlives a test.
package proc

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// stopGrace is how long Stop waits after SIGTERM before SIGKILL.
const stopGrace = 10 * time.Second

// Process is a running program.
type Process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{} // closed once the process has exited
	waitErr error         // set before exited is closed
}

// Start starts binary with args in dir, its output going to <dir>/<name>.log,
// with env (NAME=value) added to the test's environment.
func Start(dir, name string, env []string, binary string, args ...string) (*Process, error) {
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating the %s log: %w", name, err)
	}
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Process{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		_ = logFile.Close()
		close(p.exited)
	}()
	return p, nil
}

// Exited returns an error with the end of the log once the process has exited;
// nil while it runs.
func (p *Process) Exited() error {
	select {
	case <-p.exited:
		status := "exit status 0"
		if p.waitErr != nil {
			status = p.waitErr.Error()
		}
		return fmt.Errorf("%s exited (%s); end of its log:\n%s", p.name, status, p.LogTail())
	default:
		return nil
	}
}

// Stop sends SIGTERM to the process group, then SIGKILL after 10 seconds. A
// process that had exited on its own is reported as an error, with the end of
// its log: it died during the test.
func (p *Process) Stop() error {
	if err := p.Exited(); err != nil {
		return err
	}
	pgid := -p.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(stopGrace):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.exited
	}
	return nil
}

// Kill kills the process with SIGKILL, as a crash would, and waits for it to exit.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.exited }

// Pid is the process's ID, e.g. to read its memory from /proc.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// LogPath is the file the process's output goes to.
func (p *Process) LogPath() string { return p.logPath }

// LogTail returns the last few kilobytes of the process's output, from a line's
// start.
func (p *Process) LogTail() string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	const max = 4000
	if len(data) > max {
		data = data[len(data)-max:]
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[i+1:]
		}
	}
	return string(data)
}
