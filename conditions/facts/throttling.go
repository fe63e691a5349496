package facts

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"kubernaut.io/stepvalidation/catalog"
)

// CPU throttling is not in the API server: the kernel counts, per container with a
// CPU limit (a CFS quota), the scheduling periods it ran in and those in which it
// used up its quota (cAdvisor's container_cpu_cfs_periods_total and
// container_cpu_cfs_throttled_periods_total, scraped from the kubelets by
// Prometheus). A container is throttled when
//
//	rate(container_cpu_cfs_throttled_periods_total[Window]) / rate(container_cpu_cfs_periods_total[Window]) > Threshold
//
// and a pod when any of its containers is. A container without a CPU limit has no
// quota and no such counters: it is never throttled, and neither is a pod that is
// not Running. A round asks Prometheus once for all the pods of its workload.

// Querier runs one PromQL instant query, as the manager's Prometheus client
// (--prometheus-url) does. Query returns a float64 for a scalar, or for a vector a
// map[string]any from each sample's label set, spelled {name="value",...}, to its
// float64 value; any error (Prometheus unreachable, an empty or NaN result) means
// the answer is not known.
type Querier interface {
	Query(ctx context.Context, query string) (any, error)
}

// The defaults of Throttling: the share of throttled periods above which
// latency suffers visibly (a quarter of the 100 ms periods, 25 ms of every 100
// waiting for the next one), over the window alert rules commonly use (the
// kubernetes-mixin's CPUThrottlingHigh alerts at 25% over 5 minutes).
const (
	DefaultThrottlingWindow    = 5 * time.Minute
	DefaultThrottlingThreshold = 0.25
)

// throttlingQueryTimeout bounds the one query a round makes, whatever the
// Querier's own timeout.
const throttlingQueryTimeout = 10 * time.Second

// maxPodsByName is the most pods a query names in a regular expression; the pods
// of a larger workload are read by namespace and picked from the answer, which
// keeps the query short.
const maxPodsByName = 50

// Throttling is where pods' CPU throttling comes from.
type Throttling struct {
	// Querier is the manager's Prometheus; nil when it has none.
	Querier Querier
	// Window is the rate window, whole seconds, at least 10 s (rate needs two
	// scrapes in it); DefaultThrottlingWindow when zero.
	Window time.Duration
	// Threshold is the share of CFS periods, above 0 and at most 1, above which a
	// container is throttled; DefaultThrottlingThreshold when zero.
	Threshold float64
}

// Validate says what is wrong with t's window or threshold.
func (t *Throttling) Validate() error {
	w, th := t.window(), t.threshold()
	var errs []error
	if w < 10*time.Second || w%time.Second != 0 {
		errs = append(errs, fmt.Errorf("throttling window %s: want whole seconds, at least 10s (rate needs two scrapes within it)", w))
	}
	if !(th > 0 && th <= 1) {
		errs = append(errs, fmt.Errorf("throttling threshold %v: want a share of CFS periods above 0 and at most 1 (e.g. 0.25)", th))
	}
	return errors.Join(errs...)
}

func (t *Throttling) window() time.Duration {
	if t == nil || t.Window == 0 {
		return DefaultThrottlingWindow
	}
	return t.Window
}

func (t *Throttling) threshold() float64 {
	if t == nil || t.Threshold == 0 {
		return DefaultThrottlingThreshold
	}
	return t.Threshold
}

// ThrottlingFact is the key Gather adds beside pods, for policies and their
// authors: docs/input-keys.md lists it.
var ThrottlingFact = catalog.Fact{Key: "throttling", Description: "object, beside pods: where pods[].throttled comes from. " +
	`source: "prometheus", or "none" when the manager reads no throttling (--prometheus-url and --throttling-from-prometheus); window: the rate window, e.g. "5m"; ` +
	"threshold: the share of throttled CFS periods (container_cpu_cfs_throttled_periods_total over container_cpu_cfs_periods_total) " +
	"above which a container is throttled, e.g. 0.25; reason: why the throttling of some pods is not known, absent when every pod's is. " +
	"A pod that is not Running, or whose containers set no CPU limit (no CFS quota), is never throttled."}

// promDuration spells d as PromQL does, e.g. 5m or 90s.
func promDuration(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

// query returns the PromQL that gives, per container of pods (names, sorted) in
// namespace, the share of its CFS periods that were throttled over the window:
// 0 for a container that ran in no period (idle), never NaN.
func (t *Throttling) query(namespace string, pods []string) string {
	matchers := fmt.Sprintf(`namespace=%s,container!="",container!="POD"`, strconv.Quote(namespace))
	if len(pods) <= maxPodsByName {
		quoted := make([]string, len(pods))
		for i, p := range pods {
			quoted[i] = regexp.QuoteMeta(p)
		}
		matchers += ",pod=~" + strconv.Quote(strings.Join(quoted, "|"))
	}
	rate := func(metric string) string {
		return fmt.Sprintf("sum by (namespace, pod, container) (rate(%s{%s}[%s]))", metric, matchers, promDuration(t.window()))
	}
	periods, throttled := rate("container_cpu_cfs_periods_total"), rate("container_cpu_cfs_throttled_periods_total")
	return fmt.Sprintf("(%s / (%s > 0)) or (%s == 0)", throttled, periods, periods)
}

// containerKey names one container of one pod.
type containerKey struct{ pod, container string }

// ratios reads the answer to query: the share of throttled periods per container
// of namespace.
func ratios(result any, namespace string) (map[containerKey]float64, error) {
	samples := map[string]float64{}
	switch v := result.(type) {
	case map[string]any:
		for k, x := range v {
			f, ok := x.(float64)
			if !ok {
				return nil, fmt.Errorf("the throttling query's sample %s is %T, want a number", k, x)
			}
			samples[k] = f
		}
	case map[string]float64:
		samples = v
	default:
		return nil, fmt.Errorf("the throttling query returned %T, want a vector of samples by label set", result)
	}
	out := make(map[containerKey]float64, len(samples))
	for k, f := range samples {
		set, err := parseLabelSet(k)
		if err != nil {
			return nil, fmt.Errorf("the throttling query's sample %q: %w", k, err)
		}
		if set["namespace"] != namespace || set["pod"] == "" || set["container"] == "" || math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		out[containerKey{set["pod"], set["container"]}] = f
	}
	return out, nil
}

// parseLabelSet reads a label set spelled {name="value", ...}, the values quoted
// as Go quotes strings (Prometheus's own spelling), with or without a space
// after each comma.
func parseLabelSet(s string) (map[string]string, error) {
	s = strings.TrimSpace(s)
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return nil, errors.New(`not a label set {name="value",...}`)
	}
	s = strings.TrimSpace(s[1 : len(s)-1])
	out := map[string]string{}
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, errors.New("a label has no name= before its value")
		}
		name := strings.TrimSpace(s[:eq])
		s = strings.TrimLeft(s[eq+1:], " ")
		end := closingQuote(s)
		if end < 0 {
			return nil, fmt.Errorf("the value of label %s is not a quoted string", name)
		}
		value, err := strconv.Unquote(s[:end+1])
		if err != nil {
			return nil, fmt.Errorf("the value of label %s: %w", name, err)
		}
		out[name] = value
		s = strings.TrimLeft(s[end+1:], " ")
		if s == "" {
			break
		}
		if s[0] != ',' {
			return nil, fmt.Errorf("after label %s: want a comma", name)
		}
		s = strings.TrimLeft(s[1:], " ")
	}
	return out, nil
}

// closingQuote returns the index of the quote that ends the string s starts
// with, -1 when s does not start with a quote or the string does not end.
func closingQuote(s string) int {
	if s == "" || s[0] != '"' {
		return -1
	}
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// throttlingCandidate is a pod whose throttling Prometheus must tell: Running,
// with containers that have a CPU limit (limited; nil when the document does not
// list its containers, and any of its containers will do).
type throttlingCandidate struct {
	summary map[string]any
	limited []map[string]any
}

// addThrottling sets throttled and cpu_throttled_ratio on the pods of doc it can
// know them of, and throttling: see ThrottlingFact. It never fails the round: a
// throttling that cannot be known is left out, with the reason.
func (t *Throttling) addThrottling(ctx context.Context, doc map[string]any, pods []any) {
	info := map[string]any{"source": "none", "window": promDuration(t.window()), "threshold": t.threshold()}
	if t != nil && t.Querier != nil {
		info["source"] = "prometheus"
	}
	doc[ThrottlingFact.Key] = info

	candidates := map[string]throttlingCandidate{}
	for _, item := range pods {
		p, ok := item.(map[string]any)
		if !ok {
			continue
		}
		name, _ := p["name"].(string)
		if phase, ok := p["phase"].(string); name == "" || (ok && phase != "Running") {
			p["throttled"] = false
			continue
		}
		c := throttlingCandidate{summary: p}
		if containers, ok := p["containers"].([]any); ok {
			c.limited = []map[string]any{}
			for _, x := range containers {
				if container, ok := x.(map[string]any); ok && container["cpu_limit_millicores"] != nil {
					c.limited = append(c.limited, container)
				}
			}
			if len(c.limited) == 0 {
				p["throttled"] = false
				continue
			}
		}
		candidates[name] = c
	}
	if len(candidates) == 0 {
		return
	}
	names := make([]string, 0, len(candidates))
	for name := range candidates {
		names = append(names, name)
	}
	sort.Strings(names)

	if t == nil || t.Querier == nil {
		info["reason"] = "the manager reads no throttling (--throttling-from-prometheus, with --prometheus-url)"
		return
	}
	namespace, _ := doc["namespace"].(string)
	qctx, cancel := context.WithTimeout(ctx, throttlingQueryTimeout)
	defer cancel()
	result, err := t.Querier.Query(qctx, t.query(namespace, names))
	var measured map[containerKey]float64
	if err == nil {
		measured, err = ratios(result, namespace)
	}
	if err != nil {
		info["reason"] = "the Prometheus query of the CFS throttling counters failed: " + err.Error()
		return
	}

	var unknown []string
	for _, name := range names {
		c := candidates[name]
		highest, known := measure(c, name, measured)
		if !known {
			unknown = append(unknown, name)
			continue
		}
		c.summary["cpu_throttled_ratio"] = round3(highest)
		c.summary["throttled"] = highest > t.threshold()
	}
	if len(unknown) > 0 {
		info["reason"] = fmt.Sprintf("Prometheus has no CFS throttling counters (container_cpu_cfs_periods_total) over the last %s "+
			"for every container with a CPU limit of pods %s", promDuration(t.window()), strings.Join(unknown, ", "))
	}
}

// measure returns the highest share of throttled periods of c's limited
// containers, setting each one's cpu_throttled_ratio; known is false when one of
// them has no measure (or, for a pod whose containers are not listed, none has).
func measure(c throttlingCandidate, pod string, measured map[containerKey]float64) (highest float64, known bool) {
	if c.limited == nil {
		for k, f := range measured {
			if k.pod == pod {
				highest, known = max(highest, f), true
			}
		}
		return highest, known
	}
	known = true
	for _, container := range c.limited {
		name, _ := container["name"].(string)
		f, ok := measured[containerKey{pod, name}]
		if !ok {
			known = false
			continue
		}
		container["cpu_throttled_ratio"] = round3(f)
		highest = max(highest, f)
	}
	return highest, known
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
