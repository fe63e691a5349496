package webhook

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kubernetesexecutionv1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/catalog"
)

var (
	_ admission.Defaulter[*workflowv1alpha1.WorkflowExecution]              = &workflowDefaulter{}
	_ admission.Defaulter[*kubernetesexecutionv1alpha1.KubernetesExecution] = &executionDefaulter{}
)

// workflowDefaulter writes out what a workflow leaves implicit (each step's
// dependsOn, each condition's required, timeout and interval) and injects the
// step-level conditions the catalog suggests for each step's action. It runs on
// CREATE; running it twice changes nothing the second time. With w set it also
// records the requester.
type workflowDefaulter struct{ w *Webhooks }

func (d *workflowDefaulter) Default(ctx context.Context, wfe *workflowv1alpha1.WorkflowExecution) error {
	if d.w != nil {
		if err := d.w.recordRequester(ctx, wfe); err != nil {
			return err
		}
	}
	inject := wfe.Annotations[InjectAnnotation] != "false"
	steps := wfe.Spec.WorkflowDefinition.Steps
	for i := range steps {
		step := &steps[i]
		if step.DependsOn == nil {
			step.DependsOn = []int32{}
			if i > 0 {
				step.DependsOn = []int32{steps[i-1].StepNumber}
			}
		}
		if a, ok := catalog.Lookup(step.Action); ok && inject {
			step.PreConditions = withSuggested(step.PreConditions, a.StepPreConditions)
			step.PostConditions = withSuggested(step.PostConditions, a.StepPostConditions)
		}
		defaultConditions(step.PreConditions, commonv1alpha1.DefaultPreConditionTimeout, false)
		defaultConditions(step.PostConditions, commonv1alpha1.DefaultPostConditionTimeout, true)
	}
	return nil
}

// executionDefaulter is workflowDefaulter for a KubernetesExecution, with the
// action-level conditions of the catalog.
type executionDefaulter struct{ w *Webhooks }

func (d *executionDefaulter) Default(ctx context.Context, ke *kubernetesexecutionv1alpha1.KubernetesExecution) error {
	if d.w != nil {
		if err := d.w.recordRequester(ctx, ke); err != nil {
			return err
		}
	}
	if a, ok := catalog.Lookup(ke.Spec.Action); ok && ke.Annotations[InjectAnnotation] != "false" {
		ke.Spec.PreConditions = withSuggested(ke.Spec.PreConditions, a.PreConditions)
		ke.Spec.PostConditions = withSuggested(ke.Spec.PostConditions, a.PostConditions)
	}
	defaultConditions(ke.Spec.PreConditions, commonv1alpha1.DefaultPreConditionTimeout, false)
	defaultConditions(ke.Spec.PostConditions, commonv1alpha1.DefaultPostConditionTimeout, true)
	return nil
}

// withSuggested appends the suggested conditions whose type the list lacks; what
// the user wrote is never changed or duplicated.
func withSuggested(conds []commonv1alpha1.ValidationCondition, suggested []catalog.Suggested) []commonv1alpha1.ValidationCondition {
	for _, s := range suggested {
		if hasType(conds, s.Type) {
			continue
		}
		conds = append(conds, commonv1alpha1.ValidationCondition{
			Type:        s.Type,
			Description: s.Description,
			Required:    &s.Required,
			Timeout:     &metav1.Duration{Duration: s.Timeout},
			Injected:    true,
		})
	}
	return conds
}

func hasType(conds []commonv1alpha1.ValidationCondition, conditionType string) bool {
	for _, c := range conds {
		if c.Type == conditionType {
			return true
		}
	}
	return false
}

// defaultConditions writes out required, timeout and, for postconditions, interval.
func defaultConditions(conds []commonv1alpha1.ValidationCondition, timeout time.Duration, post bool) {
	for i := range conds {
		c := &conds[i]
		if c.Required == nil {
			c.Required = ptr(true)
		}
		if c.Timeout == nil {
			c.Timeout = &metav1.Duration{Duration: timeout}
		}
		if post && c.Interval == nil {
			c.Interval = &metav1.Duration{Duration: commonv1alpha1.DefaultPostConditionPoll}
		}
	}
}

func ptr[T any](v T) *T { return &v }
