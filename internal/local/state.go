package local

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"kubernaut.io/stepvalidation/internal/repo"
)

// DefaultStateDir is the state folder, relative to the top of the repository.
const DefaultStateDir = ".kubernaut-local"

// Options say where the local cluster lives and how it runs.
type Options struct {
	// Root is the top of the repository (the folder with go.mod); default: found
	// from the working directory upwards.
	Root string
	// StateDir holds the cluster's state, data and logs; default:
	// <Root>/.kubernaut-local.
	StateDir string
	// Out receives the progress lines; default os.Stdout.
	Out io.Writer
	// Keep leaves the cluster running after Demo.
	Keep bool
	// Attached makes every process die with this one (Pdeathsig), e.g. in a
	// test or a demo that tears the cluster down at the end anyway.
	Attached bool
}

func (o Options) withDefaults() (Options, error) {
	if o.Root == "" {
		root, err := repo.Root()
		if err != nil {
			return o, err
		}
		o.Root = root
	}
	if o.StateDir == "" {
		o.StateDir = filepath.Join(o.Root, DefaultStateDir)
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	return o, nil
}

// DownCommand is the CLI's command that stops this cluster, as a person would
// type it: with --state-dir when the state is not in the default folder.
func (o Options) DownCommand() string {
	cmd := "kubernaut local down"
	if o.StateDir != "" && o.StateDir != filepath.Join(o.Root, DefaultStateDir) {
		cmd += " --state-dir " + shellQuote(o.StateDir)
	}
	return cmd
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=,:@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// DownCommand is the command that stops c (Options.DownCommand).
func (c *Cluster) DownCommand() string { return c.opts.DownCommand() }

// MetricsURL is where the manager serves its metrics.
func (c *Cluster) MetricsURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d/metrics", c.state.MetricsPort)
}

func (o Options) bin() string { return filepath.Join(o.Root, "bin") }

func (o Options) statePath() string { return filepath.Join(o.StateDir, "state.json") }

// state is what Up records for Down and later commands.
type state struct {
	Kubeconfig  string `json:"kubeconfig"`
	Server      string `json:"server"`
	WebhookPort int    `json:"webhookPort"`
	ProbePort   int    `json:"probePort"`
	// MetricsPort serves the manager's metrics, plain HTTP on 127.0.0.1.
	MetricsPort int       `json:"metricsPort"`
	Started     time.Time `json:"started"`
	Processes   []proc    `json:"processes"`
}

// proc is one process of the cluster.
type proc struct {
	Name   string `json:"name"`
	PID    int    `json:"pid"`
	Binary string `json:"binary"`
	Log    string `json:"log"`
}

func readState(o Options) (*state, error) {
	data, err := os.ReadFile(o.statePath())
	if err != nil {
		return nil, err
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("reading %s: %w", o.statePath(), err)
	}
	return &s, nil
}

func writeState(o Options, s *state) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := o.statePath() + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("writing the state: %w", err)
	}
	return os.Rename(tmp, o.statePath())
}

// alive is true while the process runs the binary it was started as (a pid may be
// reused after the process is gone). Right after exec.Cmd.Start returns, the
// kernel may not have set the new program's arguments yet: its cmdline is empty
// for a moment, and that process is alive (about 1 start in 20 here, which
// showed as a Prometheus "exited" with an empty log).
func (p proc) alive() bool {
	if p.PID <= 0 {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID))
	if err != nil {
		return false
	}
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.PID))
	if err != nil {
		return false
	}
	if len(cmdline) == 0 {
		return true
	}
	argv0, _, _ := strings.Cut(string(cmdline), "\x00")
	return filepath.Base(argv0) == filepath.Base(p.Binary)
}

// stop sends SIGTERM, then SIGKILL after grace.
func (p proc) stop(grace time.Duration) error {
	if !p.alive() {
		return nil
	}
	if err := syscall.Kill(p.PID, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stopping %s (pid %d): %w", p.Name, p.PID, err)
	}
	deadline := time.Now().Add(grace)
	for p.alive() {
		if time.Now().After(deadline) {
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
			deadline = time.Now().Add(5 * time.Second)
			for p.alive() && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if p.alive() {
				return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.Name, p.PID)
			}
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// readPID reads a pid file a launcher script wrote.
func readPID(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, fmt.Errorf("pid file %s: %w", path, err)
	}
	return pid, nil
}
