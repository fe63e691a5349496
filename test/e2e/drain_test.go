package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
)

// kwokWorkers are the suite's kwok nodes.
var kwokWorkers = []string{"worker-1", "worker-2", "worker-3"}

// keepSchedulability restores, when the spec ends, whether each node is cordoned as
// it is now: the nodes are shared by every spec.
func keepSchedulability(ctx context.Context, nodes ...string) {
	GinkgoHelper()
	for _, name := range nodes {
		var node corev1.Node
		Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, &node)).To(Succeed())
		DeferCleanup(setNodeUnschedulable, name, node.Spec.Unschedulable)
	}
}

// keepNodesFresh renews the Ready heartbeat of the workers every few seconds while
// the spec runs, and once more when it ends, after the nodes are restored (register
// it first). kwok sends a node's next heartbeat 20 to 45 seconds after the node last
// changed, so every cordon, uncordon or drain of a node postpones it; the node
// lifecycle controller would then mark the node unreachable (taint it NoExecute, mark
// its pods NotReady for good) for the specs that follow.
func keepNodesFresh(ctx context.Context) {
	GinkgoHelper()
	renew := func(ctx context.Context) error {
		for _, name := range kwokWorkers {
			patch, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": []any{map[string]any{
				"type": string(corev1.NodeReady), "status": string(corev1.ConditionTrue),
				"lastHeartbeatTime": time.Now().UTC().Format(time.RFC3339),
			}}}})
			if err != nil {
				return err
			}
			node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
			if err := k8s.Status().Patch(ctx, node, client.RawPatch(types.StrategicMergePatchType, patch)); err != nil {
				return fmt.Errorf("renewing the heartbeat of node %s: %w", name, err)
			}
		}
		return nil
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Second):
				if err := renew(ctx); err != nil && ctx.Err() == nil {
					GinkgoWriter.Printf("%v\n", err)
				}
			}
		}
	}()
	DeferCleanup(func(ctx context.Context) {
		close(stop)
		<-done
		Expect(renew(ctx)).To(Succeed())
	})
}

// setNodeUnschedulable cordons (true) or uncordons (false) a node.
func setNodeUnschedulable(ctx context.Context, name string, unschedulable bool) {
	GinkgoHelper()
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"unschedulable": unschedulable}})
	Expect(err).NotTo(HaveOccurred())
	Expect(k8s.Patch(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, client.RawPatch(types.MergePatchType, patch))).To(Succeed())
}

func nodeUnschedulable(ctx context.Context, name string) bool {
	GinkgoHelper()
	var node corev1.Node
	Expect(k8s.Get(ctx, client.ObjectKey{Name: name}, &node)).To(Succeed())
	return node.Spec.Unschedulable
}

// onlySchedulable leaves node the one schedulable worker; every worker is restored
// when the spec ends.
func onlySchedulable(ctx context.Context, node string) {
	GinkgoHelper()
	keepSchedulability(ctx, kwokWorkers...)
	for _, w := range kwokWorkers {
		setNodeUnschedulable(ctx, w, w != node)
	}
}

// podsOfApp lists the pods of app in ns.
func podsOfApp(ctx context.Context, ns, app string) []corev1.Pod {
	GinkgoHelper()
	var pods corev1.PodList
	Expect(k8s.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app": app})).To(Succeed())
	return pods.Items
}

// beUntouchedPods matches pods that are exactly those of before (by UID), on node,
// and not being deleted.
func beUntouchedPods(before []corev1.Pod, node string) OmegaMatcher {
	var each []any
	for _, p := range before {
		each = append(each, And(HaveField("UID", p.UID), HaveField("Spec.NodeName", node),
			HaveField("DeletionTimestamp", BeNil())))
	}
	return ConsistOf(each...)
}

// createBudget creates a PodDisruptionBudget for app and waits until the disruption
// controller has computed its status for the pods there are.
func createBudget(ctx context.Context, ns, app string, minAvailable, maxUnavailable *intstr.IntOrString, pods int32) *policyv1.PodDisruptionBudget {
	GinkgoHelper()
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: minAvailable, MaxUnavailable: maxUnavailable,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
		},
	}
	Expect(k8s.Create(ctx, pdb)).To(Succeed())
	DeferCleanup(func(ctx context.Context) { Expect(client.IgnoreNotFound(k8s.Delete(ctx, pdb))).To(Succeed()) })
	waitBudget(ctx, pdb, pods)
	return pdb
}

// waitBudget waits until the budget's status describes its current generation and
// pods healthy pods, and returns the disruptions it allows.
func waitBudget(ctx context.Context, pdb *policyv1.PodDisruptionBudget, pods int32) int32 {
	GinkgoHelper()
	var got policyv1.PodDisruptionBudget
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(pdb), &got)).To(Succeed())
		g.Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
		g.Expect(got.Status.ExpectedPods).To(Equal(pods))
		g.Expect(got.Status.CurrentHealthy).To(Equal(pods))
	}).WithContext(ctx).WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
	return got.Status.DisruptionsAllowed
}

// reportOnFailure adds the pods of ns and the nodes to the report of a spec that
// fails, as they are when it ends.
func reportOnFailure(ns string) {
	DeferCleanup(func(ctx context.Context) {
		if !CurrentSpecReport().Failed() {
			return
		}
		var b strings.Builder
		var pods corev1.PodList
		if err := k8s.List(ctx, &pods, client.InNamespace(ns)); err == nil {
			for _, p := range pods.Items {
				fmt.Fprintf(&b, "pod %s uid=%s node=%q phase=%s serving=%v deleting=%v\n",
					p.Name, p.UID, p.Spec.NodeName, p.Status.Phase, podServing(&p), p.DeletionTimestamp != nil)
			}
		}
		var nodes corev1.NodeList
		if err := k8s.List(ctx, &nodes); err == nil {
			for _, n := range nodes.Items {
				ready := ""
				for _, c := range n.Status.Conditions {
					if c.Type == corev1.NodeReady {
						ready = string(c.Status)
					}
				}
				fmt.Fprintf(&b, "node %s ready=%s unschedulable=%v taints=%v labels=%v\n",
					n.Name, ready, n.Spec.Unschedulable, n.Spec.Taints, n.Labels)
			}
		}
		AddReportEntry("cluster state at the failure", b.String())
	})
}

// executionStates records every phase and message a watch saw the executions of a
// namespace in, so that a state that lasts less than a poll is seen too.
type executionStates struct {
	mu     sync.Mutex
	states []string // "phase: message"
}

// watchExecutions watches the KubernetesExecutions of ns until the spec ends.
func watchExecutions(ctx context.Context, ns string) *executionStates {
	GinkgoHelper()
	dyn, err := dynamic.NewForConfig(cluster.Config)
	Expect(err).NotTo(HaveOccurred())
	w, err := dyn.Resource(kev1alpha1.GroupVersion.WithResource("kubernetesexecutions")).Namespace(ns).Watch(ctx, metav1.ListOptions{})
	Expect(err).NotTo(HaveOccurred())
	states := &executionStates{}
	done := make(chan struct{})
	DeferCleanup(func() {
		w.Stop()
		<-done
	})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		for ev := range w.ResultChan() {
			if u, ok := ev.Object.(*unstructured.Unstructured); ok {
				phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
				message, _, _ := unstructured.NestedString(u.Object, "status", "message")
				states.mu.Lock()
				states.states = append(states.states, phase+": "+message)
				states.mu.Unlock()
			}
		}
	}()
	return states
}

// Seen returns the states seen so far, in order.
func (s *executionStates) Seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.states...)
}

// drainExecution is a KubernetesExecution of drain_node on node, with the catalog's
// conditions (the webhook injects them).
func drainExecution(ns, name, node string, annotations map[string]string) *kev1alpha1.KubernetesExecution {
	return &kev1alpha1.KubernetesExecution{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: annotations},
		Spec: kev1alpha1.KubernetesExecutionSpec{
			Action:     "drain_node",
			Parameters: &runtime.RawExtension{Raw: fmt.Appendf(nil, `{"node":{"name":%q}}`, node)},
		},
	}
}

// waitExecutionPhase waits until the execution reaches phase and returns it.
func waitExecutionPhase(ctx context.Context, ke *kev1alpha1.KubernetesExecution, phase kev1alpha1.ExecutionPhase, timeout time.Duration) *kev1alpha1.KubernetesExecution {
	GinkgoHelper()
	got := &kev1alpha1.KubernetesExecution{}
	Eventually(func(g Gomega) kev1alpha1.ExecutionPhase {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ke), got)).To(Succeed())
		return got.Status.Phase
	}).WithContext(ctx).WithTimeout(timeout).WithPolling(200*time.Millisecond).Should(Equal(phase),
		func() string { return fmt.Sprintf("status: %+v", got.Status) })
	return got
}

// overrideExecutionConditions lets a run go past the conditions listed, as an operator does
// with the override annotation.
func overrideExecutionConditions(ctx context.Context, ke *kev1alpha1.KubernetesExecution, conditionTypes string) {
	GinkgoHelper()
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{
		commonv1alpha1.OverrideConditionAnnotation: conditionTypes,
		commonv1alpha1.OverrideReasonAnnotation:    "the operator checked the node by hand"}}})
	Expect(err).NotTo(HaveOccurred())
	Expect(k8s.Patch(ctx, ke, client.RawPatch(types.MergePatchType, patch))).To(Succeed())
}

// expectDrained checks that no pod of app is left on node and that replicas ready
// pods of it run elsewhere, none of them one of before.
func expectDrained(ctx context.Context, ns, app, node string, replicas int32, before []corev1.Pod) {
	GinkgoHelper()
	waitReady(ctx, ns, app, replicas)
	var old []any
	for _, p := range before {
		old = append(old, p.UID)
	}
	Eventually(func(g Gomega) {
		pods := podsOfApp(ctx, ns, app)
		g.Expect(pods).To(HaveLen(int(replicas)))
		g.Expect(pods).To(HaveEach(And(
			HaveField("Spec.NodeName", And(Not(BeEmpty()), Not(Equal(node)))),
			HaveField("UID", Not(BeElementOf(old...))))))
	}).WithContext(ctx).WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
}

var _ = Describe("A drain_node execution", func() {
	const node = "worker-3"

	It("is blocked by node_evictions_allowed while a PodDisruptionBudget allows no eviction, touching nothing; "+
		"overridden, it cordons and waits for the budget, and finishes once the budget allows", func(ctx context.Context) {
		keepNodesFresh(ctx)
		ns := newNamespace(ctx)
		reportOnFailure(ns)
		// Every pod of the spec starts on worker-3; then the others take pods again.
		onlySchedulable(ctx, node)
		createDeployment(ctx, ns, "guarded", 2, nil)
		createDeployment(ctx, ns, "free", 1, nil)
		for _, w := range kwokWorkers {
			setNodeUnschedulable(ctx, w, false)
		}
		guarded, free := podsOfApp(ctx, ns, "guarded"), podsOfApp(ctx, ns, "free")
		Expect(guarded).To(beUntouchedPods(guarded, node))
		Expect(free).To(beUntouchedPods(free, node))
		pdb := createBudget(ctx, ns, "guarded", ptr.To(intstr.FromInt32(2)), nil, 2)
		Expect(waitBudget(ctx, pdb, 2)).To(BeZero())

		ke := drainExecution(ns, "drain", node, nil)
		Expect(k8s.Create(ctx, ke)).To(Succeed())

		// The precondition refuses up front: the budget would stall the drain.
		blocked := waitExecutionPhase(ctx, ke, kev1alpha1.ExecutionBlocked, 30*time.Second)
		Expect(blocked.Status.ValidationResults.PreConditionResults).To(ContainElement(And(
			HaveField("ConditionType", "node_evictions_allowed"), HaveField("Passed", false), HaveField("Required", true),
			HaveField("ErrorMessage", ContainSubstring("2 pods on Node "+node)))))
		// Not over: it waits for an override.
		Expect(blocked.Status.Conditions).To(ContainElement(And(
			HaveField("Type", commonv1alpha1.SucceededCondition), HaveField("Status", metav1.ConditionUnknown),
			HaveField("Reason", commonv1alpha1.PreconditionFailedReason),
			HaveField("Message", ContainSubstring("node_evictions_allowed")))))
		Expect(blocked.Status.Conditions).To(ContainElement(And(
			HaveField("Type", commonv1alpha1.PreconditionsPassedCondition), HaveField("Status", metav1.ConditionFalse))))
		Expect(blocked.Status.ExecutionResults).To(BeNil())
		Consistently(func(g Gomega) {
			g.Expect(nodeUnschedulable(ctx, node)).To(BeFalse(), "the node was cordoned")
			g.Expect(podsOfApp(ctx, ns, "guarded")).To(beUntouchedPods(guarded, node))
			g.Expect(podsOfApp(ctx, ns, "free")).To(beUntouchedPods(free, node))
		}).WithContext(ctx).WithTimeout(3 * time.Second).WithPolling(250 * time.Millisecond).Should(Succeed())

		// An operator overrides the check: the drain cordons the node, evicts the pod
		// no budget guards, and waits for the budget, which refuses the others.
		overrideExecutionConditions(ctx, ke, "node_evictions_allowed")
		var waiting *kev1alpha1.KubernetesExecution
		Eventually(func(g Gomega) {
			waiting = &kev1alpha1.KubernetesExecution{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ke), waiting)).To(Succeed())
			g.Expect(waiting.Status.Phase).To(Equal(kev1alpha1.ExecutionExecuting))
			g.Expect(waiting.Status.Message).To(And(ContainSubstring("PodDisruptionBudget"), ContainSubstring("retry later"),
				ContainSubstring(ns+"/"+guarded[0].Name), ContainSubstring(ns+"/"+guarded[1].Name)))
		}).WithContext(ctx).WithTimeout(30 * time.Second).WithPolling(200 * time.Millisecond).Should(Succeed())
		Expect(waiting.Status.ValidationResults.PreConditionResults).To(ContainElement(And(
			HaveField("ConditionType", "node_evictions_allowed"), HaveField("Overridden", true))))
		Expect(nodeUnschedulable(ctx, node)).To(BeTrue(), "the drain cordons the node first")
		expectDrained(ctx, ns, "free", node, 1, free)
		Consistently(func(g Gomega) {
			got := &kev1alpha1.KubernetesExecution{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ke), got)).To(Succeed())
			g.Expect(got.Status.Phase).To(Equal(kev1alpha1.ExecutionExecuting))
			g.Expect(podsOfApp(ctx, ns, "guarded")).To(beUntouchedPods(guarded, node))
		}).WithContext(ctx).WithTimeout(4 * time.Second).WithPolling(250 * time.Millisecond).Should(Succeed())

		// The budget relaxes: the next try evicts the guarded pods, which come back on
		// the other nodes, and the drain verifies.
		patch, err := json.Marshal(map[string]any{"spec": map[string]any{"minAvailable": 0}})
		Expect(err).NotTo(HaveOccurred())
		Expect(k8s.Patch(ctx, pdb, client.RawPatch(types.MergePatchType, patch))).To(Succeed())
		done := waitExecutionPhase(ctx, ke, kev1alpha1.ExecutionCompleted, 45*time.Second)
		expectDrained(ctx, ns, "guarded", node, 2, guarded)
		Expect(nodeUnschedulable(ctx, node)).To(BeTrue(), "a drained node stays cordoned")
		Expect(done.Status.ValidationResults.PostConditionResults).To(ConsistOf(
			And(HaveField("ConditionType", "node_cordoned"), HaveField("Passed", true)),
			And(HaveField("ConditionType", "node_drained"), HaveField("Passed", true))))
		Expect(done.Status.ExecutionResults.ResourcesAffected).To(ConsistOf(And(
			HaveField("Kind", "Node"), HaveField("Name", node),
			HaveField("Before", HaveKeyWithValue("unschedulable", "false")),
			HaveField("After", HaveKeyWithValue("unschedulable", "true")))))
		Expect(done.Status.RollbackInformation).To(HaveField("Action", "uncordon_node"))
	})

	It("evicts one pod at a time as a budget of maxUnavailable 1 allows", func(ctx context.Context) {
		keepNodesFresh(ctx)
		ns := newNamespace(ctx)
		reportOnFailure(ns)
		onlySchedulable(ctx, node)
		createDeployment(ctx, ns, "paced", 2, nil)
		for _, w := range kwokWorkers {
			setNodeUnschedulable(ctx, w, false)
		}
		paced := podsOfApp(ctx, ns, "paced")
		Expect(paced).To(beUntouchedPods(paced, node))
		pdb := createBudget(ctx, ns, "paced", nil, ptr.To(intstr.FromInt32(1)), 2)
		Expect(waitBudget(ctx, pdb, 2)).To(BeEquivalentTo(1))

		// The budget lets one pod go now and the other once the first is replaced:
		// node_evictions_allowed lets the drain start, which evicts one, waits until
		// its replacement is ready elsewhere and the budget allows again, then evicts
		// the other. Nobody touches the budget, and at no moment are both pods away.
		states := watchExecutions(ctx, ns)
		pods := watchPods(ctx, ns)
		ke := drainExecution(ns, "drain", node, nil)
		Expect(k8s.Create(ctx, ke)).To(Succeed())
		done := waitExecutionPhase(ctx, ke, kev1alpha1.ExecutionCompleted, 50*time.Second)
		Expect(done.Status.ValidationResults.PreConditionResults).To(ContainElement(And(
			HaveField("ConditionType", "node_evictions_allowed"), HaveField("Passed", true), HaveField("Overridden", false))))
		// Whether the drain had to wait ("1 pods wait for their PodDisruptionBudgets")
		// depends on how fast kwok readies the first replacement: the disruption
		// controller may allow the second eviction before the executor asks. What
		// must hold either way is that the budget was never exceeded (MinReady below).
		AddReportEntry("execution states", strings.Join(states.Seen(), "\n"))
		Expect(pods.Deleted()).To(ConsistOf(paced[0].UID, paced[1].UID))
		Expect(pods.MinReady()).To(Equal(1), "the budget lets one pod be away at a time")
		expectDrained(ctx, ns, "paced", node, 2, paced)
	})

	It("is denied by the safety policy last_schedulable_node on the last Ready, schedulable node, changing nothing", func(ctx context.Context) {
		keepNodesFresh(ctx)
		ns := newNamespace(ctx)
		reportOnFailure(ns)
		onlySchedulable(ctx, node)
		createDeployment(ctx, ns, "web", 2, nil)
		web := podsOfApp(ctx, ns, "web")
		Expect(web).To(beUntouchedPods(web, node))

		ke := drainExecution(ns, "drain", node, nil)
		Expect(k8s.Create(ctx, ke)).To(Succeed())
		denied := waitExecutionPhase(ctx, ke, kev1alpha1.ExecutionDenied, 30*time.Second)
		Expect(denied.Status.Conditions).To(ContainElement(And(
			HaveField("Type", commonv1alpha1.SucceededCondition), HaveField("Status", metav1.ConditionFalse),
			HaveField("Reason", commonv1alpha1.SafetyPolicyDeniedReason),
			HaveField("Message", And(ContainSubstring("last_schedulable_node"), ContainSubstring(node)))),
		))
		Expect(denied.Status.Conditions).To(ContainElement(And(
			HaveField("Type", commonv1alpha1.ValidatedCondition), HaveField("Status", metav1.ConditionFalse),
			HaveField("Reason", commonv1alpha1.SafetyPolicyDeniedReason))))
		Expect(denied.Status.ValidationResults.Safety).To(And(HaveField("Passed", false),
			HaveField("Message", ContainSubstring("last_schedulable_node"))))
		// Nothing after the safety policies ran: no precondition, no dry run, no act.
		Expect(denied.Status.ValidationResults.PreConditionResults).To(BeEmpty())
		Expect(denied.Status.ValidationResults.DryRun).To(BeNil())
		Expect(denied.Status.ExecutionResults).To(BeNil())
		Consistently(func(g Gomega) {
			g.Expect(nodeUnschedulable(ctx, node)).To(BeFalse(), "the last schedulable node was cordoned")
			g.Expect(podsOfApp(ctx, ns, "web")).To(beUntouchedPods(web, node))
			got := &kev1alpha1.KubernetesExecution{}
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(ke), got)).To(Succeed())
			g.Expect(got.Status.Phase).To(Equal(kev1alpha1.ExecutionDenied))
		}).WithContext(ctx).WithTimeout(3 * time.Second).WithPolling(250 * time.Millisecond).Should(Succeed())
	})
})
