package perf

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// reconcileSpan is one call of Reconcile as the manager logs it at
// --zap-log-level=5: controller-runtime logs "Reconciling" before the call and
// "Reconcile successful", "Reconcile done, requeueing..." or "Reconciler error"
// after it, both with the same reconcileID.
type reconcileSpan struct {
	Controller string
	Namespace  string
	Name       string
	Start      time.Time
	Took       time.Duration
	Err        bool
}

// logLine is the part of a zap JSON log line (--zap-time-encoding=rfc3339nano) the
// benchmark reads.
type logLine struct {
	TS          string `json:"ts"`
	Msg         string `json:"msg"`
	Controller  string `json:"controller"`
	Namespace   string `json:"namespace"`
	Name        string `json:"name"`
	ReconcileID string `json:"reconcileID"`
}

// parseReconciles pairs the start and end lines of every reconcile in the manager's
// log. Lines that are not JSON (klog's, a panic) are skipped. open counts reconciles
// that started and did not end before the log was read.
func parseReconciles(r io.Reader) (spans []reconcileSpan, open int, err error) {
	started := map[string]reconcileSpan{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] != '{' || !strings.Contains(string(line), `"reconcileID"`) {
			continue
		}
		var l logLine
		if json.Unmarshal(line, &l) != nil || l.ReconcileID == "" {
			continue
		}
		ts, err := time.Parse(time.RFC3339Nano, l.TS)
		if err != nil {
			return nil, 0, fmt.Errorf("log time %q: run the manager with --zap-time-encoding=rfc3339nano: %w", l.TS, err)
		}
		switch {
		case l.Msg == "Reconciling":
			started[l.ReconcileID] = reconcileSpan{Controller: l.Controller, Namespace: l.Namespace, Name: l.Name, Start: ts}
		case l.Msg == "Reconcile successful" || strings.HasPrefix(l.Msg, "Reconcile done") || l.Msg == "Reconciler error":
			s, ok := started[l.ReconcileID]
			if !ok {
				continue
			}
			delete(started, l.ReconcileID)
			s.Took = ts.Sub(s.Start)
			s.Err = l.Msg == "Reconciler error"
			spans = append(spans, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, 0, fmt.Errorf("reading the manager log: %w", err)
	}
	return spans, len(started), nil
}

// stepCost is the controller's own work for one step: the reconciles of the
// workflow and of the step's KubernetesExecution.
type stepCost struct {
	Workflow, Execution time.Duration
	Reconciles          int
	Errors              int
}

// Total is the step's overhead (see BenchmarkWorkflows200).
func (c stepCost) Total() time.Duration { return c.Workflow + c.Execution }

// costsByNamespace sums the spans of each namespace's workflow (controller
// workflowexecution, name workflow) and execution (controller
// kubernetesexecution, name execution).
func costsByNamespace(spans []reconcileSpan, workflow, execution string) map[string]stepCost {
	out := map[string]stepCost{}
	for _, s := range spans {
		c := out[s.Namespace]
		switch {
		case s.Controller == "workflowexecution" && s.Name == workflow:
			c.Workflow += s.Took
		case s.Controller == "kubernetesexecution" && s.Name == execution:
			c.Execution += s.Took
		default:
			continue
		}
		c.Reconciles++
		if s.Err {
			c.Errors++
		}
		out[s.Namespace] = c
	}
	return out
}

// quantile returns the q-quantile (0 < q <= 1) of xs by the nearest-rank method: the
// smallest value with at least q of the values at or below it. xs need not be sorted;
// it is not changed.
func quantile[T int64 | float64 | time.Duration](xs []T, q float64) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(q * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

func mean[T int64 | float64 | time.Duration](xs []T) float64 {
	if len(xs) == 0 {
		return 0
	}
	var sum float64
	for _, x := range xs {
		sum += float64(x)
	}
	return sum / float64(len(xs))
}

// sample is one line of the Prometheus text exposition format.
type sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// parseMetrics reads the Prometheus text format the manager's metrics endpoint
// serves. Comments and empty lines are skipped.
func parseMetrics(r io.Reader) ([]sample, error) {
	var out []sample
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d %q: %w", n, line, err)
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

func parseSample(line string) (sample, error) {
	s := sample{Labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return s, fmt.Errorf("no value")
	}
	s.Name, line = line[:i], line[i:]
	if line[0] == '{' {
		line = line[1:]
		for {
			line = strings.TrimLeft(line, " ,")
			if line == "" {
				return s, fmt.Errorf("unterminated labels")
			}
			if line[0] == '}' {
				line = line[1:]
				break
			}
			eq := strings.Index(line, `="`)
			if eq < 0 {
				return s, fmt.Errorf("label without a quoted value")
			}
			key := line[:eq]
			line = line[eq+2:]
			var val strings.Builder
			closed := false
			for j := 0; j < len(line); j++ {
				c := line[j]
				if c == '\\' && j+1 < len(line) {
					j++
					switch line[j] {
					case 'n':
						val.WriteByte('\n')
					default:
						val.WriteByte(line[j])
					}
					continue
				}
				if c == '"' {
					line, closed = line[j+1:], true
					break
				}
				val.WriteByte(c)
			}
			if !closed {
				return s, fmt.Errorf("unterminated label value")
			}
			s.Labels[key] = val.String()
		}
	}
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return s, fmt.Errorf("no value")
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return s, err
	}
	s.Value = v
	return s, nil
}

// metrics is one scrape of the manager's metrics endpoint.
type metrics []sample

// sum adds the values of the samples named name whose labels include match.
func (m metrics) sum(name string, match map[string]string) float64 {
	var total float64
	for _, s := range m {
		if s.Name != name {
			continue
		}
		ok := true
		for k, v := range match {
			if s.Labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			total += s.Value
		}
	}
	return total
}

// delta is after.sum - before.sum.
func delta(before, after metrics, name string, match map[string]string) float64 {
	return after.sum(name, match) - before.sum(name, match)
}

// procStatus reads the kB fields of /proc/<pid>/status, e.g. VmRSS and VmHWM.
func procStatus(text string) map[string]int64 {
	out := map[string]int64{}
	for _, line := range strings.Split(text, "\n") {
		key, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 2 && fields[1] == "kB" {
			if v, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
				out[key] = v
			}
		}
	}
	return out
}

// binaryResident sums the Rss of /proc/<pid>/smaps's mappings of binary by their
// permissions: r-xp is its code (.text), r--p its read-only data (.rodata,
// .gopclntab: type data and the function tables the runtime reads for stacks),
// rw-p its initialized data. In kB.
func binaryResident(smaps, binary string) map[string]int64 {
	out := map[string]int64{}
	var perms string // of the mapping being read; "" when it is not binary's
	for _, line := range strings.Split(smaps, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if strings.Contains(fields[0], "-") && len(fields) >= 5 && !strings.HasSuffix(fields[0], ":") {
			perms = ""
			if len(fields) >= 6 && fields[5] == binary {
				perms = fields[1]
			}
			continue
		}
		if perms != "" && fields[0] == "Rss:" && len(fields) == 3 {
			if v, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
				out[perms] += v
			}
		}
	}
	return out
}

// userHZ is the unit of utime and stime in /proc/<pid>/stat (USER_HZ, 100 on
// every Linux architecture Go supports).
const userHZ = 100

// procCPU returns utime+stime of /proc/<pid>/stat: the CPU time of every thread of
// the process.
func procCPU(stat string) (time.Duration, error) {
	// The command name (field 2) is in parentheses and may hold spaces.
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("no command name in %q", stat)
	}
	fields := strings.Fields(stat[end+1:])
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("short stat %q", stat)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// row is one line of the human table.
type row struct{ name, value, note string }

func table(rows []row) string {
	var w1, w2 int
	for _, r := range rows {
		w1, w2 = max(w1, len(r.name)), max(w2, len(r.value))
	}
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "\n  %-*s  %*s  %s", w1, r.name, w2, r.value, r.note)
	}
	return b.String()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func mb(kb int64) float64 { return float64(kb) / 1024 }
