package webhook_test

import (
	"context"
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/test/apierr"
)

// manySteps is scaleWorkflow with n copies of its step: 2 conditions each as
// written, 5 once the mutating webhook has added the catalog's 3.
func manySteps(ns string, n int) *workflowv1alpha1.WorkflowExecution {
	wfe := scaleWorkflow(ns)
	for i := 2; i <= n; i++ {
		s := *step(wfe).DeepCopy()
		s.StepNumber = int32(i)
		wfe.Spec.WorkflowDefinition.Steps = append(wfe.Spec.WorkflowDefinition.Steps, s)
	}
	return wfe
}

// withExtra gives the first n steps one more precondition each.
func withExtra(wfe *workflowv1alpha1.WorkflowExecution, n int, rego string) {
	for i := range n {
		s := &wfe.Spec.WorkflowDefinition.Steps[i]
		s.PreConditions = append(s.PreConditions, commonv1alpha1.ValidationCondition{Type: "extra_check", Rego: rego})
	}
}

const allowsAll = "package extra\nimport rego.v1\nallow if true\n"

var _ = Describe("The bound on a workflow's conditions", func() {
	steps := "spec.workflowDefinition.steps"

	DescribeTable("counts every step's conditions, the catalog's included",
		func(ctx context.Context, n, extra int, message string) {
			wfe := manySteps(newNamespace(ctx), n)
			withExtra(wfe, extra, allowsAll)
			err := k8s.Create(ctx, wfe)
			if message == "" {
				Expect(err).NotTo(HaveOccurred())
				return
			}
			Expect(apierr.Causes(err)).To(apierr.HaveCause(steps, message))
		},
		Entry("256 conditions are admitted", 50, 6, ""),
		Entry("257 are not, naming the count and the limit; 150 of them the catalog's", 50, 7,
			"the steps have 257 preconditions and postconditions (150 of them added from the action catalog), more than the 256 a workflow may have"),
	)

	It("does not compile the conditions of a workflow over the bound", func(ctx context.Context) {
		wfe := manySteps(newNamespace(ctx), 50)
		withExtra(wfe, 7, "package p\nallow if {") // would be a rego_parse_error
		causes := apierr.Causes(k8s.Create(ctx, wfe))
		Expect(causes).To(HaveLen(1), fmt.Sprint(causes))
		Expect(causes).To(apierr.HaveCause(steps, "more than the 256 a workflow may have"))
	})

	It("counts what the object holds: without the catalog's, the same workflow is admitted", func(ctx context.Context) {
		wfe := manySteps(newNamespace(ctx), 50)
		wfe.Annotations = map[string]string{commonv1alpha1.InjectConditionsAnnotation: "false"}
		withExtra(wfe, 7, allowsAll)
		Expect(k8s.Create(ctx, wfe)).To(Succeed(), "107 conditions as written, none injected")
	})
})
