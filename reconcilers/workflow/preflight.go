package workflow

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/catalog"
	"kubernaut.io/stepvalidation/reconcilers/preflight"
)

// preflight checks every step, in order, against the cluster as it is, before the
// first acts: its parameters, its requester's rights and its action's
// ServiceAccount's, the safety policies and a server-side dry run (nothing
// changes). The first step that fails ends the workflow, named in its status,
// and no step runs. Each step's execution still checks again just before it
// acts: the cluster may change while earlier steps run, and earlier steps'
// changes are not seen by later steps' dry runs here.
func (r *Reconciler) preflight(ctx context.Context, s *scope) (passed bool, _ error) {
	steps := s.wfe.Spec.WorkflowDefinition.Steps
	for i := range steps {
		step := &steps[i]
		refusal, err := r.preflightStep(ctx, s, i, step)
		if err != nil {
			return false, err
		}
		if refusal != nil {
			msg := fmt.Sprintf("dryRunFirst: step %d (%s, %s) would not run: %s; no step ran",
				step.StepNumber, step.Name, step.Action, refusal.Message)
			s.setCondition(commonv1alpha1.ValidatedCondition, metav1.ConditionFalse, refusal.Reason, msg)
			s.finish(r, workflowv1alpha1.WorkflowFailed, refusal.Reason, msg)
			return false, nil
		}
	}
	s.setCondition(commonv1alpha1.ValidatedCondition, metav1.ConditionTrue, commonv1alpha1.ValidationPassedReason,
		fmt.Sprintf("dryRunFirst: all %d steps passed parameters, RBAC, safety policies and a server-side dry run", len(steps)))
	return true, nil
}

func (r *Reconciler) preflightStep(ctx context.Context, s *scope, i int, step *workflowv1alpha1.WorkflowStep) (*preflight.Refusal, error) {
	path := field.NewPath("spec", "workflowDefinition", "steps").Index(i)
	action, ok := catalog.Lookup(step.Action)
	if !ok {
		return &preflight.Refusal{Reason: commonv1alpha1.InvalidParametersReason,
			Message: field.NotSupported(path.Child("action"), step.Action, catalog.Names()).Error()}, nil
	}
	params, err := decodeParameters(step)
	if err != nil {
		return &preflight.Refusal{Reason: commonv1alpha1.InvalidParametersReason, Message: err.Error()}, nil
	}
	if errs := action.ValidateParameters(params, path.Child("parameters")); len(errs) > 0 {
		return &preflight.Refusal{Reason: commonv1alpha1.InvalidParametersReason, Message: errs.ToAggregate().Error()}, nil
	}
	return r.Preflight.Check(ctx, s.wfe.Annotations, action, params, s.wfe.Namespace)
}
