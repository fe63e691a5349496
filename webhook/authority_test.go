package webhook_test

import (
	"context"
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kubernetesexecutionv1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/authority"
	"kubernaut.io/stepvalidation/internal/metricstest"
	"kubernaut.io/stepvalidation/test/apierr"
	"kubernaut.io/stepvalidation/test/harness"
	"kubernaut.io/stepvalidation/webhook"
)

// grantRole creates a Role of rules in ns and binds user to it.
func grantRole(ctx context.Context, ns, user, name string, rules []rbacv1.PolicyRule) {
	GinkgoHelper()
	_, err := harness.GrantRole(ctx, k8s, ns, user, name, rules)
	Expect(err).NotTo(HaveOccurred())
}

// scaleExecution scales Deployment web-app in target, from ns.
func scaleExecution(ns, target string) *kubernetesexecutionv1alpha1.KubernetesExecution {
	return &kubernetesexecutionv1alpha1.KubernetesExecution{
		ObjectMeta: metav1.ObjectMeta{Name: "scale", Namespace: ns},
		Spec: kubernetesexecutionv1alpha1.KubernetesExecutionSpec{
			Action:     "scale_deployment",
			Parameters: &runtime.RawExtension{Raw: fmt.Appendf(nil, `{"deployment":{"name":"web-app","namespace":%q,"replicas":5}}`, target)},
		},
	}
}

var _ = Describe("Requester authorization", func() {
	var own, other string
	BeforeEach(func(ctx context.Context) {
		own, other = newNamespace(ctx), newNamespace(ctx)
		grantRole(ctx, own, "tenant", "tenant", harness.TenantRules)
	})

	It("refuses a workflow that acts where its requester may not, naming each missing permission at the target's field", func(ctx context.Context) {
		wfe := libraryWorkflow(own)
		wfe.Spec.WorkflowDefinition.Steps[0].Parameters.Raw = fmt.Appendf(nil, `{"deployment":{"name":"web-app","namespace":%q,"replicas":5}}`, other)
		wfe.Spec.WorkflowDefinition.Steps[0].RollbackSpec = &workflowv1alpha1.RollbackSpec{
			Action: "drain_node", Parameters: &runtime.RawExtension{Raw: []byte(`{"node":{"name":"worker-1"}}`)},
		}
		causes := apierr.Causes(clientAs("tenant").Create(ctx, wfe))
		step := "spec.workflowDefinition.steps[0]."
		for _, perm := range []string{"get", "list", "watch"} {
			Expect(causes).To(apierr.HaveCause(step+"parameters.deployment",
				fmt.Sprintf(`user "tenant" cannot %s deployments.apps "web-app" in namespace %q (needed by scale_deployment)`, perm, other)))
		}
		for _, perm := range []string{"get", "update", "patch"} {
			Expect(causes).To(apierr.HaveCause(step+"parameters.deployment",
				fmt.Sprintf(`user "tenant" cannot %s deployments.apps/scale "web-app" in namespace %q (needed by scale_deployment)`, perm, other)))
		}
		Expect(causes).To(apierr.HaveCause(step+"rollbackSpec.parameters.node",
			`user "tenant" cannot create pods/eviction cluster-wide (needed by drain_node)`))
		Expect(causes).To(HaveLen(6 + 5))
	})

	It("admits a cross-namespace target exactly when the requester holds the rights there", func(ctx context.Context) {
		ke := scaleExecution(own, other)
		Expect(apierr.Causes(clientAs("tenant").Create(ctx, ke.DeepCopy()))).To(
			apierr.HaveCause("spec.parameters.deployment", `user "tenant" cannot update deployments.apps/scale "web-app"`))
		grantRole(ctx, other, "tenant", "scaler", harness.ScalerRules)
		Expect(clientAs("tenant").Create(ctx, ke)).To(Succeed())
	})

	It("refuses a node action to a tenant without node rights", func(ctx context.Context) {
		ke := &kubernetesexecutionv1alpha1.KubernetesExecution{
			ObjectMeta: metav1.ObjectMeta{Name: "taint", Namespace: own},
			Spec: kubernetesexecutionv1alpha1.KubernetesExecutionSpec{Action: "taint_node",
				Parameters: &runtime.RawExtension{Raw: []byte(`{"node":{"name":"worker-1"},"taint":{"key":"x","effect":"NoSchedule"}}`)}},
		}
		causes := apierr.Causes(clientAs("tenant").Create(ctx, ke))
		Expect(causes).To(apierr.HaveCause("spec.parameters.node", `user "tenant" cannot patch nodes "worker-1" cluster-wide (needed by taint_node)`))
		Expect(causes).To(apierr.HaveCause("spec.parameters.node", `user "tenant" cannot get nodes "worker-1" cluster-wide (needed by taint_node)`))
	})

	It("reads no fact for a dry run the requester may not act on: the refusal, no preflight", func(ctx context.Context) {
		// A ConfigMap in another namespace, and a precondition that would print it.
		Expect(k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "secrets-ish", Namespace: other},
			Data: map[string]string{"password": "hunter2"}})).To(Succeed())
		ke := &kubernetesexecutionv1alpha1.KubernetesExecution{
			ObjectMeta: metav1.ObjectMeta{Name: "peek", Namespace: own},
			Spec: kubernetesexecutionv1alpha1.KubernetesExecutionSpec{Action: "update_configmap",
				Parameters: &runtime.RawExtension{Raw: fmt.Appendf(nil, `{"configmap":{"name":"secrets-ish","namespace":%q},"data":{"x":"y"}}`, other)},
				PreConditions: []commonv1alpha1.ValidationCondition{{Type: "peek", Rego: "package peek\nimport rego.v1\nallow := false\n" +
					"error_message := sprintf(\"%v\", [input])"}},
			},
		}
		err := clientAs("tenant").Create(ctx, ke, client.DryRunAll)
		Expect(apierr.Causes(err)).To(apierr.HaveCause("spec.parameters.configmap", `user "tenant" cannot get configmaps "secrets-ish"`))
		Expect(err.Error()).NotTo(ContainSubstring("hunter2"))
	})
})

var _ = Describe("The recorded requester", func() {
	It("is who sent the CREATE, whatever the client wrote, and cannot change", func(ctx context.Context) {
		ns := newNamespace(ctx)
		grantRole(ctx, ns, "tenant", "tenant", harness.TenantRules)
		grantRole(ctx, ns, "tenant", "scaler", harness.ScalerRules)
		ke := scaleExecution(ns, ns)
		ke.Annotations = map[string]string{commonv1alpha1.RequestedByAnnotation: `{"username":"system:admin","groups":["system:masters"]}`}
		tenant := clientAs("tenant")
		Expect(tenant.Create(ctx, ke)).To(Succeed())
		who, err := authority.Recorded(ke.Annotations)
		Expect(err).NotTo(HaveOccurred())
		Expect(who.Username).To(Equal("tenant"))
		Expect(who.Groups).To(ContainElement("system:authenticated"))

		for _, c := range []client.Client{tenant, k8s} {
			forged := ke.DeepCopy()
			forged.Annotations[commonv1alpha1.RequestedByAnnotation] = `{"username":"someone-else"}`
			Expect(apierr.Causes(c.Update(ctx, forged))).To(apierr.HaveCause(
				"metadata.annotations[kubernaut.io/requested-by]", "cannot change"))
			Expect(ke.DeepCopy()).NotTo(BeNil())
			removed := ke.DeepCopy()
			delete(removed.Annotations, commonv1alpha1.RequestedByAnnotation)
			Expect(apierr.Causes(c.Update(ctx, removed))).To(apierr.HaveCause(
				"metadata.annotations[kubernaut.io/requested-by]", "cannot change"))
		}
	})

	It("is passed on only by the manager, for the runs it creates", func(ctx context.Context) {
		ns := newNamespace(ctx)
		grantRole(ctx, ns, "tenant", "tenant", harness.TenantRules)
		grantRole(ctx, ns, "alice", "scaler", harness.ScalerRules)
		alice := authority.Requester{Username: "alice", Groups: []string{"system:authenticated"}}

		// The manager (this suite's admin) creates a run for alice: she may scale.
		ke := scaleExecution(ns, ns)
		ke.Annotations = map[string]string{commonv1alpha1.RequestedByAnnotation: alice.Encode()}
		Expect(k8s.Create(ctx, ke)).To(Succeed())
		Expect(ke.Annotations).To(HaveKeyWithValue(commonv1alpha1.RequestedByAnnotation, alice.Encode()))

		// Passed on for someone who may not scale, it is refused with their name.
		bob := authority.Requester{Username: "bob"}
		refused := scaleExecution(ns, ns)
		refused.Name = "for-bob"
		refused.Annotations = map[string]string{commonv1alpha1.RequestedByAnnotation: bob.Encode()}
		Expect(apierr.Causes(k8s.Create(ctx, refused))).To(apierr.HaveCause("spec.parameters.deployment", `user "bob" cannot`))
	})

	It("is shown by kubectl get -o wide once the run started", func(ctx context.Context) {
		wfe := scaleWorkflow(newNamespace(ctx))
		Expect(k8s.Create(ctx, wfe)).To(Succeed())
		wfe.Status.RequestedBy = managerUser
		Expect(k8s.Status().Update(ctx, wfe)).To(Succeed())
		stdout, _ := kubectl("", "get", "wfe", "-n", wfe.Namespace, "-o", "wide")
		Expect(stdout).To(ContainSubstring("REQUESTED-BY"))
		Expect(stdout).To(ContainSubstring(managerUser))
	})
})

var _ = Describe("Status", func() {
	It("is written only by the manager, even by users allowed to patch it", func(ctx context.Context) {
		ns := newNamespace(ctx)
		grantRole(ctx, ns, "tenant", "tenant", harness.TenantRules)
		grantRole(ctx, ns, "tenant", "scaler", harness.ScalerRules)
		tenant := clientAs("tenant")
		ke := scaleExecution(ns, ns)
		Expect(tenant.Create(ctx, ke)).To(Succeed())

		forged := ke.DeepCopy()
		forged.Status.Phase = kubernetesexecutionv1alpha1.ExecutionExecuting
		err := tenant.Status().Update(ctx, forged)
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring(`user "tenant" may not write the status of KubernetesExecution`))
		err = tenant.Status().Patch(ctx, forged, client.MergeFrom(ke))
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)

		wfe := libraryWorkflow(ns)
		Expect(tenant.Create(ctx, wfe)).To(Succeed())
		wfe.Status.Phase = workflowv1alpha1.WorkflowCompleted
		Expect(apierrors.IsForbidden(tenant.Status().Update(ctx, wfe))).To(BeTrue())

		Expect(k8s.Status().Update(ctx, forged)).To(Succeed(), "the manager writes status")
	})
})

var _ = Describe("The manager's own status writes", func() {
	// statusGuardCalls is how many requests the status guard has answered.
	statusGuardCalls := func() float64 {
		GinkgoHelper()
		n, err := metricstest.Sum("controller_runtime_webhook_requests_total", map[string]string{"webhook": webhook.StatusWebhookPath})
		Expect(err).NotTo(HaveOccurred())
		return n
	}

	It("skip the status webhook, which still refuses everyone else's", func(ctx context.Context) {
		// The manager sets the match condition when it starts.
		Eventually(func(g Gomega) {
			var cfg admissionregistrationv1.ValidatingWebhookConfiguration
			g.Expect(k8s.Get(ctx, client.ObjectKey{Name: harness.ValidatingWebhookConfiguration}, &cfg)).To(Succeed())
			var conditions []admissionregistrationv1.MatchCondition
			for _, w := range cfg.Webhooks {
				if w.Name == webhook.StatusWebhookName {
					conditions = w.MatchConditions
				}
			}
			g.Expect(conditions).To(ContainElement(admissionregistrationv1.MatchCondition{
				Name: webhook.OwnWritesCondition, Expression: fmt.Sprintf("request.userInfo.username != %q", managerUser),
			}))
		}).Should(Succeed())

		ns := newNamespace(ctx)
		grantRole(ctx, ns, "tenant", "tenant", harness.TenantRules)
		grantRole(ctx, ns, "tenant", "scaler", harness.ScalerRules)
		ke := scaleExecution(ns, ns)
		Expect(clientAs("tenant").Create(ctx, ke)).To(Succeed())

		before := statusGuardCalls()
		ke.Status.Phase = kubernetesexecutionv1alpha1.ExecutionValidating
		Expect(k8s.Status().Update(ctx, ke)).To(Succeed(), "the manager writes status")
		Expect(statusGuardCalls()).To(Equal(before), "the API server called the status guard for the manager's write")

		forged := ke.DeepCopy()
		forged.Status.Phase = kubernetesexecutionv1alpha1.ExecutionExecuting
		err := clientAs("tenant").Status().Update(ctx, forged)
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring(`user "tenant" may not write the status of KubernetesExecution`))
		Expect(statusGuardCalls()).To(Equal(before + 1))
	})
})

var _ = Describe("A workflow's steps", func() {
	It("are made only by the manager: nobody else may point an execution at a workflow", func(ctx context.Context) {
		ns := newNamespace(ctx)
		grantRole(ctx, ns, "tenant", "tenant", harness.TenantRules)
		grantRole(ctx, ns, "tenant", "scaler", harness.ScalerRules)
		tenant := clientAs("tenant")
		wfe := libraryWorkflow(ns)
		Expect(tenant.Create(ctx, wfe)).To(Succeed())

		owned := func(ke *kubernetesexecutionv1alpha1.KubernetesExecution) {
			ke.OwnerReferences = []metav1.OwnerReference{{APIVersion: workflowv1alpha1.GroupVersion.String(), Kind: "WorkflowExecution",
				Name: wfe.Name, UID: wfe.UID, Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}
		}
		forged := scaleExecution(ns, ns)
		forged.Name = wfe.Name + "-step-1"
		owned(forged)
		Expect(apierr.Causes(tenant.Create(ctx, forged.DeepCopy()))).To(apierr.HaveCause("metadata.ownerReferences[0]",
			"only the kubernaut manager may make an execution a step of WorkflowExecution"))

		// Nor adopt one afterwards.
		Expect(tenant.Create(ctx, scaleExecution(ns, ns))).To(Succeed())
		var ke kubernetesexecutionv1alpha1.KubernetesExecution
		Expect(tenant.Get(ctx, client.ObjectKey{Namespace: ns, Name: "scale"}, &ke)).To(Succeed())
		owned(&ke)
		Expect(apierr.Causes(tenant.Update(ctx, &ke))).To(apierr.HaveCause("metadata.ownerReferences[0]", "only the kubernaut manager"))

		// The manager may.
		Expect(k8s.Create(ctx, forged)).To(Succeed())
		Expect(strings.HasSuffix(forged.Name, "-step-1")).To(BeTrue())
	})
})
