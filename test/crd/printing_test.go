package crd_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
)

var _ = Describe("kubectl get", func() {
	It("shows a workflow's phase, progress and Succeeded condition, by short name and category", func(ctx context.Context) {
		ns := newNamespace(ctx)
		wfe := validWorkflow(ns)
		Expect(k8s.Create(ctx, wfe)).To(Succeed())
		ke := validExecution(ns)
		Expect(k8s.Create(ctx, ke)).To(Succeed())

		wfe.Status.Phase = workflowv1alpha1.WorkflowExecuting
		wfe.Status.Progress = "0/1"
		meta.SetStatusCondition(&wfe.Status.Conditions, metav1.Condition{
			Type: commonv1alpha1.SucceededCondition, Status: metav1.ConditionUnknown,
			Reason: commonv1alpha1.RunningReason, ObservedGeneration: wfe.Generation,
		})
		Expect(k8s.Status().Update(ctx, wfe)).To(Succeed())

		out := kubectl("get", "wfe", "-n", ns)
		Expect(out).To(MatchRegexp(`NAME\s+PHASE\s+STEPS\s+SUCCEEDED\s+REASON\s+AGE`))
		Expect(out).To(MatchRegexp(wfe.Name + `\s+executing\s+0/1\s+Unknown\s+Running\s+\d+s`))

		out = kubectl("get", "ke", "-n", ns)
		Expect(out).To(MatchRegexp(`NAME\s+ACTION\s+PHASE\s+SUCCEEDED\s+REASON\s+AGE`))
		Expect(out).To(MatchRegexp(ke.Name + `\s+scale_deployment\s+`))

		out = kubectl("get", "kubernaut", "-n", ns, "-o", "name")
		Expect(out).To(ContainSubstring("workflowexecution.workflow.kubernaut.io/" + wfe.Name))
		Expect(out).To(ContainSubstring("kubernetesexecution.kubernetesexecution.kubernaut.io/" + ke.Name))
	})
})
