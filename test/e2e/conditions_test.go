package e2e

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/conditions/library"
	"kubernaut.io/stepvalidation/reconcilers/mode"
)

// neverPasses is a policy that never allows, with a reason.
const neverPasses = `package custom.change_freeze
import rego.v1
allow if false
error_message := "a change freeze is in effect"
`

// condition is an inline condition of type t with policy rego.
func condition(t, rego string, required bool, timeout time.Duration) commonv1alpha1.ValidationCondition {
	return commonv1alpha1.ValidationCondition{
		Type: t, Rego: rego, Required: ptr.To(required),
		Timeout: &metav1.Duration{Duration: timeout}, Interval: &metav1.Duration{Duration: time.Second},
	}
}

// warningEvents returns the notes of the Warning Events about the object named name in ns.
func warningEvents(ctx context.Context, ns, name string) []string {
	GinkgoHelper()
	var list eventsv1.EventList
	Expect(k8s.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	var notes []string
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.Type == corev1.EventTypeWarning {
			notes = append(notes, e.Reason+": "+e.Note)
		}
	}
	return notes
}

var _ = Describe("Conditions in a running workflow", func() {
	It("warns about an optional precondition that fails, and completes", func(ctx context.Context) {
		ns := newNamespace(ctx)
		createDeployment(ctx, ns, "web-app", 3, nil)
		wfe := scaleWorkflow(ns, "optional-fails", "web-app", 4)
		step := &wfe.Spec.WorkflowDefinition.Steps[0]
		step.PreConditions = append(step.PreConditions, condition("change_freeze", neverPasses, false, 10*time.Second))
		Expect(k8s.Create(ctx, wfe)).To(Succeed())

		done := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowCompleted, 2*time.Minute)
		Expect(done.Status.StepStatuses[0].PreConditionResults).To(ContainElement(And(
			HaveField("ConditionType", "change_freeze"), HaveField("Evaluated", true), HaveField("Passed", false),
			HaveField("Required", false), HaveField("ErrorMessage", ContainSubstring("a change freeze is in effect")))))
		Eventually(func() []string { return warningEvents(ctx, ns, wfe.Name) }).WithContext(ctx).
			Should(ContainElement(And(HavePrefix("PreconditionWarning: "), ContainSubstring("change_freeze: a change freeze is in effect"))))
		Expect(replicas(ctx, ns, "web-app")).To(Equal(int32(4)))
	})

	It("passes a postcondition that becomes true within its timeout, and times out one that never does, rolling the step back", func(ctx context.Context) {
		ns := newNamespace(ctx)
		createDeployment(ctx, ns, "web-app", 3, nil)

		// Becomes true once someone else scales to 6, which the test does 3 s after the step acts.
		late := scaleWorkflow(ns, "late-postcondition", "web-app", 5)
		late.Spec.WorkflowDefinition.Steps[0].PostConditions = append(late.Spec.WorkflowDefinition.Steps[0].PostConditions,
			condition("scaled_further", "package custom.scaled_further\nimport rego.v1\nallow if input.current_replicas >= 6\n", true, 30*time.Second))
		Expect(k8s.Create(ctx, late)).To(Succeed())
		// Once the step verifies and has seen scaled_further fail, scale further.
		Eventually(func(g Gomega) []commonv1alpha1.ConditionResult {
			var got workflowv1alpha1.WorkflowExecution
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(late), &got)).To(Succeed())
			g.Expect(got.Status.StepStatuses).NotTo(BeEmpty())
			return got.Status.StepStatuses[0].PostConditionResults
		}).WithContext(ctx).WithTimeout(time.Minute).Should(ContainElement(And(
			HaveField("ConditionType", "scaled_further"), HaveField("Passed", false))))
		time.Sleep(2 * time.Second)
		scaleTo(ctx, ns, "web-app", 6)
		done := waitPhase(ctx, late, workflowv1alpha1.WorkflowCompleted, time.Minute)
		Expect(done.Status.StepStatuses[0].PostConditionResults).To(ContainElement(And(
			HaveField("ConditionType", "scaled_further"), HaveField("Passed", true), HaveField("Attempts", BeNumerically(">", 1)))))
		waitReady(ctx, ns, "web-app", 6)

		// Never true: fails at about its timeout, and the critical step is rolled back.
		never := scaleWorkflow(ns, "never-postcondition", "web-app", 7)
		never.Spec.WorkflowDefinition.Steps[0].PostConditions = append(never.Spec.WorkflowDefinition.Steps[0].PostConditions,
			condition("impossible", "package custom.impossible\nimport rego.v1\nallow if input.current_replicas == 999\n", true, 5*time.Second))
		Expect(k8s.Create(ctx, never)).To(Succeed())
		failed := waitPhase(ctx, never, workflowv1alpha1.WorkflowFailed, 2*time.Minute)
		var impossible commonv1alpha1.ConditionResult
		for _, r := range failed.Status.StepStatuses[0].PostConditionResults {
			if r.ConditionType == "impossible" {
				impossible = r
			}
		}
		Expect(impossible.Passed).To(BeFalse())
		Expect(impossible.ErrorMessage).To(HavePrefix("Verification timeout: condition not met within 5s"))
		Expect(impossible.FirstEvaluationTime).NotTo(BeNil())
		verifiedFor := impossible.EvaluationTime.Sub(impossible.FirstEvaluationTime.Time)
		Expect(verifiedFor).To(And(BeNumerically(">=", 5*time.Second), BeNumerically("<", 8*time.Second)))
		Expect(failed.Status.StepStatuses[0].Status).To(Equal(workflowv1alpha1.StepRolledBack))
		Expect(failed.Status.Conditions).To(ContainElement(And(
			HaveField("Type", commonv1alpha1.SucceededCondition), HaveField("Reason", commonv1alpha1.RolledBackReason))))
		waitReady(ctx, ns, "web-app", 6)
	})

	It("uses a policy changed in the library ConfigMap for the next workflow, without a restart", func(ctx context.Context) {
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: library.ConditionsConfigMap, Namespace: managerNamespace,
				Labels: map[string]string{library.VersionLabel: "v1"}},
			Data: map[string]string{"team_approved.rego": "package library.team_approved\nimport rego.v1\nallow if false\nerror_message := \"v1 says no\"\n"},
		}
		Expect(k8s.Create(ctx, cm)).To(Succeed())
		DeferCleanup(func(ctx context.Context) { Expect(client.IgnoreNotFound(k8s.Delete(ctx, cm))).To(Succeed()) })

		ns := newNamespace(ctx)
		createDeployment(ctx, ns, "web-app", 3, nil)
		withLibraryCondition := func(name string) *workflowv1alpha1.WorkflowExecution {
			wfe := scaleWorkflow(ns, name, "web-app", 4)
			wfe.Spec.WorkflowDefinition.Steps[0].PreConditions = append(wfe.Spec.WorkflowDefinition.Steps[0].PreConditions,
				commonv1alpha1.ValidationCondition{Type: "team_approved"})
			return wfe
		}
		// The library loads v1 asynchronously: the webhook admits team_approved once it has.
		first := withLibraryCondition("policy-v1")
		Eventually(func() error { return k8s.Create(ctx, first) }).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		blocked := waitPhase(ctx, first, workflowv1alpha1.WorkflowBlocked, time.Minute)
		Expect(blocked.Status.StepStatuses[0].PreConditionResults).To(ContainElement(And(
			HaveField("ConditionType", "team_approved"), HaveField("Passed", false),
			HaveField("PolicySource", commonv1alpha1.PolicySourceLibrary), HaveField("PolicyVersion", "v1"))))

		cm.Labels[library.VersionLabel] = "v2"
		cm.Data["team_approved.rego"] = "package library.team_approved\nimport rego.v1\nallow if true\n"
		Expect(k8s.Update(ctx, cm)).To(Succeed())

		var second *workflowv1alpha1.WorkflowExecution
		Eventually(func(g Gomega) {
			second = withLibraryCondition("")
			second.GenerateName = "policy-v2-"
			g.Expect(k8s.Create(ctx, second)).To(Succeed())
			got := waitPhaseOrBlocked(ctx, second)
			g.Expect(got.Status.StepStatuses[0].PreConditionResults).To(ContainElement(And(
				HaveField("ConditionType", "team_approved"), HaveField("Passed", true), HaveField("PolicyVersion", "v2"))))
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
		waitPhase(ctx, second, workflowv1alpha1.WorkflowCompleted, 2*time.Minute)
	})

	It("lets an authorized override unblock a blocked workflow, and denies an unauthorized one", func(ctx context.Context) {
		ns := newNamespace(ctx)
		createDeployment(ctx, ns, "web-app", 3, nil)
		wfe := scaleWorkflow(ns, "frozen", "web-app", 4)
		step := &wfe.Spec.WorkflowDefinition.Steps[0]
		step.PreConditions = append(step.PreConditions, condition("change_freeze", neverPasses, true, 10*time.Second))
		Expect(k8s.Create(ctx, wfe)).To(Succeed())
		waitPhase(ctx, wfe, workflowv1alpha1.WorkflowBlocked, time.Minute)
		Expect(replicas(ctx, ns, "web-app")).To(Equal(int32(3)))

		grantWorkflows(ctx, ns, "dev", false)
		grantWorkflows(ctx, ns, "oncall", true)
		override := func(user string) error {
			var latest workflowv1alpha1.WorkflowExecution
			Expect(k8s.Get(ctx, client.ObjectKeyFromObject(wfe), &latest)).To(Succeed())
			latest.Annotations[commonv1alpha1.OverrideConditionAnnotation] = "change_freeze"
			latest.Annotations[commonv1alpha1.OverrideReasonAnnotation] = "the freeze ended early"
			return clientAs(user).Update(ctx, &latest)
		}
		Expect(override("dev")).To(MatchError(ContainSubstring(`may not override conditions in namespace "` + ns + `"`)))
		Expect(override("oncall")).To(Succeed())

		done := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowCompleted, 2*time.Minute)
		Expect(done.Status.StepStatuses[0].PreConditionResults).To(ContainElement(And(
			HaveField("ConditionType", "change_freeze"), HaveField("Overridden", true), HaveField("Passed", true))))
		Expect(done.Status.Overrides).To(ConsistOf(And(HaveField("By", "oncall"), HaveField("Reason", "the freeze ended early"),
			HaveField("Conditions", []string{"change_freeze"}), HaveField("Source", "WorkflowExecution/frozen"))))
		Expect(replicas(ctx, ns, "web-app")).To(Equal(int32(4)))
	})

	It("only warns in a namespace labelled for warn mode", func(ctx context.Context) {
		ns := newNamespace(ctx)
		var namespace corev1.Namespace
		Expect(k8s.Get(ctx, client.ObjectKey{Name: ns}, &namespace)).To(Succeed())
		namespace.Labels[mode.NamespaceLabel] = string(mode.Warn)
		Expect(k8s.Update(ctx, &namespace)).To(Succeed())
		createDeployment(ctx, ns, "web-app", 3, nil)

		wfe := scaleWorkflow(ns, "warned", "web-app", 4)
		step := &wfe.Spec.WorkflowDefinition.Steps[0]
		step.PreConditions = append(step.PreConditions, condition("change_freeze", neverPasses, true, 10*time.Second))
		Expect(k8s.Create(ctx, wfe)).To(Succeed())
		done := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowCompleted, 2*time.Minute)
		Expect(done.Status.StepStatuses[0].PreConditionResults).To(ContainElement(And(
			HaveField("ConditionType", "change_freeze"), HaveField("Passed", false), HaveField("Required", false), HaveField("WarnOnly", true))))
		Eventually(func() []string { return warningEvents(ctx, ns, wfe.Name) }).WithContext(ctx).
			Should(ContainElement(ContainSubstring("validation mode warn, not enforced: change_freeze")))
	})

	It("waits for approval before acting when the workflow requires it", func(ctx context.Context) {
		ns := newNamespace(ctx)
		createDeployment(ctx, ns, "web-app", 3, nil)
		wfe := scaleWorkflow(ns, "needs-approval", "web-app", 4)
		wfe.Spec.ExecutionStrategy.ApprovalRequired = true
		Expect(k8s.Create(ctx, wfe)).To(Succeed())
		waiting := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowWaitingApproval, time.Minute)
		Consistently(func() []string { return names(executions(ctx, ns)) }).WithContext(ctx).WithTimeout(2 * time.Second).Should(BeEmpty())

		approveAs(ctx, waiting, "approver")
		waitPhase(ctx, wfe, workflowv1alpha1.WorkflowCompleted, 2*time.Minute)
		Expect(replicas(ctx, ns, "web-app")).To(Equal(int32(4)))
	})
})

// waitPhaseOrBlocked waits until the workflow is blocked or past its preconditions.
func waitPhaseOrBlocked(ctx context.Context, wfe *workflowv1alpha1.WorkflowExecution) *workflowv1alpha1.WorkflowExecution {
	GinkgoHelper()
	got := &workflowv1alpha1.WorkflowExecution{}
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(wfe), got)).To(Succeed())
		g.Expect(got.Status.StepStatuses).NotTo(BeEmpty())
		g.Expect(got.Status.StepStatuses[0].PreConditionResults).NotTo(BeEmpty())
	}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	return got
}

func scaleTo(ctx context.Context, ns, name string, n int32) {
	GinkgoHelper()
	var d appsv1.Deployment
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d)).To(Succeed())
	patch := client.MergeFrom(d.DeepCopy())
	d.Spec.Replicas = ptr.To(n)
	Expect(k8s.Patch(ctx, &d, patch)).To(Succeed())
}

// grantWorkflows lets user edit WorkflowExecutions in ns and, with override, override
// conditions there through the ClusterRole the project ships.
func grantWorkflows(ctx context.Context, ns, user string, override bool) {
	GinkgoHelper()
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "edit-workflows-" + user, Namespace: ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{workflowv1alpha1.GroupVersion.Group},
			Resources: []string{"workflowexecutions"}, Verbs: []string{"get", "list", "update", "patch"}}},
	}
	Expect(k8s.Create(ctx, role)).To(Succeed())
	bind := func(kind, name string) {
		Expect(k8s.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: user + "-" + name, Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
		})).To(Succeed())
	}
	bind("Role", role.Name)
	if override {
		bind("ClusterRole", "kubernaut-condition-override")
	}
}

func clientAs(user string) client.Client {
	GinkgoHelper()
	cfg := rest.CopyConfig(cluster.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	c, err := client.New(cfg, client.Options{Scheme: cluster.Scheme})
	Expect(err).NotTo(HaveOccurred())
	return c
}

func names[T any, PT interface {
	*T
	client.Object
}](items []T) []string {
	var out []string
	for i := range items {
		out = append(out, PT(&items[i]).GetName())
	}
	return out
}
