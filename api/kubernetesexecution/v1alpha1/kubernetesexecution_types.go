package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
)

// KubernetesExecutionSpec is the action to run and the conditions that guard it.
type KubernetesExecutionSpec struct {
	// action is the catalog action to run, e.g. scale_deployment.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9_]*$`
	Action string `json:"action"`

	// parameters of the action, checked against the action's parameter schema at
	// admission. scale_deployment takes {deployment: {name, namespace, replicas}}.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Parameters *runtime.RawExtension `json:"parameters,omitempty"`

	// timeout bounds the run from validation to the last postcondition.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// maxRetries is how often a failed call to the API server is tried again.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	MaxRetries *int32 `json:"maxRetries,omitempty"`

	// executionStrategy holds the run's gates: approvalRequired,
	// approvalsRequired, approvalTimeout, blockedTimeout.
	// +optional
	ExecutionStrategy commonv1alpha1.Gates `json:"executionStrategy,omitzero"`

	// approvals are the decisions of approvers, appended one at a time (kubernaut
	// approve|reject). It is the one spec field that may change after the
	// execution has started; entries are never edited or removed.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	Approvals []commonv1alpha1.Approval `json:"approvals,omitempty"`

	// preConditions are checked after the safety policies and before the dry run.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=32
	PreConditions []commonv1alpha1.ValidationCondition `json:"preConditions,omitempty"`

	// postConditions are verified after the action acted, again whenever what they
	// read changes, until they pass or time out.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=32
	PostConditions []commonv1alpha1.ValidationCondition `json:"postConditions,omitempty"`
}

// ExecutionPhase is where an action is in its run.
// +kubebuilder:validation:Enum=validating;waiting_approval;paused;executing;verifying;completed;failed;blocked;denied;rollback_ready
type ExecutionPhase string

const (
	// ExecutionValidating: parameters, RBAC, safety policies, preconditions and the
	// dry run are being checked.
	ExecutionValidating ExecutionPhase = "validating"
	// ExecutionWaitingApproval: the action waits for an operator's approval.
	ExecutionWaitingApproval ExecutionPhase = "waiting_approval"
	// ExecutionPaused: new actions are paused (cluster-wide or in the namespace);
	// the run validates again when the pause ends.
	ExecutionPaused ExecutionPhase = "paused"
	// ExecutionExecuting: the action is acting.
	ExecutionExecuting ExecutionPhase = "executing"
	// ExecutionVerifying: the action's postconditions are being polled.
	ExecutionVerifying ExecutionPhase = "verifying"
	// ExecutionCompleted: the action acted and its postconditions passed. Terminal.
	ExecutionCompleted ExecutionPhase = "completed"
	// ExecutionFailed: the action or a required postcondition failed. Terminal.
	ExecutionFailed ExecutionPhase = "failed"
	// ExecutionBlocked: a required precondition did not allow, or, after acting, a
	// required postcondition was still inconclusive (no data) at its timeout. The
	// run waits for an override up to blockedTimeout, then fails.
	ExecutionBlocked ExecutionPhase = "blocked"
	// ExecutionDenied: RBAC or a safety policy refused the action. Terminal.
	ExecutionDenied ExecutionPhase = "denied"
	// ExecutionRollbackReady: the action failed after acting and
	// status.rollbackInformation says how to undo it. Terminal.
	ExecutionRollbackReady ExecutionPhase = "rollback_ready"
)

// KubernetesExecutionStatus is the observed state of an action run.
type KubernetesExecutionStatus struct {
	// observedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase is where the action is in its run.
	// +optional
	Phase ExecutionPhase `json:"phase,omitempty"`

	// message says in words why the action is in its phase.
	// +optional
	Message string `json:"message,omitempty"`

	// requestedBy is the user name of the requester (annotation
	// kubernaut.io/requested-by), for kubectl get -o wide: the manager acts for
	// them only with the permissions they hold.
	// +optional
	RequestedBy string `json:"requestedBy,omitempty"`

	// startTime is when the run started.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// completionTime is when the run reached a terminal phase.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// approvals are the decisions in spec.approvals, with when the manager saw
	// each.
	// +optional
	// +listType=atomic
	Approvals []commonv1alpha1.ApprovalRecord `json:"approvals,omitempty"`

	// overrides are the overrides that apply to the run: its own and its
	// workflow's.
	// +optional
	// +listType=atomic
	Overrides []commonv1alpha1.OverrideRecord `json:"overrides,omitempty"`

	// retriesAttempted counts the retries of the action's API calls.
	// +optional
	// +kubebuilder:validation:Minimum=0
	RetriesAttempted int32 `json:"retriesAttempted,omitempty"`

	// validationResults are the outcomes of the checks before acting, and of the
	// postconditions after.
	// +optional
	ValidationResults *ValidationResults `json:"validationResults,omitempty"`

	// executionResults say what the action changed.
	// +optional
	ExecutionResults *ExecutionResults `json:"executionResults,omitempty"`

	// rollbackInformation is the inverse of the action, captured before acting.
	// +optional
	RollbackInformation *RollbackInformation `json:"rollbackInformation,omitempty"`

	// conditions: Succeeded summarises the run; the stage conditions beside it
	// say how far it got. See the condition types in api/common/v1alpha1.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ValidationResults are the outcomes of the checks of section 5.1 of the design, in
// the order they run.
type ValidationResults struct {
	// parameters: the parameters fit the action's parameter schema.
	// +optional
	Parameters *CheckResult `json:"parameters,omitempty"`

	// rbac: a SubjectAccessReview allowed the action's ServiceAccount every verb
	// the action needs.
	// +optional
	RBAC *CheckResult `json:"rbac,omitempty"`

	// safety: no safety policy denied the action.
	// +optional
	Safety *CheckResult `json:"safety,omitempty"`

	// preConditionResults are the outcomes of the action's preconditions.
	// +optional
	// +listType=map
	// +listMapKey=conditionType
	PreConditionResults []commonv1alpha1.ConditionResult `json:"preConditionResults,omitempty"`

	// dryRun: the API server accepted the action as a server-side dry run.
	// +optional
	DryRun *CheckResult `json:"dryRun,omitempty"`

	// postConditionResults are the outcomes of the action's postconditions.
	// +optional
	// +listType=map
	// +listMapKey=conditionType
	PostConditionResults []commonv1alpha1.ConditionResult `json:"postConditionResults,omitempty"`
}

// CheckResult is the outcome of one check before acting.
type CheckResult struct {
	// passed is true when the check allowed the action.
	// +required
	Passed bool `json:"passed"`

	// message explains the outcome, e.g. the safety policies' deny messages.
	// +optional
	Message string `json:"message,omitempty"`

	// time is when the check ran.
	// +optional
	Time *metav1.Time `json:"time,omitempty"`
}

// ExecutionResults say what the action changed.
type ExecutionResults struct {
	// resourcesAffected lists each object the action changed.
	// +optional
	// +listType=atomic
	ResourcesAffected []AffectedResource `json:"resourcesAffected,omitempty"`
}

// AffectedResource is one object an action changed, with the fields it changed.
type AffectedResource struct {
	// kind of the object, e.g. Deployment.
	// +required
	Kind string `json:"kind"`

	// namespace of the object; empty for cluster-scoped objects such as Nodes.
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// name of the object.
	// +required
	Name string `json:"name"`

	// before holds the changed fields as they were, e.g. {replicas: "3"}.
	// +optional
	Before map[string]string `json:"before,omitempty"`

	// after holds the changed fields as the action left them, e.g. {replicas: "5"}.
	// +optional
	After map[string]string `json:"after,omitempty"`
}

// RollbackInformation is the inverse of an action, captured before it acted so a
// failure (or a restart of the manager) can always undo it.
type RollbackInformation struct {
	// action is the catalog action that undoes this one.
	// +required
	Action string `json:"action"`

	// parameters of the undoing action, e.g. the previous replica count.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Parameters *runtime.RawExtension `json:"parameters,omitempty"`

	// capturedAt is when the previous state was read.
	// +optional
	CapturedAt *metav1.Time `json:"capturedAt,omitempty"`
}

// KubernetesExecution runs one catalog action against the cluster, after checking
// its parameters, RBAC, safety policies and preconditions, and verifies its
// postconditions afterwards.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ke,categories=kubernaut
// +kubebuilder:printcolumn:name="Action",type=string,JSONPath=`.spec.action`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Succeeded",type=string,JSONPath=`.status.conditions[?(@.type=="Succeeded")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Succeeded")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Requested-By",type=string,JSONPath=`.status.requestedBy`,priority=1,description="Who asked for the run; the manager acts only with their permissions"
type KubernetesExecution struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the action to run.
	// +required
	Spec KubernetesExecutionSpec `json:"spec"`

	// status is the observed state of the run.
	// +optional
	Status KubernetesExecutionStatus `json:"status,omitzero"`
}

// KubernetesExecutionList is a list of KubernetesExecutions.
//
// +kubebuilder:object:root=true
type KubernetesExecutionList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []KubernetesExecution `json:"items"`
}
