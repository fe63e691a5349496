package webhook_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kubernetesexecutionv1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/test/apierr"
	"kubernaut.io/stepvalidation/test/harness"
)

var (
	// approverRules are those of ClusterRole kubernaut-approver.
	approverRules = []rbacv1.PolicyRule{
		{APIGroups: []string{"workflow.kubernaut.io"}, Resources: []string{"workflowexecutions"},
			Verbs: []string{"get", "list", "watch", "update", "patch", "approve"}},
		{APIGroups: []string{"kubernetesexecution.kubernaut.io"}, Resources: []string{"kubernetesexecutions"},
			Verbs: []string{"get", "list", "watch", "update", "patch", "approve"}},
	}
	// overrideRules let a user weaken validation (ClusterRole
	// kubernaut-condition-override, without its rules on the two kinds).
	overrideRules = []rbacv1.PolicyRule{{APIGroups: []string{"kubernaut.io"}, Resources: []string{"conditions"}, Verbs: []string{"override"}}}
	nodeRules     = []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "patch"}}}
)

// allow grants user the rules in ns, with a Role of its own.
func allow(ctx context.Context, ns, user, name string, rules []rbacv1.PolicyRule) {
	GinkgoHelper()
	grantRole(ctx, ns, user, user+"-"+name, rules)
}

// allowClusterWide grants user the rules in every namespace and on
// cluster-scoped resources, until the spec ends.
func allowClusterWide(ctx context.Context, user, name string, rules []rbacv1.PolicyRule) {
	GinkgoHelper()
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "gates-test-" + user + "-" + name}, Rules: rules}
	Expect(k8s.Create(ctx, role)).To(Succeed())
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}
	Expect(k8s.Create(ctx, binding)).To(Succeed())
	DeferCleanup(func(ctx context.Context) {
		Expect(k8s.Delete(ctx, binding)).To(Succeed())
		Expect(k8s.Delete(ctx, role)).To(Succeed())
	})
}

// fill replaces {ns} and {resource} in a message.
func fill(message, ns, resource string) string {
	return strings.NewReplacer("{ns}", ns, "{resource}", resource).Replace(message)
}

// run is a WorkflowExecution or a KubernetesExecution that waits for approval,
// for the rules that hold for both kinds. Its pointers point into Object, which
// the client updates in place.
type run struct {
	client.Object
	approvals *[]commonv1alpha1.Approval
	gates     *commonv1alpha1.Gates
	// resource is what an approver needs verb approve on.
	resource string
	// setStatus writes the status as the manager does.
	setStatus func(ctx context.Context, phase string, conditions ...metav1.Condition)
}

var kinds = []string{"WorkflowExecution", "KubernetesExecution"}

// newRun is a run of kind in ns that scales a Deployment of ns and waits for
// approval. It replaces no library policy.
func newRun(kind, ns string) run {
	if kind == "WorkflowExecution" {
		wfe := libraryWorkflow(ns)
		wfe.Spec.ExecutionStrategy.ApprovalRequired = true
		return run{Object: wfe, approvals: &wfe.Spec.Approvals, gates: &wfe.Spec.ExecutionStrategy.Gates,
			resource: "workflowexecutions.workflow.kubernaut.io",
			setStatus: func(ctx context.Context, phase string, conditions ...metav1.Condition) {
				wfe.Status.Phase, wfe.Status.Conditions = workflowv1alpha1.WorkflowPhase(phase), conditions
				Expect(k8s.Status().Update(ctx, wfe)).To(Succeed())
			}}
	}
	ke := scaleExecution(ns, ns)
	ke.Spec.ExecutionStrategy.ApprovalRequired = true
	return run{Object: ke, approvals: &ke.Spec.Approvals, gates: &ke.Spec.ExecutionStrategy,
		resource: "kubernetesexecutions.kubernetesexecution.kubernaut.io",
		setStatus: func(ctx context.Context, phase string, conditions ...metav1.Condition) {
			ke.Status.Phase, ke.Status.Conditions = kubernetesexecutionv1alpha1.ExecutionPhase(phase), conditions
			Expect(k8s.Status().Update(ctx, ke)).To(Succeed())
		}}
}

func decision(approver string, d commonv1alpha1.ApprovalDecision) commonv1alpha1.Approval {
	return commonv1alpha1.Approval{Approver: approver, Decision: d, Reason: "checked the dashboards"}
}

// appendAs appends an entry to the run's approvals as user; a refused entry is
// taken off again.
func appendAs(ctx context.Context, r run, user string, a commonv1alpha1.Approval) error {
	before := *r.approvals
	*r.approvals = append(append([]commonv1alpha1.Approval(nil), before...), a)
	err := clientAs(user).Update(ctx, r.Object)
	if err != nil {
		*r.approvals = before
	}
	return err
}

var _ = Describe("Approvals", func() {
	// alice requests runs; bob and carol may approve; dave may edit runs but
	// not approve them.
	var ns string
	BeforeEach(func(ctx context.Context) {
		ns = newNamespace(ctx)
		for _, user := range []string{"alice", "bob", "carol", "dave"} {
			allow(ctx, ns, user, "tenant", harness.TenantRules)
		}
		allow(ctx, ns, "alice", "scaler", harness.ScalerRules)
		allow(ctx, ns, "alice", "approver", approverRules)
		allow(ctx, ns, "bob", "approver", approverRules)
		allow(ctx, ns, "carol", "approver", approverRules)
	})

	for _, kind := range kinds {
		Context("on a "+kind, func() {
			It("are never accepted at creation", func(ctx context.Context) {
				r := newRun(kind, ns)
				*r.approvals = []commonv1alpha1.Approval{decision("bob", commonv1alpha1.Approve)}
				Expect(apierr.Causes(clientAs("alice").Create(ctx, r.Object))).To(apierr.HaveCause("spec.approvals[0]",
					"approvals are added to an existing run, never at creation"))
			})

			It("are admitted from approvers, one decision each, on a run that started", func(ctx context.Context) {
				r := newRun(kind, ns)
				Expect(clientAs("alice").Create(ctx, r.Object)).To(Succeed())
				r.setStatus(ctx, "waiting_approval")
				Expect(appendAs(ctx, r, "bob", decision("bob", commonv1alpha1.Approve))).To(Succeed())
				Expect(appendAs(ctx, r, "carol", decision("carol", commonv1alpha1.Reject))).To(Succeed())
				Expect(*r.approvals).To(Equal([]commonv1alpha1.Approval{
					decision("bob", commonv1alpha1.Approve), decision("carol", commonv1alpha1.Reject)}))
			})

			DescribeTable("refuses a new entry, naming the field",
				func(ctx context.Context, prepare func(ctx context.Context, r run), sender string, entry commonv1alpha1.Approval, field, message string) {
					r := newRun(kind, ns)
					Expect(clientAs("alice").Create(ctx, r.Object)).To(Succeed())
					if prepare != nil {
						prepare(ctx, r)
					}
					Expect(apierr.Causes(appendAs(ctx, r, sender, entry))).To(
						apierr.HaveCause(field, fill(message, ns, r.resource)))
				},
				Entry("from someone else than the approver it names", nil, "bob", decision("carol", commonv1alpha1.Approve),
					"spec.approvals[0]", `approver "carol" is not the user sending the request ("bob"): each approver adds their own decision`),
				Entry("from the requester", nil, "alice", decision("alice", commonv1alpha1.Approve),
					"spec.approvals[0]", `user "alice" requested this run and may not approve it (separation of duties; the manager's --allow-self-approval turns this off)`),
				Entry("from a user without verb approve", nil, "dave", decision("dave", commonv1alpha1.Approve),
					"spec.approvals[0]", `user "dave" may not approve {resource} in namespace "{ns}": that needs verb "approve"; bind ClusterRole kubernaut-approver`),
				Entry("from an approver who already decided",
					func(ctx context.Context, r run) {
						Expect(appendAs(ctx, r, "bob", decision("bob", commonv1alpha1.Approve))).To(Succeed())
					},
					"bob", decision("bob", commonv1alpha1.Reject),
					"spec.approvals[1]", `user "bob" already decided on this run in spec.approvals[0]: an approver decides once`),
				Entry("on a run that does not wait for approval",
					func(ctx context.Context, r run) {
						r.gates.ApprovalRequired = false
						Expect(clientAs("alice").Update(ctx, r.Object)).To(Succeed())
					},
					"bob", decision("bob", commonv1alpha1.Approve),
					"spec.approvals[0]", "the run does not wait for approval: spec.executionStrategy.approvalRequired is false"),
				Entry("on a run that completed",
					func(ctx context.Context, r run) { r.setStatus(ctx, "completed") },
					"bob", decision("bob", commonv1alpha1.Approve),
					"spec.approvals[0]", "the run is over (phase completed): an approval can no longer change it"),
				Entry("on a run whose Succeeded condition is decided",
					func(ctx context.Context, r run) {
						r.setStatus(ctx, "blocked", metav1.Condition{Type: commonv1alpha1.SucceededCondition, Status: metav1.ConditionFalse,
							Reason: commonv1alpha1.FailedReason, Message: "blocked too long", LastTransitionTime: metav1.Now()})
					},
					"bob", decision("bob", commonv1alpha1.Approve),
					"spec.approvals[0]", "the run is over (condition Succeeded is False)"),
			)

			It("keeps entries append-only", func(ctx context.Context) {
				r := newRun(kind, ns)
				Expect(clientAs("alice").Create(ctx, r.Object)).To(Succeed())
				r.setStatus(ctx, "waiting_approval")
				Expect(appendAs(ctx, r, "bob", decision("bob", commonv1alpha1.Approve))).To(Succeed())
				carol := clientAs("carol")

				(*r.approvals)[0].Decision = commonv1alpha1.Reject
				Expect(apierr.Causes(carol.Update(ctx, r.Object))).To(apierr.HaveCause("spec.approvals[0]",
					"approvals are append-only: an entry cannot be edited"))
				(*r.approvals)[0].Decision = commonv1alpha1.Approve

				*r.approvals = nil
				Expect(apierr.Causes(carol.Update(ctx, r.Object))).To(apierr.HaveCause("spec.approvals",
					"approvals are append-only: entries cannot be removed (1 before, 0 now)"))
			})
		})
	}
})

// overrideAnnotations set an override of current_replicas_match.
func overrideAnnotations() map[string]string {
	return map[string]string{
		commonv1alpha1.OverrideConditionAnnotation: "current_replicas_match",
		commonv1alpha1.OverrideReasonAnnotation:    "the replica count drifts during the migration",
	}
}

const needsOverride = `user "alice" may not override conditions in namespace "{ns}": that needs verb "override" on resource "conditions" in API group "kubernaut.io"; bind ClusterRole kubernaut-condition-override`

var _ = Describe("Weakening validation", func() {
	// alice may create runs and scale; olga may too, and override conditions.
	var ns string
	BeforeEach(func(ctx context.Context) {
		ns = newNamespace(ctx)
		for _, user := range []string{"alice", "olga"} {
			allow(ctx, ns, user, "tenant", harness.TenantRules)
			allow(ctx, ns, user, "scaler", harness.ScalerRules)
		}
		allow(ctx, ns, "olga", "override", overrideRules)
	})

	withRego := func(c commonv1alpha1.ValidationCondition) commonv1alpha1.ValidationCondition {
		c.Rego = "package p\nimport rego.v1\nallow := true\n"
		return c
	}
	notRequired := func(c commonv1alpha1.ValidationCondition) commonv1alpha1.ValidationCondition {
		c.Required = new(bool)
		return c
	}

	DescribeTable("needs verb override on conditions.kubernaut.io, at the field that weakens",
		func(ctx context.Context, kind string, weaken func(obj client.Object), field, message string) {
			r := newRun(kind, ns)
			weaken(r.Object)
			Expect(apierr.Causes(clientAs("alice").Create(ctx, r.DeepCopyObject().(client.Object)))).To(
				apierr.HaveCause(field, fill(message, ns, "")))
			Expect(clientAs("olga").Create(ctx, r.Object)).To(Succeed())
		},
		Entry("the override annotation on a workflow", "WorkflowExecution",
			func(obj client.Object) { obj.SetAnnotations(overrideAnnotations()) },
			"metadata.annotations[kubernaut.io/override-condition]", needsOverride),
		Entry("the override annotation on an execution", "KubernetesExecution",
			func(obj client.Object) { obj.SetAnnotations(overrideAnnotations()) },
			"metadata.annotations[kubernaut.io/override-condition]", needsOverride),
		Entry("inject-conditions false on a workflow", "WorkflowExecution",
			func(obj client.Object) {
				obj.SetAnnotations(map[string]string{commonv1alpha1.InjectConditionsAnnotation: "false"})
			},
			"metadata.annotations[kubernaut.io/inject-conditions]", `"false" leaves out the conditions the catalog suggests, which weakens validation, and `+needsOverride),
		Entry("inject-conditions false on an execution", "KubernetesExecution",
			func(obj client.Object) {
				obj.SetAnnotations(map[string]string{commonv1alpha1.InjectConditionsAnnotation: "false"})
			},
			"metadata.annotations[kubernaut.io/inject-conditions]", `"false" leaves out the conditions the catalog suggests`),
		Entry("a conditionOverride with required: false", "WorkflowExecution",
			func(obj client.Object) {
				obj.(*workflowv1alpha1.WorkflowExecution).Spec.ConditionOverrides = []commonv1alpha1.ConditionOverride{{Type: "cluster_capacity_available"}}
			},
			"spec.conditionOverrides[0].required", "required: false relaxes condition cluster_capacity_available, which weakens validation, and "+needsOverride),
		Entry("inline rego of a type the library has, in a step", "WorkflowExecution",
			func(obj client.Object) {
				s := step(obj.(*workflowv1alpha1.WorkflowExecution))
				s.PreConditions[0] = withRego(s.PreConditions[0])
			},
			"spec.workflowDefinition.steps[0].preConditions[0].rego", "inline rego replaces the policy library's deployment_exists, which weakens validation, and "+needsOverride),
		Entry("inline rego of a type the library has, marked injected", "WorkflowExecution",
			func(obj client.Object) {
				s := step(obj.(*workflowv1alpha1.WorkflowExecution))
				s.PostConditions[0] = withRego(s.PostConditions[0])
				s.PostConditions[0].Injected = true
			},
			"spec.workflowDefinition.steps[0].postConditions[0].rego", "inline rego replaces the policy library's desired_replicas_running"),
		Entry("inline rego of a type the library has, in an execution", "KubernetesExecution",
			func(obj client.Object) {
				ke := obj.(*kubernetesexecutionv1alpha1.KubernetesExecution)
				ke.Spec.PostConditions = []commonv1alpha1.ValidationCondition{withRego(commonv1alpha1.ValidationCondition{Type: "no_crashloop_pods"})}
			},
			"spec.postConditions[0].rego", "inline rego replaces the policy library's no_crashloop_pods"),
		Entry("required: false on a step condition the catalog requires", "WorkflowExecution",
			func(obj client.Object) {
				s := step(obj.(*workflowv1alpha1.WorkflowExecution))
				s.PreConditions = append(s.PreConditions, notRequired(commonv1alpha1.ValidationCondition{Type: "cluster_capacity_available", Injected: true}))
			},
			"spec.workflowDefinition.steps[0].preConditions[1].required", "required: false relaxes cluster_capacity_available, a condition the catalog requires, which weakens validation, and "+needsOverride),
		Entry("required: false on an execution condition the catalog requires", "KubernetesExecution",
			func(obj client.Object) {
				ke := obj.(*kubernetesexecutionv1alpha1.KubernetesExecution)
				ke.Spec.PreConditions = []commonv1alpha1.ValidationCondition{notRequired(commonv1alpha1.ValidationCondition{Type: "image_pull_secrets_valid"})}
			},
			"spec.preConditions[0].required", "required: false relaxes image_pull_secrets_valid, a condition the catalog requires"),
	)

	DescribeTable("needs nothing for what does not weaken validation",
		func(ctx context.Context, kind string, change func(obj client.Object)) {
			r := newRun(kind, ns)
			change(r.Object)
			Expect(clientAs("alice").Create(ctx, r.Object)).To(Succeed())
		},
		Entry("inline rego of a type the library lacks", "KubernetesExecution", func(obj client.Object) {
			ke := obj.(*kubernetesexecutionv1alpha1.KubernetesExecution)
			ke.Spec.PreConditions = []commonv1alpha1.ValidationCondition{withRego(commonv1alpha1.ValidationCondition{Type: "team_specific_check"})}
		}),
		Entry("required: false on a condition the catalog makes optional", "WorkflowExecution", func(obj client.Object) {
			s := step(obj.(*workflowv1alpha1.WorkflowExecution))
			s.PreConditions = append(s.PreConditions, notRequired(commonv1alpha1.ValidationCondition{Type: "current_replicas_match"}))
		}),
		Entry("a conditionOverride that makes a condition required", "WorkflowExecution", func(obj client.Object) {
			obj.(*workflowv1alpha1.WorkflowExecution).Spec.ConditionOverrides = []commonv1alpha1.ConditionOverride{{Type: "current_replicas_match", Required: true}}
		}),
		Entry("inject-conditions true", "KubernetesExecution", func(obj client.Object) {
			obj.SetAnnotations(map[string]string{commonv1alpha1.InjectConditionsAnnotation: "true"})
		}),
	)

	It("needs it on a spec update and on inject-conditions turned to false", func(ctx context.Context) {
		wfe := libraryWorkflow(ns)
		alice := clientAs("alice")
		Expect(alice.Create(ctx, wfe)).To(Succeed())

		withInline := wfe.DeepCopy()
		step(withInline).PreConditions[0] = withRego(step(withInline).PreConditions[0])
		Expect(apierr.Causes(alice.Update(ctx, withInline))).To(apierr.HaveCause(
			"spec.workflowDefinition.steps[0].preConditions[0].rego", fill(needsOverride, ns, "")))

		optOut := wfe.DeepCopy()
		optOut.Annotations[commonv1alpha1.InjectConditionsAnnotation] = "false"
		Expect(apierr.Causes(alice.Update(ctx, optOut))).To(apierr.HaveCause(
			"metadata.annotations[kubernaut.io/inject-conditions]", fill(needsOverride, ns, "")))
		Expect(clientAs("olga").Update(ctx, optOut)).To(Succeed())
	})

	It("is asked in every namespace the actions target, step and rollback, one error per namespace", func(ctx context.Context) {
		other, third := newNamespace(ctx), newNamespace(ctx)
		for _, target := range []string{other, third} {
			allow(ctx, target, "olga", "scaler", harness.ScalerRules)
		}
		wfe := libraryWorkflow(ns)
		step(wfe).Parameters.Raw = fmt.Appendf(nil, `{"deployment":{"name":"web-app","namespace":%q,"replicas":5}}`, other)
		step(wfe).RollbackSpec = &workflowv1alpha1.RollbackSpec{Action: "scale_deployment",
			Parameters: &runtime.RawExtension{Raw: fmt.Appendf(nil, `{"deployment":{"name":"web-app","namespace":%q,"replicas":2}}`, third)}}
		wfe.Annotations = overrideAnnotations()
		olga := clientAs("olga")

		causes := apierr.Causes(olga.Create(ctx, wfe.DeepCopy()))
		path := "metadata.annotations[kubernaut.io/override-condition]"
		for _, target := range []string{other, third} {
			Expect(causes).To(apierr.HaveCause(path, fmt.Sprintf(`user "olga" may not override conditions in namespace %q`, target)))
		}
		Expect(causes).To(HaveLen(2), "olga may override in the workflow's own namespace")

		allow(ctx, other, "olga", "override", overrideRules)
		allow(ctx, third, "olga", "override", overrideRules)
		Expect(olga.Create(ctx, wfe)).To(Succeed())
	})

	It("is asked where the actions target on a metadata-only update too", func(ctx context.Context) {
		other := newNamespace(ctx)
		allow(ctx, other, "olga", "scaler", harness.ScalerRules)
		ke := scaleExecution(ns, other)
		olga := clientAs("olga")
		Expect(olga.Create(ctx, ke)).To(Succeed())
		ke.Status.Phase = kubernetesexecutionv1alpha1.ExecutionBlocked
		Expect(k8s.Status().Update(ctx, ke)).To(Succeed())

		maps.Copy(ke.Annotations, overrideAnnotations())
		causes := apierr.Causes(olga.Update(ctx, ke))
		Expect(causes).To(apierr.HaveCause("metadata.annotations[kubernaut.io/override-condition]",
			fmt.Sprintf(`user "olga" may not override conditions in namespace %q`, other)))
		Expect(causes).To(HaveLen(1))
	})

	It("is asked cluster-wide for a Node", func(ctx context.Context) {
		allowClusterWide(ctx, "nora", "nodes", nodeRules)
		allow(ctx, ns, "nora", "tenant", harness.TenantRules)
		allow(ctx, ns, "nora", "override", overrideRules)
		ke := &kubernetesexecutionv1alpha1.KubernetesExecution{
			ObjectMeta: metav1.ObjectMeta{Name: "taint", Namespace: ns, Annotations: overrideAnnotations()},
			Spec: kubernetesexecutionv1alpha1.KubernetesExecutionSpec{Action: "taint_node",
				Parameters: &runtime.RawExtension{Raw: []byte(`{"node":{"name":"worker-1"},"taint":{"key":"x","effect":"NoSchedule"}}`)}},
		}
		causes := apierr.Causes(clientAs("nora").Create(ctx, ke.DeepCopy()))
		Expect(causes).To(apierr.HaveCause("metadata.annotations[kubernaut.io/override-condition]",
			`user "nora" may not override conditions cluster-wide: that needs verb "override" on resource "conditions" in API group "kubernaut.io"; bind ClusterRole kubernaut-condition-override`))
		Expect(causes).To(HaveLen(1), "nora may override in the run's own namespace")
		allowClusterWide(ctx, "nora", "override", overrideRules)
		Expect(clientAs("nora").Create(ctx, ke)).To(Succeed())
	})

	It("is not needed to remove an override", func(ctx context.Context) {
		ke := scaleExecution(ns, ns)
		ke.Annotations = overrideAnnotations()
		Expect(clientAs("olga").Create(ctx, ke)).To(Succeed())
		for _, key := range []string{commonv1alpha1.OverrideConditionAnnotation, commonv1alpha1.OverrideReasonAnnotation} {
			delete(ke.Annotations, key)
		}
		Expect(clientAs("alice").Update(ctx, ke)).To(Succeed())
		Expect(ke.Annotations).NotTo(HaveKey(commonv1alpha1.OverrideConditionAnnotation))
	})

	It("is not asked of the manager, which passes on what the workflow authorized", func(ctx context.Context) {
		r := newRun("WorkflowExecution", ns)
		wfe := r.Object.(*workflowv1alpha1.WorkflowExecution)
		wfe.Annotations = map[string]string{commonv1alpha1.InjectConditionsAnnotation: "false"}
		step(wfe).PreConditions[0] = withRego(step(wfe).PreConditions[0])
		Expect(k8s.Create(ctx, wfe)).To(Succeed())
	})
})

var _ = Describe("The override annotations", func() {
	var ns string
	BeforeEach(func(ctx context.Context) {
		ns = newNamespace(ctx)
		for _, user := range []string{"olga", "otto"} {
			allow(ctx, ns, user, "tenant", harness.TenantRules)
			allow(ctx, ns, user, "scaler", harness.ScalerRules)
			allow(ctx, ns, user, "override", overrideRules)
		}
	})

	DescribeTable("are refused, naming the annotation",
		func(ctx context.Context, set map[string]string, field, message string) {
			ke := scaleExecution(ns, ns)
			ke.Annotations = overrideAnnotations()
			for k, v := range set {
				if v == "-" {
					delete(ke.Annotations, k)
				} else {
					ke.Annotations[k] = v
				}
			}
			Expect(apierr.Causes(clientAs("olga").Create(ctx, ke))).To(apierr.HaveCause(field, message))
		},
		Entry("without a reason", map[string]string{commonv1alpha1.OverrideReasonAnnotation: "-"},
			"metadata.annotations[kubernaut.io/override-reason]", "an override says why"),
		Entry("with a blank reason", map[string]string{commonv1alpha1.OverrideReasonAnnotation: "  "},
			"metadata.annotations[kubernaut.io/override-reason]", "an override says why"),
		Entry("with a reason over 1024 bytes", map[string]string{commonv1alpha1.OverrideReasonAnnotation: strings.Repeat("x", 1025)},
			"metadata.annotations[kubernaut.io/override-reason]", "may not be more than 1024 bytes"),
		Entry("with an expiry that is not RFC 3339", map[string]string{commonv1alpha1.OverrideExpiresAnnotation: "tomorrow"},
			"metadata.annotations[kubernaut.io/override-expires]", "must be an RFC 3339 time"),
		Entry("with an expiry in the past", map[string]string{commonv1alpha1.OverrideExpiresAnnotation: time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)},
			"metadata.annotations[kubernaut.io/override-expires]", "must be in the future"),
		Entry("with an expiry more than 7 days ahead", map[string]string{commonv1alpha1.OverrideExpiresAnnotation: time.Now().Add(8 * 24 * time.Hour).UTC().Format(time.RFC3339)},
			"metadata.annotations[kubernaut.io/override-expires]", "must be at most 7 days from now"),
		Entry("listing something else than condition types", map[string]string{commonv1alpha1.OverrideConditionAnnotation: "all of them!"},
			"metadata.annotations[kubernaut.io/override-condition]", "snake_case"),
	)

	It("admit an expiry within 7 days", func(ctx context.Context) {
		ke := scaleExecution(ns, ns)
		ke.Annotations = overrideAnnotations()
		ke.Annotations[commonv1alpha1.OverrideExpiresAnnotation] = time.Now().Add(6 * 24 * time.Hour).UTC().Format(time.RFC3339)
		Expect(clientAs("olga").Create(ctx, ke)).To(Succeed())
	})

	It("are stamped with who set them and when, and the stamps cannot be forged", func(ctx context.Context) {
		ke := scaleExecution(ns, ns)
		ke.Annotations = overrideAnnotations()
		ke.Annotations[commonv1alpha1.OverrideByAnnotation] = "mallory"
		ke.Annotations[commonv1alpha1.OverrideAtAnnotation] = "2000-01-01T00:00:00Z"
		olga := clientAs("olga")
		Expect(olga.Create(ctx, ke)).To(Succeed())
		stamped := func(by string) {
			GinkgoHelper()
			Expect(ke.Annotations).To(HaveKeyWithValue(commonv1alpha1.OverrideByAnnotation, by))
			at, err := time.Parse(time.RFC3339, ke.Annotations[commonv1alpha1.OverrideAtAnnotation])
			Expect(err).NotTo(HaveOccurred())
			Expect(at).To(BeTemporally("~", time.Now(), time.Minute))
		}
		stamped("olga")

		// Nor changed by themselves, by anyone.
		for _, key := range []string{commonv1alpha1.OverrideByAnnotation, commonv1alpha1.OverrideAtAnnotation} {
			for _, c := range []client.Client{olga, k8s} {
				forged := ke.DeepCopy()
				forged.Annotations[key] = "mallory"
				Expect(apierr.Causes(c.Update(ctx, forged))).To(apierr.HaveCause("metadata.annotations["+key+"]",
					"is stamped by the mutating webhook when the override annotations change, and cannot be set otherwise"))
			}
		}

		// Whoever changes the override is recorded, whatever they write.
		ke.Annotations[commonv1alpha1.OverrideReasonAnnotation] = "the migration takes longer"
		ke.Annotations[commonv1alpha1.OverrideByAnnotation] = "olga"
		Expect(clientAs("otto").Update(ctx, ke)).To(Succeed())
		stamped("otto")

		// Other changes leave the stamps alone.
		ke.Annotations["team"] = "sre"
		Expect(olga.Update(ctx, ke)).To(Succeed())
		stamped("otto")
	})

	It("on a started run, are stamped without touching its spec", func(ctx context.Context) {
		wfe := libraryWorkflow(ns)
		Expect(clientAs("olga").Create(ctx, wfe)).To(Succeed())
		wfe.Status.Phase = workflowv1alpha1.WorkflowBlocked
		Expect(k8s.Status().Update(ctx, wfe)).To(Succeed())
		spec := wfe.Spec.DeepCopy()

		// A started spec is kept as it is: a real change is refused...
		maps.Copy(wfe.Annotations, overrideAnnotations())
		step(wfe).PreConditions[0].Timeout = &metav1.Duration{Duration: 42 * time.Second}
		Expect(apierr.Causes(clientAs("otto").Update(ctx, wfe.DeepCopy()))).To(apierr.HaveCause("spec", "the spec cannot change once the workflow has started"))
		// ...and one without the conditions injection would add again (as kubectl
		// apply sends it) is the stored spec.
		wfe.Spec = *spec.DeepCopy()
		step(wfe).PreConditions = step(wfe).PreConditions[:1]
		Expect(clientAs("otto").Update(ctx, wfe)).To(Succeed())
		Expect(wfe.Spec).To(Equal(*spec))
		Expect(wfe.Annotations).To(HaveKeyWithValue(commonv1alpha1.OverrideByAnnotation, "otto"))
	})
})

var _ = Describe("The mutating webhook on UPDATE", func() {
	It("does not record the requester again, and defaults only a spec that has not started", func(ctx context.Context) {
		ns := newNamespace(ctx)
		allow(ctx, ns, "alice", "tenant", harness.TenantRules)
		allow(ctx, ns, "alice", "scaler", harness.ScalerRules)
		allow(ctx, ns, "bob", "tenant", harness.TenantRules)
		allow(ctx, ns, "bob", "scaler", harness.ScalerRules)
		wfe := libraryWorkflow(ns)
		Expect(clientAs("alice").Create(ctx, wfe)).To(Succeed())
		requester := wfe.Annotations[commonv1alpha1.RequestedByAnnotation]

		// bob's update of the unstarted run: his edit defaulted as on CREATE, the
		// requester kept.
		second := *step(wfe).DeepCopy()
		second.StepNumber, second.DependsOn = 2, nil
		second.PreConditions = nil
		wfe.Spec.WorkflowDefinition.Steps = append(wfe.Spec.WorkflowDefinition.Steps, second)
		Expect(clientAs("bob").Update(ctx, wfe)).To(Succeed())
		Expect(wfe.Annotations).To(HaveKeyWithValue(commonv1alpha1.RequestedByAnnotation, requester))
		Expect(wfe.Spec.WorkflowDefinition.Steps[1].DependsOn).To(Equal([]int32{1}))
		Expect(types(wfe.Spec.WorkflowDefinition.Steps[1].PreConditions)).To(ContainElement("cluster_capacity_available"))
	})
})
