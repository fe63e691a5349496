package v1alpha1

// Types of the metav1.Condition entries in status.conditions of both kinds.
//
// Both kinds run to completion, so the summary is Succeeded, in the Tekton and Knative
// style: Unknown while running or waiting for a person (blocked, waiting_approval,
// paused), True when done, False when failed or denied, with the reason saying which.
// A run that ended never flips back. `kubectl wait --for=condition=Succeeded` waits for a
// success; `--for=condition=Succeeded=false` for a failure. The stage conditions beside
// it say how far a run got.
const (
	// SucceededCondition summarises the run.
	SucceededCondition = "Succeeded"
	// ValidatedCondition is True when parameters, RBAC, safety policies and the
	// server-side dry run (whichever the kind performs) all passed.
	ValidatedCondition = "Validated"
	// PreconditionsPassedCondition is True when every required precondition allowed.
	PreconditionsPassedCondition = "PreconditionsPassed"
	// ExecutedCondition is True once the action (or every step) has acted.
	ExecutedCondition = "Executed"
	// PostconditionsVerifiedCondition is True when every required postcondition
	// allowed before its timeout.
	PostconditionsVerifiedCondition = "PostconditionsVerified"
	// StatusTruncatedCondition is True once the manager dropped detail (messages of
	// condition results, the results of finished steps) to keep the status within
	// its size budget; the message says what went. It never turns back.
	StatusTruncatedCondition = "StatusTruncated"
)

// Reasons of the conditions above. They are also the reasons of the Events the
// reconcilers emit for the same transitions, so they come in pairs
// (PreconditionsPassed / PreconditionFailed).
const (
	// PendingReason: the stage has not started.
	PendingReason = "Pending"
	// RunningReason: the run or stage is in progress.
	RunningReason = "Running"
	// SucceededReason: the run or stage finished successfully.
	SucceededReason = "Succeeded"
	// FailedReason: the run failed for a reason no more specific reason names.
	FailedReason = "Failed"

	// ValidationPassedReason: parameters, RBAC, safety policies and dry run passed.
	ValidationPassedReason = "ValidationPassed"
	// InvalidParametersReason: the parameters do not fit the action.
	InvalidParametersReason = "InvalidParameters"
	// ForbiddenReason: the action's ServiceAccount may not do what the action needs.
	ForbiddenReason = "Forbidden"
	// SafetyPolicyDeniedReason: a safety policy denied the action.
	SafetyPolicyDeniedReason = "SafetyPolicyDenied"
	// DryRunFailedReason: the API server rejected the server-side dry run.
	DryRunFailedReason = "DryRunFailed"

	// PreconditionsPassedReason: every required precondition allowed.
	PreconditionsPassedReason = "PreconditionsPassed"
	// PreconditionFailedReason: a required precondition did not allow; the run is
	// blocked.
	PreconditionFailedReason = "PreconditionFailed"

	// AwaitingApprovalReason: the run waits for approvals (spec.approvals).
	AwaitingApprovalReason = "AwaitingApproval"
	// ApprovedReason: enough approvers approved; the run goes on.
	ApprovedReason = "Approved"
	// RejectedReason: an approver rejected the run.
	RejectedReason = "Rejected"
	// ApprovalTimedOutReason: not enough approvals came within approvalTimeout.
	ApprovalTimedOutReason = "ApprovalTimedOut"
	// OverriddenReason: an override lifted a block; the run evaluates again.
	OverriddenReason = "Overridden"
	// BlockedTimedOutReason: no override lifted a block within blockedTimeout.
	BlockedTimedOutReason = "BlockedTimedOut"
	// PausedReason: an administrator paused new actions (cluster-wide or in the
	// namespace); the run waits before acting.
	PausedReason = "Paused"
	// ResumedReason: the pause ended; the run goes on.
	ResumedReason = "Resumed"
	// QueuedReason: the run's namespace has as many runs in flight as it may; the
	// run has not started and starts when one ends.
	QueuedReason = "Queued"
	// ExecutedReason: the action acted.
	ExecutedReason = "Executed"
	// ExecutionFailedReason: the action's call to the API server failed.
	ExecutionFailedReason = "ExecutionFailed"

	// PostconditionsVerifiedReason: every required postcondition allowed.
	PostconditionsVerifiedReason = "PostconditionsVerified"
	// PostconditionFailedReason: a required postcondition did not allow before its
	// timeout.
	PostconditionFailedReason = "PostconditionFailed"
	// InconclusiveReason: a required postcondition was still inconclusive (no
	// data to decide on) at its timeout; the run waits for a person to override it.
	InconclusiveReason = "Inconclusive"

	// RolledBackReason: a failure triggered the rollback, and it completed.
	RolledBackReason = "RolledBack"
	// RollbackFailedReason: a failure triggered the rollback, and it failed too.
	RollbackFailedReason = "RollbackFailed"

	// BudgetExceededReason: the status outgrew its size budget, so detail was
	// dropped (StatusTruncated).
	BudgetExceededReason = "BudgetExceeded"
)

// Reasons of the Events that have no status condition of their own: a step's
// progress in a workflow, warnings that block nothing, and the end of a run that
// is deleted. Like the reasons above, they are UpperCamel and stable: alerting may
// match them.
const (
	// TimedOutReason: the workflow did not finish within spec.executionStrategy.timeout.
	TimedOutReason = "TimedOut"
	// StepCompletedReason: a step acted and its postconditions passed.
	StepCompletedReason = "StepCompleted"
	// StepFailedReason: a step failed; the message says why.
	StepFailedReason = "StepFailed"
	// StepSkippedReason: a step did not run because a step it depends on did not complete.
	StepSkippedReason = "StepSkipped"
	// StepRetriedReason: a step's execution failed and the step runs a new one.
	StepRetriedReason = "StepRetried"
	// RollbackStartedReason: a failure started the rollback of the steps that acted.
	RollbackStartedReason = "RollbackStarted"
	// PreconditionWarningReason: a precondition failed without blocking (optional,
	// or validation mode warn).
	PreconditionWarningReason = "PreconditionWarning"
	// PostconditionWarningReason: a postcondition failed without failing the run.
	PostconditionWarningReason = "PostconditionWarning"
	// AbandonedReason: a run was deleted before it finished; what it changed stays.
	AbandonedReason = "Abandoned"
)
