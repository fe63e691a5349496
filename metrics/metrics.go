// Package metrics defines every Prometheus metric of the manager, with the names of
// seed 001 (section 10.3) under the kubernaut_ prefix, registered once on
// controller-runtime's registry so they are served on the manager's metrics
// endpoint.
//
// Labels are bounded: actions come from the catalog, and a condition type that
// neither the catalog nor the policy library knows (users may name inline
// conditions anything) is counted as "custom".
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Service label values: which reconciler evaluated a condition, or the admission
// webhook's dry-run preflight.
const (
	ServiceWorkflow  = "workflowexecution"
	ServiceExecution = "kubernetesexecution"
	ServiceAdmission = "admission"
)

// CustomConditionType is the condition_type label of condition types the project
// does not know.
const CustomConditionType = "custom"

// durationBuckets resolve 10 microseconds to 10 seconds: a prepared policy decides in
// tens of microseconds, a stuck one hits its deadline in seconds.
var durationBuckets = prometheus.ExponentialBucketsRange(10e-6, 10, 13)

var (
	conditionEvaluations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubernaut_condition_evaluations_total",
		Help: "Evaluations of pre- and postconditions.",
	}, []string{"condition_type", "service", "action", "required"})

	conditionDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kubernaut_condition_evaluation_duration_seconds",
		Help:    "How long one evaluation of a condition's policy took, facts excluded.",
		Buckets: durationBuckets,
	}, []string{"condition_type", "service"})

	conditionPassed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubernaut_condition_passed_total",
		Help: "Evaluations whose policy allowed.",
	}, []string{"condition_type", "service", "action", "required"})

	conditionFailed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubernaut_condition_failed_total",
		Help: "Evaluations whose policy did not allow.",
	}, []string{"condition_type", "service", "action", "required"})

	conditionErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubernaut_condition_errors_total",
		Help: "Evaluations that could not decide (missing facts, deadline, failing built-in), by reason.",
	}, []string{"condition_type", "service", "reason"})

	conditionInconclusive = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubernaut_condition_inconclusive_total",
		Help: "Evaluations that had no data to decide on (an empty or NaN metrics query, Prometheus not answering, a missing object), by reason.",
	}, []string{"condition_type", "service", "reason"})

	conditionTimeouts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubernaut_condition_timeout_total",
		Help: "Postconditions that did not pass before their timeout.",
	}, []string{"condition_type", "service"})

	blockedByPrecondition = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubernaut_executions_blocked_by_precondition_total",
		Help: "Steps and executions a required precondition blocked.",
	}, []string{"action", "condition_type"})

	failedByPostcondition = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubernaut_executions_failed_by_postcondition_total",
		Help: "Steps and executions a required postcondition failed.",
	}, []string{"action", "condition_type"})

	libraryLoadErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubernaut_policy_library_load_errors_total",
		Help: "Policy library ConfigMap versions that did not compile; the last good set stayed in use.",
	}, []string{"configmap"})

	admissionRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubernaut_admission_requests_total",
		Help: "Admission reviews of the validating webhooks, by outcome (allowed, denied, error).",
	}, []string{"kind", "operation", "outcome", "dry_run"})

	admissionDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kubernaut_admission_duration_seconds",
		Help:    "How long the validating webhooks took to decide, dry-run preflight included.",
		Buckets: durationBuckets,
	}, []string{"kind", "operation", "dry_run"})

	paused = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kubernaut_paused",
		Help: "1 while new actions are paused: scope cluster (namespace \"\") or namespace.",
	}, []string{"scope", "namespace"})

	pauseChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubernaut_pause_changes_total",
		Help: "Pauses that began (edge paused) and ended (edge resumed).",
	}, []string{"scope", "edge"})

	finishedRunsDeleted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubernaut_finished_runs_deleted_total",
		Help: "Finished runs deleted once kept for the manager's --finished-run-ttl, by kind (workflowexecution, kubernetesexecution).",
	}, []string{"kind"})

	libraryInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kubernaut_policy_library_info",
		Help: "The policy set in use: 1 for the version label of each ConfigMap (or \"embedded\").",
	}, []string{"configmap", "version"})
)

func init() {
	crmetrics.Registry.MustRegister(
		conditionEvaluations, conditionDuration, conditionPassed, conditionFailed, conditionErrors,
		conditionInconclusive,
		conditionTimeouts, blockedByPrecondition, failedByPostcondition, libraryLoadErrors, libraryInfo,
		admissionRequests, admissionDuration, paused, pauseChanges, finishedRunsDeleted,
	)
}

// Outcome of one evaluation, as the metrics count it.
type Outcome int

const (
	Passed Outcome = iota
	Failed
	Errored
	// Inconclusive: there was no data to decide on.
	Inconclusive
)

// Evaluation is one evaluation of one condition.
type Evaluation struct {
	ConditionType string // already bounded by the caller with ConditionTypeLabel
	Service       string
	Action        string
	Required      bool
	Outcome       Outcome
	// ErrorReason is the reason of an Errored or Inconclusive outcome.
	ErrorReason string
	Duration    time.Duration
}

// RecordEvaluation counts one evaluation.
func RecordEvaluation(e Evaluation) {
	required := strconv.FormatBool(e.Required)
	conditionEvaluations.WithLabelValues(e.ConditionType, e.Service, e.Action, required).Inc()
	conditionDuration.WithLabelValues(e.ConditionType, e.Service).Observe(e.Duration.Seconds())
	switch e.Outcome {
	case Passed:
		conditionPassed.WithLabelValues(e.ConditionType, e.Service, e.Action, required).Inc()
	case Failed:
		conditionFailed.WithLabelValues(e.ConditionType, e.Service, e.Action, required).Inc()
	case Errored:
		conditionErrors.WithLabelValues(e.ConditionType, e.Service, e.ErrorReason).Inc()
	case Inconclusive:
		conditionInconclusive.WithLabelValues(e.ConditionType, e.Service, e.ErrorReason).Inc()
	}
}

// ConditionTypeLabel returns conditionType when known reports it is one of the
// project's (catalog or library), else CustomConditionType.
func ConditionTypeLabel(conditionType string, known func(string) bool) string {
	if known(conditionType) {
		return conditionType
	}
	return CustomConditionType
}

// RecordTimeout counts a postcondition that timed out.
func RecordTimeout(conditionType, service string) {
	conditionTimeouts.WithLabelValues(conditionType, service).Inc()
}

// RecordBlocked counts a step or execution a required precondition blocked.
func RecordBlocked(action, conditionType string) {
	blockedByPrecondition.WithLabelValues(action, conditionType).Inc()
}

// RecordFailedByPostcondition counts a step or execution a required postcondition
// failed.
func RecordFailedByPostcondition(action, conditionType string) {
	failedByPostcondition.WithLabelValues(action, conditionType).Inc()
}

// RecordFinishedRunDeleted counts a finished run of kind (ServiceWorkflow or
// ServiceExecution) deleted for the finished-run TTL.
func RecordFinishedRunDeleted(kind string) {
	finishedRunsDeleted.WithLabelValues(kind).Inc()
}

// RecordLibraryLoadError counts a ConfigMap version that did not compile.
func RecordLibraryLoadError(configMap string) {
	libraryLoadErrors.WithLabelValues(configMap).Inc()
}

// SetLibraryVersion records the version of the policy set in use from configMap,
// replacing the one before.
func SetLibraryVersion(configMap, version string) {
	libraryInfo.DeletePartialMatch(prometheus.Labels{"configmap": configMap})
	libraryInfo.WithLabelValues(configMap, version).Set(1)
}

// Admission outcomes.
const (
	AdmissionAllowed = "allowed"
	AdmissionDenied  = "denied"
	AdmissionError   = "error"
)

// RecordAdmission counts one decision of a validating webhook for kind.
func RecordAdmission(kind, operation, outcome string, dryRun bool, took time.Duration) {
	d := strconv.FormatBool(dryRun)
	admissionRequests.WithLabelValues(kind, operation, outcome, d).Inc()
	admissionDuration.WithLabelValues(kind, operation, d).Observe(took.Seconds())
}

// SetPaused records one edge of a pause of scope (cluster, or namespace ns).
func SetPaused(scope, namespace string, on bool) {
	if on {
		paused.WithLabelValues(scope, namespace).Set(1)
		pauseChanges.WithLabelValues(scope, "paused").Inc()
		return
	}
	paused.DeleteLabelValues(scope, namespace)
	pauseChanges.WithLabelValues(scope, "resumed").Inc()
}
