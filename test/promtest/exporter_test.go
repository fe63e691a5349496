package promtest

import (
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func newExporter(t *testing.T) *Exporter {
	t.Helper()
	e, err := NewExporter()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Error(err)
		}
	})
	return e
}

func scrape(t *testing.T, e *Exporter) string {
	t.Helper()
	res, err := http.Get(e.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Header.Get("Content-Type"), "text/plain; version=0.0.4; charset=utf-8"; got != want {
		t.Errorf("Content-Type %q, want %q", got, want)
	}
	return string(body)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestExporterServesTextFormat(t *testing.T) {
	e := newExporter(t)
	must(t, e.SetGauge("queue_depth", Labels{"queue": `a"b\c` + "\n"}, 3.5))
	must(t, e.SetGauge("queue_depth", nil, math.NaN()))
	must(t, e.SetGauge("temperature", Labels{"room": "x"}, math.Inf(-1)))
	must(t, e.AddCounter("jobs_total", Labels{"result": "ok", "app": "a"}, 2))
	must(t, e.AddCounter("jobs_total", Labels{"app": "a", "result": "ok"}, 3))

	want := `# TYPE jobs_total counter
jobs_total{app="a",result="ok"} 5
# TYPE queue_depth gauge
queue_depth NaN
queue_depth{queue="a\"b\\c\n"} 3.5
# TYPE temperature gauge
temperature{room="x"} -Inf
`
	if got := scrape(t, e); got != want {
		t.Errorf("scrape:\n%s\nwant:\n%s", got, want)
	}
	if e.Scrapes() != 1 {
		t.Errorf("Scrapes() = %d, want 1", e.Scrapes())
	}

	if !e.Delete("queue_depth", nil) || e.Delete("queue_depth", nil) {
		t.Error("Delete: want true once, then false")
	}
	if strings.Contains(scrape(t, e), "NaN") {
		t.Error("deleted series still served")
	}
}

func TestExporterRefusesBadInput(t *testing.T) {
	e := newExporter(t)
	must(t, e.SetGauge("up_ratio", nil, 1))
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"bad metric name", e.SetGauge("1bad", nil, 1), `metric name "1bad"`},
		{"bad label name", e.SetGauge("g", Labels{"a-b": "x"}, 1), `label name "a-b"`},
		{"reserved label", e.SetGauge("g", Labels{"__name__": "x"}, 1), `label name "__name__"`},
		{"empty label value", e.SetGauge("g", Labels{"pod": ""}, 1), "label pod: empty value"},
		{"kind changes", e.AddCounter("up_ratio", nil, 1), "up_ratio is a gauge, not a counter"},
		{"negative counter", e.SetCounter("c_total", nil, -1), "value -1"},
		{"NaN delta", e.AddCounter("c_total", nil, math.NaN()), "delta NaN"},
		{"negative rate", e.SetCounterRate("c_total", nil, -2), "rate -2"},
		{"error ratio over 1", e.SetHTTPTraffic(HTTPApp{Namespace: "n"}, 10, 1.5), "error ratio 1.5"},
		{"no namespace", e.SetHTTPTraffic(HTTPApp{Pod: "p"}, 10, 0), "Namespace is required"},
		{"no container", e.SetCPUThrottling(Container{Namespace: "n", Pod: "p"}, 0.5), "all required"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, tc.err, tc.want)
		}
	}
}

func TestExporterBoundsSeries(t *testing.T) {
	e := newExporter(t)
	e.nSeries = MaxSeries // as if full, without making 10000 series
	if err := e.SetGauge("g", nil, 1); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("error %v, want the series limit", err)
	}
}

func TestCounterRateGrowsFromWhereItIs(t *testing.T) {
	e := newExporter(t)
	now := time.Unix(1000, 0)
	e.now = func() time.Time { return now }
	l := Labels{"a": "b"}
	must(t, e.SetCounter("c_total", l, 10))
	must(t, e.SetCounterRate("c_total", l, 2))
	now = now.Add(5 * time.Second)
	must(t, e.SetCounterRate("c_total", l, 1)) // 20 now
	now = now.Add(3 * time.Second)
	if v, _ := e.Value("c_total", l); v != 23 {
		t.Errorf("value %v, want 23", v)
	}
	must(t, e.AddCounter("c_total", l, 7))
	now = now.Add(time.Second)
	if v, _ := e.Value("c_total", l); v != 31 {
		t.Errorf("value %v, want 31 (23 + 7 + 1 s at 1/s)", v)
	}
	if got := scrape(t, e); !strings.Contains(got, `c_total{a="b"} 31`+"\n") {
		t.Errorf("scrape:\n%s", got)
	}
}

func TestHTTPTrafficSplitsByCode(t *testing.T) {
	e := newExporter(t)
	now := time.Unix(1000, 0)
	e.now = func() time.Time { return now }
	app := HTTPApp{Namespace: "shop", Service: "web"}
	must(t, e.SetHTTPTraffic(app, 100, 0.05))
	now = now.Add(10 * time.Second)
	ok, _ := e.Value(HTTPRequestsTotal, Labels{"namespace": "shop", "service": "web", "code": "200"})
	failed, _ := e.Value(HTTPRequestsTotal, Labels{"namespace": "shop", "service": "web", "code": "500"})
	if ok != 950 || failed != 50 {
		t.Errorf("200: %v, 500: %v; want 950 and 50", ok, failed)
	}
}

func TestExporterConcurrentUse(t *testing.T) {
	e := newExporter(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				_ = e.AddCounter("hits_total", Labels{"worker": string(rune('a' + i))}, 1)
				_ = e.SetGauge("busy", nil, float64(i))
			}
		}()
	}
	for range 20 {
		scrape(t, e)
	}
	wg.Wait()
	for i := range 8 {
		if v, _ := e.Value("hits_total", Labels{"worker": string(rune('a' + i))}); v != 200 {
			t.Errorf("worker %d: %v hits, want 200", i, v)
		}
	}
}
