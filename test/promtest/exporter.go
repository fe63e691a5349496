// Package promtest is a test bed for conditions that query Prometheus: a real
// Prometheus server (bin/prometheus, built by `hack/tools.sh prometheus`) on
// loopback, and an Exporter whose counters and gauges a test sets at will, which
// that Prometheus scrapes. Tests make an application's error rate 5% or 0%, or a
// pod's CPU throttled, and the manager's queries see it as they would in a
// cluster.
package promtest

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Labels are the labels of one series, without the metric name.
type Labels map[string]string

// Kind is a metric's type as the exposition format declares it.
type Kind string

// The kinds an Exporter serves.
const (
	Counter Kind = "counter"
	Gauge   Kind = "gauge"
)

// Bounds on what a test can make an Exporter hold, so that a runaway loop in a
// test fails with an error instead of eating the machine's memory.
const (
	MaxSeries    = 10000
	maxLabels    = 32
	maxNameBytes = 256
	maxValueLen  = 1024
)

// Exporter serves metrics in the Prometheus text exposition format at
// http://Target()/metrics, on a random loopback port. Its methods are safe for
// concurrent use; a scrape sees every series at one instant.
type Exporter struct {
	listener net.Listener
	server   *http.Server
	now      func() time.Time

	mu       sync.Mutex
	kinds    map[string]Kind
	series   map[string]map[string]*series // name -> label key -> series
	nSeries  int
	scrapes  int
	serveErr error
}

// series is one time series. A counter may also grow on its own: its value at
// time t is value + perSecond*(t - since), so that rate() sees steady traffic
// without a goroutine ticking it.
type series struct {
	labels    Labels
	value     float64
	perSecond float64
	since     time.Time
}

func (s *series) at(t time.Time) float64 {
	if s.perSecond == 0 {
		return s.value
	}
	return s.value + s.perSecond*t.Sub(s.since).Seconds()
}

// NewExporter starts an Exporter on 127.0.0.1 and a random port. Close stops it.
func NewExporter() (*Exporter, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("exporter: listening on loopback: %w", err)
	}
	e := &Exporter{
		listener: l,
		now:      time.Now,
		kinds:    map[string]Kind{},
		series:   map[string]map[string]*series{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", e.serveMetrics)
	e.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := e.server.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.mu.Lock()
			e.serveErr = err
			e.mu.Unlock()
		}
	}()
	return e, nil
}

// Target is the exporter's host:port, as a scrape config names it.
func (e *Exporter) Target() string { return e.listener.Addr().String() }

// URL is the exporter's metrics URL.
func (e *Exporter) URL() string { return "http://" + e.Target() + "/metrics" }

// Scrapes is how many times /metrics has been served: a test can wait for it to
// grow to know that Prometheus has seen a change.
func (e *Exporter) Scrapes() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.scrapes
}

// Close stops serving. It is safe to call more than once.
func (e *Exporter) Close() error {
	err := e.server.Close()
	e.mu.Lock()
	defer e.mu.Unlock()
	return errors.Join(err, e.serveErr)
}

// SetGauge sets a gauge series to v, creating it if needed. NaN and ±Inf are
// allowed: they are what a test needs to see a query return them.
func (e *Exporter) SetGauge(name string, labels Labels, v float64) error {
	return e.update(name, Gauge, labels, func(s *series, now time.Time) error {
		s.value, s.perSecond, s.since = v, 0, now
		return nil
	})
}

// SetCounter sets a counter series to v (finite, not negative) and stops it
// growing on its own. A v below the current value is a counter reset, as when
// the application restarts.
func (e *Exporter) SetCounter(name string, labels Labels, v float64) error {
	if err := counterValue("value", v); err != nil {
		return fmt.Errorf("counter %s%s: %w", name, formatLabels(labels), err)
	}
	return e.update(name, Counter, labels, func(s *series, now time.Time) error {
		s.value, s.perSecond, s.since = v, 0, now
		return nil
	})
}

// AddCounter adds delta (finite, not negative) to a counter series, creating it
// at 0 first if needed.
func (e *Exporter) AddCounter(name string, labels Labels, delta float64) error {
	if err := counterValue("delta", delta); err != nil {
		return fmt.Errorf("counter %s%s: %w", name, formatLabels(labels), err)
	}
	return e.update(name, Counter, labels, func(s *series, now time.Time) error {
		s.value, s.since = s.at(now)+delta, now
		return nil
	})
}

// SetCounterRate makes a counter series grow by perSecond (finite, not
// negative) every second from now on, continuing from its current value; 0
// stops it. The value is computed at each scrape, so rate() over the series is
// perSecond once two scrapes have landed.
func (e *Exporter) SetCounterRate(name string, labels Labels, perSecond float64) error {
	if err := counterValue("rate", perSecond); err != nil {
		return fmt.Errorf("counter %s%s: %w", name, formatLabels(labels), err)
	}
	return e.update(name, Counter, labels, func(s *series, now time.Time) error {
		s.value, s.perSecond, s.since = s.at(now), perSecond, now
		return nil
	})
}

// Delete removes a series; true if it existed. Prometheus marks it stale at the
// next scrape, so instant queries stop returning it at once.
func (e *Exporter) Delete(name string, labels Labels) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	byLabels, ok := e.series[name]
	if !ok {
		return false
	}
	key := labelKey(labels)
	if _, ok := byLabels[key]; !ok {
		return false
	}
	delete(byLabels, key)
	e.nSeries--
	if len(byLabels) == 0 {
		delete(e.series, name)
		delete(e.kinds, name)
	}
	return true
}

// Value returns a series' current value (a growing counter's value now).
func (e *Exporter) Value(name string, labels Labels) (float64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.series[name][labelKey(labels)]
	if !ok {
		return 0, false
	}
	return s.at(e.now()), true
}

func counterValue(what string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return fmt.Errorf("%s %v: a counter only grows, by a finite amount", what, v)
	}
	return nil
}

// update validates name and labels, finds or creates the series and applies f to
// it, all under the lock.
func (e *Exporter) update(name string, kind Kind, labels Labels, f func(*series, time.Time) error) error {
	if err := validate(name, labels); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if have, ok := e.kinds[name]; ok && have != kind {
		return fmt.Errorf("metric %s is a %s, not a %s", name, have, kind)
	}
	key := labelKey(labels)
	s, ok := e.series[name][key]
	if !ok {
		if e.nSeries >= MaxSeries {
			return fmt.Errorf("metric %s%s: the exporter already holds %d series, its limit", name, formatLabels(labels), MaxSeries)
		}
		s = &series{labels: copyLabels(labels)}
	}
	if err := f(s, e.now()); err != nil {
		return err
	}
	if !ok {
		if e.series[name] == nil {
			e.series[name] = map[string]*series{}
		}
		e.series[name][key] = s
		e.kinds[name] = kind
		e.nSeries++
	}
	return nil
}

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// validate refuses what the text format cannot carry or Prometheus would refuse
// to ingest, naming the part that is wrong.
func validate(name string, labels Labels) error {
	if len(name) > maxNameBytes || !metricName.MatchString(name) {
		return fmt.Errorf("metric name %q: want [a-zA-Z_:][a-zA-Z0-9_:]*, at most %d bytes", name, maxNameBytes)
	}
	if len(labels) > maxLabels {
		return fmt.Errorf("metric %s: %d labels, at most %d", name, len(labels), maxLabels)
	}
	for k, v := range labels {
		switch {
		case len(k) > maxNameBytes || !labelName.MatchString(k):
			return fmt.Errorf("metric %s: label name %q: want [a-zA-Z_][a-zA-Z0-9_]*, at most %d bytes", name, k, maxNameBytes)
		case strings.HasPrefix(k, "__"):
			return fmt.Errorf("metric %s: label name %q: names starting with __ are Prometheus's own", name, k)
		case len(v) > maxValueLen:
			return fmt.Errorf("metric %s: label %s: value of %d bytes, at most %d", name, k, len(v), maxValueLen)
		case v == "":
			return fmt.Errorf("metric %s: label %s: empty value (Prometheus treats it as no label: leave the label out)", name, k)
		}
	}
	return nil
}

func copyLabels(l Labels) Labels {
	c := make(Labels, len(l))
	for k, v := range l {
		c[k] = v
	}
	return c
}

// labelKey is a series' identity within its metric: the labels in name order.
func labelKey(l Labels) string { return formatLabels(l) }

// formatLabels renders labels as the text format writes them: {a="1",b="2"},
// sorted by name, values escaped; "" without labels.
func formatLabels(l Labels) string {
	if len(l) == 0 {
		return ""
	}
	names := make([]string, 0, len(l))
	for k := range l {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteString(`="`)
		b.WriteString(labelValueEscaper.Replace(l[k]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

var labelValueEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// formatValue writes a sample value as the text format spells it.
func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// serveMetrics writes every series in text format 0.0.4, metrics and series in
// a stable order. Prometheus 3 refuses a scrape without a known Content-Type.
func (e *Exporter) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	e.scrapes++
	now := e.now()
	names := make([]string, 0, len(e.series))
	for name := range e.series {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		fmt.Fprintf(&b, "# TYPE %s %s\n", name, e.kinds[name])
		keys := make([]string, 0, len(e.series[name]))
		for k := range e.series[name] {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "%s%s %s\n", name, k, formatValue(e.series[name][k].at(now)))
		}
	}
	e.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}
