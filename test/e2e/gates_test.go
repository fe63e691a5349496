package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/test/apierr"
	"kubernaut.io/stepvalidation/test/harness"
)

// Human gates (SECURITY.md, invariants 6 and 7), tried with impersonated users:
// alice requests, bob and carol approve, mallory may edit runs but holds no
// approve or override right, oncall overrides.

// setOverride sets the override annotations on a run as user.
func setOverride(ctx context.Context, obj client.Object, user, conditionTypes, reason, expires string) error {
	annotations := map[string]any{
		commonv1alpha1.OverrideConditionAnnotation: conditionTypes,
		commonv1alpha1.OverrideReasonAnnotation:    reason,
	}
	if expires != "" {
		annotations[commonv1alpha1.OverrideExpiresAnnotation] = expires
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	Expect(err).NotTo(HaveOccurred())
	return clientAs(user).Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch))
}

// requesterNamespace is a namespace where alice may run scale_deployment on web-app.
func requesterNamespace(ctx context.Context) string {
	GinkgoHelper()
	ns := newNamespace(ctx)
	grant(ctx, ns, "alice", "tenant", harness.TenantRules)
	grant(ctx, ns, "alice", "scaler", harness.ScalerRules)
	grant(ctx, ns, "mallory", "tenant-mallory", harness.TenantRules)
	createDeployment(ctx, ns, "web-app", 2, nil)
	return ns
}

// tenantWorkflow is the seed's scale workflow with the policy library's
// conditions instead of inline copies: an inline policy in place of a library
// policy needs the override permission, which a requester does not hold.
func tenantWorkflow(ns, name, deployment string, replicas int) *workflowv1alpha1.WorkflowExecution {
	wfe := scaleWorkflow(ns, name, deployment, replicas)
	step := &wfe.Spec.WorkflowDefinition.Steps[0]
	for _, conds := range [][]commonv1alpha1.ValidationCondition{step.PreConditions, step.PostConditions} {
		for i := range conds {
			conds[i].Rego = ""
		}
	}
	return wfe
}

func approvalWorkflow(ns, name string, approvals int32) *workflowv1alpha1.WorkflowExecution {
	wfe := tenantWorkflow(ns, name, "web-app", 3)
	wfe.Spec.ExecutionStrategy.ApprovalRequired = true
	wfe.Spec.ExecutionStrategy.ApprovalsRequired = ptr.To(approvals)
	return wfe
}

var _ = Describe("Approvals", Label("security", "gates"), func() {
	It("are people: never at creation, never the requester, never someone without approve, never edited; two of two let it go", func(ctx context.Context) {
		ns := requesterNamespace(ctx)
		alice := clientAs("alice")

		By("an approval written at creation is refused")
		early := approvalWorkflow(ns, "early", 1)
		early.Spec.Approvals = []commonv1alpha1.Approval{{Approver: "alice", Decision: commonv1alpha1.Approve, Reason: "trust me"}}
		Expect(apierr.Causes(alice.Create(ctx, early))).To(apierr.HaveCause("spec.approvals[0]", "never at creation"))

		wfe := approvalWorkflow(ns, "two-approvers", 2)
		Expect(alice.Create(ctx, wfe)).To(Succeed())
		waitPhase(ctx, wfe, workflowv1alpha1.WorkflowWaitingApproval, time.Minute)

		By("the requester cannot approve their own run")
		Expect(apierr.Causes(decide(ctx, wfe, "alice", commonv1alpha1.Approve, "looks fine"))).To(
			apierr.HaveCause("spec.approvals[0]", `"alice" requested this run`))
		By("a user without verb approve cannot approve")
		Expect(apierr.Causes(decide(ctx, wfe, "mallory", commonv1alpha1.Approve, "looks fine"))).To(
			apierr.HaveCause("spec.approvals[0]", "approve"))
		By("nobody approves in someone else's name")
		bindClusterRole(ctx, ns, "bob", "kubernaut-approver")
		bindClusterRole(ctx, ns, "carol", "kubernaut-approver")
		var latest workflowv1alpha1.WorkflowExecution
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(wfe), &latest)).To(Succeed())
		latest.Spec.Approvals = append(latest.Spec.Approvals, commonv1alpha1.Approval{Approver: "carol", Decision: commonv1alpha1.Approve, Reason: "as carol"})
		Expect(apierr.Causes(clientAs("bob").Update(ctx, &latest))).To(apierr.HaveCause("spec.approvals[0]", `approver "carol" is not the user sending the request ("bob")`))

		By("one approval of two: still waiting, recorded")
		Expect(decide(ctx, wfe, "bob", commonv1alpha1.Approve, "capacity checked")).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(wfe), &latest)).To(Succeed())
			g.Expect(latest.Status.Approvals).To(ConsistOf(And(HaveField("Approver", "bob"), HaveField("Reason", "capacity checked"))))
			g.Expect(latest.Status.Phase).To(Equal(workflowv1alpha1.WorkflowWaitingApproval))
			g.Expect(latest.Status.Message).To(ContainSubstring("approved by bob (1 of 2)"))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		Expect(replicas(ctx, ns, "web-app")).To(Equal(int32(2)))

		By("an approval cannot be edited or removed, not even by its approver")
		edited := latest.DeepCopy()
		edited.Spec.Approvals[0].Reason = "changed my mind"
		Expect(apierr.Causes(clientAs("bob").Update(ctx, edited))).To(apierr.HaveCause("spec.approvals[0]", "append-only"))
		removed := latest.DeepCopy()
		removed.Spec.Approvals = nil
		Expect(apierr.Causes(clientAs("bob").Update(ctx, removed))).To(apierr.HaveCause("spec.approvals", "append-only"))
		By("one approver counts once")
		Expect(apierr.Causes(decide(ctx, wfe, "bob", commonv1alpha1.Approve, "again"))).To(apierr.HaveCause("spec.approvals[1]", "already"))

		By("the second approver lets the run go on")
		Expect(decide(ctx, wfe, "carol", commonv1alpha1.Approve, "change ticket 42")).To(Succeed())
		done := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowCompleted, 2*time.Minute)
		Expect(replicas(ctx, ns, "web-app")).To(Equal(int32(3)))
		Expect(done.Status.Approvals).To(HaveLen(2))
		Expect(done.Status.Approvals[1].ObservedTime.IsZero()).To(BeFalse())
	})

	It("fail the run on one reject, with who and why", func(ctx context.Context) {
		ns := requesterNamespace(ctx)
		bindClusterRole(ctx, ns, "bob", "kubernaut-approver")
		wfe := approvalWorkflow(ns, "rejected", 1)
		Expect(clientAs("alice").Create(ctx, wfe)).To(Succeed())
		waitPhase(ctx, wfe, workflowv1alpha1.WorkflowWaitingApproval, time.Minute)
		Expect(decide(ctx, wfe, "bob", commonv1alpha1.Reject, "not during the sale")).To(Succeed())
		failed := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowFailed, time.Minute)
		Expect(failed.Status.Conditions).To(succeeded(commonv1alpha1.RejectedReason))
		Expect(failed.Status.Message).To(Equal("rejected by bob: not during the sale"))
		Expect(replicas(ctx, ns, "web-app")).To(Equal(int32(2)))
		Consistently(func() []string { return names(executions(ctx, ns)) }).WithContext(ctx).WithTimeout(2 * time.Second).Should(BeEmpty())
	})

	It("run out: not enough approvals within approvalTimeout fails the run", func(ctx context.Context) {
		ns := requesterNamespace(ctx)
		wfe := approvalWorkflow(ns, "unanswered", 1)
		wfe.Spec.ExecutionStrategy.ApprovalTimeout = &metav1.Duration{Duration: 3 * time.Second}
		Expect(clientAs("alice").Create(ctx, wfe)).To(Succeed())
		waiting := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowWaitingApproval, time.Minute)
		Expect(waiting.Status.Conditions).To(ContainElement(And(HaveField("Type", commonv1alpha1.SucceededCondition),
			HaveField("Status", metav1.ConditionUnknown), HaveField("Reason", commonv1alpha1.AwaitingApprovalReason))))
		failed := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowFailed, 30*time.Second)
		Expect(failed.Status.Conditions).To(succeeded(commonv1alpha1.ApprovalTimedOutReason))
	})
})

var _ = Describe("Weakening validation", Label("security", "gates"), func() {
	var ns string
	BeforeEach(func(ctx context.Context) { ns = requesterNamespace(ctx) })

	weakened := map[string]struct {
		mutate func(*workflowv1alpha1.WorkflowExecution)
		field  string
	}{
		"conditionOverrides that make a condition optional": {
			mutate: func(w *workflowv1alpha1.WorkflowExecution) {
				w.Spec.ConditionOverrides = []commonv1alpha1.ConditionOverride{{Type: "deployment_exists", Required: false}}
			},
			field: "spec.conditionOverrides[0].required",
		},
		"inject-conditions: false": {
			mutate: func(w *workflowv1alpha1.WorkflowExecution) {
				w.Annotations = map[string]string{commonv1alpha1.InjectConditionsAnnotation: "false"}
			},
			field: "metadata.annotations[kubernaut.io/inject-conditions]",
		},
		"an inline policy that replaces a library policy": {
			mutate: func(w *workflowv1alpha1.WorkflowExecution) {
				w.Spec.WorkflowDefinition.Steps[0].PreConditions = []commonv1alpha1.ValidationCondition{
					condition("deployment_exists", "package mine\nimport rego.v1\nallow := true\n", true, 10*time.Second)}
			},
			field: "spec.workflowDefinition.steps[0].preConditions[0].rego",
		},
		"a suggested required condition marked optional": {
			mutate: func(w *workflowv1alpha1.WorkflowExecution) {
				w.Spec.WorkflowDefinition.Steps[0].PreConditions = []commonv1alpha1.ValidationCondition{
					{Type: "cluster_capacity_available", Required: ptr.To(false)}}
			},
			field: "spec.workflowDefinition.steps[0].preConditions[0].required",
		},
	}
	for name, route := range weakened {
		It("through "+name+" needs the override permission", func(ctx context.Context) {
			wfe := tenantWorkflow(ns, "weak", "web-app", 3)
			route.mutate(wfe)
			Expect(apierr.Causes(clientAs("alice").Create(ctx, wfe.DeepCopy()))).To(apierr.HaveCause(route.field, "override"))
			bindClusterRole(ctx, ns, "alice", "kubernaut-condition-override")
			Eventually(func() error { return clientAs("alice").Create(ctx, wfe.DeepCopy()) }).WithContext(ctx).
				WithTimeout(10 * time.Second).Should(Succeed())
		})
	}
})

var _ = Describe("Overrides", Label("security", "gates"), func() {
	It("need a reason, are stamped with who and when, and need override in every target namespace", func(ctx context.Context) {
		own, target := newNamespace(ctx), newNamespace(ctx)
		grant(ctx, own, "alice", "tenant", harness.TenantRules)
		grant(ctx, target, "alice", "scaler", harness.ScalerRules)
		createDeployment(ctx, target, "web-app", 2, nil)
		wfe := oneStepWorkflow(own, "frozen", "scale_deployment",
			fmt.Sprintf(`{"deployment":{"name":"web-app","namespace":%q,"replicas":3}}`, target))
		wfe.Spec.WorkflowDefinition.Steps[0].PreConditions = []commonv1alpha1.ValidationCondition{
			condition("change_freeze", neverPasses, true, 10*time.Second)}
		Expect(clientAs("alice").Create(ctx, wfe)).To(Succeed())
		blocked := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowBlocked, time.Minute)
		Expect(blocked.Status.Conditions).To(ContainElement(And(HaveField("Type", commonv1alpha1.SucceededCondition),
			HaveField("Status", metav1.ConditionUnknown), HaveField("Reason", commonv1alpha1.PreconditionFailedReason))))

		bindClusterRole(ctx, own, "oncall", "kubernaut-condition-override")
		By("without a reason")
		Expect(apierr.Causes(setOverride(ctx, wfe, "oncall", "change_freeze", "", ""))).To(
			apierr.HaveCause("metadata.annotations[kubernaut.io/override-reason]", ""))
		By("with an expiry more than 7 days ahead")
		Expect(apierr.Causes(setOverride(ctx, wfe, "oncall", "change_freeze", "freeze lifted",
			time.Now().Add(8*24*time.Hour).UTC().Format(time.RFC3339)))).To(
			apierr.HaveCause("metadata.annotations[kubernaut.io/override-expires]", ""))
		By("without override in the target namespace")
		Expect(apierr.Causes(setOverride(ctx, wfe, "oncall", "change_freeze", "freeze lifted", ""))).To(
			apierr.HaveCause("metadata.annotations[kubernaut.io/override-condition]", fmt.Sprintf("%q", target)))
		Expect(replicas(ctx, target, "web-app")).To(Equal(int32(2)))

		By("with override in both namespaces")
		bindClusterRole(ctx, target, "oncall", "kubernaut-condition-override")
		Eventually(func() error { return setOverride(ctx, wfe, "oncall", "change_freeze", "freeze lifted", "") }).
			WithContext(ctx).WithTimeout(10 * time.Second).Should(Succeed())
		done := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowCompleted, 2*time.Minute)
		Expect(replicas(ctx, target, "web-app")).To(Equal(int32(3)))
		Expect(done.Annotations).To(HaveKeyWithValue(commonv1alpha1.OverrideByAnnotation, "oncall"))
		Expect(done.Annotations).To(HaveKey(commonv1alpha1.OverrideAtAnnotation))
		Expect(done.Status.Overrides).To(ConsistOf(And(HaveField("By", "oncall"), HaveField("Reason", "freeze lifted"),
			HaveField("At", Not(BeNil())))))
		Eventually(func() []string { return eventNotes(ctx, own, wfe.Name) }).WithContext(ctx).
			Should(ContainElement(ContainSubstring("change_freeze overridden by oncall")))

		By("nobody forges who set it")
		var latest workflowv1alpha1.WorkflowExecution
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(wfe), &latest)).To(Succeed())
		latest.Annotations[commonv1alpha1.OverrideByAnnotation] = "somebody-else"
		Expect(clientAs("oncall").Update(ctx, &latest)).NotTo(Succeed())
	})

	It("stop applying once expired", func(ctx context.Context) {
		ns := requesterNamespace(ctx)
		bindClusterRole(ctx, ns, "oncall", "kubernaut-condition-override")
		bindClusterRole(ctx, ns, "bob", "kubernaut-approver")
		wfe := approvalWorkflow(ns, "expiring", 1)
		wfe.Spec.WorkflowDefinition.Steps[0].PreConditions = []commonv1alpha1.ValidationCondition{
			condition("change_freeze", neverPasses, true, 10*time.Second)}
		Expect(clientAs("alice").Create(ctx, wfe)).To(Succeed())
		waitPhase(ctx, wfe, workflowv1alpha1.WorkflowWaitingApproval, time.Minute)
		Expect(setOverride(ctx, wfe, "oncall", "change_freeze", "just for a moment",
			time.Now().Add(3*time.Second).UTC().Format(time.RFC3339))).To(Succeed())
		time.Sleep(4 * time.Second)
		Expect(decide(ctx, wfe, "bob", commonv1alpha1.Approve, "go")).To(Succeed())
		blocked := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowBlocked, time.Minute)
		Expect(blocked.Status.Overrides).To(ConsistOf(And(HaveField("Expired", true), HaveField("By", "oncall"))))
		Expect(blocked.Status.StepStatuses[0].PreConditionResults).To(ContainElement(And(
			HaveField("ConditionType", "change_freeze"), HaveField("Overridden", false), HaveField("Passed", false))))
		Expect(replicas(ctx, ns, "web-app")).To(Equal(int32(2)))
	})
})

// eventNotes are the notes of every Event about the object name in ns.
func eventNotes(ctx context.Context, ns, name string) []string {
	GinkgoHelper()
	var list eventsv1.EventList
	Expect(k8s.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	var notes []string
	for _, e := range list.Items {
		if e.Regarding.Name == name {
			notes = append(notes, e.Reason+": "+e.Note)
		}
	}
	return notes
}

// withMissingPullSecret makes the Deployment's pods name a pull secret that does
// not exist: the action-level precondition image_pull_secrets_valid then blocks
// scale_deployment's execution.
func withMissingPullSecret(ctx context.Context, ns, name string) {
	GinkgoHelper()
	var d appsv1.Deployment
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d)).To(Succeed())
	patch := client.MergeFrom(d.DeepCopy())
	d.Spec.Template.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "missing-registry-credentials"}}
	Expect(k8s.Patch(ctx, &d, patch)).To(Succeed())
	waitReady(ctx, ns, name, *d.Spec.Replicas)
}

var _ = Describe("Blocks", Label("gates"), func() {
	It("wait for an override up to blockedTimeout, then fail", func(ctx context.Context) {
		ns := newNamespace(ctx)
		createDeployment(ctx, ns, "web-app", 2, nil)
		wfe := scaleWorkflow(ns, "stuck", "web-app", 3)
		wfe.Spec.ExecutionStrategy.BlockedTimeout = &metav1.Duration{Duration: 4 * time.Second}
		wfe.Spec.WorkflowDefinition.Steps[0].PreConditions = []commonv1alpha1.ValidationCondition{
			condition("change_freeze", neverPasses, true, 10*time.Second)}
		Expect(k8s.Create(ctx, wfe)).To(Succeed())
		blocked := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowBlocked, time.Minute)
		Expect(blocked.Status.Conditions).To(ContainElement(And(HaveField("Type", commonv1alpha1.PreconditionsPassedCondition),
			HaveField("Status", metav1.ConditionFalse))))
		failed := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowFailed, 30*time.Second)
		Expect(failed.Status.Conditions).To(succeeded(commonv1alpha1.BlockedTimedOutReason))
		Expect(replicas(ctx, ns, "web-app")).To(Equal(int32(2)))
	})

	It("of a step's execution block the workflow, which an override on the workflow lifts; a pause holds the step, mid-way, until it ends", func(ctx context.Context) {
		ns := newNamespace(ctx)
		createDeployment(ctx, ns, "web-app", 2, nil)
		createDeployment(ctx, ns, "api", 2, nil)
		withMissingPullSecret(ctx, ns, "api")
		wfe := scaleWorkflow(ns, "two-steps", "web-app", 3)
		second := scaleWorkflow(ns, "unused", "api", 3).Spec.WorkflowDefinition.Steps[0]
		second.StepNumber = 2
		wfe.Spec.WorkflowDefinition.Steps = append(wfe.Spec.WorkflowDefinition.Steps, second)
		Expect(k8s.Create(ctx, wfe)).To(Succeed())

		By("step 2's execution is blocked by its own precondition: step and workflow are blocked, not failed")
		blocked := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowBlocked, 2*time.Minute)
		Expect(replicas(ctx, ns, "web-app")).To(Equal(int32(3)))
		Expect(blocked.Status.StepStatuses[1].Status).To(Equal(workflowv1alpha1.StepBlocked))
		Expect(blocked.Status.StepStatuses[1].Message).To(ContainSubstring("image_pull_secrets_valid"))
		Expect(blocked.Status.Conditions).To(ContainElement(And(HaveField("Type", commonv1alpha1.SucceededCondition),
			HaveField("Status", metav1.ConditionUnknown))))

		By("a namespace pause, then the override on the workflow: the execution validates again and waits, paused")
		pauseNamespace(ctx, ns, "database migration")
		bindClusterRole(ctx, ns, "oncall", "kubernaut-condition-override")
		Eventually(func() error {
			return setOverride(ctx, wfe, "oncall", "image_pull_secrets_valid", "the image is public", "")
		}).
			WithContext(ctx).WithTimeout(10 * time.Second).Should(Succeed())
		paused := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowPaused, time.Minute)
		Expect(paused.Status.Conditions).To(ContainElement(And(HaveField("Type", commonv1alpha1.SucceededCondition),
			HaveField("Status", metav1.ConditionUnknown), HaveField("Reason", commonv1alpha1.PausedReason),
			HaveField("Message", ContainSubstring("database migration")))))
		Consistently(func() int32 { return replicas(ctx, ns, "api") }).WithContext(ctx).WithTimeout(2 * time.Second).Should(Equal(int32(2)))

		By("the pause ends: the step acts and the workflow completes")
		pauseNamespace(ctx, ns, "")
		waitPhase(ctx, wfe, workflowv1alpha1.WorkflowCompleted, 2*time.Minute)
		Expect(replicas(ctx, ns, "api")).To(Equal(int32(3)))
	})
})

var _ = Describe("The cluster-wide pause", Label("gates"), Serial, func() {
	It("holds every new action with its reason, and resumes them when removed", func(ctx context.Context) {
		ns := newNamespace(ctx)
		createDeployment(ctx, ns, "web-app", 2, nil)
		pauseSwitch := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: commonv1alpha1.PauseConfigMap, Namespace: managerNamespace},
			Data:       map[string]string{commonv1alpha1.PauseReasonKey: "incident 1234"},
		}
		Expect(k8s.Create(ctx, pauseSwitch)).To(Succeed())
		DeferCleanup(func(ctx context.Context) { _ = client.IgnoreNotFound(k8s.Delete(ctx, pauseSwitch)) })

		ke := scaleExecution(ns, "held", "web-app", 4)
		Expect(k8s.Create(ctx, ke)).To(Succeed())
		paused := waitExecutionPhase(ctx, ke, kev1alpha1.ExecutionPaused, time.Minute)
		Expect(paused.Status.Message).To(And(ContainSubstring("cluster-wide"), ContainSubstring("incident 1234")))
		Consistently(func() int32 { return replicas(ctx, ns, "web-app") }).WithContext(ctx).WithTimeout(2 * time.Second).Should(Equal(int32(2)))

		Expect(k8s.Delete(ctx, pauseSwitch)).To(Succeed())
		waitExecutionPhase(ctx, ke, kev1alpha1.ExecutionCompleted, time.Minute)
		Expect(replicas(ctx, ns, "web-app")).To(Equal(int32(4)))
	})
})

// pauseNamespace pauses new actions in ns with reason, or lifts the pause when
// reason is empty.
func pauseNamespace(ctx context.Context, ns, reason string) {
	GinkgoHelper()
	var namespace corev1.Namespace
	Expect(k8s.Get(ctx, client.ObjectKey{Name: ns}, &namespace)).To(Succeed())
	if reason == "" {
		delete(namespace.Annotations, commonv1alpha1.PauseAnnotation)
	} else {
		if namespace.Annotations == nil {
			namespace.Annotations = map[string]string{}
		}
		namespace.Annotations[commonv1alpha1.PauseAnnotation] = reason
	}
	Expect(k8s.Update(ctx, &namespace)).To(Succeed())
}
