package e2e

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	"kubernaut.io/stepvalidation/catalog"
)

// scaleExecution is a KubernetesExecution that scales ns/name to replicas.
func scaleExecution(ns, name, deployment string, replicas int) *kev1alpha1.KubernetesExecution {
	return &kev1alpha1.KubernetesExecution{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: kev1alpha1.KubernetesExecutionSpec{
			Action: "scale_deployment",
			Parameters: &runtime.RawExtension{Raw: fmt.Appendf(nil,
				`{"deployment":{"name":%q,"namespace":%q,"replicas":%d}}`, deployment, ns, replicas)},
		},
	}
}

func succeeded(reason string) OmegaMatcher {
	return ContainElement(And(HaveField("Type", commonv1alpha1.SucceededCondition), HaveField("Reason", reason)))
}

var _ = Describe("A KubernetesExecution on its own", func() {
	It("is denied by the safety policies when it would scale to zero", func(ctx context.Context) {
		ns := newNamespace(ctx)
		createDeployment(ctx, ns, "web-app", 3, nil)
		ke := scaleExecution(ns, "to-zero", "web-app", 0)
		Expect(k8s.Create(ctx, ke)).To(Succeed())
		denied := waitExecutionPhase(ctx, ke, kev1alpha1.ExecutionDenied, 2*time.Minute)
		Expect(denied.Status.Conditions).To(succeeded(commonv1alpha1.SafetyPolicyDeniedReason))
		Expect(denied.Status.ValidationResults.Safety.Message).To(ContainSubstring("no_scale_to_zero"))
		Expect(denied.Status.ExecutionResults).To(BeNil())
		Expect(replicas(ctx, ns, "web-app")).To(Equal(int32(3)))
	})

	It("is denied by the safety policies in a protected namespace", func(ctx context.Context) {
		createDeployment(ctx, "kube-public", "web-app", 1, nil)
		DeferCleanup(func(ctx context.Context) {
			Expect(k8s.DeleteAllOf(ctx, &kev1alpha1.KubernetesExecution{}, client.InNamespace("kube-public"))).To(Succeed())
		})
		ke := scaleExecution("kube-public", "protected", "web-app", 2)
		Expect(k8s.Create(ctx, ke)).To(Succeed())
		denied := waitExecutionPhase(ctx, ke, kev1alpha1.ExecutionDenied, 2*time.Minute)
		Expect(denied.Status.ValidationResults.Safety.Message).To(ContainSubstring("protected_namespaces"))
		Expect(replicas(ctx, "kube-public", "web-app")).To(Equal(int32(1)))
	})

	It("is denied when the action's ServiceAccount lacks the permissions the catalog lists", func(ctx context.Context) {
		binding := &rbacv1.ClusterRoleBinding{}
		scale, _ := catalog.Lookup("scale_deployment")
		key := client.ObjectKey{Name: scale.ClusterRoleName()}
		Expect(k8s.Get(ctx, key, binding)).To(Succeed())
		Expect(k8s.Delete(ctx, binding)).To(Succeed())
		DeferCleanup(func(ctx context.Context) {
			binding.ResourceVersion, binding.UID = "", ""
			Expect(k8s.Create(ctx, binding)).To(Succeed())
		})
		// The manager reuses the ServiceAccount's cluster-wide answer of an earlier
		// spec for --authorization-cache-ttl (1s here), in every namespace.
		time.Sleep(2 * time.Second)

		ns := newNamespace(ctx)
		createDeployment(ctx, ns, "web-app", 3, nil)
		ke := scaleExecution(ns, "no-rbac", "web-app", 4)
		Expect(k8s.Create(ctx, ke)).To(Succeed())
		denied := waitExecutionPhase(ctx, ke, kev1alpha1.ExecutionDenied, 2*time.Minute)
		Expect(denied.Status.Conditions).To(succeeded(commonv1alpha1.ForbiddenReason))
		Expect(denied.Status.ValidationResults.RBAC.Message).To(And(
			ContainSubstring("system:serviceaccount:kubernaut-system:scale-deployment-sa may not"),
			ContainSubstring("get deployments.apps, "), ContainSubstring("update deployments.apps/scale"), ContainSubstring("in namespace "+ns)))
		Expect(replicas(ctx, ns, "web-app")).To(Equal(int32(3)))
	})

	It("waits for approval when asked to, then acts", func(ctx context.Context) {
		ns := newNamespace(ctx)
		createDeployment(ctx, ns, "web-app", 3, nil)
		ke := scaleExecution(ns, "approve-me", "web-app", 4)
		ke.Spec.ExecutionStrategy.ApprovalRequired = true
		Expect(k8s.Create(ctx, ke)).To(Succeed())
		waiting := waitExecutionPhase(ctx, ke, kev1alpha1.ExecutionWaitingApproval, 2*time.Minute)
		Expect(waiting.Status.Conditions).To(succeeded(commonv1alpha1.AwaitingApprovalReason))
		Expect(waiting.Status.ValidationResults.DryRun.Passed).To(BeTrue())
		Consistently(func() int32 { return replicas(ctx, ns, "web-app") }).WithContext(ctx).WithTimeout(2 * time.Second).Should(Equal(int32(3)))

		approveAs(ctx, waiting, "approver")
		done := waitExecutionPhase(ctx, ke, kev1alpha1.ExecutionCompleted, 2*time.Minute)
		Expect(done.Status.Conditions).To(ContainElement(And(
			HaveField("Type", commonv1alpha1.SucceededCondition), HaveField("Status", metav1.ConditionTrue))))
		waitReady(ctx, ns, "web-app", 4)
	})
})
