package e2e

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
)

// bindClusterRole binds user to one of the ClusterRoles the project ships, in ns,
// as the operator guide says to: kubectl create rolebinding NAME -n NS
// --clusterrole=ROLE --user=USER.
func bindClusterRole(ctx context.Context, ns, user, clusterRole string) {
	GinkgoHelper()
	Expect(k8s.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: user + "-" + clusterRole, Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	})).To(Succeed())
}

// decide appends user's decision to the run's spec.approvals, as user, and
// returns the API server's answer.
func decide(ctx context.Context, obj client.Object, user string, d commonv1alpha1.ApprovalDecision, reason string) error {
	GinkgoHelper()
	c := clientAs(user)
	entry := commonv1alpha1.Approval{Approver: user, Decision: d, Reason: reason}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		switch o := obj.(type) {
		case *workflowv1alpha1.WorkflowExecution:
			var live workflowv1alpha1.WorkflowExecution
			if err := c.Get(ctx, client.ObjectKeyFromObject(o), &live); err != nil {
				return err
			}
			live.Spec.Approvals = append(live.Spec.Approvals, entry)
			return c.Update(ctx, &live)
		case *kev1alpha1.KubernetesExecution:
			var live kev1alpha1.KubernetesExecution
			if err := c.Get(ctx, client.ObjectKeyFromObject(o), &live); err != nil {
				return err
			}
			live.Spec.Approvals = append(live.Spec.Approvals, entry)
			return c.Update(ctx, &live)
		}
		Fail("decide: not a run")
		return nil
	})
}

// approveAs binds user to kubernaut-approver in the run's namespace and approves.
func approveAs(ctx context.Context, obj client.Object, user string) {
	GinkgoHelper()
	bindClusterRole(ctx, obj.GetNamespace(), user, "kubernaut-approver")
	Expect(decide(ctx, obj, user, commonv1alpha1.Approve, "checked the change")).To(Succeed())
}
