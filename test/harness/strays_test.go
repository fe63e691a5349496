package harness

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The environment variables of the child test process below. Every process the
// child's harness starts inherits markEnv, which is how the parent finds them.
const (
	childEnv = "HARNESS_STRAYS_CHILD"
	markEnv  = "HARNESS_STRAYS_MARK"
)

// TestKilledTestProcessLeavesNoStrays starts a harness in cluster mode in a child
// test process, kills that process with SIGKILL (as a go test timeout or an OOM kill
// would: no cleanup runs), and checks that none of the processes it started is left.
func TestKilledTestProcessLeavesNoStrays(t *testing.T) {
	if os.Getenv(childEnv) == "1" {
		runStraysChild()
		return
	}
	mark := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	child := exec.Command(os.Args[0], "-test.run=^TestKilledTestProcessLeavesNoStrays$")
	child.Env = append(os.Environ(), childEnv+"=1", markEnv+"="+mark)
	var stderr bytes.Buffer
	child.Stderr = &stderr
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()

	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "READY" {
			err = fmt.Errorf("child said %q", line)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("child harness did not start: %v\n%s", err, stderr.String())
		}
	case <-time.After(3 * time.Minute):
		t.Fatalf("child harness did not start within 3 minutes\n%s", stderr.String())
	}

	started := marked(mark)
	// The child itself, etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok.
	if len(started) < 6 {
		t.Fatalf("want at least 6 marked processes before the kill, found %v", started)
	}

	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()

	deadline := time.Now().Add(15 * time.Second)
	for {
		left := marked(mark)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes left 15s after the test process was killed: %v", left)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// runStraysChild starts a harness with one node, says READY, and waits to be killed.
func runStraysChild() {
	h, err := Start(context.Background(), Options{Nodes: []Node{{Name: "node-1", CPU: "1", Memory: "1Gi"}}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_ = h // never stopped: the parent kills this process
	fmt.Println("READY")
	select {}
}

// marked lists "pid command" of the processes whose environment holds mark.
func marked(mark string) []string {
	want := []byte(markEnv + "=" + mark + "\x00")
	procs, _ := filepath.Glob("/proc/[0-9]*")
	var found []string
	for _, p := range procs {
		environ, err := os.ReadFile(filepath.Join(p, "environ"))
		if err != nil || !bytes.Contains(environ, want) {
			continue
		}
		state, _ := os.ReadFile(filepath.Join(p, "stat"))
		if isZombie(state) {
			continue // exited; only waiting for its parent to reap it
		}
		comm, _ := os.ReadFile(filepath.Join(p, "comm"))
		pid, _ := strconv.Atoi(filepath.Base(p))
		found = append(found, fmt.Sprintf("%d %s", pid, strings.TrimSpace(string(comm))))
	}
	return found
}

// isZombie reads the state field of /proc/<pid>/stat ("pid (comm) S ...").
func isZombie(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}
