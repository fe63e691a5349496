package e2e

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/internal/samples"
)

// stepPostconditions returns the postcondition results of a workflow's first step.
func stepPostconditions(ctx context.Context, wfe *workflowv1alpha1.WorkflowExecution) func(Gomega) []commonv1alpha1.ConditionResult {
	return func(g Gomega) []commonv1alpha1.ConditionResult {
		var got workflowv1alpha1.WorkflowExecution
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(wfe), &got)).To(Succeed())
		g.Expect(got.Status.StepStatuses).NotTo(BeEmpty())
		return got.Status.StepStatuses[0].PostConditionResults
	}
}

var _ = Describe("Verification woken by change", func() {
	It("evaluates a postcondition again when the pods it reads turn ready, long before its interval", func(ctx context.Context) {
		ns := newNamespace(ctx)
		reportOnFailure(ns)
		// The new pods wait, Pending, until openGates.
		createGatedDeployment(ctx, ns, "web", 3)
		wfe := scaleWorkflow(ns, "woken", "web", 5)
		wfe.Annotations = map[string]string{commonv1alpha1.InjectConditionsAnnotation: "false"}
		step := &wfe.Spec.WorkflowDefinition.Steps[0]
		step.PreConditions = nil
		running := condition("desired_replicas_running", samples.SeedDesiredReplicasRunning, true, 5*time.Minute)
		running.Interval = &metav1.Duration{Duration: time.Minute}
		step.PostConditions = []commonv1alpha1.ValidationCondition{running}
		Expect(k8s.Create(ctx, wfe)).To(Succeed())

		By("the first evaluation fails: two of five pods are gated")
		Eventually(stepPostconditions(ctx, wfe)).WithContext(ctx).WithTimeout(time.Minute).WithPolling(200 * time.Millisecond).
			Should(ContainElement(HaveField("Passed", false)))
		// The step's first evaluation can come before the ReplicaSet created
		// both new pods: open the gates once all five exist.
		Eventually(func(g Gomega) {
			var pods corev1.PodList
			g.Expect(k8s.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
			g.Expect(pods.Items).To(HaveLen(5))
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(200 * time.Millisecond).Should(Succeed())
		gatesOpen := time.Now()
		openGates(ctx, ns)

		By("the pods turn ready: the step completes within seconds, not at the 1m interval")
		// A failure here means verification waited for its interval.
		done := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowCompleted, 30*time.Second)
		GinkgoWriter.Printf("completed %s after the gates opened (interval 1m)\n", time.Since(gatesOpen).Round(10*time.Millisecond))
		result := done.Status.StepStatuses[0].PostConditionResults[0]
		Expect(result.Passed).To(BeTrue())
		Expect(result.Attempts).To(BeNumerically(">=", 2))
	})

	It("still evaluates at the interval when nothing it reads changes", func(ctx context.Context) {
		ns := newNamespace(ctx)
		reportOnFailure(ns)
		createDeployment(ctx, ns, "web", 3, nil)
		wfe := scaleWorkflow(ns, "by-interval", "web", 4)
		wfe.Annotations = map[string]string{commonv1alpha1.InjectConditionsAnnotation: "false"}
		step := &wfe.Spec.WorkflowDefinition.Steps[0]
		step.PreConditions = nil
		// True only once the clock passes a moment a few seconds after the pods
		// have settled: no change of an object wakes it then, only its interval.
		passAt := time.Now().Add(12 * time.Second)
		later := condition("later", fmt.Sprintf("package custom.later\nimport rego.v1\nallow if time.now_ns() >= %d\n", passAt.UnixNano()),
			true, 2*time.Minute)
		later.Interval = &metav1.Duration{Duration: 2 * time.Second}
		step.PostConditions = []commonv1alpha1.ValidationCondition{later}
		Expect(k8s.Create(ctx, wfe)).To(Succeed())
		waitReady(ctx, ns, "web", 4)

		done := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowCompleted, time.Minute)
		result := done.Status.StepStatuses[0].PostConditionResults[0]
		Expect(result.Passed).To(BeTrue())
		Expect(result.EvaluationTime.Time).To(BeTemporally(">=", passAt.Truncate(time.Second)))
		// From the first evaluation to passAt, one evaluation per interval or so.
		Expect(result.Attempts).To(BeNumerically(">=", 3))
	})
})
