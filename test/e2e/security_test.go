package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
	"kubernaut.io/stepvalidation/test/apierr"
	"kubernaut.io/stepvalidation/test/harness"
)

// The security model (SECURITY.md) tried as a tenant: a user who may create,
// read and update WorkflowExecutions and KubernetesExecutions, their status
// included, in their own namespace, and nothing else. Each abuse must fail with a
// clear message and leave the cluster unchanged; the same operation must succeed
// for a user who holds the rights.

// grant creates a Role of rules in ns and binds user to it; the binding's name is
// returned, to revoke it.
func grant(ctx context.Context, ns, user, role string, rules []rbacv1.PolicyRule) string {
	GinkgoHelper()
	binding, err := harness.GrantRole(ctx, k8s, ns, user, role, rules)
	Expect(err).NotTo(HaveOccurred())
	return binding
}

func execution(ns, name, action, params string) *kev1alpha1.KubernetesExecution {
	return &kev1alpha1.KubernetesExecution{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       kev1alpha1.KubernetesExecutionSpec{Action: action, Parameters: &runtime.RawExtension{Raw: []byte(params)}},
	}
}

func oneStepWorkflow(ns, name, action, params string) *workflowv1alpha1.WorkflowExecution {
	return &workflowv1alpha1.WorkflowExecution{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: workflowv1alpha1.WorkflowExecutionSpec{WorkflowDefinition: workflowv1alpha1.WorkflowDefinition{
			Steps: []workflowv1alpha1.WorkflowStep{{StepNumber: 1, Action: action, CriticalStep: true,
				Parameters: &runtime.RawExtension{Raw: []byte(params)}}},
		}},
	}
}

// deploymentState is what an abuse must not change.
func deploymentState(ctx context.Context, ns, name string) string {
	GinkgoHelper()
	var d appsv1.Deployment
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d)).To(Succeed())
	return fmt.Sprintf("replicas=%d containers=%d generation=%d annotations=%v",
		*d.Spec.Replicas, len(d.Spec.Template.Spec.Containers), d.Generation, d.Spec.Template.Annotations)
}

func nodeState(ctx context.Context, name string) string {
	GinkgoHelper()
	var n corev1.Node
	Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, &n)).To(Succeed())
	return fmt.Sprintf("unschedulable=%v taints=%v", n.Spec.Unschedulable, n.Spec.Taints)
}

var _ = Describe("A tenant", Label("security"), func() {
	var own, victim string
	var tenant client.Client
	BeforeEach(func(ctx context.Context) {
		own, victim = newNamespace(ctx), newNamespace(ctx)
		grant(ctx, own, "tenant", "tenant", harness.TenantRules)
		tenant = clientAs("tenant")
		createDeployment(ctx, victim, "web-app", 2, nil)
	})

	It("cannot scale, patch or restart a Deployment of another namespace, nor touch a Node", func(ctx context.Context) {
		before := deploymentState(ctx, victim, "web-app")
		nodeBefore := nodeState(ctx, "worker-1")
		deployment := fmt.Sprintf(`{"name":"web-app","namespace":%q`, victim)
		for _, abuse := range []struct {
			action, params, field, want string
		}{
			{"scale_deployment", `{"deployment":` + deployment + `,"replicas":9}}`, "deployment",
				fmt.Sprintf(`user "tenant" cannot update deployments.apps/scale "web-app" in namespace %q (needed by scale_deployment)`, victim)},
			{"patch_deployment", `{"deployment":` + deployment + `},"patch":{"spec":{"template":{"spec":{"containers":[{"name":"miner","image":"evil"}]}}}}}`,
				"deployment", `user "tenant" cannot patch deployments.apps "web-app"`},
			{"rollout_restart", `{"deployment":` + deployment + `}}`, "deployment", `user "tenant" cannot patch deployments.apps "web-app"`},
			{"taint_node", `{"node":{"name":"worker-1"},"taint":{"key":"evil","effect":"NoExecute"}}`, "node",
				`user "tenant" cannot patch nodes "worker-1" cluster-wide (needed by taint_node)`},
			{"cordon_node", `{"node":{"name":"worker-1"}}`, "node", `user "tenant" cannot patch nodes "worker-1" cluster-wide`},
			{"drain_node", `{"node":{"name":"worker-1"}}`, "node", `user "tenant" cannot create pods/eviction cluster-wide (needed by drain_node)`},
		} {
			By(abuse.action + " as a KubernetesExecution")
			ke := execution(own, strings.ReplaceAll(abuse.action, "_", "-"), abuse.action, abuse.params)
			Expect(apierr.Causes(tenant.Create(ctx, ke))).To(apierr.HaveCause("spec.parameters."+abuse.field, abuse.want))
			By(abuse.action + " as a workflow step")
			wfe := oneStepWorkflow(own, strings.ReplaceAll(abuse.action, "_", "-"), abuse.action, abuse.params)
			Expect(apierr.Causes(tenant.Create(ctx, wfe))).To(
				apierr.HaveCause("spec.workflowDefinition.steps[0].parameters."+abuse.field, abuse.want))
		}
		Consistently(func() string { return deploymentState(ctx, victim, "web-app") }).WithContext(ctx).
			WithTimeout(2 * time.Second).Should(Equal(before))
		Expect(nodeState(ctx, "worker-1")).To(Equal(nodeBefore))
	})

	It("cannot read a ConfigMap of kube-system through a precondition's message in a dry run", func(ctx context.Context) {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "cluster-secrets-", Namespace: "kube-system"},
			Data: map[string]string{"token": "do-not-leak-7f3a"}}
		Expect(k8s.Create(ctx, cm)).To(Succeed())
		DeferCleanup(func(ctx context.Context) { Expect(k8s.Delete(ctx, cm)).To(Succeed()) })
		ke := execution(own, "peek", "update_configmap",
			fmt.Sprintf(`{"configmap":{"name":%q,"namespace":"kube-system"},"data":{"x":"y"}}`, cm.Name))
		ke.Spec.PreConditions = []commonv1alpha1.ValidationCondition{{Type: "peek",
			Rego: "package peek\nimport rego.v1\nallow := false\nerror_message := sprintf(\"%v\", [input])"}}
		err := tenant.Create(ctx, ke, client.DryRunAll)
		Expect(apierr.Causes(err)).To(apierr.HaveCause("spec.parameters.configmap",
			fmt.Sprintf(`user "tenant" cannot get configmaps %q in namespace "kube-system" (needed by update_configmap)`, cm.Name)))
		Expect(err.Error()).NotTo(ContainSubstring("do-not-leak"))
	})

	It("cannot make a denied execution act by writing its status", func(ctx context.Context) {
		// The tenant may scale in their own namespace: scaling to zero is admitted,
		// then denied by the safety policies.
		grant(ctx, own, "tenant", "scaler", harness.ScalerRules)
		createDeployment(ctx, own, "web-app", 2, nil)
		ke := scaleExecution(own, "to-zero", "web-app", 0)
		Expect(tenant.Create(ctx, ke)).To(Succeed())
		denied := waitExecutionPhase(ctx, ke, kev1alpha1.ExecutionDenied, time.Minute)

		forged := denied.DeepCopy()
		forged.Status.Phase = kev1alpha1.ExecutionExecuting
		forged.Status.CompletionTime = nil
		err := tenant.Status().Patch(ctx, forged, client.MergeFrom(denied))
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring(`user "tenant" may not write the status of KubernetesExecution`))
		Consistently(func() int32 { return replicas(ctx, own, "web-app") }).WithContext(ctx).
			WithTimeout(2 * time.Second).Should(Equal(int32(2)))
	})

	It("cannot slip an execution of their own into a workflow as its step", func(ctx context.Context) {
		grant(ctx, own, "tenant", "scaler", harness.ScalerRules)
		createDeployment(ctx, own, "web-app", 2, nil)
		params := fmt.Sprintf(`{"deployment":{"name":"web-app","namespace":%q,"replicas":3}}`, own)

		By("a forged controller reference is refused")
		wfe := oneStepWorkflow(own, "scale", "scale_deployment", params)
		Expect(tenant.Create(ctx, wfe)).To(Succeed())
		squatter := execution(own, "scale-step-1", "scale_deployment",
			fmt.Sprintf(`{"deployment":{"name":"web-app","namespace":%q,"replicas":0}}`, own))
		squatter.OwnerReferences = []metav1.OwnerReference{{APIVersion: workflowv1alpha1.GroupVersion.String(), Kind: "WorkflowExecution",
			Name: wfe.Name, UID: wfe.UID, Controller: ptr.To(true)}}
		Expect(apierr.Causes(tenant.Create(ctx, squatter.DeepCopy()))).To(apierr.HaveCause("metadata.ownerReferences[0]",
			`only the kubernaut manager may make an execution a step of WorkflowExecution "scale"`))

		By("an object in the way fails the step at once, naming it")
		other := oneStepWorkflow(own, "other", "scale_deployment", params)
		other.Spec.ExecutionStrategy.ApprovalRequired = true // nothing acts before the squatter is in place
		Expect(tenant.Create(ctx, other)).To(Succeed())
		squatter.Name, squatter.OwnerReferences = "other-step-1", nil
		Expect(tenant.Create(ctx, squatter)).To(Succeed())
		approveAs(ctx, waitPhase(ctx, other, workflowv1alpha1.WorkflowWaitingApproval, time.Minute), "approver")
		failed := waitPhase(ctx, other, workflowv1alpha1.WorkflowFailed, time.Minute)
		Expect(failed.Status.StepStatuses[0].Message).To(ContainSubstring(
			"KubernetesExecution other-step-1 exists and was not created by the manager for this workflow"))
	})
})

var _ = Describe("A user who holds the rights", Label("security"), func() {
	It("runs a workflow on a Deployment of another namespace, recorded as its requester, under a name of any length", func(ctx context.Context) {
		own, target := newNamespace(ctx), newNamespace(ctx)
		grant(ctx, own, "operator", "tenant", harness.TenantRules)
		grant(ctx, target, "operator", "scaler", harness.ScalerRules)
		createDeployment(ctx, target, "web-app", 2, nil)
		name := "scale-" + strings.Repeat("a-very-long-workflow-name-", 8) + "end"
		wfe := oneStepWorkflow(own, name, "scale_deployment",
			fmt.Sprintf(`{"deployment":{"name":"web-app","namespace":%q,"replicas":3}}`, target))
		Expect(clientAs("operator").Create(ctx, wfe)).To(Succeed())
		done := waitPhase(ctx, wfe, workflowv1alpha1.WorkflowCompleted, 2*time.Minute)
		Expect(replicas(ctx, target, "web-app")).To(Equal(int32(3)))
		Expect(done.Status.RequestedBy).To(Equal("operator"))
		step := done.Status.StepStatuses[0].K8sExecutionRef.Name
		Expect(len(step)).To(BeNumerically("<=", 63))
		Expect(step).To(HaveSuffix("-step-1"))
		var ke kev1alpha1.KubernetesExecution
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: own, Name: step}, &ke)).To(Succeed())
		Expect(ke.Status.RequestedBy).To(Equal("operator"))
		Expect(kubectl("get", "wfe", "-n", own, "-o", "wide")).To(ContainSubstring("operator"))
	})

	It("changes one key of a ConfigMap, and status shows only that key, before and after", func(ctx context.Context) {
		ns := newNamespace(ctx)
		grant(ctx, ns, "operator", "tenant", harness.TenantRules)
		grant(ctx, ns, "operator", "configs", []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"},
			ResourceNames: []string{"app-config"}, Verbs: []string{"get", "patch"}}})
		Expect(k8s.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app-config", Namespace: ns},
			Data: map[string]string{"log_level": "info", "db_password": "s3cret-9c1"}})).To(Succeed())
		ke := execution(ns, "debug-logs", "update_configmap",
			fmt.Sprintf(`{"configmap":{"name":"app-config","namespace":%q},"data":{"log_level":"debug"}}`, ns))
		Expect(clientAs("operator").Create(ctx, ke)).To(Succeed())
		done := waitExecutionPhase(ctx, ke, kev1alpha1.ExecutionCompleted, time.Minute)
		affected := done.Status.ExecutionResults.ResourcesAffected[0]
		Expect(affected.Before).To(HaveKeyWithValue("data", `{"log_level":"info"}`))
		Expect(affected.After).To(HaveKeyWithValue("data", `{"log_level":"debug"}`))
		status, err := json.Marshal(done.Status)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(status)).NotTo(ContainSubstring("s3cret"))
		Expect(string(status)).NotTo(ContainSubstring("db_password"))
	})

	It("loses a pending run when their Role is revoked: it is denied, not acted on", func(ctx context.Context) {
		ns := newNamespace(ctx)
		grant(ctx, ns, "operator", "tenant", harness.TenantRules)
		binding := grant(ctx, ns, "operator", "scaler", harness.ScalerRules)
		createDeployment(ctx, ns, "web-app", 2, nil)
		ke := scaleExecution(ns, "revoked", "web-app", 4)
		ke.Spec.ExecutionStrategy.ApprovalRequired = true
		Expect(clientAs("operator").Create(ctx, ke)).To(Succeed())
		waiting := waitExecutionPhase(ctx, ke, kev1alpha1.ExecutionWaitingApproval, time.Minute)

		Expect(k8s.Delete(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: binding, Namespace: ns}})).To(Succeed())
		// The manager reuses an allowed answer for --authorization-cache-ttl (1s here).
		time.Sleep(2 * time.Second)
		approveAs(ctx, waiting, "approver")
		denied := waitExecutionPhase(ctx, ke, kev1alpha1.ExecutionDenied, time.Minute)
		Expect(denied.Status.Conditions).To(succeeded(commonv1alpha1.ForbiddenReason))
		Expect(denied.Status.Message).To(ContainSubstring(
			fmt.Sprintf(`user "operator" cannot update deployments.apps/scale "web-app" in namespace %q (needed by scale_deployment)`, ns)))
		Expect(replicas(ctx, ns, "web-app")).To(Equal(int32(2)))
	})
})
