package e2e

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/internal/samples"
)

// scaleWorkflow is the seed-shaped workflow of samples.ScaleWorkflow.
var scaleWorkflow = samples.ScaleWorkflow

// waitPhase waits until the workflow reaches phase and returns it.
func waitPhase(ctx context.Context, wfe *workflowv1alpha1.WorkflowExecution, phase workflowv1alpha1.WorkflowPhase, timeout time.Duration) *workflowv1alpha1.WorkflowExecution {
	GinkgoHelper()
	got := &workflowv1alpha1.WorkflowExecution{}
	Eventually(func(g Gomega) workflowv1alpha1.WorkflowPhase {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(wfe), got)).To(Succeed())
		return got.Status.Phase
	}).WithContext(ctx).WithTimeout(timeout).WithPolling(250*time.Millisecond).Should(Equal(phase),
		func() string { return fmt.Sprintf("status: %+v", got.Status) })
	return got
}

func replicas(ctx context.Context, ns, name string) int32 {
	GinkgoHelper()
	var d appsv1.Deployment
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d)).To(Succeed())
	return *d.Spec.Replicas
}

func executions(ctx context.Context, ns string) []kev1alpha1.KubernetesExecution {
	GinkgoHelper()
	var list kev1alpha1.KubernetesExecutionList
	Expect(k8s.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	return list.Items
}

// allPassed matches condition results that were all evaluated and passed.
func allPassed() OmegaMatcher {
	return And(Not(BeEmpty()), HaveEach(And(HaveField("Evaluated", true), HaveField("Passed", true))))
}

var _ = Describe("A scale_deployment workflow", func() {
	It("scales production/web-app 3 -> 5 with every condition recorded as passed", func(ctx context.Context) {
		ns := newNamespace(ctx)
		createDeployment(ctx, ns, "web-app", 3, nil)
		wfe := scaleWorkflow(ns, "scale-web-app-workflow", "web-app", 5)
		Expect(k8s.Create(ctx, wfe)).To(Succeed())

		done := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowCompleted, 2*time.Minute)
		waitReady(ctx, ns, "web-app", 5)

		Expect(done.Status.StepStatuses).To(HaveLen(1))
		step := done.Status.StepStatuses[0]
		Expect(step.Status).To(Equal(workflowv1alpha1.StepCompleted))
		Expect(step.PreConditionResults).To(allPassed())
		Expect(step.PostConditionResults).To(allPassed())
		// The webhook added the catalog's current_replicas_match to the seed's conditions.
		Expect(step.PreConditionResults).To(ContainElement(HaveField("ConditionType", "current_replicas_match")))
		Expect(done.Status.Conditions).To(ContainElement(And(
			HaveField("Type", commonv1alpha1.SucceededCondition), HaveField("Status", metav1.ConditionTrue),
			HaveField("ObservedGeneration", done.Generation))))
		Expect(done.Status.Progress).To(Equal("1/1"))

		var ke kev1alpha1.KubernetesExecution
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "scale-web-app-workflow-step-1"}, &ke)).To(Succeed())
		Expect(metav1.IsControlledBy(&ke, done)).To(BeTrue())
		Expect(ke.Status.Phase).To(Equal(kev1alpha1.ExecutionCompleted))
		Expect(ke.Status.ValidationResults.Parameters.Passed).To(BeTrue())
		Expect(ke.Status.ValidationResults.RBAC.Passed).To(BeTrue())
		Expect(ke.Status.ValidationResults.Safety.Passed).To(BeTrue())
		Expect(ke.Status.ValidationResults.DryRun.Passed).To(BeTrue())
		Expect(ke.Status.ValidationResults.PreConditionResults).To(allPassed())
		Expect(ke.Status.ValidationResults.PostConditionResults).To(allPassed())
		Expect(ke.Status.ExecutionResults.ResourcesAffected).To(ConsistOf(And(
			HaveField("Kind", "Deployment"), HaveField("Name", "web-app"),
			HaveField("Before", HaveKeyWithValue("replicas", "3")), HaveField("After", HaveKeyWithValue("replicas", "5")))))
		Expect(ke.Status.RollbackInformation).To(HaveField("Action", "scale_deployment"))
	})

	It("is blocked, creating no execution and changing nothing, when the Deployment is missing", func(ctx context.Context) {
		ns := newNamespace(ctx)
		wfe := scaleWorkflow(ns, "scale-missing", "web-app", 5)
		Expect(k8s.Create(ctx, wfe)).To(Succeed())

		blocked := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowBlocked, time.Minute)
		Expect(blocked.Status.StepStatuses[0].Status).To(Equal(workflowv1alpha1.StepBlocked))
		Expect(blocked.Status.StepStatuses[0].PreConditionResults).To(ContainElement(And(
			HaveField("ConditionType", "deployment_exists"), HaveField("Passed", false), HaveField("Required", true))))
		// Not over: it waits for an override.
		Expect(blocked.Status.Conditions).To(ContainElement(And(
			HaveField("Type", commonv1alpha1.SucceededCondition), HaveField("Status", metav1.ConditionUnknown),
			HaveField("Reason", commonv1alpha1.PreconditionFailedReason))))
		Expect(blocked.Status.Conditions).To(ContainElement(And(
			HaveField("Type", commonv1alpha1.PreconditionsPassedCondition), HaveField("Status", metav1.ConditionFalse))))
		Consistently(func() []kev1alpha1.KubernetesExecution { return executions(ctx, ns) }).
			WithContext(ctx).WithTimeout(3 * time.Second).Should(BeEmpty())
	})

	It("takes its executions with it when deleted mid-run, leaving nothing running", func(ctx context.Context) {
		ns := newNamespace(ctx)
		createDeployment(ctx, ns, "web-app", 3, nil)
		wfe := scaleWorkflow(ns, "deleted-mid-run", "web-app", 4)
		wfe.Spec.WorkflowDefinition.Steps[0].PostConditions = append(wfe.Spec.WorkflowDefinition.Steps[0].PostConditions,
			commonv1alpha1.ValidationCondition{Type: "never_true", Rego: "package custom.never_true\nimport rego.v1\nallow if false\n",
				Timeout: &metav1.Duration{Duration: 10 * time.Minute}})
		Expect(k8s.Create(ctx, wfe)).To(Succeed())
		waitPhase(ctx, wfe, workflowv1alpha1.WorkflowMonitoring, time.Minute)
		Expect(executions(ctx, ns)).To(HaveLen(1))

		Expect(k8s.Delete(ctx, wfe)).To(Succeed())
		Eventually(func() error { return k8s.Get(ctx, client.ObjectKeyFromObject(wfe), wfe) }).
			WithContext(ctx).WithTimeout(30 * time.Second).Should(MatchError(ContainSubstring("not found")))
		// The finalizer let the workflow go only once its executions were gone.
		Expect(executions(ctx, ns)).To(BeEmpty())
	})

	It("runs independent steps in parallel and a dependent step after both", func(ctx context.Context) {
		ns := newNamespace(ctx)
		for _, name := range []string{"frontend", "backend", "worker"} {
			createDeployment(ctx, ns, name, 1, nil)
		}
		step := func(n int32, deployment string, dependsOn ...int32) workflowv1alpha1.WorkflowStep {
			s := scaleWorkflow(ns, "x", deployment, 2).Spec.WorkflowDefinition.Steps[0]
			s.StepNumber, s.Name, s.DependsOn = n, "scale-"+deployment, append([]int32{}, dependsOn...)
			return s
		}
		wfe := &workflowv1alpha1.WorkflowExecution{
			ObjectMeta: metav1.ObjectMeta{Name: "fan-in", Namespace: ns},
			Spec: workflowv1alpha1.WorkflowExecutionSpec{WorkflowDefinition: workflowv1alpha1.WorkflowDefinition{
				Steps: []workflowv1alpha1.WorkflowStep{step(1, "frontend"), step(2, "backend"), step(3, "worker", 1, 2)},
			}},
		}
		Expect(k8s.Create(ctx, wfe)).To(Succeed())
		done := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowCompleted, 2*time.Minute)

		st := done.Status.StepStatuses
		Expect(st).To(HaveLen(3))
		// Both independent steps started before either finished; the third after both.
		Expect(st[0].StartTime.Time).To(BeTemporally("<=", st[1].EndTime.Time))
		Expect(st[1].StartTime.Time).To(BeTemporally("<=", st[0].EndTime.Time))
		Expect(st[2].StartTime.Time).To(BeTemporally(">=", st[0].EndTime.Time))
		Expect(st[2].StartTime.Time).To(BeTemporally(">=", st[1].EndTime.Time))
		Expect(names(executions(ctx, ns))).To(ConsistOf("fan-in-step-1", "fan-in-step-2", "fan-in-step-3"))
		Expect(done.Status.Progress).To(Equal("3/3"))
	})
})
