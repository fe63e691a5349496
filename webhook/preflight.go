package webhook

import (
	"context"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kubernetesexecutionv1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/conditions"
	"kubernaut.io/stepvalidation/conditions/check"
	"kubernaut.io/stepvalidation/conditions/facts"
	"kubernaut.io/stepvalidation/metrics"
)

// preflightWorkflow evaluates each step's preconditions against the cluster as it
// is now, within the preflight budget, and returns a warning for each that would
// fail. Only dry-run requests pay for it.
func (w *Webhooks) preflightWorkflow(ctx context.Context, wfe *workflowv1alpha1.WorkflowExecution) []string {
	ctx, cancel := context.WithTimeout(conditions.WithTenant(ctx, wfe.Namespace), w.preflightBudget())
	defer cancel()
	skip := commonv1alpha1.OverriddenConditions(wfe.Annotations)
	var warnings []string
	for _, step := range wfe.Spec.WorkflowDefinition.Steps {
		prefix := fmt.Sprintf("step %d: ", step.StepNumber)
		ws, stop := w.preflight(ctx, wfe, prefix, step.Action, rawOf(step.Parameters), step.PreConditions, skip)
		warnings = append(warnings, ws...)
		if stop {
			break
		}
	}
	return warnings
}

// preflightExecution is preflightWorkflow for one action.
func (w *Webhooks) preflightExecution(ctx context.Context, ke *kubernetesexecutionv1alpha1.KubernetesExecution) []string {
	ctx, cancel := context.WithTimeout(conditions.WithTenant(ctx, ke.Namespace), w.preflightBudget())
	defer cancel()
	warnings, _ := w.preflight(ctx, ke, "", ke.Spec.Action, rawOf(ke.Spec.Parameters), ke.Spec.PreConditions, commonv1alpha1.OverriddenConditions(ke.Annotations))
	return warnings
}

// preflight runs one round of preconditions of run and says which would fail; stop
// is true when the budget ran out.
func (w *Webhooks) preflight(ctx context.Context, run metav1.Object, prefix, action string, raw []byte, pre []commonv1alpha1.ValidationCondition,
	skip map[string]bool) (warnings []string, stop bool) {
	if ctx.Err() != nil {
		return []string{prefix + "preflight stopped: its time budget ran out"}, true
	}
	var conds []commonv1alpha1.ValidationCondition
	for _, c := range pre {
		if !skip[c.Type] {
			conds = append(conds, c)
		}
	}
	if len(conds) == 0 {
		return nil, false
	}
	var params map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &params); err != nil {
			return []string{prefix + "preflight skipped: " + err.Error()}, false
		}
	}
	outcomes, err := w.Conditions.Run(ctx, check.Round{
		Service: metrics.ServiceAdmission, Action: action, Parameters: params, Phase: facts.Pre, Conditions: conds,
		Target: check.RecordedTarget(action, params, run),
	})
	if err != nil {
		return []string{prefix + "preflight could not read the cluster: " + err.Error()}, ctx.Err() != nil
	}
	for _, o := range outcomes {
		if o.Passed() {
			continue
		}
		kind := "optional"
		if o.Condition.IsRequired() {
			kind = "required"
		}
		// No data (an empty query, no Prometheus, a missing object) is no
		// failure: the run would block until someone decides.
		verdict := "would fail now"
		if o.Outcome == conditions.Inconclusive {
			verdict = "cannot be decided now"
		}
		warnings = append(warnings, fmt.Sprintf("%sprecondition %s (%s) %s: %s", prefix, o.Condition.Type, kind, verdict, o.Message))
	}
	return warnings, false
}

func rawOf(r *runtime.RawExtension) []byte {
	if r == nil {
		return nil
	}
	return r.Raw
}
