package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
)

// WorkflowExecutionSpec is the workflow to run and how to run it.
type WorkflowExecutionSpec struct {
	// workflowDefinition holds the steps.
	// +required
	WorkflowDefinition WorkflowDefinition `json:"workflowDefinition"`

	// executionStrategy says how the steps are run and what happens on failure.
	// +optional
	// +kubebuilder:default={}
	ExecutionStrategy ExecutionStrategy `json:"executionStrategy,omitzero"`

	// conditionOverrides change, for this execution only, whether conditions of the
	// given types are required. They apply to step and action conditions; relaxing
	// one (required: false on a required condition) needs verb override on
	// conditions.kubernaut.io.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=64
	ConditionOverrides []commonv1alpha1.ConditionOverride `json:"conditionOverrides,omitempty"`

	// approvals are the decisions of approvers, appended one at a time (kubernaut
	// approve|reject). It is the one spec field that may change after the workflow
	// has started; entries are never edited or removed.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	Approvals []commonv1alpha1.Approval `json:"approvals,omitempty"`
}

// WorkflowDefinition is the list of steps of a workflow.
type WorkflowDefinition struct {
	// steps of the workflow, each identified by its unique stepNumber. Together
	// they may have at most 256 preConditions and postConditions, counting those
	// the admission webhook adds from the action catalog.
	// +required
	// +listType=map
	// +listMapKey=stepNumber
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=50
	Steps []WorkflowStep `json:"steps"`
}

// WorkflowStep is one catalog action with the conditions that guard it.
type WorkflowStep struct {
	// stepNumber identifies the step; unique within the workflow, from 1.
	// +required
	// +kubebuilder:validation:Minimum=1
	StepNumber int32 `json:"stepNumber"`

	// name is a human-readable label for the step.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`

	// action is the catalog action the step runs, e.g. scale_deployment.
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

	// dependsOn lists the stepNumbers that must complete before this step starts.
	// Absent means the previous step (the admission webhook writes it out); an empty
	// list means none. Steps with no path between them may run in parallel.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:items:Minimum=1
	DependsOn []int32 `json:"dependsOn,omitzero"`

	// timeout bounds the step from its start to its last postcondition.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// maxRetries is how often a failed action is tried again; it overrides
	// executionStrategy.maxRetries for this step.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	MaxRetries *int32 `json:"maxRetries,omitempty"`

	// criticalStep marks a step whose failed required postcondition rolls back
	// the step when executionStrategy.rollbackStrategy is automatic.
	// +optional
	CriticalStep bool `json:"criticalStep,omitempty"`

	// rollbackSpec is the action that undoes this step. Without it, the catalog's
	// default inverse is used (previous replicas, previous image, uncordon).
	// +optional
	RollbackSpec *RollbackSpec `json:"rollbackSpec,omitempty"`

	// preConditions are checked before the step's KubernetesExecution is created.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=32
	PreConditions []commonv1alpha1.ValidationCondition `json:"preConditions,omitempty"`

	// postConditions are verified after the step's action completed, again whenever
	// what they read changes, until they pass or time out.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=32
	PostConditions []commonv1alpha1.ValidationCondition `json:"postConditions,omitempty"`
}

// RollbackSpec is the action that undoes a step.
type RollbackSpec struct {
	// action is the catalog action to run, e.g. scale_deployment.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9_]*$`
	Action string `json:"action"`

	// parameters of the rollback action.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Parameters *runtime.RawExtension `json:"parameters,omitempty"`

	// timeout bounds the rollback.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// RollbackStrategy says what happens when a critical step fails its postconditions.
// +kubebuilder:validation:Enum=automatic;manual;none
type RollbackStrategy string

const (
	// RollbackAutomatic runs the step's rollback at once.
	RollbackAutomatic RollbackStrategy = "automatic"
	// RollbackManual records what the rollback would be and waits for an operator.
	RollbackManual RollbackStrategy = "manual"
	// RollbackNone leaves the cluster as the step left it.
	RollbackNone RollbackStrategy = "none"
)

// ExecutionStrategy says how the steps are run and what happens on failure.
type ExecutionStrategy struct {
	// Gates: approvalRequired, approvalsRequired, approvalTimeout, blockedTimeout.
	commonv1alpha1.Gates `json:",inline"`

	// timeout bounds the whole workflow, from its start to its last step's last
	// postcondition; 1h when unset. Each step's own timeout bounds that step.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$`
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// dryRunFirst checks every step before the first acts: its parameters, the
	// requester's and the action's RBAC, the safety policies and a server-side
	// dry run, against the cluster as it is (phase validating). The first step
	// that fails ends the workflow, named in its status, before anything changed.
	// Each step still checks again just before it acts.
	// +optional
	DryRunFirst bool `json:"dryRunFirst,omitempty"`

	// rollbackStrategy says what a critical step's failed postcondition triggers.
	// +optional
	// +kubebuilder:default=automatic
	RollbackStrategy RollbackStrategy `json:"rollbackStrategy,omitempty"`

	// maxRetries is how often a failed action is tried again, unless the step
	// sets its own.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	MaxRetries *int32 `json:"maxRetries,omitempty"`
}

// WorkflowPhase is where a workflow is in its run.
// +kubebuilder:validation:Enum=validating;waiting_approval;paused;executing;monitoring;rolling_back;completed;failed;blocked
type WorkflowPhase string

const (
	// WorkflowValidating: dryRunFirst checks every step before the first acts.
	WorkflowValidating WorkflowPhase = "validating"
	// WorkflowWaitingApproval: the workflow waits for an operator's approval.
	WorkflowWaitingApproval WorkflowPhase = "waiting_approval"
	// WorkflowPaused: new actions are paused (cluster-wide or in the namespace);
	// no step starts until the pause ends.
	WorkflowPaused WorkflowPhase = "paused"
	// WorkflowExecuting: steps are acting.
	WorkflowExecuting WorkflowPhase = "executing"
	// WorkflowMonitoring: step postconditions are being verified.
	WorkflowMonitoring WorkflowPhase = "monitoring"
	// WorkflowRollingBack: a critical step failed and its rollback is running.
	WorkflowRollingBack WorkflowPhase = "rolling_back"
	// WorkflowCompleted: every step completed and verified. Terminal.
	WorkflowCompleted WorkflowPhase = "completed"
	// WorkflowFailed: a step failed. Terminal.
	WorkflowFailed WorkflowPhase = "failed"
	// WorkflowBlocked: a required precondition of a step or of its execution did
	// not allow, or a required postcondition was still inconclusive (no data) at
	// its timeout. The workflow waits for an override up to blockedTimeout.
	WorkflowBlocked WorkflowPhase = "blocked"
)

// StepState is where one step is in its run.
// +kubebuilder:validation:Enum=pending;blocked;executing;verifying;completed;failed;skipped;rolled_back
type StepState string

const (
	// StepPending: the step waits for its dependencies.
	StepPending StepState = "pending"
	// StepBlocked: a required precondition of the step or of its execution did not
	// allow, or a required postcondition was still inconclusive at its timeout.
	StepBlocked StepState = "blocked"
	// StepExecuting: the step's KubernetesExecution is running.
	StepExecuting StepState = "executing"
	// StepVerifying: the step's postconditions are being polled.
	StepVerifying StepState = "verifying"
	// StepCompleted: the step acted and its postconditions passed.
	StepCompleted StepState = "completed"
	// StepFailed: the step's action or a required postcondition failed.
	StepFailed StepState = "failed"
	// StepSkipped: the step did not run because the workflow stopped first.
	StepSkipped StepState = "skipped"
	// StepRolledBack: the step failed and its rollback completed.
	StepRolledBack StepState = "rolled_back"
)

// WorkflowExecutionStatus is the observed state of a workflow run.
type WorkflowExecutionStatus struct {
	// observedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase is where the workflow is in its run.
	// +optional
	Phase WorkflowPhase `json:"phase,omitempty"`

	// message says in words why the workflow is in its phase.
	// +optional
	Message string `json:"message,omitempty"`

	// progress is completed steps out of all steps, e.g. "2/3", for kubectl get.
	// +optional
	Progress string `json:"progress,omitempty"`

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

	// overrides are the overrides that apply to the run.
	// +optional
	// +listType=atomic
	Overrides []commonv1alpha1.OverrideRecord `json:"overrides,omitempty"`

	// stepStatuses has one entry per step that has started or been decided.
	// +optional
	// +listType=map
	// +listMapKey=stepNumber
	StepStatuses []StepStatus `json:"stepStatuses,omitempty"`

	// conditions: Succeeded summarises the run; the stage conditions beside it
	// say how far it got. See the condition types in api/common/v1alpha1.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// StepStatus is the observed state of one step.
type StepStatus struct {
	// stepNumber is the step this status belongs to.
	// +required
	StepNumber int32 `json:"stepNumber"`

	// action is the step's catalog action.
	// +optional
	Action string `json:"action,omitempty"`

	// status is where the step is in its run.
	// +optional
	Status StepState `json:"status,omitempty"`

	// startTime is when the step started.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// endTime is when the step reached a final state.
	// +optional
	EndTime *metav1.Time `json:"endTime,omitempty"`

	// message says in words why the step is in its state.
	// +optional
	Message string `json:"message,omitempty"`

	// retriesAttempted counts the retries of the step's action.
	// +optional
	// +kubebuilder:validation:Minimum=0
	RetriesAttempted int32 `json:"retriesAttempted,omitempty"`

	// k8sExecutionRef names the KubernetesExecution that runs the step.
	// +optional
	K8sExecutionRef *ExecutionReference `json:"k8sExecutionRef,omitempty"`

	// preConditionResults are the outcomes of the step's preconditions.
	// +optional
	// +listType=map
	// +listMapKey=conditionType
	PreConditionResults []commonv1alpha1.ConditionResult `json:"preConditionResults,omitempty"`

	// postConditionResults are the outcomes of the step's postconditions.
	// +optional
	// +listType=map
	// +listMapKey=conditionType
	PostConditionResults []commonv1alpha1.ConditionResult `json:"postConditionResults,omitempty"`
}

// ExecutionReference names a KubernetesExecution in the workflow's namespace.
type ExecutionReference struct {
	// name of the KubernetesExecution.
	// +required
	Name string `json:"name"`
}

// WorkflowExecution runs a multi-step remediation workflow, checking each step's
// preconditions before it acts and verifying its postconditions after.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=wfe,categories=kubernaut
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Steps",type=string,JSONPath=`.status.progress`,description="Completed steps out of all steps"
// +kubebuilder:printcolumn:name="Succeeded",type=string,JSONPath=`.status.conditions[?(@.type=="Succeeded")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Succeeded")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Requested-By",type=string,JSONPath=`.status.requestedBy`,priority=1,description="Who asked for the run; the manager acts only with their permissions"
type WorkflowExecution struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the workflow to run.
	// +required
	Spec WorkflowExecutionSpec `json:"spec"`

	// status is the observed state of the run.
	// +optional
	Status WorkflowExecutionStatus `json:"status,omitzero"`
}

// WorkflowExecutionList is a list of WorkflowExecutions.
//
// +kubebuilder:object:root=true
type WorkflowExecutionList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []WorkflowExecution `json:"items"`
}
