package promtest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The windows below are 5s with a 1s scrape interval: rate() needs two samples
// in its window, and five leave room for a scrape that a busy machine delays.
// After a change, a ratio reaches its new value once the window holds only
// samples from after it, about 6 seconds later: every wait allows 30.
const waitTimeout = 30 * time.Second

// shared is one exporter and one Prometheus scraping it, for the tests that
// need nothing special (each uses namespaces of its own): starting Prometheus
// takes a second or two of a busy machine.
var shared struct {
	exporter *Exporter
	prom     *Prometheus
	err      error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.prom != nil {
		if err := shared.prom.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	if shared.exporter != nil {
		_ = shared.exporter.Close()
	}
	os.Exit(code)
}

func sharedPrometheus(t *testing.T) (*Exporter, *Prometheus) {
	t.Helper()
	if shared.prom == nil && shared.err == nil {
		if shared.exporter, shared.err = NewExporter(); shared.err == nil {
			shared.prom, shared.err = Run(context.Background(), Options{Targets: []string{shared.exporter.Target()}})
		}
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.exporter, shared.prom
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func near(want float64) func(float64) bool {
	return func(v float64) bool { return math.Abs(v-want) < 0.001 }
}

func TestErrorRateFollowsTheExporter(t *testing.T) {
	e, p := sharedPrometheus(t)
	app := HTTPApp{Namespace: "error-rate", Service: "web", Pod: "web-0"}
	must(t, e.SetHTTPTraffic(app, 200, 0.05))
	const query = `sum(rate(http_requests_total{namespace="error-rate",code=~"5.."}[5s]))` +
		` / sum(rate(http_requests_total{namespace="error-rate"}[5s]))`

	start := time.Now()
	if _, err := p.WaitFor(waitCtx(t), query, near(0.05)); err != nil {
		t.Fatal(err)
	}
	t.Logf("5%% errors seen after %v", time.Since(start).Round(time.Millisecond))

	must(t, e.SetHTTPTraffic(app, 200, 0))
	start = time.Now()
	if _, err := p.WaitFor(waitCtx(t), query, func(v float64) bool { return v == 0 }); err != nil {
		t.Fatal(err)
	}
	t.Logf("0%% errors seen after %v", time.Since(start).Round(time.Millisecond))
}

func TestDeletedSeriesLeavesAnEmptyResult(t *testing.T) {
	e, p := sharedPrometheus(t)
	l := Labels{"namespace": "empty-result"}
	must(t, e.SetGauge("queue_depth", l, 7))
	const query = `queue_depth{namespace="empty-result"}`
	if _, err := p.WaitFor(waitCtx(t), query, near(7)); err != nil {
		t.Fatal(err)
	}
	e.Delete("queue_depth", l)
	if _, err := p.WaitForSamples(waitCtx(t), query, func(s []Sample) bool { return len(s) == 0 }); err != nil {
		t.Fatal(err)
	}
	// A query of a series that never existed is empty from the start.
	samples, err := p.Query(waitCtx(t), `http_requests_total{namespace="never-there"}`)
	if err != nil || len(samples) != 0 {
		t.Fatalf("samples %v, error %v; want an empty result", samples, err)
	}
}

func TestThrottlingRatioPerPod(t *testing.T) {
	e, p := sharedPrometheus(t)
	must(t, e.SetCPUThrottling(Container{Namespace: "throttling", Pod: "hot", Container: "app"}, 0.5))
	must(t, e.SetCPUThrottling(Container{Namespace: "throttling", Pod: "hot", Container: "sidecar"}, 0.1))
	must(t, e.SetCPUThrottling(Container{Namespace: "throttling", Pod: "cool", Container: "app"}, 0))
	const query = `sum by (pod) (rate(container_cpu_cfs_throttled_periods_total{namespace="throttling"}[5s]))` +
		` / sum by (pod) (rate(container_cpu_cfs_periods_total{namespace="throttling"}[5s]))`
	want := map[string]float64{"hot": 0.3, "cool": 0} // hot: (5+1)/(10+10) periods a second
	_, err := p.WaitForSamples(waitCtx(t), query, func(samples []Sample) bool {
		if len(samples) != len(want) {
			return false
		}
		for _, s := range samples {
			if w, ok := want[s.Labels["pod"]]; !ok || !near(w)(s.Value) {
				return false
			}
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestScalarAndNaNResults(t *testing.T) {
	e, p := sharedPrometheus(t)
	must(t, e.SetGauge("broken_gauge", Labels{"namespace": "nan"}, math.NaN()))
	v, err := p.WaitFor(waitCtx(t), `broken_gauge{namespace="nan"}`, math.IsNaN)
	if err != nil || !math.IsNaN(v) {
		t.Fatalf("value %v, error %v; want NaN", v, err)
	}
	samples, err := p.Query(waitCtx(t), `scalar(vector(2)) * 3`)
	if err != nil || len(samples) != 1 || samples[0].Value != 6 || samples[0].Labels != nil {
		t.Fatalf("samples %v, error %v; want one scalar 6", samples, err)
	}
}

func TestBadQueryEndsTheWaitAtOnce(t *testing.T) {
	_, p := sharedPrometheus(t)
	start := time.Now()
	_, err := p.WaitFor(waitCtx(t), `sum(rate(http_requests_total[5s])`, func(float64) bool { return true })
	if err == nil || !strings.Contains(err.Error(), "bad_data") {
		t.Fatalf("error %v, want Prometheus's bad_data", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %v; a refused query should not be retried", time.Since(start))
	}
	if _, err := p.Query(waitCtx(t), `http_requests_total[5s]`); err == nil || !strings.Contains(err.Error(), `"matrix"`) {
		t.Errorf("range vector: error %v, want one naming the matrix result", err)
	}
}

// TestTLSAndBearerToken serves Prometheus over TLS behind a token-checking
// proxy and checks that a client needs both the CA and the token, as the
// manager's --prometheus-ca-file and --prometheus-bearer-token-file give them.
func TestTLSAndBearerToken(t *testing.T) {
	e := newExporter(t)
	must(t, e.SetGauge("tls_gauge", nil, 42))
	p := Start(t, Options{Targets: []string{e.Target()}, TLS: true, BearerToken: "s3cret"})
	if !strings.HasPrefix(p.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL %s, want https on loopback", p.URL())
	}
	if _, err := p.WaitFor(waitCtx(t), "tls_gauge", near(42)); err != nil {
		t.Fatal(err)
	}

	token, err := os.ReadFile(p.BearerTokenFile())
	if err != nil || string(token) != "s3cret" {
		t.Fatalf("token file: %q, %v", token, err)
	}
	caPEM, err := os.ReadFile(p.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("the CA file holds no certificate")
	}
	trusting := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(c *http.Client, token string) (int, error) {
		req, _ := http.NewRequest(http.MethodGet, p.URL()+"/api/v1/query?query=tls_gauge", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		_ = res.Body.Close()
		return res.StatusCode, nil
	}
	if code, err := get(trusting, "s3cret"); err != nil || code != http.StatusOK {
		t.Errorf("CA and token: %d, %v; want 200", code, err)
	}
	if code, err := get(trusting, "wrong"); err != nil || code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d, %v; want 401", code, err)
	}
	if code, err := get(trusting, ""); err != nil || code != http.StatusUnauthorized {
		t.Errorf("no token: %d, %v; want 401", code, err)
	}
	var unknownCA x509.UnknownAuthorityError
	if _, err := get(&http.Client{Timeout: 10 * time.Second}, "s3cret"); !errors.As(err, &unknownCA) {
		t.Errorf("without the CA: error %v, want an unknown authority", err)
	}
}

func TestStopLeavesNoProcess(t *testing.T) {
	e := newExporter(t)
	p, err := Run(context.Background(), Options{Targets: []string{e.Target()}, TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	pid, dir := p.proc.Pid(), p.dir
	if !strings.HasPrefix(p.URL(), "https://") {
		t.Errorf("URL %s, want https", p.URL())
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("prometheus (pid %d) still there after Stop: %v", pid, err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("its folder %s is still there: %v", dir, err)
	}
	if err := p.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestMissingBinarySaysHowToBuildIt(t *testing.T) {
	_, err := Run(context.Background(), Options{Binary: "/nonexistent/prometheus"})
	if err == nil || !strings.Contains(err.Error(), "hack/tools.sh prometheus") {
		t.Fatalf("error %v, want one naming hack/tools.sh prometheus", err)
	}
}

func TestOptionsRefuseBadValues(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Targets: []string{"no-port"}}, "Targets[0]"},
		{Options{ScrapeInterval: time.Microsecond}, "ScrapeInterval"},
		{Options{LookbackDelta: -time.Second}, "LookbackDelta"},
		{Options{BearerToken: "a\nb"}, "BearerToken"},
	} {
		if _, err := Run(context.Background(), tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one naming %s", tc.opts, err, tc.want)
		}
	}
}

// TestKilledTestProcessLeavesNoPrometheus starts a Prometheus in a child test
// process, kills the child with SIGKILL (as a go test timeout would: no cleanup
// runs) and checks that the kernel ended Prometheus too.
func TestKilledTestProcessLeavesNoPrometheus(t *testing.T) {
	const childEnv = "PROMTEST_KILLED_CHILD"
	if os.Getenv(childEnv) == "1" {
		p, err := Run(context.Background(), Options{})
		if err != nil {
			fmt.Println("ERROR", err)
			os.Exit(1)
		}
		fmt.Println("READY", p.proc.Pid(), p.dir)
		select {}
	}
	child := exec.Command(os.Args[0], "-test.run=^TestKilledTestProcessLeavesNoPrometheus$")
	child.Env = append(os.Environ(), childEnv+"=1")
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	var pid int
	var dir string
	if _, scanErr := fmt.Sscanf(line, "READY %d %s", &pid, &dir); err != nil || scanErr != nil {
		t.Fatalf("child said %q (%v)", line, err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) }) // the child never got to
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for running(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("prometheus (pid %d) still running 10s after its parent was killed", pid)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// running says whether pid is a process that has not exited (a zombie has).
func running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')') // "pid (comm) S ..."
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}
