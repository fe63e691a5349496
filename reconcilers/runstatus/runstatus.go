// Package runstatus moves a run, a WorkflowExecution or a KubernetesExecution,
// from phase to phase the same way for both kinds: its phase and message, its
// status conditions (stamped with the reconciler's clock), its completion time,
// and the Events a person reads, for the transitions a person cares about.
package runstatus

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	"kubernaut.io/stepvalidation/internal/text"
)

// Phase is a kind's phase type.
type Phase interface{ ~string }

// Run points into the status of one run, for one reconcile.
type Run[P Phase] struct {
	// Object is the run, which Events are about.
	Object runtime.Object
	// Generation is the run's metadata.generation, for observedGeneration.
	Generation int64
	// Phase, Message, Conditions and CompletionTime are the run's status fields.
	Phase          *P
	Message        *string
	Conditions     *[]metav1.Condition
	CompletionTime **metav1.Time
	// Now is the reconcile's time, from the reconciler's clock.
	Now      time.Time
	Recorder events.EventRecorder
	// Step says the run is a workflow's step: the workflow's own Events say when
	// it starts and when it completes, so the run's would say it twice.
	Step bool
}

// SetCondition sets one status condition at the run's generation. Its
// lastTransitionTime is the reconcile's time, so that the deadlines measured from
// it (a blocked run's blockedTimeout) follow the same clock as the rest.
func (r Run[P]) SetCondition(conditionType string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(r.Conditions, metav1.Condition{
		Type:               conditionType,
		Status:             status,
		Reason:             reason,
		Message:            text.CapMessage(message),
		ObservedGeneration: r.Generation,
		LastTransitionTime: metav1.NewTime(r.Now),
	})
}

// Transition moves the run to a phase that is not final; Succeeded is Unknown. An
// Event marks the start of a run (not of a step's: its workflow says so) and a
// change of phase a person cares about, such as waiting for an approval or a
// pause, but not the hops of a run going its way (reason Running).
func (r Run[P]) Transition(phase P, reason, message string) {
	message = text.CapMessage(message)
	changed, started := *r.Phase != phase, *r.Phase == ""
	*r.Phase, *r.Message = phase, message
	r.SetCondition(commonv1alpha1.SucceededCondition, metav1.ConditionUnknown, reason, message)
	if changed && (reason != commonv1alpha1.RunningReason || started && !r.Step) {
		r.Recorder.Eventf(r.Object, nil, corev1.EventTypeNormal, reason, string(phase), "%s", message)
	}
}

// Block stops the run in phase (blocked) at a required precondition. The run is
// not over: it waits for an override up to its blockedTimeout, so Succeeded stays
// Unknown and PreconditionsPassed is False (for kubectl wait
// --for=condition=PreconditionsPassed=false).
func (r Run[P]) Block(phase P, message string) {
	message = text.CapMessage(message)
	changed := *r.Phase != phase
	*r.Phase, *r.Message = phase, message
	r.SetCondition(commonv1alpha1.PreconditionsPassedCondition, metav1.ConditionFalse, commonv1alpha1.PreconditionFailedReason, message)
	r.SetCondition(commonv1alpha1.SucceededCondition, metav1.ConditionUnknown, commonv1alpha1.PreconditionFailedReason, message)
	if changed {
		r.Recorder.Eventf(r.Object, nil, corev1.EventTypeWarning, commonv1alpha1.PreconditionFailedReason, "Block", "%s", message)
	}
}

// Undecided stops a run whose required postconditions were still inconclusive at
// their timeout: nothing was known to pass or fail them, so a person decides, with
// an override of those conditions, before the blocked timeout. PostconditionsVerified
// turns False with reason Inconclusive; its lastTransitionTime starts the wait.
func (r Run[P]) Undecided(phase P, message string) {
	message = text.CapMessage(message)
	changed := *r.Phase != phase
	*r.Phase, *r.Message = phase, message
	r.SetCondition(commonv1alpha1.PostconditionsVerifiedCondition, metav1.ConditionFalse, commonv1alpha1.InconclusiveReason, message)
	r.SetCondition(commonv1alpha1.SucceededCondition, metav1.ConditionUnknown, commonv1alpha1.InconclusiveReason, message)
	if changed {
		r.Recorder.Eventf(r.Object, nil, corev1.EventTypeWarning, commonv1alpha1.InconclusiveReason, "Block", "%s", message)
	}
}

// BlockedSince is when a blocked run began to wait for a person: its required
// preconditions turned to failing (Block) or its postconditions were left
// inconclusive (Undecided); now when neither.
func BlockedSince(conds []metav1.Condition, now time.Time) time.Time {
	var since time.Time
	if c := meta.FindStatusCondition(conds, commonv1alpha1.PreconditionsPassedCondition); c != nil && c.Status == metav1.ConditionFalse {
		since = c.LastTransitionTime.Time
	}
	if c := meta.FindStatusCondition(conds, commonv1alpha1.PostconditionsVerifiedCondition); c != nil &&
		c.Status == metav1.ConditionFalse && c.Reason == commonv1alpha1.InconclusiveReason && c.LastTransitionTime.After(since) {
		since = c.LastTransitionTime.Time
	}
	if since.IsZero() {
		return now
	}
	return since
}

// Finish moves the run to a final phase: Succeeded True when it succeeded, False
// otherwise. A failure always gets an Event; a step's success does not (its
// workflow's says so).
func (r Run[P]) Finish(phase P, succeeded bool, reason, message string) {
	message = text.CapMessage(message)
	*r.Phase, *r.Message = phase, message
	now := metav1.NewTime(r.Now)
	*r.CompletionTime = &now
	status, eventType := metav1.ConditionFalse, corev1.EventTypeWarning
	if succeeded {
		status, eventType = metav1.ConditionTrue, corev1.EventTypeNormal
	}
	r.SetCondition(commonv1alpha1.SucceededCondition, status, reason, message)
	if !succeeded || !r.Step {
		r.Recorder.Eventf(r.Object, nil, eventType, reason, string(phase), "%s", message)
	}
}
