package crd_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kubernetesexecutionv1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/test/apierr"
)

// validWorkflow is a one-step workflow every schema accepts; the tables below break
// one field of it at a time.
func validWorkflow(ns string) *workflowv1alpha1.WorkflowExecution {
	return &workflowv1alpha1.WorkflowExecution{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "wfe-", Namespace: ns},
		Spec: workflowv1alpha1.WorkflowExecutionSpec{
			WorkflowDefinition: workflowv1alpha1.WorkflowDefinition{
				Steps: []workflowv1alpha1.WorkflowStep{{
					StepNumber: 1,
					Action:     "scale_deployment",
					Parameters: &runtime.RawExtension{Raw: rawJSON(`{"deployment":{"name":"web","namespace":%q,"replicas":3}}`, ns)},
					PreConditions: []commonv1alpha1.ValidationCondition{{
						Type: "deployment_exists",
						Rego: "package precondition.deployment_exists\nallow if input.deployment_found",
					}},
				}},
			},
		},
	}
}

func validExecution(ns string) *kubernetesexecutionv1alpha1.KubernetesExecution {
	return &kubernetesexecutionv1alpha1.KubernetesExecution{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "ke-", Namespace: ns},
		Spec: kubernetesexecutionv1alpha1.KubernetesExecutionSpec{
			Action:     "scale_deployment",
			Parameters: &runtime.RawExtension{Raw: rawJSON(`{"deployment":{"name":"web","namespace":%q,"replicas":3}}`, ns)},
		},
	}
}

// asUnstructured lets a test write values the Go types cannot hold, such as a
// timeout that is not a duration.
func asUnstructured(obj runtime.Object) *unstructured.Unstructured {
	GinkgoHelper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	Expect(err).NotTo(HaveOccurred())
	u := &unstructured.Unstructured{Object: m}
	gvk, err := apiutil.GVKForObject(obj, cluster.Scheme)
	Expect(err).NotTo(HaveOccurred())
	u.SetGroupVersionKind(gvk)
	return u
}

// at walks maps and lists: at(obj, "spec", "steps", 0) is obj.spec.steps[0].
func at(obj map[string]any, path ...any) map[string]any {
	var cur any = obj
	for _, p := range path {
		switch key := p.(type) {
		case string:
			cur = cur.(map[string]any)[key]
		case int:
			cur = cur.([]any)[key]
		}
	}
	return cur.(map[string]any)
}

func firstStep(obj map[string]any) map[string]any {
	return at(obj, "spec", "workflowDefinition", "steps", 0)
}

var _ = Describe("The WorkflowExecution schema", func() {
	DescribeTable("rejects a bad spec, naming the field",
		func(ctx context.Context, breakIt func(obj map[string]any), field, message string) {
			obj := asUnstructured(validWorkflow(newNamespace(ctx)))
			breakIt(obj.Object)
			Expect(apierr.Causes(k8s.Create(ctx, obj))).To(apierr.HaveCause(field, message))
		},
		Entry("stepNumber 0",
			func(o map[string]any) { firstStep(o)["stepNumber"] = int64(0) },
			"spec.workflowDefinition.steps[0].stepNumber", "should be greater than or equal to 1"),
		Entry("two steps with one stepNumber",
			func(o map[string]any) {
				steps := at(o, "spec", "workflowDefinition")
				steps["steps"] = append(steps["steps"].([]any), runtime.DeepCopyJSONValue(firstStep(o)))
			},
			"spec.workflowDefinition.steps[1]", "Duplicate value"),
		Entry("no steps",
			func(o map[string]any) { at(o, "spec", "workflowDefinition")["steps"] = []any{} },
			"spec.workflowDefinition.steps", "should have at least 1 items"),
		Entry("an action that is not snake_case",
			func(o map[string]any) { firstStep(o)["action"] = "Scale-Deployment" },
			"spec.workflowDefinition.steps[0].action", "should match"),
		Entry("parameters that are not an object",
			func(o map[string]any) { firstStep(o)["parameters"] = "replicas=5" },
			"spec.workflowDefinition.steps[0].parameters", "must be of type object"),
		Entry("a dependency on step 0",
			func(o map[string]any) { firstStep(o)["dependsOn"] = []any{int64(0)} },
			"spec.workflowDefinition.steps[0].dependsOn[0]", "should be greater than or equal to 1"),
		Entry("more than 10 retries",
			func(o map[string]any) { firstStep(o)["maxRetries"] = int64(11) },
			"spec.workflowDefinition.steps[0].maxRetries", "should be less than or equal to 10"),
		Entry("a step timeout that is not a duration",
			func(o map[string]any) { firstStep(o)["timeout"] = "five minutes" },
			"spec.workflowDefinition.steps[0].timeout", "should match"),
		Entry("a condition without a type",
			func(o map[string]any) { delete(at(firstStep(o), "preConditions", 0), "type") },
			"spec.workflowDefinition.steps[0].preConditions[0].type", "Required value"),
		Entry("a condition type that is not snake_case",
			func(o map[string]any) { at(firstStep(o), "preConditions", 0)["type"] = "DeploymentExists" },
			"spec.workflowDefinition.steps[0].preConditions[0].type", "should match"),
		Entry("two conditions of one type",
			func(o map[string]any) {
				s := firstStep(o)
				s["preConditions"] = append(s["preConditions"].([]any), runtime.DeepCopyJSONValue(at(s, "preConditions", 0)))
			},
			"spec.workflowDefinition.steps[0].preConditions[1]", "Duplicate value"),
		Entry("a condition timeout that is not a duration",
			func(o map[string]any) { at(firstStep(o), "preConditions", 0)["timeout"] = "ten seconds" },
			"spec.workflowDefinition.steps[0].preConditions[0].timeout", "should match"),
		Entry("a negative postcondition interval",
			func(o map[string]any) {
				firstStep(o)["postConditions"] = []any{map[string]any{"type": "desired_replicas_running", "interval": "-5s"}}
			},
			"spec.workflowDefinition.steps[0].postConditions[0].interval", "should match"),
		Entry("required that is not a boolean",
			func(o map[string]any) { at(firstStep(o), "preConditions", 0)["required"] = "yes" },
			"spec.workflowDefinition.steps[0].preConditions[0].required", "must be of type boolean"),
		Entry("a rollback without an action",
			func(o map[string]any) { firstStep(o)["rollbackSpec"] = map[string]any{"timeout": "1m"} },
			"spec.workflowDefinition.steps[0].rollbackSpec.action", "Required value"),
		Entry("an unknown rollback strategy",
			func(o map[string]any) {
				o["spec"].(map[string]any)["executionStrategy"] = map[string]any{"rollbackStrategy": "sometimes"}
			},
			"spec.executionStrategy.rollbackStrategy", `supported values: "automatic", "manual", "none"`),
		Entry("two overrides of one condition type",
			func(o map[string]any) {
				override := map[string]any{"type": "deployment_exists", "required": false}
				o["spec"].(map[string]any)["conditionOverrides"] = []any{override, runtime.DeepCopyJSONValue(override)}
			},
			"spec.conditionOverrides[1]", "Duplicate value"),
	)

	DescribeTable("rejects a bad status, naming the field",
		func(ctx context.Context, status map[string]any, field, message string) {
			wfe := validWorkflow(newNamespace(ctx))
			Expect(k8s.Create(ctx, wfe)).To(Succeed())
			obj := asUnstructured(wfe)
			obj.Object["status"] = status
			Expect(apierr.Causes(k8s.Status().Update(ctx, obj))).To(apierr.HaveCause(field, message))
		},
		Entry("an unknown phase",
			map[string]any{"phase": "exploded"},
			"status.phase", `Unsupported value: "exploded"`),
		Entry("an unknown step status",
			map[string]any{"stepStatuses": []any{map[string]any{"stepNumber": int64(1), "status": "done"}}},
			"status.stepStatuses[0].status", `Unsupported value: "done"`),
		Entry("an unknown policy source",
			map[string]any{"stepStatuses": []any{map[string]any{
				"stepNumber": int64(1),
				"preConditionResults": []any{map[string]any{
					"conditionType": "deployment_exists", "evaluated": true, "passed": true,
					"evaluationTime": "2026-01-01T00:00:00Z", "policySource": "git",
				}},
			}}},
			"status.stepStatuses[0].preConditionResults[0].policySource", `Unsupported value: "git"`),
	)
})

var _ = Describe("The KubernetesExecution schema", func() {
	DescribeTable("rejects a bad spec, naming the field",
		func(ctx context.Context, breakIt func(obj map[string]any), field, message string) {
			obj := asUnstructured(validExecution(newNamespace(ctx)))
			breakIt(obj.Object)
			Expect(apierr.Causes(k8s.Create(ctx, obj))).To(apierr.HaveCause(field, message))
		},
		Entry("no action",
			func(o map[string]any) { delete(o["spec"].(map[string]any), "action") },
			"spec.action", "Required value"),
		Entry("an action that is not snake_case",
			func(o map[string]any) { o["spec"].(map[string]any)["action"] = "scale deployment" },
			"spec.action", "should match"),
		Entry("a negative retry count",
			func(o map[string]any) { o["spec"].(map[string]any)["maxRetries"] = int64(-1) },
			"spec.maxRetries", "should be greater than or equal to 0"),
		Entry("a postcondition timeout that is not a duration",
			func(o map[string]any) {
				o["spec"].(map[string]any)["postConditions"] = []any{map[string]any{"type": "no_crashloop_pods", "timeout": "2 minutes"}}
			},
			"spec.postConditions[0].timeout", "should match"),
	)

	DescribeTable("rejects a bad status, naming the field",
		func(ctx context.Context, status map[string]any, field, message string) {
			ke := validExecution(newNamespace(ctx))
			Expect(k8s.Create(ctx, ke)).To(Succeed())
			obj := asUnstructured(ke)
			obj.Object["status"] = status
			Expect(apierr.Causes(k8s.Status().Update(ctx, obj))).To(apierr.HaveCause(field, message))
		},
		Entry("an unknown phase",
			map[string]any{"phase": "running"},
			"status.phase", `Unsupported value: "running"`),
		Entry("a check result without passed",
			map[string]any{"validationResults": map[string]any{"safety": map[string]any{"message": "denied"}}},
			"status.validationResults.safety.passed", "Required value"),
	)
})

func mustDuration(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return d
}
