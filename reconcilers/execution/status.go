package execution

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	"kubernaut.io/stepvalidation/internal/text"
	"kubernaut.io/stepvalidation/reconcilers/preflight"
	"kubernaut.io/stepvalidation/reconcilers/runstatus"
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
	captured *preflight.Capture
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

// status is the run's status, for this reconcile.
func (s *scope) status(r *Reconciler) runstatus.Run[kev1alpha1.ExecutionPhase] {
	st := &s.ke.Status
	return runstatus.Run[kev1alpha1.ExecutionPhase]{
		Object: s.ke, Generation: s.ke.Generation,
		Phase: &st.Phase, Message: &st.Message, Conditions: &st.Conditions, CompletionTime: &st.CompletionTime,
		Now: s.now, Recorder: r.Recorder, Step: metav1.GetControllerOf(s.ke) != nil,
	}
}

// transition moves the run to a phase that is not final (runstatus.Run.Transition).
func (s *scope) transition(r *Reconciler, phase kev1alpha1.ExecutionPhase, reason, message string) {
	s.status(r).Transition(phase, reason, message)
}

// finish moves the run to a final phase: Succeeded True for completed, False
// otherwise.
func (s *scope) finish(r *Reconciler, phase kev1alpha1.ExecutionPhase, reason, message string) {
	r.retryAt.Delete(s.ke.UID)
	s.status(r).Finish(phase, phase == kev1alpha1.ExecutionCompleted, reason, message)
}

// block stops the run at a required precondition, to wait for an override
// (reconsider).
func (s *scope) block(r *Reconciler, message string) {
	s.status(r).Block(kev1alpha1.ExecutionBlocked, message)
}

// undecided stops the run at required postconditions left inconclusive, to wait
// for an override (reconsider).
func (s *scope) undecided(r *Reconciler, message string) {
	s.status(r).Undecided(kev1alpha1.ExecutionBlocked, message)
}

// setCondition sets one status condition.
func (s *scope) setCondition(conditionType string, status metav1.ConditionStatus, reason, message string) {
	st := &s.ke.Status
	runstatus.Run[kev1alpha1.ExecutionPhase]{Generation: s.ke.Generation, Conditions: &st.Conditions, Now: s.now}.
		SetCondition(conditionType, status, reason, message)
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
