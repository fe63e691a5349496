package metrics

import (
	"maps"
	"math"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

func family(t *testing.T, name string) *dto.MetricFamily {
	t.Helper()
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f
		}
	}
	t.Fatalf("metric %s is not registered", name)
	return nil
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func TestRecordEvaluation(t *testing.T) {
	RecordEvaluation(Evaluation{ConditionType: "deployment_exists", Service: ServiceWorkflow, Action: "scale_deployment",
		Required: true, Outcome: Failed, Duration: 30 * time.Microsecond})
	RecordEvaluation(Evaluation{ConditionType: "deployment_exists", Service: ServiceWorkflow, Action: "scale_deployment",
		Required: true, Outcome: Errored, ErrorReason: "MissingFacts", Duration: time.Millisecond})

	want := map[string]string{"condition_type": "deployment_exists", "service": "workflowexecution", "action": "scale_deployment", "required": "true"}
	for name, count := range map[string]float64{"kubernaut_condition_evaluations_total": 2, "kubernaut_condition_failed_total": 1} {
		m := family(t, name).GetMetric()
		if len(m) != 1 || m[0].GetCounter().GetValue() != count || !maps.Equal(labels(m[0]), want) {
			t.Errorf("%s: got %v", name, m)
		}
	}
	errs := family(t, "kubernaut_condition_errors_total").GetMetric()
	if len(errs) != 1 || labels(errs[0])["reason"] != "MissingFacts" {
		t.Errorf("errors are counted apart, by reason: %v", errs)
	}
}

// The histogram resolves a prepared policy's tens of microseconds as well as a
// deadline's seconds.
func TestDurationBuckets(t *testing.T) {
	RecordEvaluation(Evaluation{ConditionType: "x", Service: ServiceExecution, Outcome: Passed, Duration: 20 * time.Microsecond})
	h := family(t, "kubernaut_condition_evaluation_duration_seconds").GetMetric()[0].GetHistogram()
	buckets := h.GetBucket()
	first, last := buckets[0].GetUpperBound(), buckets[len(buckets)-1].GetUpperBound()
	if math.Abs(first-10e-6) > 1e-12 || math.Abs(last-10) > 1e-9 {
		t.Errorf("buckets span %g..%g, want 10µs..10s", first, last)
	}
	if buckets[1].GetCumulativeCount() == 0 && buckets[2].GetCumulativeCount() == 0 {
		t.Errorf("a 20µs evaluation landed in no bucket below 100µs: %v", buckets[:4])
	}
}

func TestLibraryVersionReplacesThePrevious(t *testing.T) {
	SetLibraryVersion("kubernaut-workflow-conditions", "1")
	SetLibraryVersion("kubernaut-workflow-conditions", "2")
	m := family(t, "kubernaut_policy_library_info").GetMetric()
	if len(m) != 1 || labels(m[0])["version"] != "2" {
		t.Errorf("got %v", m)
	}
}

func TestConditionTypeLabel(t *testing.T) {
	known := func(s string) bool { return s == "deployment_exists" }
	if ConditionTypeLabel("deployment_exists", known) != "deployment_exists" || ConditionTypeLabel("my_own_check", known) != CustomConditionType {
		t.Error("unknown condition types must share one label")
	}
}
