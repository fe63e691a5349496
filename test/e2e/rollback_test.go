package e2e

import (
	"context"
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

// crashLabel opts a pod into kwok's chaos stage whose pods fail while still
// Pending (their init containers fail). The stage that fails running containers
// would leave a moment in which the new pods are Running and Ready, and a
// postcondition evaluated then passes.
const crashLabel = "pod-init-container-running-failed.stage.kwok.x-k8s.io"

// crashNewPods makes the pods the Deployment creates from now on crash, and leaves
// the running ones alone: the Deployment is paused, so that its controller scales
// the current ReplicaSet rather than rolling out, and that ReplicaSet's pod template
// gets kwok's chaos label.
func crashNewPods(ctx context.Context, ns, name string) {
	GinkgoHelper()
	var d appsv1.Deployment
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d)).To(Succeed())
	patch := client.MergeFrom(d.DeepCopy())
	d.Spec.Paused = true
	Expect(k8s.Patch(ctx, &d, patch)).To(Succeed())

	var sets appsv1.ReplicaSetList
	Expect(k8s.List(ctx, &sets, client.InNamespace(ns), client.MatchingLabels(d.Spec.Selector.MatchLabels))).To(Succeed())
	Expect(sets.Items).To(HaveLen(1))
	rs := &sets.Items[0]
	rsPatch := client.MergeFrom(rs.DeepCopy())
	rs.Spec.Template.Labels[crashLabel] = "true"
	// At once: no window in which the new pods look healthy.
	if rs.Spec.Template.Annotations == nil {
		rs.Spec.Template.Annotations = map[string]string{}
	}
	rs.Spec.Template.Annotations[crashLabel+"/delay"] = "0s"
	rs.Spec.Template.Annotations[crashLabel+"/jitter-delay"] = "0s"
	Expect(k8s.Patch(ctx, rs, rsPatch)).To(Succeed())
}

// noFailedPods allows when the Deployment has all its pods and every one runs: a
// crashed pod stays Failed, so one crash fails it for good, and it cannot pass
// before the new pods exist.
const noFailedPods = `package custom.no_failed_pods
import rego.v1
failed := [p.name | some p in input.pods; p.status != "Running"]
allow if {
  count(input.pods) >= input.target_replicas
  count(failed) == 0
}
error_message := sprintf("containers failed in pods %v", [failed])
`

var _ = Describe("A failed critical step", func() {
	It("whose new pods crash fails its postconditions, is rolled back to 3 replicas, and fails the workflow with the rollback recorded", func(ctx context.Context) {
		ns := newNamespace(ctx)
		createDeployment(ctx, ns, "web-app", 3, nil)
		crashNewPods(ctx, ns, "web-app")

		wfe := scaleWorkflow(ns, "scale-into-crashes", "web-app", 5)
		// Only the step's own postconditions, with short timeouts: the catalog's would
		// wait minutes for pods that never become ready. The seed's
		// deployment_health_check is left out: a paused Deployment never reports
		// Progressing, so it would fail for that reason rather than for the crashes.
		wfe.Annotations = map[string]string{commonv1alpha1.InjectConditionsAnnotation: "false"}
		wfe.Spec.WorkflowDefinition.Steps[0].PostConditions = []commonv1alpha1.ValidationCondition{
			condition("desired_replicas_running", samples.SeedDesiredReplicasRunning, true, 15*time.Second),
			condition("no_failed_pods", noFailedPods, true, 15*time.Second),
		}
		wfe.Spec.ExecutionStrategy.RollbackStrategy = workflowv1alpha1.RollbackAutomatic
		Expect(k8s.Create(ctx, wfe)).To(Succeed())

		failed := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowFailed, 2*time.Minute)
		step := failed.Status.StepStatuses[0]
		Expect(step.Status).To(Equal(workflowv1alpha1.StepRolledBack))
		Expect(step.PostConditionResults).To(ContainElement(And(
			HaveField("ConditionType", "no_failed_pods"), HaveField("Passed", false),
			HaveField("ErrorMessage", And(HavePrefix("Verification timeout"), ContainSubstring("containers failed"))))))
		Expect(failed.Status.Conditions).To(ContainElement(And(
			HaveField("Type", commonv1alpha1.SucceededCondition), HaveField("Status", metav1.ConditionFalse),
			HaveField("Reason", commonv1alpha1.RolledBackReason))))
		Expect(failed.Status.Message).To(And(ContainSubstring("critical step 1 failed"), ContainSubstring("rolled back steps 1")))

		var acted, rollback kev1alpha1.KubernetesExecution
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "scale-into-crashes-step-1"}, &acted)).To(Succeed())
		Expect(acted.Status.RollbackInformation).NotTo(BeNil())
		Expect(acted.Status.RollbackInformation.Action).To(Equal("scale_deployment"))
		Expect(string(acted.Status.RollbackInformation.Parameters.Raw)).To(MatchJSON(
			`{"deployment":{"name":"web-app","namespace":"` + ns + `","replicas":3}}`))
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "scale-into-crashes-rollback-1"}, &rollback)).To(Succeed())
		Expect(metav1.IsControlledBy(&rollback, failed)).To(BeTrue())
		Expect(rollback.Status.Phase).To(Equal(kev1alpha1.ExecutionCompleted))

		waitReady(ctx, ns, "web-app", 3)
	})

	It("with rollbackStrategy manual, stops at failed and says how to undo, changing nothing back", func(ctx context.Context) {
		ns := newNamespace(ctx)
		createDeployment(ctx, ns, "web-app", 3, nil)
		wfe := scaleWorkflow(ns, "manual-undo", "web-app", 4)
		wfe.Spec.ExecutionStrategy.RollbackStrategy = workflowv1alpha1.RollbackManual
		wfe.Spec.WorkflowDefinition.Steps[0].PostConditions = append(wfe.Spec.WorkflowDefinition.Steps[0].PostConditions,
			condition("impossible", "package custom.impossible\nimport rego.v1\nallow if input.current_replicas == 999\n", true, 3*time.Second))
		Expect(k8s.Create(ctx, wfe)).To(Succeed())

		failed := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowFailed, 2*time.Minute)
		Expect(failed.Status.StepStatuses[0].Status).To(Equal(workflowv1alpha1.StepFailed))
		Expect(failed.Status.Message).To(And(ContainSubstring("rollbackStrategy manual: to undo, run step 1: scale_deployment"),
			ContainSubstring(`"replicas":3`)))
		Expect(names(executions(ctx, ns))).To(ConsistOf("manual-undo-step-1"))
		Expect(replicas(ctx, ns, "web-app")).To(Equal(int32(4)))
	})

	It("fails a step that outlives its timeout while verifying, and rolls it back", func(ctx context.Context) {
		ns := newNamespace(ctx)
		createDeployment(ctx, ns, "web-app", 3, nil)
		wfe := scaleWorkflow(ns, "step-timeout", "web-app", 4)
		step := &wfe.Spec.WorkflowDefinition.Steps[0]
		step.Timeout = &metav1.Duration{Duration: 8 * time.Second}
		step.PostConditions = append(step.PostConditions,
			condition("impossible", "package custom.impossible\nimport rego.v1\nallow if input.current_replicas == 999\n", true, 10*time.Minute))
		Expect(k8s.Create(ctx, wfe)).To(Succeed())

		failed := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowFailed, 2*time.Minute)
		Expect(failed.Status.StepStatuses[0].Status).To(Equal(workflowv1alpha1.StepRolledBack))
		Expect(failed.Status.StepStatuses[0].Message).To(ContainSubstring("timed out after 8s while verifying its postconditions"))
		waitReady(ctx, ns, "web-app", 3)
	})
})
