package perf

import (
	"strings"
	"testing"
	"time"
)

// The tests of this file are pure and fast: `go test ./...` runs them, and no
// benchmark.

func TestParseReconciles(t *testing.T) {
	log := strings.Join([]string{
		`{"level":"info","ts":"2026-01-02T03:04:05.000000000Z","msg":"starting the manager"}`,
		`I0102 03:04:05.000000 1 reflector.go:1] "Caches populated" reconcileID="x"`,
		`{"level":"Level(-5)","ts":"2026-01-02T03:04:05.100000000Z","msg":"Reconciling","controller":"workflowexecution","namespace":"perf-001","name":"scale","reconcileID":"a"}`,
		`{"level":"Level(-5)","ts":"2026-01-02T03:04:05.101000000Z","msg":"Reconciling","controller":"kubernetesexecution","namespace":"perf-001","name":"scale-step-1","reconcileID":"b"}`,
		`{"level":"Level(-5)","ts":"2026-01-02T03:04:05.103500000Z","msg":"Reconcile successful","controller":"workflowexecution","namespace":"perf-001","name":"scale","reconcileID":"a"}`,
		`{"level":"error","ts":"2026-01-02T03:04:05.111000000Z","msg":"Reconciler error","controller":"kubernetesexecution","namespace":"perf-001","name":"scale-step-1","reconcileID":"b","error":"conflict"}`,
		`{"level":"Level(-5)","ts":"2026-01-02T03:04:06.000000000Z","msg":"Reconciling","controller":"kubernetesexecution","namespace":"perf-001","name":"scale-step-1","reconcileID":"c"}`,
		`{"level":"Level(-5)","ts":"2026-01-02T03:04:06.002000000Z","msg":"Reconcile done, requeueing after 5s","controller":"kubernetesexecution","namespace":"perf-001","name":"scale-step-1","reconcileID":"c"}`,
		`{"level":"Level(-5)","ts":"2026-01-02T03:04:07.000000000Z","msg":"Reconciling","controller":"workflowexecution","namespace":"perf-002","name":"scale","reconcileID":"d"}`,
	}, "\n")
	spans, open, err := parseReconciles(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	if open != 1 {
		t.Errorf("open = %d, want 1", open)
	}
	if len(spans) != 3 {
		t.Fatalf("spans = %+v, want 3", spans)
	}
	costs := costsByNamespace(spans, "scale", "scale-step-1")
	got := costs["perf-001"]
	want := stepCost{Workflow: 3500 * time.Microsecond, Execution: 12 * time.Millisecond, Reconciles: 3, Errors: 1}
	if got != want {
		t.Errorf("cost = %+v, want %+v", got, want)
	}
	if got.Total() != 15500*time.Microsecond {
		t.Errorf("total = %s", got.Total())
	}
}

func TestQuantile(t *testing.T) {
	xs := []int64{9, 1, 8, 2, 7, 3, 6, 4, 5, 10}
	for _, tc := range []struct {
		q    float64
		want int64
	}{{0.5, 5}, {0.9, 9}, {0.99, 10}, {1, 10}, {0.01, 1}} {
		if got := quantile(xs, tc.q); got != tc.want {
			t.Errorf("quantile(%v) = %d, want %d", tc.q, got, tc.want)
		}
	}
	if xs[0] != 9 {
		t.Error("quantile sorted its input")
	}
	if quantile([]int64(nil), 0.5) != 0 {
		t.Error("quantile of nothing is not 0")
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP controller_runtime_reconcile_time_seconds Length of time per reconciliation per controller
# TYPE controller_runtime_reconcile_time_seconds histogram
controller_runtime_reconcile_time_seconds_sum{controller="workflowexecution"} 1.5
controller_runtime_reconcile_time_seconds_count{controller="workflowexecution"} 30
controller_runtime_reconcile_time_seconds_sum{controller="kubernetesexecution"} 2.5
rest_client_requests_total{code="200",host="127.0.0.1:1",method="GET"} 7
rest_client_requests_total{code="201",host="127.0.0.1:1",method="POST"} 3
odd{a="x\"y,}z",b="\\"} 1e3
process_resident_memory_bytes 4.2e+07
`
	m, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	got := metrics(m)
	if v := got.sum("controller_runtime_reconcile_time_seconds_sum", nil); v != 4 {
		t.Errorf("sum of reconcile time = %v", v)
	}
	if v := got.sum("controller_runtime_reconcile_time_seconds_sum", map[string]string{"controller": "kubernetesexecution"}); v != 2.5 {
		t.Errorf("execution reconcile time = %v", v)
	}
	if v := got.sum("rest_client_requests_total", nil); v != 10 {
		t.Errorf("requests = %v", v)
	}
	if v := got.sum("odd", map[string]string{"a": `x"y,}z`, "b": `\`}); v != 1000 {
		t.Errorf("escaped labels: %v", v)
	}
	if v := got.sum("process_resident_memory_bytes", nil); v != 42e6 {
		t.Errorf("unlabelled: %v", v)
	}
	if _, err := parseMetrics(strings.NewReader(`x{a="1" 2`)); err == nil {
		t.Error("an unterminated label set parsed")
	}
}

func TestProc(t *testing.T) {
	status := "Name:\tmanager\nVmHWM:\t  81234 kB\nVmRSS:\t  70000 kB\nThreads:\t12\n"
	got := procStatus(status)
	if got["VmHWM"] != 81234 || got["VmRSS"] != 70000 || len(got) != 2 {
		t.Errorf("procStatus = %v", got)
	}
	stat := "4242 (my manager) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 100 1000 2000"
	cpu, err := procCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if cpu != 3*time.Second {
		t.Errorf("procCPU = %s, want 3s", cpu)
	}
}

func TestBinaryResident(t *testing.T) {
	smaps := `00400000-021fb000 r-xp 00000000 fe:00 10477817                           /tmp/x/manager
Size:              30700 kB
Rss:               22292 kB
Pss:               22292 kB
021fb000-0474c000 r--p 01dfb000 fe:00 10477817                           /tmp/x/manager
Rss:               23612 kB
0474c000-048e8000 rw-p 0434c000 fe:00 10477817                           /tmp/x/manager
Rss:                 752 kB
048e8000-0693e000 rw-p 00000000 00:00 0 
Rss:                 248 kB
7f5f4ea78000-7f5f4ebce000 r-xp 00026000 fe:00 326269                     /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                 920 kB
`
	got := binaryResident(smaps, "/tmp/x/manager")
	if got["r-xp"] != 22292 || got["r--p"] != 23612 || got["rw-p"] != 752 || len(got) != 3 {
		t.Errorf("binaryResident = %v", got)
	}
}
