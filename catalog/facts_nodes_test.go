package catalog_test

import (
	"context"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"kubernaut.io/stepvalidation/catalog"
	"kubernaut.io/stepvalidation/conditions"
	"kubernaut.io/stepvalidation/conditions/facts"
	"kubernaut.io/stepvalidation/test/harness"
)

// nodeFactsNodes are the nodes of the node facts' cluster.
var nodeFactsNodes = []string{"worker-1", "worker-2", "worker-3"}

// nodeFactsTestTaint is the prefix of the taints the tests add.
const nodeFactsTestTaint = "example.com/"

var _ = Describe("node facts", Ordered, func() {
	var (
		nodeClient client.Client
		nodeReader client.Reader // an informer cache, as the manager's
	)

	BeforeAll(func(ctx context.Context) {
		var nodes []harness.Node
		for _, name := range nodeFactsNodes {
			nodes = append(nodes, harness.Node{Name: name, CPU: "4", Memory: "8Gi"})
		}
		nodeClient, nodeReader = startCluster(ctx, nodes)
	}, NodeTimeout(3*time.Minute))

	// Each spec starts from Ready, schedulable nodes without taints: what a spec
	// cordoned or tainted is put back after it.
	AfterEach(func(ctx context.Context) {
		for _, name := range nodeFactsNodes {
			Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
				var n corev1.Node
				if err := nodeClient.Get(ctx, client.ObjectKey{Name: name}, &n); err != nil {
					return err
				}
				n.Spec.Unschedulable = false
				var kept []corev1.Taint
				for _, t := range n.Spec.Taints {
					if !strings.HasPrefix(t.Key, nodeFactsTestTaint) {
						kept = append(kept, t)
					}
				}
				n.Spec.Taints = kept
				return nodeClient.Update(ctx, &n)
			})).To(Succeed())
		}
		// The node lifecycle controller removes the unschedulable taint it added.
		Eventually(func(g Gomega) {
			for _, name := range nodeFactsNodes {
				var n corev1.Node
				g.Expect(nodeReader.Get(ctx, client.ObjectKey{Name: name}, &n)).To(Succeed())
				g.Expect(n.Spec.Unschedulable).To(BeFalse())
				g.Expect(n.Spec.Taints).To(BeEmpty())
			}
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
	})

	// gather gathers the facts of action on node from the cache and checks that
	// every fact of the action's catalog entry is there.
	gather := func(ctx context.Context, g Gomega, action string, params map[string]any, phase facts.Phase) map[string]any {
		doc, err := facts.Gather(ctx, nodeReader, action, params, phase, nil)
		g.Expect(err).NotTo(HaveOccurred())
		a, ok := catalog.Lookup(action)
		g.Expect(ok).To(BeTrue())
		for _, key := range a.FactKeys() {
			g.Expect(doc).To(HaveKey(key), "fact %s of %s", key, action)
		}
		return doc
	}

	// cordon sets spec.unschedulable of node.
	cordon := func(ctx context.Context, node string, unschedulable bool) {
		GinkgoHelper()
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			var n corev1.Node
			if err := nodeClient.Get(ctx, client.ObjectKey{Name: node}, &n); err != nil {
				return err
			}
			n.Spec.Unschedulable = unschedulable
			return nodeClient.Update(ctx, &n)
		})).To(Succeed())
	}

	// taint adds taint to node, or sets the value of its taint of the same key and
	// effect (kubectl taint --overwrite).
	taint := func(ctx context.Context, node string, taint corev1.Taint) {
		GinkgoHelper()
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			var n corev1.Node
			if err := nodeClient.Get(ctx, client.ObjectKey{Name: node}, &n); err != nil {
				return err
			}
			var taints []corev1.Taint
			for _, t := range n.Spec.Taints {
				if t.Key != taint.Key || t.Effect != taint.Effect {
					taints = append(taints, t)
				}
			}
			n.Spec.Taints = append(taints, taint)
			return nodeClient.Update(ctx, &n)
		})).To(Succeed())
	}

	// untaint removes node's taint of key and effect.
	untaint := func(ctx context.Context, node, key string, effect corev1.TaintEffect) {
		GinkgoHelper()
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			var n corev1.Node
			if err := nodeClient.Get(ctx, client.ObjectKey{Name: node}, &n); err != nil {
				return err
			}
			var taints []corev1.Taint
			for _, t := range n.Spec.Taints {
				if t.Key != key || t.Effect != effect {
					taints = append(taints, t)
				}
			}
			n.Spec.Taints = taints
			return nodeClient.Update(ctx, &n)
		})).To(Succeed())
	}

	// dryRunEvictionRefused asks the API server whether it would evict pod now.
	dryRunEvictionRefused := func(ctx context.Context, pod *corev1.Pod) bool {
		GinkgoHelper()
		err := nodeClient.SubResource("eviction").Create(ctx, pod, &policyv1.Eviction{}, client.DryRunAll)
		if err == nil {
			return false
		}
		Expect(apierrors.IsTooManyRequests(err) || apierrors.IsInternalError(err)).To(BeTrue(), "evicting %s: %v", pod.Name, err)
		return true
	}

	// podsOn lists the pods of namespace bound to node.
	podsOn := func(ctx context.Context, g Gomega, ns, node string) []corev1.Pod {
		var pods corev1.PodList
		g.Expect(nodeReader.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
		var on []corev1.Pod
		for _, p := range pods.Items {
			if p.Spec.NodeName == node {
				on = append(on, p)
			}
		}
		return on
	}

	// waitForBudget waits until the disruption controller has observed the latest
	// generation of the budget and allows allowed disruptions.
	waitForBudget := func(ctx context.Context, ns, name string, allowed int32) {
		GinkgoHelper()
		Eventually(func(g Gomega) {
			var pdb policyv1.PodDisruptionBudget
			g.Expect(nodeReader.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &pdb)).To(Succeed())
			g.Expect(pdb.Status.ObservedGeneration).To(Equal(pdb.Generation))
			g.Expect(pdb.Status.DisruptionsAllowed).To(Equal(allowed))
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
	}

	It("cordon_node: count the other schedulable nodes, and see the cordon", func(ctx context.Context) {
		params := nodeFactsParams("worker-1")
		var doc map[string]any
		Eventually(func(g Gomega) {
			doc = gather(ctx, g, "cordon_node", params, facts.Pre)
			g.Expect(doc).To(HaveKeyWithValue("node_found", true))
			g.Expect(doc).To(HaveKeyWithValue("node_unschedulable", false))
			g.Expect(doc).To(HaveKeyWithValue("other_schedulable_nodes", 2))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		results := nodeFactsEvaluate(ctx, "cordon_node", doc)
		Expect(results).To(HaveKeyWithValue("node_exists", HaveField("Outcome", conditions.Passed)))
		Expect(results).To(HaveKeyWithValue("node_not_last_schedulable", HaveField("Outcome", conditions.Passed)))
		Expect(results).To(HaveKeyWithValue("node_cordoned", And(HaveField("Outcome", conditions.Failed),
			HaveField("Message", "Node worker-1 is still schedulable"))))

		// Act: cordon worker-1. Its postcondition passes.
		cordon(ctx, "worker-1", true)
		Eventually(func(g Gomega) {
			doc = gather(ctx, g, "cordon_node", params, facts.Post)
			g.Expect(doc).To(HaveKeyWithValue("node_unschedulable", true))
			g.Expect(doc).To(HaveKeyWithValue("other_schedulable_nodes", 2))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		Expect(nodeFactsEvaluate(ctx, "cordon_node", doc)).To(HaveKeyWithValue("node_cordoned", HaveField("Outcome", conditions.Passed)))

		// With worker-2 cordoned too, worker-3 is the last schedulable node.
		cordon(ctx, "worker-2", true)
		Eventually(func(g Gomega) {
			doc = gather(ctx, g, "cordon_node", nodeFactsParams("worker-3"), facts.Pre)
			g.Expect(doc).To(HaveKeyWithValue("node_unschedulable", false))
			g.Expect(doc).To(HaveKeyWithValue("other_schedulable_nodes", 0))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		results = nodeFactsEvaluate(ctx, "cordon_node", doc)
		Expect(results).To(HaveKeyWithValue("node_exists", HaveField("Outcome", conditions.Passed)))
		Expect(results).To(HaveKeyWithValue("node_not_last_schedulable", And(HaveField("Outcome", conditions.Failed),
			HaveField("Message", ContainSubstring("no Ready, schedulable node other than worker-3 remains (other_schedulable_nodes: 0)")))))
		// A cordoned node can still be cordoned again: worker-3 remains for it.
		Expect(gather(ctx, Default, "cordon_node", nodeFactsParams("worker-1"), facts.Pre)).
			To(HaveKeyWithValue("other_schedulable_nodes", 1))
	})

	It("uncordon_node: see a cordoned Ready node, and the uncordon", func(ctx context.Context) {
		cordon(ctx, "worker-2", true)
		params := nodeFactsParams("worker-2")
		var doc map[string]any
		Eventually(func(g Gomega) {
			doc = gather(ctx, g, "uncordon_node", params, facts.Pre)
			g.Expect(doc).To(HaveKeyWithValue("node_found", true))
			g.Expect(doc).To(HaveKeyWithValue("node_ready", true))
			g.Expect(doc).To(HaveKeyWithValue("node_unschedulable", true))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		results := nodeFactsEvaluate(ctx, "uncordon_node", doc)
		Expect(results).To(HaveKeyWithValue("node_exists", HaveField("Outcome", conditions.Passed)))
		Expect(results).To(HaveKeyWithValue("node_ready", HaveField("Outcome", conditions.Passed)))
		Expect(results).To(HaveKeyWithValue("node_uncordoned", And(HaveField("Outcome", conditions.Failed),
			HaveField("Message", "Node worker-2 is still cordoned"))))

		cordon(ctx, "worker-2", false)
		Eventually(func(g Gomega) {
			doc = gather(ctx, g, "uncordon_node", params, facts.Post)
			g.Expect(doc).To(HaveKeyWithValue("node_unschedulable", false))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		Expect(nodeFactsEvaluate(ctx, "uncordon_node", doc)).To(HaveKeyWithValue("node_uncordoned", HaveField("Outcome", conditions.Passed)))
	})

	It("drain_node: count the evictable pods and those their budgets protect, then see the drain done", func(ctx context.Context) {
		ns := factsNamespace(ctx, nodeClient)
		DeferCleanup(func(ctx context.Context) {
			Expect(nodeClient.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		})
		onWorker1 := map[string]string{corev1.LabelHostname: "worker-1"}

		// A DaemonSet on every node, a Deployment of 3 pods and a Job on worker-1.
		agent := map[string]string{"app": "agent"}
		Expect(nodeClient.Create(ctx, &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: ns},
			Spec: appsv1.DaemonSetSpec{
				Selector: &metav1.LabelSelector{MatchLabels: agent},
				Template: nodeFactsTemplate(agent, nil),
			},
		})).To(Succeed())
		web := map[string]string{"app": "web"}
		Expect(nodeClient.Create(ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](3),
				Selector: &metav1.LabelSelector{MatchLabels: web},
				Template: nodeFactsTemplate(web, onWorker1),
			},
		})).To(Succeed())
		job := nodeFactsTemplate(map[string]string{"app": "once"}, onWorker1)
		job.Spec.RestartPolicy = corev1.RestartPolicyNever
		Expect(nodeClient.Create(ctx, &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "once", Namespace: ns},
			Spec:       batchv1.JobSpec{Template: job},
		})).To(Succeed())
		// A mirror pod, as a kubelet creates for a static pod: a drain leaves it.
		Expect(nodeClient.Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "static-worker-1", Namespace: ns,
				Annotations: map[string]string{corev1.MirrorPodAnnotationKey: "static"}},
			Spec: corev1.PodSpec{NodeName: "worker-1", Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
		})).To(Succeed())
		// A budget that lets no web pod go.
		pdb := &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
			Spec: policyv1.PodDisruptionBudgetSpec{
				MinAvailable: ptr.To(intstr.FromInt32(3)),
				Selector:     &metav1.LabelSelector{MatchLabels: web},
			},
		}
		Expect(nodeClient.Create(ctx, pdb)).To(Succeed())

		Eventually(func(g Gomega) {
			pods := podsOn(ctx, g, ns, "worker-1")
			g.Expect(pods).To(HaveLen(6)) // 3 web, agent, once, static
			for _, p := range pods {
				if p.Labels["app"] == "once" {
					g.Expect(p.Status.Phase).To(Equal(corev1.PodSucceeded))
				} else {
					g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning), p.Name)
				}
			}
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
		waitForBudget(ctx, ns, "web", 0)

		params := nodeFactsParams("worker-1")
		doc := gather(ctx, Default, "drain_node", params, facts.Pre)
		Expect(doc).To(HaveKeyWithValue("node_found", true))
		Expect(doc).To(HaveKeyWithValue("node_unschedulable", false))
		Expect(doc).To(HaveKeyWithValue("other_schedulable_nodes", 2))
		Expect(doc).To(HaveKeyWithValue("node_evictable_pods", 3)) // the web pods
		Expect(doc).To(HaveKeyWithValue("pdb_blocked_pods", 3))
		results := nodeFactsEvaluate(ctx, "drain_node", doc)
		Expect(results).To(HaveKeyWithValue("node_exists", HaveField("Outcome", conditions.Passed)))
		Expect(results).To(HaveKeyWithValue("node_not_last_schedulable", HaveField("Outcome", conditions.Passed)))
		Expect(results).To(HaveKeyWithValue("node_evictions_allowed", And(HaveField("Outcome", conditions.Failed),
			HaveField("Message", ContainSubstring("3 pods on Node worker-1 are protected by PodDisruptionBudgets")))))
		Expect(results).To(HaveKeyWithValue("node_cordoned", HaveField("Outcome", conditions.Failed)))
		Expect(results).To(HaveKeyWithValue("node_drained", And(HaveField("Outcome", conditions.Failed),
			HaveField("Message", "3 evictable pods are still on Node worker-1"))))
		// The API server agrees: it refuses to evict any web pod.
		for _, p := range podsOn(ctx, Default, ns, "worker-1") {
			if p.Labels["app"] == "web" {
				Expect(dryRunEvictionRefused(ctx, &p)).To(BeTrue(), p.Name)
			}
		}

		// A drain that does not ignore DaemonSets evicts the agent too; no budget
		// covers it.
		withDaemonSets := nodeFactsParams("worker-1")
		withDaemonSets["node"].(map[string]any)["ignoreDaemonSets"] = false
		doc = gather(ctx, Default, "drain_node", withDaemonSets, facts.Pre)
		Expect(doc).To(HaveKeyWithValue("node_evictable_pods", 4))
		Expect(doc).To(HaveKeyWithValue("pdb_blocked_pods", 3))

		// A budget that lets one pod go at a time lets the drain proceed, paced by
		// the eviction API: nothing is blocked for good.
		Expect(nodeClient.Get(ctx, client.ObjectKeyFromObject(pdb), pdb)).To(Succeed())
		pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable = nil, ptr.To(intstr.FromInt32(1))
		Expect(nodeClient.Update(ctx, pdb)).To(Succeed())
		waitForBudget(ctx, ns, "web", 1)
		doc = gather(ctx, Default, "drain_node", params, facts.Pre)
		Expect(doc).To(HaveKeyWithValue("pdb_blocked_pods", 0))
		Expect(nodeFactsEvaluate(ctx, "drain_node", doc)).To(HaveKeyWithValue("node_evictions_allowed", HaveField("Outcome", conditions.Passed)))

		// One that lets all three go blocks none.
		Expect(nodeClient.Get(ctx, client.ObjectKeyFromObject(pdb), pdb)).To(Succeed())
		pdb.Spec.MaxUnavailable = ptr.To(intstr.FromInt32(3))
		Expect(nodeClient.Update(ctx, pdb)).To(Succeed())
		waitForBudget(ctx, ns, "web", 3)
		doc = gather(ctx, Default, "drain_node", params, facts.Pre)
		Expect(doc).To(HaveKeyWithValue("node_evictable_pods", 3))
		Expect(doc).To(HaveKeyWithValue("pdb_blocked_pods", 0))
		for name, r := range nodeFactsEvaluate(ctx, "drain_node", doc) {
			if name == "node_cordoned" || name == "node_drained" {
				Expect(r.Outcome).To(Equal(conditions.Failed), name)
				continue
			}
			Expect(r.Outcome).To(Equal(conditions.Passed), "%s: %s", name, r.Message)
		}

		// Act, as kubectl drain does: cordon, then evict. The web pods' replacements
		// stay Pending, as no other node matches their selector; the agent stays.
		cordon(ctx, "worker-1", true)
		for _, p := range podsOn(ctx, Default, ns, "worker-1") {
			if p.Labels["app"] == "web" {
				Expect(nodeClient.SubResource("eviction").Create(ctx, &p, &policyv1.Eviction{})).To(Succeed(), p.Name)
			}
		}
		Eventually(func(g Gomega) {
			doc = gather(ctx, g, "drain_node", params, facts.Post)
			g.Expect(doc).To(HaveKeyWithValue("node_unschedulable", true))
			g.Expect(doc).To(HaveKeyWithValue("node_evictable_pods", 0))
			g.Expect(doc).To(HaveKeyWithValue("pdb_blocked_pods", 0))
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
		results = nodeFactsEvaluate(ctx, "drain_node", doc)
		Expect(results).To(HaveKeyWithValue("node_cordoned", HaveField("Outcome", conditions.Passed)))
		Expect(results).To(HaveKeyWithValue("node_drained", HaveField("Outcome", conditions.Passed)))
		// The agent is left, which a drain that does not ignore DaemonSets counts.
		doc = gather(ctx, Default, "drain_node", withDaemonSets, facts.Post)
		Expect(doc).To(HaveKeyWithValue("node_evictable_pods", 1))
		Expect(nodeFactsEvaluate(ctx, "drain_node", doc)).To(HaveKeyWithValue("node_drained", And(HaveField("Outcome", conditions.Failed),
			HaveField("Message", "1 evictable pods are still on Node worker-1"))))
	})

	It("drain_node: count a pod two budgets select as blocked, as the eviction API refuses it", func(ctx context.Context) {
		ns := factsNamespace(ctx, nodeClient)
		DeferCleanup(func(ctx context.Context) {
			Expect(nodeClient.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		})
		for _, name := range []string{"shared", "solo"} {
			tmpl := nodeFactsTemplate(map[string]string{"app": name}, nil)
			tmpl.Spec.NodeName = "worker-2"
			Expect(nodeClient.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: tmpl.Labels},
				Spec: tmpl.Spec})).To(Succeed())
		}
		// Each budget alone would let its pods go.
		for name, selector := range map[string]map[string]string{"shared-a": {"app": "shared"}, "shared-b": {"app": "shared"}, "solo": {"app": "solo"}} {
			Expect(nodeClient.Create(ctx, &policyv1.PodDisruptionBudget{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
				Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(0)),
					Selector: &metav1.LabelSelector{MatchLabels: selector}},
			})).To(Succeed())
		}
		Eventually(func(g Gomega) {
			pods := podsOn(ctx, g, ns, "worker-2")
			g.Expect(pods).To(HaveLen(2))
			g.Expect(pods).To(HaveEach(HaveField("Status.Phase", corev1.PodRunning)))
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
		for _, name := range []string{"shared-a", "shared-b", "solo"} {
			waitForBudget(ctx, ns, name, 1)
		}

		doc := gather(ctx, Default, "drain_node", nodeFactsParams("worker-2"), facts.Pre)
		Expect(doc).To(HaveKeyWithValue("node_evictable_pods", 2))
		Expect(doc).To(HaveKeyWithValue("pdb_blocked_pods", 1))
		Expect(nodeFactsEvaluate(ctx, "drain_node", doc)).To(HaveKeyWithValue("node_evictions_allowed", And(HaveField("Outcome", conditions.Failed),
			HaveField("Message", ContainSubstring("1 pods on Node worker-2")))))
		for _, p := range podsOn(ctx, Default, ns, "worker-2") {
			Expect(dryRunEvictionRefused(ctx, &p)).To(Equal(p.Name == "shared"), p.Name)
		}
	})

	It("taint_node: count the other nodes without the taint, and see the taint set", func(ctx context.Context) {
		params := nodeFactsTaintParams("worker-1", "example.com/maintenance", "planned", "NoSchedule")
		var doc map[string]any
		Eventually(func(g Gomega) {
			doc = gather(ctx, g, "taint_node", params, facts.Pre)
			g.Expect(doc).To(HaveKeyWithValue("node_found", true))
			g.Expect(doc).To(HaveKeyWithValue("node_taints", BeEmpty()))
			g.Expect(doc).To(HaveKeyWithValue("other_untainted_nodes", 2))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		results := nodeFactsEvaluate(ctx, "taint_node", doc)
		Expect(results).To(HaveKeyWithValue("node_exists", HaveField("Outcome", conditions.Passed)))
		Expect(results).To(HaveKeyWithValue("node_not_last_untainted", HaveField("Outcome", conditions.Passed)))
		Expect(results).To(HaveKeyWithValue("node_taint_present", And(HaveField("Outcome", conditions.Failed),
			HaveField("Message", "Node worker-1 does not carry taint example.com/maintenance=planned:NoSchedule; its taints: []"))))

		// worker-2 carries the key and effect (another value); worker-3 the key with
		// another effect, which does not count.
		taint(ctx, "worker-2", corev1.Taint{Key: "example.com/maintenance", Value: "other", Effect: corev1.TaintEffectNoSchedule})
		taint(ctx, "worker-3", corev1.Taint{Key: "example.com/maintenance", Effect: corev1.TaintEffectNoExecute})
		Eventually(func(g Gomega) {
			g.Expect(gather(ctx, g, "taint_node", params, facts.Pre)).To(HaveKeyWithValue("other_untainted_nodes", 1))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())

		// Cordoned, worker-3 does not count either: worker-1 would be the last.
		cordon(ctx, "worker-3", true)
		Eventually(func(g Gomega) {
			doc = gather(ctx, g, "taint_node", params, facts.Pre)
			g.Expect(doc).To(HaveKeyWithValue("other_untainted_nodes", 0))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		Expect(nodeFactsEvaluate(ctx, "taint_node", doc)).To(HaveKeyWithValue("node_not_last_untainted", And(HaveField("Outcome", conditions.Failed),
			HaveField("Message", ContainSubstring("no Ready, schedulable node other than worker-1 remains without a NoSchedule taint example.com/maintenance")))))
		// A PreferNoSchedule taint only steers the scheduler.
		prefer := nodeFactsTaintParams("worker-1", "example.com/maintenance", "planned", "PreferNoSchedule")
		doc = gather(ctx, Default, "taint_node", prefer, facts.Pre)
		Expect(doc).To(HaveKeyWithValue("other_untainted_nodes", 1)) // worker-2: its taint is NoSchedule
		Expect(nodeFactsEvaluate(ctx, "taint_node", doc)).To(HaveKeyWithValue("node_not_last_untainted", HaveField("Outcome", conditions.Passed)))

		// Act: taint worker-1.
		taint(ctx, "worker-1", corev1.Taint{Key: "example.com/maintenance", Value: "planned", Effect: corev1.TaintEffectNoSchedule})
		Eventually(func(g Gomega) {
			doc = gather(ctx, g, "taint_node", params, facts.Post)
			g.Expect(doc).To(HaveKeyWithValue("node_taints", []any{
				map[string]any{"key": "example.com/maintenance", "value": "planned", "effect": "NoSchedule"}}))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		Expect(nodeFactsEvaluate(ctx, "taint_node", doc)).To(HaveKeyWithValue("node_taint_present", HaveField("Outcome", conditions.Passed)))

		// Another value does not satisfy taint_node's postcondition.
		taint(ctx, "worker-1", corev1.Taint{Key: "example.com/maintenance", Value: "old", Effect: corev1.TaintEffectNoSchedule})
		Eventually(func(g Gomega) {
			doc = gather(ctx, g, "taint_node", params, facts.Post)
			g.Expect(doc).To(HaveKeyWithValue("node_taints", ConsistOf(HaveKeyWithValue("value", "old"))))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		Expect(nodeFactsEvaluate(ctx, "taint_node", doc)).To(HaveKeyWithValue("node_taint_present", And(HaveField("Outcome", conditions.Failed),
			HaveField("Message", ContainSubstring("its taints: [example.com/maintenance=old:NoSchedule]")))))

		// A taint without a value reads as value "".
		taint(ctx, "worker-1", corev1.Taint{Key: "example.com/maintenance", Effect: corev1.TaintEffectNoSchedule})
		noValue := nodeFactsTaintParams("worker-1", "example.com/maintenance", "", "NoSchedule")
		Eventually(func(g Gomega) {
			doc = gather(ctx, g, "taint_node", noValue, facts.Post)
			g.Expect(doc).To(HaveKeyWithValue("node_taints", []any{
				map[string]any{"key": "example.com/maintenance", "value": "", "effect": "NoSchedule"}}))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		Expect(nodeFactsEvaluate(ctx, "taint_node", doc)).To(HaveKeyWithValue("node_taint_present", HaveField("Outcome", conditions.Passed)))
	})

	It("untaint_node: see the taint, and its removal", func(ctx context.Context) {
		taint(ctx, "worker-3", corev1.Taint{Key: "example.com/maintenance", Value: "planned", Effect: corev1.TaintEffectNoSchedule})
		taint(ctx, "worker-3", corev1.Taint{Key: "example.com/maintenance", Effect: corev1.TaintEffectPreferNoSchedule})
		params := nodeFactsTaintParams("worker-3", "example.com/maintenance", "", "NoSchedule")
		delete(params["taint"].(map[string]any), "value")
		var doc map[string]any
		Eventually(func(g Gomega) {
			doc = gather(ctx, g, "untaint_node", params, facts.Pre)
			g.Expect(doc).To(HaveKeyWithValue("node_found", true))
			g.Expect(doc).To(HaveKeyWithValue("node_taints", ConsistOf(
				map[string]any{"key": "example.com/maintenance", "value": "planned", "effect": "NoSchedule"},
				map[string]any{"key": "example.com/maintenance", "value": "", "effect": "PreferNoSchedule"},
			)))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		results := nodeFactsEvaluate(ctx, "untaint_node", doc)
		Expect(results).To(HaveKeyWithValue("node_exists", HaveField("Outcome", conditions.Passed)))
		Expect(results).To(HaveKeyWithValue("node_taint_present", HaveField("Outcome", conditions.Passed)))
		Expect(results).To(HaveKeyWithValue("node_taint_absent", And(HaveField("Outcome", conditions.Failed),
			HaveField("Message", "Node worker-3 still carries taint example.com/maintenance=planned:NoSchedule"))))

		// Act: remove the NoSchedule taint; the PreferNoSchedule one of the same key stays.
		untaint(ctx, "worker-3", "example.com/maintenance", corev1.TaintEffectNoSchedule)
		Eventually(func(g Gomega) {
			doc = gather(ctx, g, "untaint_node", params, facts.Post)
			g.Expect(doc).To(HaveKeyWithValue("node_taints", []any{
				map[string]any{"key": "example.com/maintenance", "value": "", "effect": "PreferNoSchedule"}}))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		results = nodeFactsEvaluate(ctx, "untaint_node", doc)
		Expect(results).To(HaveKeyWithValue("node_taint_absent", HaveField("Outcome", conditions.Passed)))
		Expect(results).To(HaveKeyWithValue("node_taint_present", HaveField("Outcome", conditions.Failed)))
	})

	It("describe a missing node as an empty one, for every node action", func(ctx context.Context) {
		for _, action := range []string{"cordon_node", "uncordon_node", "drain_node", "taint_node", "untaint_node"} {
			params := nodeFactsTaintParams("ghost", "example.com/maintenance", "planned", "NoSchedule")
			if action != "taint_node" && action != "untaint_node" {
				delete(params, "taint")
			}
			doc := gather(ctx, Default, action, params, facts.Pre)
			empty := map[string]any{
				"node_found":              false,
				"node_ready":              false,
				"node_unschedulable":      false,
				"node_taints":             []any{},
				"node_evictable_pods":     0,
				"pdb_blocked_pods":        0,
				"other_schedulable_nodes": 3, // every node is another one
				"other_untainted_nodes":   3,
			}
			a, _ := catalog.Lookup(action)
			for _, key := range a.FactKeys() {
				Expect(doc).To(HaveKeyWithValue(key, empty[key]), "%s: %s", action, key)
			}

			// No policy lacks a fact; every one that needs the node fails on it.
			for name, r := range nodeFactsEvaluate(ctx, action, doc) {
				Expect(r.Outcome).NotTo(Equal(conditions.Errored), "%s: %s: %s", action, name, r.Message)
				switch name {
				case "node_not_last_schedulable", "node_not_last_untainted", "node_evictions_allowed":
					Expect(r.Outcome).To(Equal(conditions.Passed), "%s: %s", action, name)
				case "node_ready":
					Expect(r.Outcome).To(Equal(conditions.Failed), "%s: %s", action, name)
				default:
					Expect(r).To(And(HaveField("Outcome", conditions.Failed), HaveField("Message", "Node ghost not found")), "%s: %s", action, name)
				}
			}
		}
	})

	// What kwok cannot show: it keeps every node Ready and every pod Ready, so a
	// fake client holds a NotReady node and pods in the states the eviction API
	// treats apart.
	It("count a NotReady node out, and follow the eviction API for pods a budget does not guard", func(ctx context.Context) {
		ready := func(name string, isReady bool, unschedulable bool) *corev1.Node {
			status := corev1.ConditionTrue
			if !isReady {
				status = corev1.ConditionFalse
			}
			return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec:   corev1.NodeSpec{Unschedulable: unschedulable},
				Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status}}}}
		}
		pod := func(name, app string, phase corev1.PodPhase, isReady bool) *corev1.Pod {
			status := corev1.ConditionTrue
			if !isReady {
				status = corev1.ConditionFalse
			}
			return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: map[string]string{"app": app}},
				Spec: corev1.PodSpec{NodeName: "worker-1", Containers: []corev1.Container{{Name: "app", Image: "app"}}},
				Status: corev1.PodStatus{Phase: phase,
					Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}}}
		}
		terminating := pod("cart-terminating", "cart", corev1.PodRunning, true)
		terminating.DeletionTimestamp = &metav1.Time{Time: time.Now()}
		terminating.Finalizers = []string{"example.com/hold"}
		budget := func(name, app string, allowed, current, desired int32, policy *policyv1.UnhealthyPodEvictionPolicyType) *policyv1.PodDisruptionBudget {
			return &policyv1.PodDisruptionBudget{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Generation: 1},
				Spec: policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
					UnhealthyPodEvictionPolicy: policy},
				Status: policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 1, DisruptionsAllowed: allowed,
					CurrentHealthy: current, DesiredHealthy: desired},
			}
		}
		stale := budget("stock", "stock", 1, 2, 1, nil)
		stale.Generation = 2
		reader := fake.NewClientBuilder().WithScheme(harness.NewScheme()).WithObjects(
			ready("worker-1", true, true), ready("worker-2", false, false), ready("worker-3", true, false),
			// cart: no disruption allowed. A Pending pod, a terminating one and an
			// unready one (the budget is healthy: 2 of 2) are evicted anyway; the
			// two Ready ones are blocked.
			pod("cart-1", "cart", corev1.PodRunning, true), pod("cart-2", "cart", corev1.PodRunning, true),
			pod("cart-pending", "cart", corev1.PodPending, false), terminating,
			pod("cart-unready", "cart", corev1.PodRunning, false),
			budget("cart", "cart", 0, 2, 2, nil),
			// pay: no disruption allowed and the budget unhealthy, but AlwaysAllow
			// lets its unready pod go.
			pod("pay-unready", "pay", corev1.PodRunning, false),
			budget("pay", "pay", 0, 0, 1, ptr.To(policyv1.AlwaysAllow)),
			// search: IfHealthyBudget with an unhealthy budget blocks its unready pod,
			// but not its Pending one.
			pod("search-unready", "search", corev1.PodRunning, false),
			pod("search-pending", "search", corev1.PodPending, false),
			budget("search", "search", 0, 0, 1, ptr.To(policyv1.IfHealthyBudget)),
			// stock: the controller has not seen the budget's last change yet.
			pod("stock-1", "stock", corev1.PodRunning, true),
			stale,
			// done: finished pods are no drain's business.
			pod("done", "cart", corev1.PodSucceeded, false),
		).Build()

		doc, err := facts.Gather(ctx, reader, "uncordon_node", nodeFactsParams("worker-1"), facts.Pre, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(doc).To(HaveKeyWithValue("node_ready", true))
		doc, err = facts.Gather(ctx, reader, "uncordon_node", nodeFactsParams("worker-2"), facts.Pre, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(doc).To(HaveKeyWithValue("node_ready", false))
		Expect(nodeFactsEvaluate(ctx, "uncordon_node", doc)).To(HaveKeyWithValue("node_ready", And(HaveField("Outcome", conditions.Failed),
			HaveField("Message", "Node worker-2 is not Ready: keep it cordoned until it is"))))

		doc, err = facts.Gather(ctx, reader, "drain_node", nodeFactsParams("worker-1"), facts.Pre, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(doc).To(HaveKeyWithValue("node_unschedulable", true))
		Expect(doc).To(HaveKeyWithValue("other_schedulable_nodes", 1)) // worker-3; worker-2 is NotReady
		Expect(doc).To(HaveKeyWithValue("node_evictable_pods", 9))
		Expect(doc).To(HaveKeyWithValue("pdb_blocked_pods", 4)) // cart-1, cart-2, search-unready, stock-1
	})
})

// nodeFactsParams are the parameters of a node action on node.
func nodeFactsParams(node string) map[string]any {
	return map[string]any{"node": map[string]any{"name": node}}
}

// nodeFactsTaintParams are the parameters of taint_node on node; a value of "" is
// left out.
func nodeFactsTaintParams(node, key, value, effect string) map[string]any {
	taint := map[string]any{"key": key, "effect": effect}
	if value != "" {
		taint["value"] = value
	}
	return map[string]any{"node": map[string]any{"name": node}, "taint": taint}
}

// nodeFactsTemplate is a pod template with labels, on the nodes nodeSelector picks.
func nodeFactsTemplate(labels, nodeSelector map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			NodeSelector: nodeSelector,
			Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
			}}},
		},
	}
}

// nodeFactsEvaluate evaluates every condition the catalog suggests for action on
// doc, with the embedded policies.
func nodeFactsEvaluate(ctx context.Context, action string, doc map[string]any) map[string]conditions.Result {
	GinkgoHelper()
	a, ok := catalog.Lookup(action)
	Expect(ok).To(BeTrue())
	policies := conditions.EmbeddedPolicies()
	results := map[string]conditions.Result{}
	for _, s := range a.SuggestedConditions() {
		p, err := engine.Compile(ctx, s.Type, policies[s.Type])
		Expect(err).NotTo(HaveOccurred(), s.Type)
		results[s.Type] = engine.Evaluate(ctx, p, doc)
	}
	return results
}
