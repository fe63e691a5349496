package webhook_test

import (
	"context"
	"fmt"
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kubernetesexecutionv1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/internal/metricstest"
	"kubernaut.io/stepvalidation/test/apierr"
	"kubernaut.io/stepvalidation/webhook"
)

// The seed's deployment_exists policy (seed 001, section 3.5.1), with its message.
const deploymentExists = `package precondition.scale_deployment
import future.keywords.if

allow if {
  input.deployment_found == true
}

error_message := msg if {
  not input.deployment_found
  msg := sprintf("Deployment %s not found in namespace %s",
                 [input.deployment_name, input.namespace])
}
`

const desiredReplicasRunning = `package postcondition.scale_deployment
import future.keywords.if
allow if {
  input.running_pods >= input.target_replicas
  input.ready_pods >= input.target_replicas
}
`

// scaleWorkflow is a workflow in the shape of the seed's 5.3 example: one
// scale_deployment step with one precondition and one postcondition written out.
func scaleWorkflow(ns string) *workflowv1alpha1.WorkflowExecution {
	return &workflowv1alpha1.WorkflowExecution{
		ObjectMeta: metav1.ObjectMeta{Name: "scale-web-app-workflow", Namespace: ns},
		Spec: workflowv1alpha1.WorkflowExecutionSpec{WorkflowDefinition: workflowv1alpha1.WorkflowDefinition{
			Steps: []workflowv1alpha1.WorkflowStep{{
				StepNumber: 1,
				Action:     "scale_deployment",
				Parameters: &runtime.RawExtension{Raw: []byte(fmt.Sprintf(`{"deployment":{"name":"web-app","namespace":%q,"replicas":5}}`, ns))},
				PreConditions: []commonv1alpha1.ValidationCondition{{
					Type: "deployment_exists", Description: "Deployment must exist before scaling", Rego: deploymentExists,
					Timeout: &metav1.Duration{Duration: 10 * time.Second},
				}},
				PostConditions: []commonv1alpha1.ValidationCondition{{
					Type: "desired_replicas_running", Description: "All replicas must be running", Rego: desiredReplicasRunning,
					Timeout: &metav1.Duration{Duration: 2 * time.Minute},
				}},
			}},
		}},
	}
}

// libraryWorkflow is scaleWorkflow with the library's policies instead of inline
// rego of the same types: a tenant needs no override permission to create it.
func libraryWorkflow(ns string) *workflowv1alpha1.WorkflowExecution {
	wfe := scaleWorkflow(ns)
	for _, c := range [][]commonv1alpha1.ValidationCondition{step(wfe).PreConditions, step(wfe).PostConditions} {
		for i := range c {
			c[i].Rego = ""
		}
	}
	return wfe
}

func types(conds []commonv1alpha1.ValidationCondition) []string {
	var out []string
	for _, c := range conds {
		out = append(out, c.Type)
	}
	return out
}

var _ = Describe("The mutating webhook", func() {
	It("admits a valid scale_deployment workflow and adds the catalog's conditions it lacked", func(ctx context.Context) {
		wfe := scaleWorkflow(newNamespace(ctx))
		Expect(k8s.Create(ctx, wfe)).To(Succeed())

		step := wfe.Spec.WorkflowDefinition.Steps[0]
		Expect(types(step.PreConditions)).To(Equal([]string{"deployment_exists", "cluster_capacity_available", "current_replicas_match"}))
		Expect(types(step.PostConditions)).To(Equal([]string{"desired_replicas_running", "deployment_health_check"}))
		// What the user wrote is kept as written; what was added says so.
		Expect(step.PreConditions[0].Injected).To(BeFalse())
		Expect(step.PreConditions[0].Rego).To(Equal(deploymentExists))
		Expect(step.PreConditions[1]).To(And(HaveField("Injected", true), HaveField("Rego", ""),
			HaveField("Required", HaveValue(BeTrue())), HaveField("Timeout.Duration", 10*time.Second)))
		Expect(step.PreConditions[2]).To(And(HaveField("Injected", true), HaveField("Required", HaveValue(BeFalse()))))
		// Defaults are written out.
		Expect(step.DependsOn).To(BeEmpty())
		Expect(step.PostConditions[0].Interval.Duration).To(Equal(5 * time.Second))
		Expect(step.PostConditions[1].Timeout.Duration).To(Equal(2 * time.Minute))
	})

	It("writes out each step's dependency on the previous one, and keeps an explicit empty list", func(ctx context.Context) {
		wfe := scaleWorkflow(newNamespace(ctx))
		second := *wfe.Spec.WorkflowDefinition.Steps[0].DeepCopy()
		second.StepNumber = 2
		third := *second.DeepCopy()
		third.StepNumber, third.DependsOn = 3, []int32{}
		wfe.Spec.WorkflowDefinition.Steps = append(wfe.Spec.WorkflowDefinition.Steps, second, third)
		Expect(k8s.Create(ctx, wfe)).To(Succeed())

		var stored workflowv1alpha1.WorkflowExecution
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(wfe), &stored)).To(Succeed())
		steps := stored.Spec.WorkflowDefinition.Steps
		Expect(steps[1].DependsOn).To(Equal([]int32{1}))
		Expect(steps[2].DependsOn).NotTo(BeNil(), "an explicit empty list means no dependency, not the previous step")
		Expect(steps[2].DependsOn).To(BeEmpty())
	})

	It("injects nothing when the object opts out", func(ctx context.Context) {
		wfe := scaleWorkflow(newNamespace(ctx))
		wfe.Annotations = map[string]string{webhook.InjectAnnotation: "false"}
		Expect(k8s.Create(ctx, wfe)).To(Succeed())
		Expect(types(wfe.Spec.WorkflowDefinition.Steps[0].PreConditions)).To(Equal([]string{"deployment_exists"}))
	})

	It("gives a KubernetesExecution the catalog's action-level conditions", func(ctx context.Context) {
		ns := newNamespace(ctx)
		ke := &kubernetesexecutionv1alpha1.KubernetesExecution{
			ObjectMeta: metav1.ObjectMeta{Name: "scale", Namespace: ns},
			Spec: kubernetesexecutionv1alpha1.KubernetesExecutionSpec{
				Action:     "scale_deployment",
				Parameters: &runtime.RawExtension{Raw: []byte(`{"deployment":{"name":"web-app","namespace":"x","replicas":2}}`)},
			},
		}
		Expect(k8s.Create(ctx, ke)).To(Succeed())
		Expect(types(ke.Spec.PreConditions)).To(Equal([]string{"image_pull_secrets_valid", "node_selector_matches"}))
		Expect(types(ke.Spec.PostConditions)).To(ConsistOf("no_crashloop_pods", "resource_usage_acceptable", "desired_replicas_running", "deployment_health_check"))
	})
})

var _ = Describe("The validating webhook", func() {
	DescribeTable("rejects a workflow, naming the field",
		func(ctx context.Context, breakIt func(wfe *workflowv1alpha1.WorkflowExecution), field, message string) {
			wfe := scaleWorkflow(newNamespace(ctx))
			breakIt(wfe)
			Expect(apierr.Causes(k8s.Create(ctx, wfe))).To(apierr.HaveCause(field, message))
		},
		Entry("an action the catalog does not have",
			func(w *workflowv1alpha1.WorkflowExecution) { step(w).Action = "scale_everything" },
			"spec.workflowDefinition.steps[0].action", `Unsupported value: "scale_everything": supported values: "cordon_node"`),
		Entry("replicas out of range",
			func(w *workflowv1alpha1.WorkflowExecution) {
				step(w).Parameters.Raw = []byte(`{"deployment":{"name":"web-app","namespace":"prod","replicas":1001}}`)
			},
			"spec.workflowDefinition.steps[0].parameters.deployment.replicas", "must be between 0 and 1000"),
		Entry("a parameter the action does not take",
			func(w *workflowv1alpha1.WorkflowExecution) {
				step(w).Parameters.Raw = []byte(`{"deployment":{"name":"web-app","namespace":"prod","replicas":3,"force":true}}`)
			},
			"spec.workflowDefinition.steps[0].parameters.deployment.force", "Unsupported value"),
		Entry("a name that is not DNS-1123",
			func(w *workflowv1alpha1.WorkflowExecution) {
				step(w).Parameters.Raw = []byte(`{"deployment":{"name":"Web_App","namespace":"prod","replicas":3}}`)
			},
			"spec.workflowDefinition.steps[0].parameters.deployment.name", "RFC 1123"),
		Entry("a dependency on a step that does not exist",
			func(w *workflowv1alpha1.WorkflowExecution) { step(w).DependsOn = []int32{7} },
			"spec.workflowDefinition.steps[0].dependsOn[0]", "no step has this stepNumber"),
		Entry("a step that depends on itself",
			func(w *workflowv1alpha1.WorkflowExecution) { step(w).DependsOn = []int32{1} },
			"spec.workflowDefinition.steps[0].dependsOn[0]", "a step cannot depend on itself"),
		Entry("a dependency cycle, naming its steps",
			func(w *workflowv1alpha1.WorkflowExecution) {
				s2 := *step(w).DeepCopy()
				s2.StepNumber, s2.DependsOn = 2, []int32{3}
				s3 := *step(w).DeepCopy()
				s3.StepNumber, s3.DependsOn = 3, []int32{2}
				w.Spec.WorkflowDefinition.Steps = append(w.Spec.WorkflowDefinition.Steps, s2, s3)
			},
			"spec.workflowDefinition.steps", "the dependencies form a cycle: step 2 -> step 3 -> step 2"),
		Entry("Rego that does not parse, with line and column",
			func(w *workflowv1alpha1.WorkflowExecution) {
				step(w).PreConditions[0].Rego = "package p\nallow if {\n  input.x ==\n}\n"
			},
			"spec.workflowDefinition.steps[0].preConditions[0].rego", "line 4, column 1: rego_parse_error"),
		Entry("Rego that calls http.send",
			func(w *workflowv1alpha1.WorkflowExecution) {
				step(w).PostConditions[0].Rego = "package p\nallow if http.send({\"method\": \"get\", \"url\": \"http://x\"}).status_code == 200\n"
			},
			"spec.workflowDefinition.steps[0].postConditions[0].rego", "http.send is not allowed in condition policies"),
		Entry("Rego without allow",
			func(w *workflowv1alpha1.WorkflowExecution) {
				step(w).PreConditions[0].Rego = "package p\ndeny contains \"x\"\n"
			},
			"spec.workflowDefinition.steps[0].preConditions[0].rego", "rego_missing_allow"),
		Entry("a type without Rego that the library does not have",
			func(w *workflowv1alpha1.WorkflowExecution) {
				step(w).PreConditions = append(step(w).PreConditions, commonv1alpha1.ValidationCondition{Type: "moon_is_full"})
			},
			"spec.workflowDefinition.steps[0].preConditions[1].type", "the policy library has no policy of this type"),
		Entry("a timeout of zero",
			func(w *workflowv1alpha1.WorkflowExecution) { step(w).PreConditions[0].Timeout = &metav1.Duration{} },
			"spec.workflowDefinition.steps[0].preConditions[0].timeout", "must be positive"),
		Entry("a timeout above an hour",
			func(w *workflowv1alpha1.WorkflowExecution) {
				step(w).PostConditions[0].Timeout = &metav1.Duration{Duration: 2 * time.Hour}
			},
			"spec.workflowDefinition.steps[0].postConditions[0].timeout", "must be at most 1h"),
		Entry("an interval longer than the timeout",
			func(w *workflowv1alpha1.WorkflowExecution) {
				step(w).PostConditions[0].Interval = &metav1.Duration{Duration: 5 * time.Minute}
			},
			"spec.workflowDefinition.steps[0].postConditions[0].interval", "must not exceed the timeout (2m0s)"),
		Entry("an interval below a second",
			func(w *workflowv1alpha1.WorkflowExecution) {
				step(w).PostConditions[0].Interval = &metav1.Duration{Duration: time.Millisecond}
			},
			"spec.workflowDefinition.steps[0].postConditions[0].interval", "must be at least 1s"),
		Entry("an override of a condition no step has",
			func(w *workflowv1alpha1.WorkflowExecution) {
				w.Spec.ConditionOverrides = []commonv1alpha1.ConditionOverride{{Type: "moon_is_full", Required: false}}
			},
			"spec.conditionOverrides[0].type", "no step of the workflow has a condition of this type"),
		Entry("a rollback with an action the catalog does not have",
			func(w *workflowv1alpha1.WorkflowExecution) {
				step(w).RollbackSpec = &workflowv1alpha1.RollbackSpec{Action: "undo_everything"}
			},
			"spec.workflowDefinition.steps[0].rollbackSpec.action", "Unsupported value"),
	)

	It("reports every problem at once", func(ctx context.Context) {
		wfe := scaleWorkflow(newNamespace(ctx))
		step(wfe).Parameters.Raw = []byte(`{"deployment":{"name":"web-app","namespace":"prod","replicas":-1}}`)
		step(wfe).DependsOn = []int32{9}
		step(wfe).PreConditions[0].Rego = "package p\nallow if {"
		causes := apierr.Causes(k8s.Create(ctx, wfe))
		Expect(causes).To(HaveLen(3))
		Expect(causes).To(apierr.HaveCause("spec.workflowDefinition.steps[0].parameters.deployment.replicas", "between 0 and 1000"))
		Expect(causes).To(apierr.HaveCause("spec.workflowDefinition.steps[0].dependsOn[0]", "no step"))
		Expect(causes).To(apierr.HaveCause("spec.workflowDefinition.steps[0].preConditions[0].rego", "rego_parse_error"))
	})

	It("rejects a KubernetesExecution with bad parameters", func(ctx context.Context) {
		ke := &kubernetesexecutionv1alpha1.KubernetesExecution{
			ObjectMeta: metav1.ObjectMeta{Name: "drain", Namespace: newNamespace(ctx)},
			Spec: kubernetesexecutionv1alpha1.KubernetesExecutionSpec{
				Action:     "drain_node",
				Parameters: &runtime.RawExtension{Raw: []byte(`{"node":{"name":"worker-1","gracePeriodSeconds":99999}}`)},
			},
		}
		Expect(apierr.Causes(k8s.Create(ctx, ke))).To(apierr.HaveCause("spec.parameters.node.gracePeriodSeconds", "must be between 0 and 3600"))
	})

	It("keeps the spec of a started workflow, and lets its annotations and approvals change", func(ctx context.Context) {
		wfe := scaleWorkflow(newNamespace(ctx))
		wfe.Spec.ExecutionStrategy.ApprovalRequired = true
		Expect(k8s.Create(ctx, wfe)).To(Succeed())
		grantRole(ctx, wfe.Namespace, "bob", "approver", approverRules)
		wfe.Status.Phase = workflowv1alpha1.WorkflowExecuting
		Expect(k8s.Status().Update(ctx, wfe)).To(Succeed())

		changed := wfe.DeepCopy()
		changed.Spec.WorkflowDefinition.Steps[0].Name = "renamed"
		Expect(apierr.Causes(k8s.Update(ctx, changed))).To(apierr.HaveCause("spec", "the spec cannot change once the workflow has started (phase executing)"))

		wfe.Annotations["team"] = "sre"
		Expect(k8s.Update(ctx, wfe)).To(Succeed())
		wfe.Spec.Approvals = []commonv1alpha1.Approval{{Approver: "bob", Decision: commonv1alpha1.Approve, Reason: "looks right"}}
		Expect(clientAs("bob").Update(ctx, wfe)).To(Succeed())
	})
})

var _ = Describe("The override annotation", Ordered, func() {
	// bind binds user in ns to a role of kind (Role or ClusterRole).
	bind := func(ctx context.Context, ns, user, kind, role string) {
		Expect(k8s.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: user + "-" + role, Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: kind, Name: role},
			Subjects:   []rbacv1.Subject{{Kind: "User", Name: user, APIGroup: "rbac.authorization.k8s.io"}},
		})).To(Succeed())
	}
	// grant lets user create WorkflowExecutions in ns and scale its Deployments, and
	// override conditions when override is true, through the ClusterRole the project
	// ships.
	grant := func(ctx context.Context, ns, user string, override bool) {
		Expect(k8s.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "workflow-author", Namespace: ns},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{"workflow.kubernaut.io"}, Resources: []string{"workflowexecutions"}, Verbs: []string{"create", "get"}},
				{APIGroups: []string{"apps"}, Resources: []string{"deployments", "deployments/scale"}, Verbs: []string{"get", "list", "watch", "update", "patch"}},
			},
		})).To(Or(Succeed(), WithTransform(apierrors.IsAlreadyExists, BeTrue())))
		bind(ctx, ns, user, "Role", "workflow-author")
		if override {
			bind(ctx, ns, user, "ClusterRole", "kubernaut-condition-override")
		}
	}

	BeforeAll(func(ctx context.Context) {
		data, err := os.ReadFile("../config/rbac/condition-override-clusterrole.yaml")
		Expect(err).NotTo(HaveOccurred())
		var role rbacv1.ClusterRole
		Expect(yaml.Unmarshal(data, &role)).To(Succeed())
		Expect(k8s.Create(ctx, &role)).To(Succeed())
	})

	It("is denied to a user who may not override conditions, and admitted for one who may", func(ctx context.Context) {
		ns := newNamespace(ctx)
		grant(ctx, ns, "alice", false)
		grant(ctx, ns, "bob", true)

		wfe := scaleWorkflow(ns)
		wfe.Annotations = map[string]string{webhook.OverrideAnnotation: "current_replicas_match",
			commonv1alpha1.OverrideReasonAnnotation: "the replica count is known to drift"}
		err := clientAs("alice").Create(ctx, wfe.DeepCopy())
		Expect(apierr.Causes(err)).To(apierr.HaveCause("metadata.annotations[kubernaut.io/override-condition]",
			`user "alice" may not override conditions in namespace "`+ns+`": that needs verb "override" on resource "conditions" in API group "kubernaut.io"`))

		Expect(clientAs("bob").Create(ctx, wfe)).To(Succeed())
		Expect(wfe.Annotations).To(HaveKeyWithValue(webhook.OverrideAnnotation, "current_replicas_match"))
	})

	It("must list condition types", func(ctx context.Context) {
		wfe := scaleWorkflow(newNamespace(ctx))
		wfe.Annotations = map[string]string{webhook.OverrideAnnotation: "all of them!"}
		Expect(apierr.Causes(k8s.Create(ctx, wfe))).To(apierr.HaveCause("metadata.annotations[kubernaut.io/override-condition]", "snake_case"))
	})
})

var _ = Describe("A workflow asking for dryRunFirst", func() {
	It("is admitted without a warning: the manager runs the preflight", func(ctx context.Context) {
		wfe := scaleWorkflow(newNamespace(ctx))
		wfe.Spec.ExecutionStrategy.DryRunFirst = true
		wfe.SetGroupVersionKind(workflowv1alpha1.GroupVersion.WithKind("WorkflowExecution"))
		manifest, err := yaml.Marshal(wfe)
		Expect(err).NotTo(HaveOccurred())
		_, stderr := kubectl(string(manifest), "create", "-f", "-")
		Expect(stderr).NotTo(ContainSubstring("dryRunFirst"))
	})
})

var _ = Describe("kubectl apply --dry-run=server", func() {
	It("shows the injected conditions and warns of the preconditions that would fail now", func(ctx context.Context) {
		wfe := scaleWorkflow(newNamespace(ctx))
		wfe.SetGroupVersionKind(workflowv1alpha1.GroupVersion.WithKind("WorkflowExecution"))
		manifest, err := yaml.Marshal(wfe)
		Expect(err).NotTo(HaveOccurred())

		stdout, stderr := kubectl(string(manifest), "apply", "--dry-run=server", "-o", "yaml", "-f", "-")
		var shown unstructured.Unstructured
		Expect(yaml.Unmarshal([]byte(stdout), &shown.Object)).To(Succeed())
		Expect(stdout).To(ContainSubstring("type: cluster_capacity_available"))
		Expect(stdout).To(ContainSubstring("injected: true"))
		Expect(stderr).To(ContainSubstring(fmt.Sprintf(
			"Warning: step 1: precondition deployment_exists (required) would fail now: Deployment web-app not found in namespace %s", wfe.Namespace)))

		// Nothing was stored.
		err = k8s.Get(ctx, client.ObjectKeyFromObject(wfe), &workflowv1alpha1.WorkflowExecution{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue())
	})

	It("costs nothing on a request that is not a dry run", func(ctx context.Context) {
		wfe := scaleWorkflow(newNamespace(ctx))
		wfe.SetGroupVersionKind(workflowv1alpha1.GroupVersion.WithKind("WorkflowExecution"))
		manifest, err := yaml.Marshal(wfe)
		Expect(err).NotTo(HaveOccurred())
		_, stderr := kubectl(string(manifest), "apply", "-f", "-")
		Expect(stderr).NotTo(ContainSubstring("would fail now"))
	})
})

func step(w *workflowv1alpha1.WorkflowExecution) *workflowv1alpha1.WorkflowStep {
	return &w.Spec.WorkflowDefinition.Steps[0]
}

var _ = Describe("Admission metrics", func() {
	It("count decisions by kind, operation, outcome and dry run", func(ctx context.Context) {
		denied := admissions("WorkflowExecution", "create", "denied", "false")
		wfe := scaleWorkflow(newNamespace(ctx))
		step(wfe).Action = "scale_everything"
		Expect(k8s.Create(ctx, wfe)).NotTo(Succeed())
		Expect(admissions("WorkflowExecution", "create", "denied", "false")).To(Equal(denied + 1))

		allowedDryRun := admissions("WorkflowExecution", "create", "allowed", "true")
		Expect(k8s.Create(ctx, scaleWorkflow(wfe.Namespace), client.DryRunAll)).To(Succeed())
		Expect(admissions("WorkflowExecution", "create", "allowed", "true")).To(Equal(allowedDryRun + 1))
	})
})

// admissions reads kubernaut_admission_requests_total for the given labels.
func admissions(kind, operation, outcome, dryRun string) float64 {
	GinkgoHelper()
	n, err := metricstest.Sum("kubernaut_admission_requests_total",
		map[string]string{"kind": kind, "operation": operation, "outcome": outcome, "dry_run": dryRun})
	Expect(err).NotTo(HaveOccurred())
	return n
}
