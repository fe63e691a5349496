package local

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the demo's writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestUpDemoDown starts the local cluster, runs the demo on it and stops it, and
// checks that no process of it is left.
func TestUpDemoDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a local cluster and builds the manager")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out syncBuffer
	opts := Options{StateDir: t.TempDir(), Out: &out, Attached: true}
	t.Cleanup(func() { t.Logf("output:\n%s", out.String()) })

	start := time.Now()
	c, err := Up(ctx, opts)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	procs := c.state.Processes
	t.Cleanup(func() {
		// Whatever happened above, nothing may be left running.
		_ = Down(context.Background(), opts)
		for _, p := range procs {
			if p.alive() {
				t.Errorf("%s (pid %d) still runs after Down", p.Name, p.PID)
			}
		}
	})
	if len(procs) != 8 {
		t.Errorf("Up recorded %d processes, want 8 (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, metrics-server, prometheus, manager): %+v", len(procs), procs)
	}
	t.Logf("Up took %s", time.Since(start))

	// Up again finds the running cluster instead of starting a second one.
	again, err := Up(ctx, opts)
	if err != nil {
		t.Fatalf("second Up: %v", err)
	}
	if again.KubeconfigPath != c.KubeconfigPath {
		t.Errorf("second Up returned kubeconfig %s, want the running cluster's %s", again.KubeconfigPath, c.KubeconfigPath)
	}

	start = time.Now()
	if err := Demo(ctx, opts); err != nil {
		t.Fatalf("Demo: %v", err)
	}
	t.Logf("Demo took %s", time.Since(start))
	for _, want := range []string{
		"step 1 precondition  deployment_exists",
		"phase COMPLETED",
		"phase BLOCKED",
		"error_rate_acceptable",
		"error rate 4.7% is over 1%",
		"requested by ",
		"The workflows ended as expected",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the demo's output lacks %q", want)
		}
	}
	// The summary names who asked for each workflow.
	for _, row := range []string{`scale-web-app\s+\S+\s+completed\s+completed`, `scale-missing-deployment\s+\S+\s+blocked\s+blocked`,
		`scale-checkout\s+\S+\s+failed\s+failed\s+.*RolledBack`} {
		if !regexp.MustCompile(row).MatchString(out.String()) {
			t.Errorf("the demo's summary has no row matching %s", row)
		}
	}
	// The demo did not start the cluster, so it left it running.
	for _, p := range procs {
		if !p.alive() {
			t.Errorf("%s stopped after a demo on a cluster it had not started", p.Name)
		}
	}

	if err := Down(ctx, opts); err != nil {
		t.Fatalf("Down: %v", err)
	}
	for _, p := range procs {
		if p.alive() {
			t.Errorf("%s (pid %d) still runs after Down", p.Name, p.PID)
		}
	}
	if _, err := readState(opts); err == nil {
		t.Errorf("Down left the state file")
	}
}
