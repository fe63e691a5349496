package harness

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The roles the security tests give their users.
var (
	// TenantRules let a user create, read and update both kinds, their status
	// included (as namespace-admin roles commonly do), and nothing else.
	TenantRules = []rbacv1.PolicyRule{
		{APIGroups: []string{"workflow.kubernaut.io"}, Resources: []string{"workflowexecutions", "workflowexecutions/status"},
			Verbs: []string{"create", "get", "list", "watch", "update", "patch"}},
		{APIGroups: []string{"kubernetesexecution.kubernaut.io"}, Resources: []string{"kubernetesexecutions", "kubernetesexecutions/status"},
			Verbs: []string{"create", "get", "list", "watch", "update", "patch"}},
	}
	// ScalerRules let a user scale Deployments, as scale_deployment needs.
	ScalerRules = []rbacv1.PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"deployments", "deployments/scale"},
			Verbs: []string{"get", "list", "watch", "update", "patch"}},
	}
)

// GrantRole creates a Role named role of rules in ns and binds user to it; it
// returns the binding's name, to revoke it.
func GrantRole(ctx context.Context, c client.Client, ns, user, role string, rules []rbacv1.PolicyRule) (string, error) {
	if err := c.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: role, Namespace: ns}, Rules: rules}); err != nil {
		return "", fmt.Errorf("creating Role %s/%s: %w", ns, role, err)
	}
	binding := user + "-" + role
	err := c.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: binding, Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	})
	if err != nil {
		return "", fmt.Errorf("binding %s to Role %s/%s: %w", user, ns, role, err)
	}
	return binding, nil
}
