package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
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
// step-level conditions the catalog suggests for each step's action; running it
// twice changes nothing the second time. On CREATE it adds the reconciler's
// finalizer. With w set it also records the requester (on CREATE) and stamps who
// set the override annotations. It runs on
// CREATE and UPDATE, but leaves the spec of a started run as it is: the
// validator refuses any change to it.
type workflowDefaulter struct{ w *Webhooks }

func (d *workflowDefaulter) Default(ctx context.Context, wfe *workflowv1alpha1.WorkflowExecution) error {
	old, err := oldObject[workflowv1alpha1.WorkflowExecution](ctx)
	if err != nil {
		return err
	}
	if d.w != nil {
		var before map[string]string
		if old != nil {
			before = old.Annotations
		}
		if err := d.w.mark(ctx, wfe, before, old != nil); err != nil {
			return err
		}
	}
	if old == nil {
		controllerutil.AddFinalizer(wfe, workflowv1alpha1.Finalizer)
	}
	if old != nil && old.Status.Phase != "" {
		return nil
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
	old, err := oldObject[kubernetesexecutionv1alpha1.KubernetesExecution](ctx)
	if err != nil {
		return err
	}
	if d.w != nil {
		var before map[string]string
		if old != nil {
			before = old.Annotations
		}
		if err := d.w.mark(ctx, ke, before, old != nil); err != nil {
			return err
		}
	}
	if old == nil {
		controllerutil.AddFinalizer(ke, kubernetesexecutionv1alpha1.Finalizer)
	}
	if old != nil && old.Status.Phase != "" {
		return nil
	}
	if a, ok := catalog.Lookup(ke.Spec.Action); ok && ke.Annotations[InjectAnnotation] != "false" {
		ke.Spec.PreConditions = withSuggested(ke.Spec.PreConditions, a.PreConditions)
		ke.Spec.PostConditions = withSuggested(ke.Spec.PostConditions, a.PostConditions)
	}
	defaultConditions(ke.Spec.PreConditions, commonv1alpha1.DefaultPreConditionTimeout, false)
	defaultConditions(ke.Spec.PostConditions, commonv1alpha1.DefaultPostConditionTimeout, true)
	return nil
}

// mark records the requester on CREATE, never on UPDATE (the validator refuses
// any change of it), and stamps who changed the override annotations, whose old
// values are before.
func (w *Webhooks) mark(ctx context.Context, obj metav1.Object, before map[string]string, update bool) error {
	if !update {
		if err := w.recordRequester(ctx, obj); err != nil {
			return err
		}
	}
	return stampOverride(ctx, before, obj)
}

// oldObject decodes the old object of an UPDATE request; it is nil on CREATE,
// and without a request (tests that call Default directly).
func oldObject[T any](ctx context.Context) (*T, error) {
	req, err := admission.RequestFromContext(ctx)
	if err != nil || req.Operation != admissionv1.Update {
		return nil, nil
	}
	old := new(T)
	if err := json.Unmarshal(req.OldObject.Raw, old); err != nil {
		return nil, fmt.Errorf("decoding the old object of the update: %w", err)
	}
	return old, nil
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
