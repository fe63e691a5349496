package catalog_test

import (
	"context"
	"errors"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"kubernaut.io/stepvalidation/catalog"
)

// scratchNode creates a Node for a cordon or taint test, reserved like the drain
// nodes so that no other test's pods land on it.
func scratchNode(ctx context.Context, unschedulable bool, taints ...corev1.Taint) string {
	GinkgoHelper()
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "scratch-", Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"}},
		Spec:       corev1.NodeSpec{Unschedulable: unschedulable, Taints: append([]corev1.Taint{testTaint}, taints...)},
	}
	Expect(admin.Create(ctx, node)).To(Succeed())
	return node.Name
}

// observeNode renders spec.unschedulable and the node's example.com taints: the
// node lifecycle controller manages taints of its own.
func observeNode(ctx context.Context, name string) func() string {
	return func() string {
		var node corev1.Node
		Expect(admin.Get(ctx, client.ObjectKey{Name: name}, &node)).To(Succeed())
		var taints []corev1.Taint
		for _, t := range node.Spec.Taints {
			if strings.HasPrefix(t.Key, "example.com/") {
				taints = append(taints, t)
			}
		}
		return jsonOf([]any{node.Spec.Unschedulable, taints})
	}
}

func nodeParams(name string) map[string]any {
	return map[string]any{"node": map[string]any{"name": name}}
}

func taintParams(node, key, value, effect string) map[string]any {
	taint := map[string]any{"key": key, "effect": effect}
	if value != "" {
		taint["value"] = value
	}
	return map[string]any{"node": map[string]any{"name": node}, "taint": taint}
}

var maintenance = corev1.Taint{Key: "example.com/maintenance", Value: "old", Effect: corev1.TaintEffectNoSchedule}

var _ = Describe("node actions", func() {
	It("cordon_node marks a Node unschedulable, and its inverse uncordons it", func(ctx context.Context) {
		name := scratchNode(ctx, false)
		r := exercise(ctx, "cordon_node", nodeParams(name), "default", observeNode(ctx, name))
		Expect(r.target).To(Equal(catalog.ObjectRef{Kind: "Node", Name: name}))
		Expect(r.before).To(Equal(map[string]string{"unschedulable": "false"}))
		Expect(r.after).To(Equal(map[string]string{"unschedulable": "true"}))
		u := undo(ctx, r)
		Expect(u.action).To(Equal("uncordon_node"))
		Expect(observeNode(ctx, name)()).To(HavePrefix("[false"))

		expectMissing(ctx, "cordon_node", nodeParams("nope"), "Node nope")
	})

	It("uncordon_node marks a Node schedulable, and its inverse cordons it again", func(ctx context.Context) {
		name := scratchNode(ctx, true)
		r := exercise(ctx, "uncordon_node", nodeParams(name), "default", observeNode(ctx, name))
		Expect(r.before).To(Equal(map[string]string{"unschedulable": "true"}))
		Expect(r.after).To(Equal(map[string]string{"unschedulable": "false"}))
		undo(ctx, r)
		Expect(observeNode(ctx, name)()).To(HavePrefix("[true"))

		expectMissing(ctx, "uncordon_node", nodeParams("nope"), "Node nope")
	})

	It("taint_node adds a taint, and its inverse removes it", func(ctx context.Context) {
		name := scratchNode(ctx, false)
		r := exercise(ctx, "taint_node", taintParams(name, "example.com/maintenance", "yes", "NoExecute"), "default", observeNode(ctx, name))
		Expect(r.before).To(Equal(map[string]string{"taint_present": "false"}))
		Expect(r.after).To(Equal(map[string]string{"taint_present": "true", "taint_value": "yes"}))
		Expect(observeNode(ctx, name)()).To(ContainSubstring(`"key":"example.com/maintenance","value":"yes","effect":"NoExecute"`))
		u := undo(ctx, r)
		Expect(u.action).To(Equal("untaint_node"))
		Expect(observeNode(ctx, name)()).To(Equal("[false,null]"))

		expectMissing(ctx, "taint_node", taintParams("nope", "example.com/maintenance", "", "NoSchedule"), "Node nope")
	})

	It("taint_node sets the value of the taint of the same key and effect, and its inverse sets the old value back", func(ctx context.Context) {
		name := scratchNode(ctx, false, maintenance)
		r := exercise(ctx, "taint_node", taintParams(name, maintenance.Key, "new", "NoSchedule"), "default", observeNode(ctx, name))
		Expect(r.before).To(Equal(map[string]string{"taint_present": "true", "taint_value": "old"}))
		Expect(observeNode(ctx, name)()).To(ContainSubstring(`"value":"new"`))
		undo(ctx, r)
		Expect(observeNode(ctx, name)()).To(ContainSubstring(`"value":"old"`))
	})

	It("untaint_node removes the taint of a key and effect, and its inverse puts it back with its value", func(ctx context.Context) {
		name := scratchNode(ctx, false, maintenance)
		r := exercise(ctx, "untaint_node", taintParams(name, maintenance.Key, "", "NoSchedule"), "default", observeNode(ctx, name))
		Expect(r.before).To(Equal(map[string]string{"taint_present": "true", "taint_value": "old"}))
		Expect(r.after).To(Equal(map[string]string{"taint_present": "false"}))
		Expect(observeNode(ctx, name)()).To(Equal("[false,null]"))
		u := undo(ctx, r)
		Expect(u.action).To(Equal("taint_node"))
		Expect(observeNode(ctx, name)()).To(ContainSubstring(`"key":"example.com/maintenance","value":"old","effect":"NoSchedule"`))

		expectMissing(ctx, "untaint_node", taintParams("nope", maintenance.Key, "", "NoSchedule"), "Node nope")
	})

	It("drain_node evicts nothing a PodDisruptionBudget guards and says to retry; once the budget allows, it evicts them", func(ctx context.Context) {
		ns := newNamespace(ctx)
		onNode := func(template corev1.PodTemplateSpec) corev1.PodTemplateSpec {
			template.Spec.NodeSelector = map[string]string{corev1.LabelHostname: "drain-1"}
			template.Spec.Tolerations = []corev1.Toleration{{Key: testTaint.Key, Operator: corev1.TolerationOpExists}}
			return template
		}
		guarded := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "guarded", Namespace: ns},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To(int32(2)),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "guarded"}},
				Template: onNode(podTemplate("guarded", "registry.example/web:1")),
			},
		}
		Expect(admin.Create(ctx, guarded)).To(Succeed())
		agent := &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: ns},
			Spec: appsv1.DaemonSetSpec{
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
				Template: onNode(podTemplate("agent", "registry.example/agent:1")),
			},
		}
		Expect(admin.Create(ctx, agent)).To(Succeed())
		free := newBarePod(ctx, ns, "free", "drain-1")
		budget := &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: "all-of-them", Namespace: ns},
			Spec: policyv1.PodDisruptionBudgetSpec{
				MinAvailable: ptr.To(intstr.FromInt32(2)),
				Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "guarded"}},
			},
		}
		Expect(admin.Create(ctx, budget)).To(Succeed())
		guardedPods := waitForReadyPods(ctx, ns, "guarded", 2)
		agentPod := waitForReadyPods(ctx, ns, "agent", 1)[0]
		Eventually(func(g Gomega) {
			g.Expect(admin.Get(ctx, client.ObjectKeyFromObject(budget), budget)).To(Succeed())
			g.Expect(budget.Status.ObservedGeneration).To(Equal(budget.Generation))
			g.Expect(budget.Status.CurrentHealthy).To(BeEquivalentTo(2))
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
		Expect(budget.Status.DisruptionsAllowed).To(BeEquivalentTo(0))

		params := nodeParams("drain-1")
		r := capture(ctx, "drain_node", params, ns)
		Expect(r.target).To(Equal(catalog.ObjectRef{Kind: "Node", Name: "drain-1"}))
		Expect(r.before).To(Equal(map[string]string{"unschedulable": "false"}))

		// A dry run asks the same questions: the budget refuses it too, and it
		// changes nothing.
		_, err := r.act(ctx, true)
		Expect(errors.Is(err, catalog.ErrRetryLater)).To(BeTrue(), "%v", err)
		Expect(observeNode(ctx, "drain-1")()).To(HavePrefix("[false"))
		Expect(gone(ctx, *free)).To(BeFalse(), "the dry run evicted a pod")

		guardedNames := []string{ns + "/" + guardedPods[0].Name, ns + "/" + guardedPods[1].Name}
		for range 2 { // and again, as after a restart
			_, err := r.act(ctx, false)
			var retry *catalog.RetryLaterError
			Expect(errors.As(err, &retry)).To(BeTrue(), "%v", err)
			Expect(errors.Is(err, catalog.ErrRetryLater)).To(BeTrue())
			Expect(retry.Waiting).To(ConsistOf(guardedNames))
			Expect(retry.After).To(BeNumerically(">", 0))
			Expect(err.Error()).To(ContainSubstring("draining Node drain-1"))
			Expect(observeNode(ctx, "drain-1")()).To(HavePrefix("[true"), "the drain cordons the node first")
			for _, p := range guardedPods {
				Expect(gone(ctx, p)).To(BeFalse(), "a guarded pod was evicted: %s", p.Name)
			}
		}
		Eventually(func() bool { return gone(ctx, *free) }).WithContext(ctx).Should(BeTrue(), "the unguarded pod is evicted")

		Expect(admin.Delete(ctx, budget)).To(Succeed())
		Expect(r.actOK(ctx, false)).To(Equal(map[string]string{"unschedulable": "true", "evicted": "2"}))
		for _, p := range guardedPods {
			Eventually(func() bool { return gone(ctx, p) }).WithContext(ctx).Should(BeTrue(), p.Name)
		}
		Expect(r.actOK(ctx, false)).To(Equal(map[string]string{"unschedulable": "true", "evicted": "0"}), "nothing is left to evict")
		Expect(gone(ctx, agentPod)).To(BeFalse(), "a DaemonSet pod was evicted")

		u := undo(ctx, r)
		Expect(u.action).To(Equal("uncordon_node"))
		Expect(observeNode(ctx, "drain-1")()).To(HavePrefix("[false"))

		expectMissing(ctx, "drain_node", nodeParams("nope"), "Node nope")
	})

	It("drain_node stops at pods with emptyDir data unless deleteEmptyDirData", func(ctx context.Context) {
		ns := newNamespace(ctx)
		cache := newBarePod(ctx, ns, "cache", "drain-2", corev1.Volume{
			Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}},
		})
		waitForReadyPods(ctx, ns, "cache", 1)

		r := capture(ctx, "drain_node", nodeParams("drain-2"), ns)
		_, err := r.act(ctx, false)
		Expect(err).To(MatchError(And(ContainSubstring("deleteEmptyDirData"), ContainSubstring(ns+"/cache"))))
		Expect(errors.Is(err, catalog.ErrRetryLater)).To(BeFalse(), "only a change of parameters lets the drain go on")
		Expect(gone(ctx, *cache)).To(BeFalse())

		r = capture(ctx, "drain_node", map[string]any{"node": map[string]any{"name": "drain-2", "deleteEmptyDirData": true, "gracePeriodSeconds": float64(0)}}, ns)
		Expect(r.before).To(Equal(map[string]string{"unschedulable": "true"}), "the refused drain had cordoned the node")
		Expect(r.actOK(ctx, false)).To(HaveKeyWithValue("evicted", "1"))
		Eventually(func() bool { return gone(ctx, *cache) }).WithContext(ctx).Should(BeTrue())
		undo(ctx, r)
		Expect(observeNode(ctx, "drain-2")()).To(HavePrefix("[true"), "the inverse keeps a node that was cordoned before cordoned")
	})
})
