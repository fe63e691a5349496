package perf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"kubernaut.io/stepvalidation/test/harness"
)

const managerNamespace = "kubernaut-system"

// managerProcess is the manager binary running beside the harness cluster, with
// its metrics served over plain HTTP on 127.0.0.1 and, when traced, every
// reconcile logged (--zap-log-level=5).
type managerProcess struct {
	proc       *harness.Process
	pid        int
	binary     string
	metricsURL string
	logPath    string
}

// buildManager builds cmd/manager into dir.
func buildManager(dir string) (string, error) {
	binary := filepath.Join(dir, "manager")
	out, err := exec.Command("go", "build", "-o", binary, "../../cmd/manager").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/manager: %w\n%s", err, out)
	}
	return binary, nil
}

// startManager runs binary as the e2e suite does, and waits until it is ready.
// concurrency 0 keeps the manager's default; extra flags go last.
func startManager(ctx context.Context, cluster *harness.Harness, binary string, concurrency int, trace bool, extra ...string) (*managerProcess, error) {
	port, certDir := cluster.WebhookServing()
	probe, err := freePort()
	if err != nil {
		return nil, err
	}
	metricsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{
		"--webhook-port=" + strconv.Itoa(port), "--webhook-cert-dir=" + certDir,
		"--webhook-client-ca=" + cluster.WebhookClientCA(), "--webhook-client-cn=" + harness.WebhookClientCN,
		"--validating-webhook-configuration=" + harness.ValidatingWebhookConfiguration,
		"--namespace=" + managerNamespace, "--leader-elect=false",
		"--metrics-bind-address=127.0.0.1:" + strconv.Itoa(metricsPort), "--metrics-secure=false",
		"--health-probe-bind-address=127.0.0.1:" + strconv.Itoa(probe),
		"--zap-time-encoding=rfc3339nano",
	}
	if concurrency > 0 {
		args = append(args, "--concurrency="+strconv.Itoa(concurrency))
	}
	if trace {
		// controller-runtime logs the start and end of every reconcile at V(5).
		args = append(args, "--zap-log-level=5")
	}
	env := append([]string{"KUBECONFIG=" + cluster.KubeconfigPath}, strings.Fields(os.Getenv("PERF_MANAGER_ENV"))...)
	proc, err := cluster.StartProcessEnv("manager", binary, env, append(args, extra...)...)
	if err != nil {
		return nil, err
	}
	m := &managerProcess{
		proc:       proc,
		binary:     binary,
		metricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort),
		// The harness writes a process's output to <harness folder>/<name>.log, the
		// folder of the admin kubeconfig.
		logPath: filepath.Join(filepath.Dir(cluster.KubeconfigPath), "manager.log"),
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if err := proc.Exited(); err != nil {
			return nil, err
		}
		if m.pid == 0 {
			m.pid = pidOf(binary)
		}
		res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", probe))
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK && m.pid != 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the manager (pid %d) is not ready after a minute; end of its log:\n%s", m.pid, proc.LogTail())
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if _, err := os.Stat(m.logPath); err != nil {
		return nil, fmt.Errorf("the manager's log is not where the harness used to write it: %w", err)
	}
	return m, nil
}

// pidOf finds the process running binary by /proc/<pid>/exe; binary is in a
// folder of this run, so no other process runs it. 0 when none does.
// (harness.Process does not expose the pid.)
func pidOf(binary string) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && exe == binary {
			return pid
		}
	}
	return 0
}

// memory returns VmRSS and VmHWM of the manager, in kB.
func (m *managerProcess) memory() (rss, hwm int64, err error) {
	s, err := m.status()
	return s["VmRSS"], s["VmHWM"], err
}

// residentParts returns the manager's anonymous resident memory (heap, stacks)
// and its file-backed resident memory (the pages of its binary it touched), in
// kB: VmRSS is their sum, and only the first is the manager's own to give back.
func (m *managerProcess) residentParts() (anon, file int64, err error) {
	s, err := m.status()
	return s["RssAnon"], s["RssFile"], err
}

// binaryParts returns the resident pages of the manager's binary by mapping:
// code (r-xp), read-only data (r--p) and initialized data (rw-p), in kB.
func (m *managerProcess) binaryParts() (map[string]int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", m.pid))
	if err != nil {
		return nil, err
	}
	return binaryResident(string(data), m.binary), nil
}

// status reads the manager's /proc/<pid>/status.
func (m *managerProcess) status() (map[string]int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.pid))
	if err != nil {
		return nil, err
	}
	return procStatus(string(data)), nil
}

// cpu returns the CPU time the manager used so far.
func (m *managerProcess) cpu() (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", m.pid))
	if err != nil {
		return 0, err
	}
	return procCPU(string(data))
}

// scrape reads the manager's metrics.
func (m *managerProcess) scrape(ctx context.Context) (metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.metricsURL, nil)
	if err != nil {
		return nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping the manager's metrics: %w", err)
	}
	defer func() { _ = res.Body.Close() }()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping the manager's metrics: %s", res.Status)
	}
	s, err := parseMetrics(res.Body)
	return metrics(s), err
}

// rssSampler records the largest VmRSS it sees, every interval, until stopped.
type rssSampler struct {
	mu   sync.Mutex
	peak int64
	stop chan struct{}
	done chan struct{}
}

func sampleRSS(m *managerProcess, interval time.Duration) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if rss, _, err := m.memory(); err == nil {
				s.mu.Lock()
				s.peak = max(s.peak, rss)
				s.mu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop stops sampling and returns the peak, in kB.
func (s *rssSampler) Stop() int64 {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("not a TCP address")
	}
	return addr.Port, nil
}

// kubectl runs bin/kubectl against the cluster.
func kubectl(cluster *harness.Harness, args ...string) error {
	bin, err := harness.BinDir()
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(bin, "kubectl"), append([]string{"--kubeconfig", cluster.KubeconfigPath}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("kubectl %v: %w\n%s", args, err, out)
	}
	return nil
}

// setUp starts a local cluster for a benchmark (stopped when it ends), with the
// manager's namespace and the actions' RBAC, and returns an unthrottled client and
// the manager binary: PERF_MANAGER, or cmd/manager built for this run.
func setUp(b *testing.B) (*harness.Harness, client.Client, *rest.Config, string) {
	b.Helper()
	ctx := b.Context()
	cluster, err := harness.Start(ctx, harness.Options{Webhooks: true, Nodes: nodes()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := cluster.Stop(); err != nil {
			b.Error(err)
		}
	})
	c, cfg, err := unthrottled(cluster)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: managerNamespace}}); err != nil {
		b.Fatal(err)
	}
	for _, f := range []string{"../../config/rbac/actions.yaml", "../../config/rbac/condition-override-clusterrole.yaml"} {
		if err := kubectl(cluster, "apply", "-f", f); err != nil {
			b.Fatal(err)
		}
	}
	binary := os.Getenv("PERF_MANAGER")
	if binary == "" {
		if binary, err = buildManager(b.TempDir()); err != nil {
			b.Fatal(err)
		}
	}
	if binary, err = unpack(binary, b.TempDir()); err != nil {
		b.Fatal(err)
	}
	return cluster, c, cfg, binary
}

// unpack copies binary into dir with plain writes, as a container runtime
// unpacks an image, and returns the copy's path. The manager's resident memory
// counts the pages of its binary it maps (RssFile), and how many a fault maps
// depends on how the file's pages sit in the page cache: the Go linker writes
// its output through a memory mapping, and the manager run from the linker's
// file measured 39.6 MB of RssFile where a copy of the same file measured 31.0
// MB, as did the file read back from disk. The copy measures what a node runs.
func unpack(binary, dir string) (string, error) {
	in, err := os.Open(binary)
	if err != nil {
		return "", err
	}
	defer func() { _ = in.Close() }()
	path := filepath.Join(dir, "manager-unpacked")
	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return "", fmt.Errorf("copying %s: %w", binary, err)
	}
	return path, out.Close()
}
