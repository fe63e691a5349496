package crd_test

import (
	"context"
	"os"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kubernetesexecutionv1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
)

// readManifest decodes a YAML file the way kubectl would send it.
func readManifest(path string) *unstructured.Unstructured {
	GinkgoHelper()
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	json, err := yaml.YAMLToJSON(data)
	Expect(err).NotTo(HaveOccurred())
	obj := &unstructured.Unstructured{}
	Expect(obj.UnmarshalJSON(json)).To(Succeed()) // integers as int64, as the server returns them
	return obj
}

// storedSpec reads obj back from the API server as JSON, the way any client sees it.
func storedSpec(ctx context.Context, obj *unstructured.Unstructured) map[string]any {
	GinkgoHelper()
	stored := &unstructured.Unstructured{}
	stored.SetGroupVersionKind(obj.GroupVersionKind())
	Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), stored)).To(Succeed())
	return stored.Object["spec"].(map[string]any)
}

var _ = Describe("The WorkflowExecution example of seed 001, section 5.3", func() {
	const manifest = "testdata/seed-001-section-5.3.yaml"

	It("is stored unchanged, with the schema's defaults added, and reads back with all its conditions", func(ctx context.Context) {
		// The example names its namespace; create it unless an earlier run did.
		err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "production"}})
		if !apierrors.IsAlreadyExists(err) {
			Expect(err).NotTo(HaveOccurred())
		}
		kubectl("apply", "-f", manifest)

		sent := readManifest(manifest)
		want := sent.Object["spec"].(map[string]any)
		want["executionStrategy"] = map[string]any{"rollbackStrategy": "automatic"}
		Expect(storedSpec(ctx, sent)).To(Equal(want), "nothing may be pruned or changed but defaults")

		var wfe workflowv1alpha1.WorkflowExecution
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sent), &wfe)).To(Succeed())
		Expect(wfe.Spec.WorkflowDefinition.Steps).To(HaveLen(1))
		step := wfe.Spec.WorkflowDefinition.Steps[0]
		Expect(step.StepNumber).To(BeEquivalentTo(1))
		Expect(step.Action).To(Equal("scale_deployment"))
		Expect(step.Parameters.Raw).To(MatchJSON(`{"deployment":{"name":"web-app","namespace":"production","replicas":5}}`))

		Expect(step.PreConditions).To(HaveExactElements(
			conditionOf("deployment_exists", "10s", true),
			conditionOf("cluster_capacity_available", "10s", true),
		))
		Expect(step.PostConditions).To(HaveExactElements(
			conditionOf("desired_replicas_running", "2m", true),
			conditionOf("deployment_health_check", "2m", true),
		))
		for _, c := range append(step.PreConditions, step.PostConditions...) {
			Expect(c.Description).NotTo(BeEmpty(), c.Type)
			Expect(c.Rego).To(HavePrefix("package "), c.Type)
			Expect(c.Rego).To(ContainSubstring("allow if"), c.Type)
		}
		Expect(wfe.Spec.ExecutionStrategy.RollbackStrategy).To(Equal(workflowv1alpha1.RollbackAutomatic))
	})
})

// conditionOf matches a stored ValidationCondition by type, timeout and required,
// which the server has defaulted when the manifest left it out.
func conditionOf(conditionType, timeout string, required bool) OmegaMatcher {
	return And(
		HaveField("Type", conditionType),
		HaveField("Timeout.Duration", mustDuration(timeout)),
		HaveField("Required", HaveValue(Equal(required))),
	)
}

var _ = Describe("A KubernetesExecution with the action-level conditions of seed 001, section 4.5", func() {
	const manifest = "testdata/kubernetesexecution-scale-deployment.yaml"

	It("is stored unchanged and keeps optional conditions optional", func(ctx context.Context) {
		ns := newNamespace(ctx)
		kubectl("apply", "-n", ns, "-f", manifest)

		sent := readManifest(manifest)
		sent.SetNamespace(ns)
		Expect(storedSpec(ctx, sent)).To(Equal(sent.Object["spec"]))

		var ke kubernetesexecutionv1alpha1.KubernetesExecution
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(sent), &ke)).To(Succeed())
		Expect(ke.Spec.PreConditions).To(HaveExactElements(
			conditionOf("image_pull_secrets_valid", "10s", true),
			conditionOf("node_selector_matches", "10s", false),
		))
		Expect(ke.Spec.PostConditions).To(HaveExactElements(
			conditionOf("no_crashloop_pods", "2m", true),
			conditionOf("resource_usage_acceptable", "2m", true),
		))
	})
})

var _ = Describe("Schema defaults", func() {
	It("make a condition required unless it says required: false", func(ctx context.Context) {
		ns := newNamespace(ctx)
		ke := &kubernetesexecutionv1alpha1.KubernetesExecution{
			ObjectMeta: metav1.ObjectMeta{Name: "defaults", Namespace: ns},
			Spec: kubernetesexecutionv1alpha1.KubernetesExecutionSpec{
				Action: "scale_deployment",
				PreConditions: []commonv1alpha1.ValidationCondition{
					{Type: "left_out"},
					{Type: "said_false", Required: ptr(false)},
				},
			},
		}
		Expect(k8s.Create(ctx, ke)).To(Succeed())

		var stored kubernetesexecutionv1alpha1.KubernetesExecution
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ke), &stored)).To(Succeed())
		Expect(stored.Spec.PreConditions[0].Required).To(HaveValue(BeTrue()))
		Expect(stored.Spec.PreConditions[1].Required).To(HaveValue(BeFalse()))
	})

	It("give a workflow the automatic rollback strategy", func(ctx context.Context) {
		ns := newNamespace(ctx)
		wfe := validWorkflow(ns)
		Expect(k8s.Create(ctx, wfe)).To(Succeed())
		Expect(wfe.Spec.ExecutionStrategy.RollbackStrategy).To(Equal(workflowv1alpha1.RollbackAutomatic))
	})
})
