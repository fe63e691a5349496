package local

import (
	"os/exec"
	"testing"
)

// A process is alive from the moment it is started: for a moment after Start
// returns, its cmdline is still empty (the kernel has not set the new program's
// arguments yet), which alive once took for a dead process.
func TestAliveRightAfterStart(t *testing.T) {
	for i := range 500 {
		cmd := exec.Command("/bin/sleep", "5")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		alive := proc{Name: "sleep", PID: cmd.Process.Pid, Binary: "/bin/sleep"}.alive()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if !alive {
			t.Fatalf("start %d: a process just started is not alive", i)
		}
	}
	// Once it is gone it is not.
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if (proc{Name: "true", PID: cmd.Process.Pid, Binary: "/bin/true"}).alive() {
		t.Fatal("a process that ended is alive")
	}
}
