package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/internal/text"
)

// undo is the rollback of one step: its rollbackSpec, else the inverse its
// execution captured before acting.
type undo struct {
	step       int32
	action     string
	parameters *runtime.RawExtension
	timeout    *metav1.Duration
}

func (u undo) String() string {
	params := "{}"
	if u.parameters != nil {
		params = string(u.parameters.Raw)
	}
	return fmt.Sprintf("step %d: %s %s", u.step, u.action, params)
}

// onCriticalFailure reacts to a failed critical step as the rollback strategy says:
// automatic rolls back, manual stops with what the rollback would be, none stops.
func (r *Reconciler) onCriticalFailure(s *scope, failed *workflowv1alpha1.StepStatus) {
	cause := causeOf(failed)
	plan, cannot := s.rollbackPlan()
	switch s.wfe.Spec.ExecutionStrategy.RollbackStrategy {
	case workflowv1alpha1.RollbackNone:
		s.finish(r, workflowv1alpha1.WorkflowFailed, commonv1alpha1.FailedReason, cause+"; rollbackStrategy none: nothing was undone")
	case workflowv1alpha1.RollbackManual:
		msg := cause + "; rollbackStrategy manual: to undo, run " + describe(plan)
		if len(cannot) > 0 {
			msg += "; steps " + strings.Join(cannot, ", ") + " cannot be undone"
		}
		s.finish(r, workflowv1alpha1.WorkflowFailed, commonv1alpha1.FailedReason, msg)
	default:
		if len(plan) == 0 {
			s.finish(r, workflowv1alpha1.WorkflowFailed, commonv1alpha1.FailedReason, cause+"; no step acted that can be undone")
			return
		}
		s.transition(r, workflowv1alpha1.WorkflowRollingBack, commonv1alpha1.RollbackStartedReason, cause+"; rolling back: "+describe(plan))
	}
}

// causeOf says which critical step failed and why, in at most half of a status
// message: what the rollback did is said after it and must not be cut off.
func causeOf(failed *workflowv1alpha1.StepStatus) string {
	if failed == nil {
		return "a critical step failed"
	}
	return text.Truncate(fmt.Sprintf("critical step %d failed: %s", failed.StepNumber, failed.Message), text.MaxMessageBytes/2)
}

// rollBack runs the undos of the plan one at a time, newest step first, each as a
// KubernetesExecution <workflow>-rollback-<step>; then fails the workflow with what
// happened.
func (r *Reconciler) rollBack(ctx context.Context, s *scope) (ctrl.Result, error) {
	cause := causeOf(s.criticalFailure())
	plan, cannot := s.rollbackPlan()
	for _, u := range plan {
		name := childName(s.wfe.Name, "rollback-"+strconv.Itoa(int(u.step)))
		ke := s.children[name]
		if ke == nil {
			err := r.createExecution(ctx, s, name, u.action, u.parameters, u.timeout)
			var cannot *cannotCreateError
			if errors.As(err, &cannot) {
				s.finish(r, workflowv1alpha1.WorkflowFailed, commonv1alpha1.RollbackFailedReason,
					fmt.Sprintf("%s; the rollback of step %d cannot start: %s; undo by hand: %s", cause, u.step, cannot, describe(plan)))
				return ctrl.Result{}, nil
			}
			if err != nil {
				return ctrl.Result{}, err
			}
			s.stepEvent(r, corev1.EventTypeNormal, commonv1alpha1.RollbackStartedReason, u.step, "created KubernetesExecution %s: %s", name, u)
			return ctrl.Result{}, nil
		}
		switch ke.Status.Phase {
		case kev1alpha1.ExecutionCompleted:
			st := s.stepStatus(u.step)
			setStep(st, workflowv1alpha1.StepRolledBack, "rolled back by "+name+" (was: "+st.Message+")")
			s.stepEvent(r, corev1.EventTypeNormal, commonv1alpha1.RolledBackReason, u.step, "rolled back by %s", name)
			continue
		case kev1alpha1.ExecutionBlocked:
			// Like any execution, it waits for an override up to its blockedTimeout.
			s.transition(r, workflowv1alpha1.WorkflowRollingBack, commonv1alpha1.PreconditionFailedReason, fmt.Sprintf(
				"%s; the rollback of step %d is blocked (%s: %s): override it on KubernetesExecution %s", cause, u.step, name, ke.Status.Message, name))
			return ctrl.Result{}, nil
		case kev1alpha1.ExecutionFailed, kev1alpha1.ExecutionDenied, kev1alpha1.ExecutionRollbackReady:
			s.finish(r, workflowv1alpha1.WorkflowFailed, commonv1alpha1.RollbackFailedReason,
				fmt.Sprintf("%s; the rollback of step %d failed (%s %s: %s); undo by hand: %s",
					cause, u.step, name, ke.Status.Phase, ke.Status.Message, describe(plan)))
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, nil // waits for the rollback execution
	}
	msg := cause + "; rolled back steps " + rolledBack(s)
	if len(cannot) > 0 {
		msg += "; steps " + strings.Join(cannot, ", ") + " cannot be undone"
	}
	s.finish(r, workflowv1alpha1.WorkflowFailed, commonv1alpha1.RolledBackReason, msg)
	return ctrl.Result{}, nil
}

// rollbackPlan lists the undos of the steps that acted and are not rolled back yet,
// newest first, and the steps that acted but have no undo.
func (s *scope) rollbackPlan() (plan []undo, cannot []string) {
	type acted struct {
		step *workflowv1alpha1.WorkflowStep
		st   *workflowv1alpha1.StepStatus
		ke   *kev1alpha1.KubernetesExecution
	}
	var done []acted
	steps := s.wfe.Spec.WorkflowDefinition.Steps
	for i := range steps {
		st := s.stepStatus(steps[i].StepNumber)
		if st.K8sExecutionRef == nil || (st.Status != workflowv1alpha1.StepCompleted && st.Status != workflowv1alpha1.StepFailed) {
			continue
		}
		ke := s.children[st.K8sExecutionRef.Name]
		if ke == nil || !hasActed(ke) {
			continue
		}
		done = append(done, acted{&steps[i], st, ke})
	}
	// Newest first: by end time, then by step number.
	slices.SortStableFunc(done, func(a, b acted) int {
		if c := endTime(b.st).Compare(endTime(a.st).Time); c != 0 {
			return c
		}
		return int(b.step.StepNumber - a.step.StepNumber)
	})
	for _, d := range done {
		switch {
		case d.step.RollbackSpec != nil:
			plan = append(plan, undo{d.step.StepNumber, d.step.RollbackSpec.Action, d.step.RollbackSpec.Parameters, d.step.RollbackSpec.Timeout})
		case d.ke.Status.RollbackInformation != nil:
			info := d.ke.Status.RollbackInformation
			plan = append(plan, undo{d.step.StepNumber, info.Action, info.Parameters, d.step.Timeout})
		default:
			cannot = append(cannot, strconv.Itoa(int(d.step.StepNumber)))
		}
	}
	return plan, cannot
}

// hasActed reports whether an execution got as far as acting.
func hasActed(ke *kev1alpha1.KubernetesExecution) bool {
	switch ke.Status.Phase {
	case kev1alpha1.ExecutionCompleted, kev1alpha1.ExecutionRollbackReady, kev1alpha1.ExecutionVerifying:
		return true
	}
	a := affected(ke)
	return a != nil && a.After != nil
}

func endTime(st *workflowv1alpha1.StepStatus) metav1.Time {
	if st.EndTime == nil {
		return metav1.Time{}
	}
	return *st.EndTime
}

func describe(plan []undo) string {
	if len(plan) == 0 {
		return "nothing"
	}
	parts := make([]string, len(plan))
	for i, u := range plan {
		parts[i] = u.String()
	}
	return strings.Join(parts, ", then ")
}

func rolledBack(s *scope) string {
	var ns []int32
	for _, st := range s.wfe.Status.StepStatuses {
		if st.Status == workflowv1alpha1.StepRolledBack {
			ns = append(ns, st.StepNumber)
		}
	}
	return numbers(ns)
}
