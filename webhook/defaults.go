package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
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
// set the override annotations. It runs on CREATE and UPDATE: see keepStarted
// for the spec of a started run.
type workflowDefaulter struct{ w *Webhooks }

func (d *workflowDefaulter) Default(ctx context.Context, wfe *workflowv1alpha1.WorkflowExecution) error {
	old, err := begin(ctx, d.w, wfe, workflowv1alpha1.Finalizer)
	if err != nil {
		return err
	}
	defaultWorkflowSpec(&wfe.Spec, injects(wfe), d.w.measured)
	if old != nil && old.Status.Phase != "" {
		was := old.Spec.DeepCopy()
		defaultWorkflowSpec(was, injects(old), d.w.measured)
		keepStarted(&wfe.Spec, old.Spec, *was)
	}
	return nil
}

func defaultWorkflowSpec(spec *workflowv1alpha1.WorkflowExecutionSpec, inject bool, measured func([]catalog.Suggested) []catalog.Suggested) {
	steps := spec.WorkflowDefinition.Steps
	for i := range steps {
		step := &steps[i]
		if step.DependsOn == nil {
			step.DependsOn = []int32{}
			if i > 0 {
				step.DependsOn = []int32{steps[i-1].StepNumber}
			}
		}
		if a, ok := catalog.Lookup(step.Action); ok && inject {
			step.PreConditions = withSuggested(step.PreConditions, measured(a.StepPreConditions))
			step.PostConditions = withSuggested(step.PostConditions, measured(a.StepPostConditions))
		}
		defaultConditions(step.PreConditions, commonv1alpha1.DefaultPreConditionTimeout, false)
		defaultConditions(step.PostConditions, commonv1alpha1.DefaultPostConditionTimeout, true)
	}
}

// executionDefaulter is workflowDefaulter for a KubernetesExecution, with the
// action-level conditions of the catalog.
type executionDefaulter struct{ w *Webhooks }

func (d *executionDefaulter) Default(ctx context.Context, ke *kubernetesexecutionv1alpha1.KubernetesExecution) error {
	old, err := begin(ctx, d.w, ke, kubernetesexecutionv1alpha1.Finalizer)
	if err != nil {
		return err
	}
	defaultExecutionSpec(&ke.Spec, injects(ke), d.w.measured)
	if old != nil && old.Status.Phase != "" {
		was := old.Spec.DeepCopy()
		defaultExecutionSpec(was, injects(old), d.w.measured)
		keepStarted(&ke.Spec, old.Spec, *was)
	}
	return nil
}

func defaultExecutionSpec(spec *kubernetesexecutionv1alpha1.KubernetesExecutionSpec, inject bool, measured func([]catalog.Suggested) []catalog.Suggested) {
	if a, ok := catalog.Lookup(spec.Action); ok && inject {
		spec.PreConditions = withSuggested(spec.PreConditions, measured(a.PreConditions))
		spec.PostConditions = withSuggested(spec.PostConditions, measured(a.PostConditions))
	}
	defaultConditions(spec.PreConditions, commonv1alpha1.DefaultPreConditionTimeout, false)
	defaultConditions(spec.PostConditions, commonv1alpha1.DefaultPostConditionTimeout, true)
}

// injects says whether the catalog's suggested conditions go into obj's spec.
func injects(obj metav1.Object) bool {
	return obj.GetAnnotations()[InjectAnnotation] != "false"
}

// begin does what defaulting either kind starts with: with w, it records the
// requester and stamps the overrides; on CREATE it adds finalizer. It returns
// the old object of an UPDATE, nil on CREATE.
func begin[T any, P interface {
	*T
	client.Object
}](ctx context.Context, w *Webhooks, obj P, finalizer string) (P, error) {
	old, err := oldObject[T](ctx)
	if err != nil {
		return nil, err
	}
	if w != nil {
		var before map[string]string
		if old != nil {
			before = P(old).GetAnnotations()
		}
		if err := w.mark(ctx, obj, before, old != nil); err != nil {
			return nil, err
		}
	}
	if old == nil {
		controllerutil.AddFinalizer(obj, finalizer)
	}
	return old, nil
}

// keepStarted puts back the stored spec of a started run when the one sent
// differs from it only by what defaulting adds. The spec of a started run cannot
// change (the validator refuses it), but a client that re-sends an unchanged
// manifest sends less than was stored: kubectl's client-side apply replaces the
// condition lists with the manifest's, server-side apply sets the fields it owns.
// Defaulted, both are the same (defaulted is the stored spec defaulted again, so
// a catalog that gained a suggestion since the run started changes nothing
// either), and re-applying changes nothing. Any real change is left for the
// validator to refuse.
func keepStarted[S any](spec *S, stored, defaulted S) {
	if equality.Semantic.DeepEqual(*spec, defaulted) {
		*spec = stored
	}
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

// measured is what the catalog suggests as this manager can check it: a condition
// that needs a source of facts the manager lacks is suggested as optional
// (catalog.Measured). Without a condition service (w nil), it has no such source.
func (w *Webhooks) measured(suggested []catalog.Suggested) []catalog.Suggested {
	has := func(catalog.Source) bool { return false }
	if w != nil && w.Conditions != nil {
		has = w.Conditions.Facts.Measures
	}
	return catalog.Measured(suggested, has)
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
