package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Defaults the condition service applies to a ValidationCondition that leaves its
// timeout or interval out. They differ between preconditions and postconditions, so
// they cannot be schema defaults on a type both share.
const (
	DefaultPreConditionTimeout  = 30 * time.Second
	DefaultPostConditionTimeout = 2 * time.Minute
	DefaultPostConditionPoll    = 5 * time.Second
	// DefaultApprovalTimeout is how long a run waits for approval when its
	// approvalTimeout is unset.
	DefaultApprovalTimeout = time.Hour
)

// ValidationCondition is a precondition or postcondition: a Rego policy over live
// cluster state that must allow before a step or action runs (pre) or after it acted
// (post). It is called a "validation condition" in Go to keep it apart from the
// metav1.Condition entries of status.conditions.
type ValidationCondition struct {
	// type names the condition in snake_case, e.g. deployment_exists. When rego is
	// empty, the policy library's policy of this type is used.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9_]*$`
	Type string `json:"type"`

	// description says in words what the condition checks.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`

	// rego is an inline Rego policy. Its rule allow decides the condition; the
	// optional rules error_message (or message) and deny explain a failure. The query
	// is data.<package>.allow for the policy's own package.
	// +optional
	// +kubebuilder:validation:MaxLength=65536
	Rego string `json:"rego,omitempty"`

	// required conditions block the step or action when they fail; optional ones
	// (required: false) only warn.
	// +optional
	// +kubebuilder:default=true
	Required *bool `json:"required,omitempty"`

	// timeout bounds the evaluation: a precondition's single evaluation (default
	// 30s), a postcondition's polling until it passes (default 2m).
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// interval is the longest a postcondition waits before it is evaluated again,
	// until it passes or its timeout runs out: at least 1s, at most the timeout
	// (default 5s). It is also evaluated as soon as an object its facts were read
	// from changes (one read by name, or listed in one namespace), with the changes
	// of 100ms taken together. Without such changes it is evaluated at most
	// ceil(timeout/interval)+1 times (25 with the defaults). Preconditions ignore
	// it.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	Interval *metav1.Duration `json:"interval,omitempty"`

	// metrics are Prometheus queries the manager runs against its --prometheus-url
	// before each evaluation. Each result is input.metrics.<name>: a number, or an
	// object from label set (e.g. {pod="web-1"}) to number. An empty, NaN or
	// infinite result, or a Prometheus that does not answer, makes the condition
	// inconclusive: neither passed nor failed. Declaring queries needs verb query
	// on metrics.kubernaut.io in the run's namespace.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=4
	Metrics []MetricQuery `json:"metrics,omitempty"`

	// objects are Kubernetes objects, custom resources included, read before each
	// evaluation into input.objects.<key>, without metadata.managedFields. The
	// requester must be allowed to get each of them. A missing object makes the
	// condition inconclusive.
	// +optional
	// +listType=map
	// +listMapKey=key
	// +kubebuilder:validation:MaxItems=4
	Objects []ObjectQuery `json:"objects,omitempty"`

	// injected is set by the admission webhook on a condition it added because the
	// action catalog suggests it; conditions a user wrote never carry it.
	// +optional
	Injected bool `json:"injected,omitempty"`
}

// MetricQuery is a named PromQL query whose result a condition's policy reads.
type MetricQuery struct {
	// name is the key of the result under input.metrics.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9_]*$`
	Name string `json:"name"`

	// query is an instant PromQL query. {{name}} and {{namespace}} stand for the
	// name and namespace of the action's target, e.g.
	// sum(rate(http_requests_total{namespace="{{namespace}}",code=~"5.."}[5m])).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Query string `json:"query"`
}

// ObjectQuery names one object a condition's policy reads.
type ObjectQuery struct {
	// key is the object's key under input.objects.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9_]*$`
	Key string `json:"key"`

	// apiVersion is the object's group and version, e.g. cert-manager.io/v1.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	APIVersion string `json:"apiVersion"`

	// kind is the object's kind, e.g. Certificate.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Kind string `json:"kind"`

	// namespace is the object's namespace: empty means the run's own, and
	// cluster-scoped kinds leave it empty. {{namespace}} stands for the target's.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Namespace string `json:"namespace,omitempty"`

	// name is the object's name; {{name}} stands for the target's.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// IsRequired reports whether a failure of c blocks. Absent means required, as the
// schema default says; this covers objects built in Go that skipped defaulting.
func (c *ValidationCondition) IsRequired() bool {
	return c.Required == nil || *c.Required
}

// ConditionOverride changes whether a condition type is required for one
// execution, e.g. to let an optional check block, or a noisy one only warn.
type ConditionOverride struct {
	// type is the condition type the override applies to.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9_]*$`
	Type string `json:"type"`

	// required replaces the condition's own required for this execution.
	// +required
	Required bool `json:"required"`
}

// PolicySource says where the Rego a condition was evaluated with came from.
// +kubebuilder:validation:Enum=inline;library;embedded
type PolicySource string

const (
	// PolicySourceInline is the condition's own rego field.
	PolicySourceInline PolicySource = "inline"
	// PolicySourceLibrary is the kubernaut-workflow-conditions ConfigMap.
	PolicySourceLibrary PolicySource = "library"
	// PolicySourceEmbedded is the default policy built into the manager.
	PolicySourceEmbedded PolicySource = "embedded"
)

// ConditionResult records one evaluation of a ValidationCondition.
type ConditionResult struct {
	// conditionType is the type of the condition evaluated.
	// +required
	ConditionType string `json:"conditionType"`

	// evaluated is true when the policy ran to a decision; false when it could not
	// (a compile error, a timeout, missing cluster state).
	// +required
	Evaluated bool `json:"evaluated"`

	// passed is true when the policy allowed, or when the condition was overridden.
	// +required
	Passed bool `json:"passed"`

	// inconclusive is true when the condition could not be decided for lack of
	// data: a metrics query returned nothing, NaN or infinity, Prometheus did not
	// answer, or an object it reads does not exist. A required condition still
	// inconclusive at its timeout neither passes nor fails: the run waits for a
	// person to override or approve.
	// +optional
	Inconclusive bool `json:"inconclusive,omitempty"`

	// errorMessage explains a failure: the policy's error_message and deny
	// messages, or why it could not be evaluated.
	// +optional
	ErrorMessage string `json:"errorMessage,omitempty"`

	// evaluationTime is when the last recorded evaluation finished. While a
	// postcondition keeps failing the same way, its evaluations are not each
	// written: status records the first, every change of verdict, an evaluation
	// that could not decide, and the last.
	// +required
	EvaluationTime metav1.Time `json:"evaluationTime"`

	// required is whether a failure blocked, after overrides and validation mode.
	// +optional
	Required bool `json:"required,omitempty"`

	// overridden is true when the kubernaut.io/override-condition annotation skipped
	// this condition.
	// +optional
	Overridden bool `json:"overridden,omitempty"`

	// warnOnly is true when validation mode warn made this required condition act
	// as optional: a failure is reported, not enforced.
	// +optional
	WarnOnly bool `json:"warnOnly,omitempty"`

	// firstEvaluationTime is when the first evaluation finished: a postcondition's
	// timeout counts from it.
	// +optional
	FirstEvaluationTime *metav1.Time `json:"firstEvaluationTime,omitempty"`

	// consecutiveErrors counts the evaluations since the last decision that could
	// not decide; verification gives up after a few.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ConsecutiveErrors int32 `json:"consecutiveErrors,omitempty"`

	// attempts counts evaluations, as of the last recorded one (see
	// evaluationTime); postconditions are evaluated until they pass.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Attempts int32 `json:"attempts,omitempty"`

	// policySource says where the policy came from.
	// +optional
	PolicySource PolicySource `json:"policySource,omitempty"`

	// policyVersion is the version label of the policy library ConfigMap, or the
	// manager's version for embedded policies.
	// +optional
	PolicyVersion string `json:"policyVersion,omitempty"`

	// durationMicros is how long the last evaluation took, in microseconds.
	// +optional
	// +kubebuilder:validation:Minimum=0
	DurationMicros int64 `json:"durationMicros,omitempty"`
}
