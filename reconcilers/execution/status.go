package execution

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	"kubernaut.io/stepvalidation/catalog"
	"kubernaut.io/stepvalidation/internal/text"
	"kubernaut.io/stepvalidation/reconcilers/statuspatch"
)

// scope is one reconcile of one execution.
type scope struct {
	ke *kev1alpha1.KubernetesExecution
	// orig is ke as the API server last had it: as read, or as persist wrote it.
	orig *kev1alpha1.KubernetesExecution
	now  time.Time
	// checked says that this reconcile found the requester authorized and the
	// safety policies allowing the action: acting right after needs no recheck.
	checked bool
	// persisted says that this reconcile wrote ke itself: it is the latest version.
	persisted bool
	// captured is the target as this reconcile's dry run read it.
	captured *capture
}

// capture is what an executor's Capture read.
type capture struct {
	target catalog.ObjectRef
	before map[string]string
}

// persist writes the status now rather than at the end of the reconcile: what
// follows (the action) must not happen before the API server holds it. It
// reports whether the write went through; after a conflict the reconcile stops
// and looks again after statuspatch.Retry (see Reconcile).
func (s *scope) persist(ctx context.Context, r *Reconciler) (bool, error) {
	s.ke.Status.ObservedGeneration = s.ke.Generation
	conflicted, err := statuspatch.Write(ctx, r.Client, s.ke, s.orig, budget(s.ke), &r.versions)
	if err != nil || conflicted {
		return false, err
	}
	s.orig, s.persisted = s.ke.DeepCopy(), true
	return true, nil
}

// transition moves the run to a non-final phase. An Event marks the start of a
// run of its own and a change of phase a person cares about (waiting for an
// approval, paused, resumed, overridden), not the hops of a run going its way
// (reason Running).
func (s *scope) transition(r *Reconciler, phase kev1alpha1.ExecutionPhase, reason, message string) {
	message = text.CapMessage(message)
	changed, started := s.ke.Status.Phase != phase, s.ke.Status.Phase == ""
	s.ke.Status.Phase = phase
	s.ke.Status.Message = message
	s.setCondition(commonv1alpha1.SucceededCondition, metav1.ConditionUnknown, reason, message)
	if changed && (reason != commonv1alpha1.RunningReason || started && !s.ownedByWorkflow()) {
		r.Recorder.Eventf(s.ke, nil, corev1.EventTypeNormal, reason, string(phase), "%s", message)
	}
}

// ownedByWorkflow reports whether the run is a workflow's step: the workflow's
// own Events say when it starts and completes.
func (s *scope) ownedByWorkflow() bool { return metav1.GetControllerOf(s.ke) != nil }

// finish moves the run to a final phase: Succeeded True for completed, False
// otherwise.
func (s *scope) finish(r *Reconciler, phase kev1alpha1.ExecutionPhase, reason, message string) {
	message = text.CapMessage(message)
	r.retryAt.Delete(s.ke.UID)
	s.ke.Status.Phase = phase
	s.ke.Status.Message = message
	now := metav1.NewTime(s.now)
	s.ke.Status.CompletionTime = &now
	status, eventType := metav1.ConditionFalse, corev1.EventTypeWarning
	if phase == kev1alpha1.ExecutionCompleted {
		status, eventType = metav1.ConditionTrue, corev1.EventTypeNormal
	}
	s.setCondition(commonv1alpha1.SucceededCondition, status, reason, message)
	if eventType == corev1.EventTypeWarning || !s.ownedByWorkflow() {
		r.Recorder.Eventf(s.ke, nil, eventType, reason, string(phase), "%s", message)
	}
}

// block stops the run at a required precondition. The run is not over: it waits
// for an override (reconsider), so Succeeded stays Unknown and PreconditionsPassed
// is False, for kubectl wait --for=condition=PreconditionsPassed=false.
func (s *scope) block(r *Reconciler, message string) {
	message = text.CapMessage(message)
	changed := s.ke.Status.Phase != kev1alpha1.ExecutionBlocked
	s.ke.Status.Phase = kev1alpha1.ExecutionBlocked
	s.ke.Status.Message = message
	s.setCondition(commonv1alpha1.PreconditionsPassedCondition, metav1.ConditionFalse, commonv1alpha1.PreconditionFailedReason, message)
	s.setCondition(commonv1alpha1.SucceededCondition, metav1.ConditionUnknown, commonv1alpha1.PreconditionFailedReason, message)
	if changed {
		r.Recorder.Eventf(s.ke, nil, corev1.EventTypeWarning, commonv1alpha1.PreconditionFailedReason, "Block", "%s", message)
	}
}

// setCondition sets one status condition at the object's generation.
func (s *scope) setCondition(conditionType string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&s.ke.Status.Conditions, metav1.Condition{
		Type:               conditionType,
		Status:             status,
		Reason:             reason,
		Message:            text.CapMessage(message),
		ObservedGeneration: s.ke.Generation,
	})
}

// check records one of the validation checks (parameters, RBAC, safety, dry run).
func (s *scope) check(passed bool, message string) *kev1alpha1.CheckResult {
	now := metav1.NewTime(s.now)
	return &kev1alpha1.CheckResult{Passed: passed, Message: text.CapMessage(message), Time: &now}
}

func (s *scope) results() *kev1alpha1.ValidationResults {
	if s.ke.Status.ValidationResults == nil {
		s.ke.Status.ValidationResults = &kev1alpha1.ValidationResults{}
	}
	return s.ke.Status.ValidationResults
}

// budget lets statuspatch keep the status within its size budget. Only messages
// go, never a result: the results of the preconditions are what an override lifts
// a block by, and those of the postconditions are the state of their polling.
// First the messages of what passed, then of the preconditions, the postconditions
// and last the failed checks.
func budget(ke *kev1alpha1.KubernetesExecution) statuspatch.Budget {
	return statuspatch.Budget{
		Status: &ke.Status,
		Drops:  func() []statuspatch.Drop { return drops(ke.Status.ValidationResults) },
		Note:   statuspatch.Truncated(&ke.Status.Conditions, ke.Generation),
	}
}

func drops(v *kev1alpha1.ValidationResults) []statuspatch.Drop {
	if v == nil {
		return nil
	}
	checks := func(passed bool) int {
		saved := 0
		for _, c := range []*kev1alpha1.CheckResult{v.Parameters, v.RBAC, v.Safety, v.DryRun} {
			if c != nil && c.Passed == passed && c.Message != "" {
				saved += statuspatch.Size(c.Message)
				c.Message = ""
			}
		}
		return saved
	}
	return []statuspatch.Drop{
		{What: "errorMessage of passed precondition results", Do: func() int { return statuspatch.DropMessages(v.PreConditionResults, true) }},
		{What: "errorMessage of passed postcondition results", Do: func() int { return statuspatch.DropMessages(v.PostConditionResults, true) }},
		{What: "message of passed checks", Do: func() int { return checks(true) }},
		{What: "errorMessage of precondition results", Do: func() int { return statuspatch.DropMessages(v.PreConditionResults, false) }},
		{What: "errorMessage of postcondition results", Do: func() int { return statuspatch.DropMessages(v.PostConditionResults, false) }},
		{What: "message of failed checks", Do: func() int { return checks(false) }},
	}
}
