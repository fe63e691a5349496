package webhook

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/conditions"
	"kubernaut.io/stepvalidation/conditions/check"
	"kubernaut.io/stepvalidation/conditions/library"
)

func twoSteps() *workflowv1alpha1.WorkflowExecution {
	params := &runtime.RawExtension{Raw: []byte(`{"deployment":{"name":"web","namespace":"prod","replicas":3}}`)}
	return &workflowv1alpha1.WorkflowExecution{Spec: workflowv1alpha1.WorkflowExecutionSpec{
		WorkflowDefinition: workflowv1alpha1.WorkflowDefinition{Steps: []workflowv1alpha1.WorkflowStep{
			{StepNumber: 1, Action: "cordon_node", Parameters: &runtime.RawExtension{Raw: []byte(`{"node":{"name":"n1"}}`)}},
			{StepNumber: 2, Action: "scale_deployment", Parameters: params,
				PreConditions: []commonv1alpha1.ValidationCondition{{Type: "deployment_exists", Rego: "package p\nallow := true"}}},
		}},
	}}
}

func TestDefaultingTwiceChangesNothing(t *testing.T) {
	once := twoSteps()
	if err := (&workflowDefaulter{}).Default(context.Background(), once); err != nil {
		t.Fatal(err)
	}
	twice := once.DeepCopy()
	if err := (&workflowDefaulter{}).Default(context.Background(), twice); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(once, twice) {
		t.Errorf("the second mutation changed the object:\n%+v\n%+v", once.Spec, twice.Spec)
	}
	pre := once.Spec.WorkflowDefinition.Steps[1].PreConditions
	if pre[0].Rego != "package p\nallow := true" || pre[0].Injected {
		t.Errorf("the user's deployment_exists was changed: %+v", pre[0])
	}
}

func newValidator(t testing.TB) *workflowValidator {
	// A short deadline keeps every input quick (FuzzAdmission's dry runs evaluate
	// policies): go's fuzzing fails a run whose time ends while an input still runs.
	engine := conditions.NewEngine(conditions.Options{CacheSize: 64, EvalDeadline: 50 * time.Millisecond})
	lib, err := library.New(context.Background(), engine)
	if err != nil {
		t.Fatal(err)
	}
	// No client: the fuzzer's objects reach the override check only without an
	// admission request, which it reports as an error without asking anyone.
	return &workflowValidator{&Webhooks{Conditions: &check.Service{Engine: engine, Library: lib}}}
}

// FuzzValidateWorkflow validates arbitrary objects: they may be rejected, and the
// validator must not panic.
func FuzzValidateWorkflow(f *testing.F) {
	seed, _ := json.Marshal(twoSteps())
	f.Add(seed)
	f.Add([]byte(`{"spec":{"workflowDefinition":{"steps":[{"stepNumber":1,"action":"scale_deployment","dependsOn":[1,2,3],"parameters":{"deployment":7}}]}}}`))
	f.Add([]byte(`{"metadata":{"annotations":{"kubernaut.io/override-condition":"a,b"}},"spec":{"conditionOverrides":[{"type":"x"}]}}`))
	v := newValidator(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var wfe workflowv1alpha1.WorkflowExecution
		if json.Unmarshal(data, &wfe) != nil {
			return
		}
		_, _ = v.ValidateCreate(context.Background(), &wfe)
		old := wfe.DeepCopy()
		old.Status.Phase = workflowv1alpha1.WorkflowExecuting
		_, _ = v.ValidateUpdate(context.Background(), old, &wfe)
		_ = (&workflowDefaulter{}).Default(context.Background(), &wfe)
	})
}
