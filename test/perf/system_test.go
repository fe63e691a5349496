package perf

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/rest"
)

// The machine has two cores shared by etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kwok, the manager and the benchmark itself. What follows says where
// they went during the batch, and how long the API server took to answer.

// cpuSnapshot is the CPU time of this process and of its children (the harness's
// control plane and the manager; they are children because the harness starts
// them, etcd and kube-apiserver through an exec'ing launcher), by command name, and
// the machine's busy and total jiffies.
type cpuSnapshot struct {
	byProcess   map[string]time.Duration
	busy, total int64
}

func takeCPUSnapshot() cpuSnapshot {
	s := cpuSnapshot{byProcess: map[string]time.Duration{}}
	self := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		comm, ppid, ok := commAndParent(string(data))
		if !ok || (pid != self && ppid != self) {
			continue
		}
		if pid == self {
			comm = "benchmark"
		}
		if cpu, err := procCPU(string(data)); err == nil {
			s.byProcess[comm] += cpu
		}
	}
	if data, err := os.ReadFile("/proc/stat"); err == nil {
		s.busy, s.total = machineJiffies(string(data))
	}
	return s
}

// commAndParent returns fields 2 and 4 of /proc/<pid>/stat.
func commAndParent(stat string) (comm string, ppid int, ok bool) {
	open, end := strings.IndexByte(stat, '('), strings.LastIndexByte(stat, ')')
	if open < 0 || end < open {
		return "", 0, false
	}
	fields := strings.Fields(stat[end+1:])
	if len(fields) < 2 {
		return "", 0, false
	}
	ppid, err := strconv.Atoi(fields[1])
	return stat[open+1 : end], ppid, err == nil
}

// machineJiffies reads the first line of /proc/stat: busy is everything but idle
// and iowait.
func machineJiffies(stat string) (busy, total int64) {
	line, _, _ := strings.Cut(stat, "\n")
	fields := strings.Fields(line)
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, 0
	}
	for i, f := range fields[1:] {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			continue
		}
		// guest and guest_nice (fields 9, 10) are already in user and nice.
		if i >= 8 {
			break
		}
		total += v
		if i != 3 && i != 4 {
			busy += v
		}
	}
	return busy, total
}

// cpuRows describes the CPU used between two snapshots over wall.
func cpuRows(before, after cpuSnapshot, wall time.Duration) []row {
	type use struct {
		name string
		cpu  time.Duration
	}
	var uses []use
	var sum time.Duration
	for name, t := range after.byProcess {
		if d := t - before.byProcess[name]; d > 0 {
			uses = append(uses, use{name, d})
			sum += d
		}
	}
	slices.SortFunc(uses, func(a, b use) int { return cmp.Compare(b.cpu, a.cpu) })
	rows := []row{}
	if total := after.total - before.total; total > 0 {
		busy := time.Duration(after.busy-before.busy) * time.Second / userHZ
		rows = append(rows, row{"machine CPU busy", fmt.Sprintf("%.0f %%", 100*float64(after.busy-before.busy)/float64(total)),
			fmt.Sprintf("of all cores during the batch: %s CPU in %s wall; this run's processes %s, the rest of the machine %s",
				secs(busy), secs(wall), secs(sum), secs(max(busy-sum, 0)))})
	}
	for _, u := range uses {
		rows = append(rows, row{"  CPU " + u.name, secs(u.cpu), fmt.Sprintf("%.0f %% of a core", 100*u.cpu.Seconds()/wall.Seconds())})
	}
	return rows
}

// scrapeAPIServer reads the API server's metrics as the admin.
func scrapeAPIServer(ctx context.Context, cfg *rest.Config) (metrics, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(cfg.Host, "/")+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping the API server's metrics: %w", err)
	}
	defer func() { _ = res.Body.Close() }()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping the API server's metrics: %s", res.Status)
	}
	s, err := parseMetrics(res.Body)
	return metrics(s), err
}

// latency is a histogram's count and sum over the batch for one label set.
type latency struct {
	key   string
	count float64
	sum   float64 // seconds
}

// latencies groups the histogram name by the labels keys, takes the change between
// before and after, and returns the groups by total time, largest first.
func latencies(before, after metrics, name string, keys ...string) []latency {
	group := func(m metrics, suffix string) map[string]float64 {
		out := map[string]float64{}
		for _, s := range m {
			if s.Name != name+suffix {
				continue
			}
			parts := make([]string, len(keys))
			for i, k := range keys {
				parts[i] = s.Labels[k]
			}
			out[strings.Join(parts, " ")] += s.Value
		}
		return out
	}
	sumA, sumB := group(after, "_sum"), group(before, "_sum")
	countA, countB := group(after, "_count"), group(before, "_count")
	var out []latency
	for k, c := range countA {
		if d := c - countB[k]; d > 0 {
			out = append(out, latency{key: strings.Join(strings.Fields(k), " "), count: d, sum: sumA[k] - sumB[k]})
		}
	}
	slices.SortFunc(out, func(a, b latency) int { return cmp.Compare(b.sum, a.sum) })
	return out
}

// apiServerRows describes the API server's work during the batch: the requests
// that took the most time in total, the admission webhooks, etcd and the wait in
// API Priority and Fairness queues.
func apiServerRows(before, after metrics, top int) []row {
	var rows []row
	reqs := latencies(before, after, "apiserver_request_duration_seconds", "verb", "resource", "subresource")
	var count, sum float64
	for _, l := range reqs {
		count, sum = count+l.count, sum+l.sum
	}
	if count > 0 {
		rows = append(rows, row{"API server requests", fmt.Sprintf("%.0f", count),
			fmt.Sprintf("mean %.1f ms (apiserver_request_duration_seconds, every client); by total time:", 1000*sum/count)})
	}
	for i, l := range reqs {
		if i == top {
			break
		}
		rows = append(rows, row{"  " + l.key, fmt.Sprintf("%.0f x %.1f ms", l.count, 1000*l.sum/l.count), ""})
	}
	for _, l := range latencies(before, after, "apiserver_admission_webhook_admission_duration_seconds", "name", "operation") {
		rows = append(rows, row{"  webhook " + l.key, fmt.Sprintf("%.0f x %.1f ms", l.count, 1000*l.sum/l.count), "as the API server waits for it"})
	}
	for i, l := range latencies(before, after, "etcd_request_duration_seconds", "operation", "type") {
		if i == 3 {
			break
		}
		rows = append(rows, row{"  etcd " + l.key, fmt.Sprintf("%.0f x %.1f ms", l.count, 1000*l.sum/l.count), ""})
	}
	var waitCount, waitSum float64
	for _, l := range latencies(before, after, "apiserver_flowcontrol_request_wait_duration_seconds", "execute") {
		waitCount, waitSum = waitCount+l.count, waitSum+l.sum
	}
	if waitCount > 0 {
		rows = append(rows, row{"  priority and fairness wait", fmt.Sprintf("%.1f ms", 1000*waitSum/waitCount), "mean queueing before execution"})
	}
	return rows
}
