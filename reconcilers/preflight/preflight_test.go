package preflight_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	"kubernaut.io/stepvalidation/catalog"
	"kubernaut.io/stepvalidation/internal/reconcilertest"
	"kubernaut.io/stepvalidation/reconcilers/preflight"
)

// TestChecker runs the checks against a real API server, with the actions'
// ServiceAccounts and roles installed as config/rbac ships them: each check that
// can refuse does, with its reason, and none of them changes the cluster.
func TestChecker(t *testing.T) {
	cluster := reconcilertest.Cluster(t)
	c := cluster.Client
	checker := reconcilertest.Checker(t, cluster, c)
	scale := action(t, "scale_deployment")
	admin := reconcilertest.Requested("admin")

	check := func(t *testing.T, checker *preflight.Checker, annotations map[string]string, params map[string]any, ns string) *preflight.Refusal {
		t.Helper()
		refused, err := checker.Check(t.Context(), annotations, scale, params, ns)
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		return refused
	}
	expectRefused := func(t *testing.T, refused *preflight.Refusal, reason string, says ...string) {
		t.Helper()
		if refused == nil {
			t.Fatalf("not refused, want %s", reason)
		}
		if refused.Reason != reason {
			t.Fatalf("refused %s (%s), want %s", refused.Reason, refused.Message, reason)
		}
		for _, s := range says {
			if !strings.Contains(refused.Message, s) {
				t.Errorf("message %q does not say %q", refused.Message, s)
			}
		}
	}

	t.Run("a scale the requester and the action may make passes, and changes nothing", func(t *testing.T) {
		ns := reconcilertest.Namespace(t, c)
		reconcilertest.Deployment(t, c, ns, "web", 1)
		if refused := check(t, checker, admin, scaleParams(ns, "web", 3), ns); refused != nil {
			t.Fatalf("refused: %s: %s", refused.Reason, refused.Message)
		}
		if n := reconcilertest.Replicas(t, c, ns, "web"); n != 1 {
			t.Fatalf("replicas = %d after the checks, want 1: the dry run acted", n)
		}
		captured, msg, ok := checker.DryRun(t.Context(), scale, scaleParams(ns, "web", 3), ns)
		if !ok || captured == nil {
			t.Fatalf("dry run: %s", msg)
		}
		if captured.Target.Name != "web" || captured.Before["replicas"] != "1" {
			t.Errorf("captured %s with %v, want web with replicas 1", captured.Target, captured.Before)
		}
	})

	t.Run("a requester who may not scale the target is refused", func(t *testing.T) {
		ns := reconcilertest.Namespace(t, c)
		reconcilertest.Deployment(t, c, ns, "web", 1)
		refused := check(t, checker, reconcilertest.Requested("mallory"), scaleParams(ns, "web", 3), ns)
		expectRefused(t, refused, commonv1alpha1.ForbiddenReason, "mallory")
	})

	t.Run("an action whose ServiceAccount lacks its role is refused, naming the role to bind", func(t *testing.T) {
		ns := reconcilertest.Namespace(t, c)
		reconcilertest.Deployment(t, c, ns, "web", 1)
		unbound := reconcilertest.Checker(t, cluster, c)
		unbound.Namespace = "no-service-accounts-here"
		refused := check(t, unbound, admin, scaleParams(ns, "web", 3), ns)
		expectRefused(t, refused, commonv1alpha1.ForbiddenReason,
			"system:serviceaccount:no-service-accounts-here:", "bind it ClusterRole "+scale.ClusterRoleName())
	})

	t.Run("a scale above the replica ceiling is refused by the safety policies", func(t *testing.T) {
		ns := reconcilertest.Namespace(t, c)
		reconcilertest.Deployment(t, c, ns, "web", 1)
		ceiling := reconcilertest.Checker(t, cluster, c)
		ceiling.ReplicaCeiling = 5
		refused := check(t, ceiling, admin, scaleParams(ns, "web", 6), ns)
		expectRefused(t, refused, commonv1alpha1.SafetyPolicyDeniedReason, "safety policy denied the action")
		if refused := check(t, ceiling, admin, scaleParams(ns, "web", 5), ns); refused != nil {
			t.Errorf("a scale to the ceiling refused: %s", refused.Message)
		}
	})

	t.Run("a namespace the manager was told to protect is refused by the safety policies", func(t *testing.T) {
		ns := reconcilertest.Namespace(t, c)
		reconcilertest.Deployment(t, c, ns, "web", 1)
		protecting := reconcilertest.Checker(t, cluster, c)
		protecting.ProtectedNamespaces = []string{"payments", ns}
		refused := check(t, protecting, admin, scaleParams(ns, "web", 2), ns)
		expectRefused(t, refused, commonv1alpha1.SafetyPolicyDeniedReason, "protected_namespaces", ns)
	})

	t.Run("a target the API server would not accept the change to fails the dry run", func(t *testing.T) {
		ns := reconcilertest.Namespace(t, c)
		refused := check(t, checker, admin, scaleParams(ns, "missing", 3), ns)
		expectRefused(t, refused, commonv1alpha1.DryRunFailedReason, "missing")
	})

	t.Run("a drain a PodDisruptionBudget holds back passes the dry run, saying acting will wait", func(t *testing.T) {
		ns := reconcilertest.Namespace(t, c)
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{GenerateName: "worker-"}}
		reconcilertest.Create(t, c, node)
		labels := map[string]string{"app": "db"}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "db-0", Namespace: ns, Labels: labels},
			Spec:       corev1.PodSpec{NodeName: node.Name, Containers: []corev1.Container{{Name: "db", Image: "registry.example/db:1"}}},
		}
		reconcilertest.Create(t, c, pod)
		// A pending pod may be evicted whatever its budget says: this one runs.
		pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
		if err := c.Status().Update(t.Context(), pod); err != nil {
			t.Fatal(err)
		}
		// No disruption controller observes the budget here: the API server
		// refuses its evictions, as it does for a new or changed budget (with
		// Retry-After, which the actions' clients do not sleep on).
		reconcilertest.Create(t, c, &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
			Spec: policyv1.PodDisruptionBudgetSpec{
				MinAvailable: ptr.To(intstr.FromInt32(1)),
				Selector:     &metav1.LabelSelector{MatchLabels: labels},
			},
		})
		drain := action(t, "drain_node")
		captured, msg, ok := checker.DryRun(t.Context(), drain, map[string]any{"node": map[string]any{"name": node.Name}}, ns)
		if !ok || captured == nil {
			t.Fatalf("dry run refused: %s", msg)
		}
		if !strings.Contains(msg, "acting will wait") || !strings.Contains(msg, ns+"/db-0") {
			t.Errorf("message %q does not say that acting will wait for %s/db-0", msg, ns)
		}
		var after corev1.Node
		if err := c.Get(t.Context(), ctrlclient.ObjectKey{Name: node.Name}, &after); err != nil {
			t.Fatal(err)
		}
		if after.Spec.Unschedulable {
			t.Error("the dry run cordoned the node")
		}
	})

	t.Run("one impersonating client per action", func(t *testing.T) {
		first, err := checker.ClientFor(scale)
		if err != nil {
			t.Fatal(err)
		}
		again, err := checker.ClientFor(scale)
		if err != nil {
			t.Fatal(err)
		}
		other, err := checker.ClientFor(action(t, "restart_pod"))
		if err != nil {
			t.Fatal(err)
		}
		if first != again {
			t.Error("a second client was built for the same action")
		}
		if first == other {
			t.Error("two actions share one client: one would act as the other's ServiceAccount")
		}
	})
}

func action(t *testing.T, name string) *catalog.Action {
	t.Helper()
	a, ok := catalog.Lookup(name)
	if !ok {
		t.Fatalf("no action %s", name)
	}
	return a
}

func scaleParams(ns, name string, replicas int) map[string]any {
	return map[string]any{"deployment": map[string]any{"name": name, "namespace": ns, "replicas": int64(replicas)}}
}
