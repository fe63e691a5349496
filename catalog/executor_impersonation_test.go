package catalog_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"kubernaut.io/stepvalidation/catalog"
)

// forbidden expects Capture of action through c to be refused by RBAC.
func forbidden(ctx context.Context, g Gomega, c client.Client, action string, params map[string]any) {
	e, _ := catalog.Lookup(action)
	_, _, err := e.Capture(ctx, c, params, "default")
	g.Expect(err).To(HaveOccurred())
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), err.Error())
}

var _ = Describe("impersonation", func() {
	It("acts as the action's ServiceAccount: allowed with the RBAC of config/rbac/actions.yaml, Forbidden without it", func(ctx context.Context) {
		ns := newNamespace(ctx)
		newDeployment(ctx, ns, "web", 1, "registry.example/web:1")
		params := map[string]any{"deployment": target("web", ns, "replicas", float64(2))}
		scaler := as("scale_deployment")

		// With the ClusterRoleBinding of actions.yaml.
		r := capture(ctx, "scale_deployment", params, ns)
		r.actOK(ctx, false)

		// Without it.
		var binding *unstructured.Unstructured
		for _, obj := range actionRBAC() {
			if obj.GetKind() == "ClusterRoleBinding" && obj.GetName() == mustAction("scale_deployment").ClusterRoleName() {
				binding = obj
			}
		}
		Expect(binding).NotTo(BeNil())
		Expect(admin.Delete(ctx, binding.DeepCopy())).To(Succeed())
		DeferCleanup(func(ctx context.Context) {
			err := admin.Create(ctx, binding.DeepCopy())
			if !apierrors.IsAlreadyExists(err) {
				Expect(err).NotTo(HaveOccurred())
			}
		})
		Eventually(func(g Gomega) { forbidden(ctx, g, scaler, "scale_deployment", params) }).WithContext(ctx).
			WithTimeout(30 * time.Second).Should(Succeed())
		_, err := r.act(ctx, false)
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring(mustAction("scale_deployment").Username(catalog.ServiceAccountNamespace)))

		// With it again.
		Expect(admin.Create(ctx, binding.DeepCopy())).To(Succeed())
		Eventually(func() error {
			e, _ := catalog.Lookup("scale_deployment")
			_, _, err := e.Capture(ctx, scaler, params, ns)
			return err
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	})

	It("grants each action only its own permissions, and only to its ServiceAccount in kubernaut-system", func(ctx context.Context) {
		// The scaler may not cordon a node, nor read a pod.
		forbidden(ctx, Default, as("scale_deployment"), "cordon_node", nodeParams("worker-1"))
		forbidden(ctx, Default, as("scale_deployment"), "delete_pod", map[string]any{"pod": target("any", "default")})
		// The same ServiceAccount name in another namespace is bound to nothing.
		elsewhere, err := client.New(mustAction("cordon_node").ImpersonatingConfig(cluster.Config, "kubernaut-elsewhere"),
			client.Options{Scheme: cluster.Scheme})
		Expect(err).NotTo(HaveOccurred())
		forbidden(ctx, Default, elsewhere, "cordon_node", nodeParams("worker-1"))
		capture(ctx, "cordon_node", nodeParams("worker-1"), "default")
	})

	It("lets the subjects of the impersonator Role impersonate the actions' ServiceAccounts and no other user", func(ctx context.Context) {
		manager := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "test-manager", Namespace: catalog.ServiceAccountNamespace}}
		Expect(admin.Create(ctx, manager)).To(Succeed())
		token := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(600))}}
		Expect(admin.SubResource("token").Create(ctx, manager, token)).To(Succeed())
		asManager := rest.AnonymousClientConfig(cluster.Config)
		asManager.BearerToken = token.Status.Token

		impersonating := func(namespace, action string) client.Client {
			c, err := client.New(mustAction(action).ImpersonatingConfig(asManager, namespace), client.Options{Scheme: cluster.Scheme})
			Expect(err).NotTo(HaveOccurred())
			return c
		}
		// Unbound, the manager may not impersonate.
		forbidden(ctx, Default, impersonating(catalog.ServiceAccountNamespace, "cordon_node"), "cordon_node", nodeParams("worker-1"))

		Expect(admin.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "test-manager-impersonates-actions", Namespace: catalog.ServiceAccountNamespace},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: catalog.ImpersonatorRoleName},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: manager.Name, Namespace: manager.Namespace}},
		})).To(Succeed())
		Eventually(func() error {
			e, _ := catalog.Lookup("cordon_node")
			_, _, err := e.Capture(ctx, impersonating(catalog.ServiceAccountNamespace, "cordon_node"), nodeParams("worker-1"), "default")
			return err
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		// Not a ServiceAccount of the same name elsewhere.
		forbidden(ctx, Default, impersonating("kube-system", "cordon_node"), "cordon_node", nodeParams("worker-1"))
	})
})
