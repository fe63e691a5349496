package catalog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// drain_node cordons a Node and evicts its pods through the Eviction API, which
// honours PodDisruptionBudgets.
//
// Its executor records before["unschedulable"]. The inverse only restores
// schedulability: the evicted pods are not brought back; their controllers have
// already recreated them on other nodes, and the scheduler may place new pods on
// the node once it is uncordoned. Pods without a controller are gone for good.
var _ = register(&Action{
	Name:        "drain_node",
	Target:      nodeTarget,
	Description: "Cordons a Node and evicts its pods (kubectl drain), respecting PodDisruptionBudgets.",
	Parameters: []Field{clusterTarget("node", "Node",
		Field{Name: "gracePeriodSeconds", Type: Integer, Min: ptr(int64(0)), Max: ptr(int64(3600)),
			Description: "the termination grace period given to each evicted pod; absent: the pod's own"},
		Field{Name: "ignoreDaemonSets", Type: Boolean,
			Description: "leave DaemonSet pods in place (default true); false evicts them too, and the drain cannot finish while their DaemonSet recreates them"},
		Field{Name: "deleteEmptyDirData", Type: Boolean,
			Description: "evict pods that use emptyDir volumes, whose data is lost (default false: such pods stop the drain)"},
	)},
	Permissions: nodeDraining,

	StepPreConditions:  []Suggested{nodeCondExists, nodeCondNotLastSchedulable, nodeCondEvictionsAllowed},
	StepPostConditions: []Suggested{nodeCondCordoned, nodeCondDrained},
	PreConditions:      []Suggested{nodeRecheck(nodeCondNotLastSchedulable), nodeRecheck(nodeCondEvictionsAllowed)},
	PostConditions:     []Suggested{nodeCondCordoned, nodeCondDrained},

	Facts: []Fact{factNodeFound, factNodeUnschedulable, factOtherSchedulableNodes,
		factNodeEvictablePods, factPDBBlockedPods},
	Inverse:  nodeRestoreSchedulability,
	Provide:  drainNodeFacts,
	Safety:   nodeSafety,
	Executor: Executor{Capture: drainNodeCapture, Act: drainNodeAct},
})

// Facts of drain_node.
var (
	factNodeEvictablePods = Fact{"node_evictable_pods", "integer: pods bound to the Node that a drain with the action's parameters must remove before the Node is drained: " +
		"not mirror pods, not Succeeded or Failed, and not DaemonSet pods unless ignoreDaemonSets is false; pods being deleted count until they are gone, " +
		"and so do pods with emptyDir volumes, which without deleteEmptyDirData stop the drain"}
	factPDBBlockedPods = Fact{"pdb_blocked_pods", "integer: evictable pods of the Node that their PodDisruptionBudgets do not let be evicted now: the pods selected by a budget whose status.disruptionsAllowed is 0 (a budget that allows some lets a drain proceed one eviction at a time), and pods selected by more than one budget"}
)

// drainRetryAfter is how long a drain that budgets refuse waits at least before
// trying again (longer when the API server suggests it): long enough for
// replacements elsewhere to turn Ready.
const drainRetryAfter = 10 * time.Second

// drainOptions are the parameters of a drain beside the node's name.
type drainOptions struct {
	gracePeriod                          *int64
	ignoreDaemonSets, deleteEmptyDirData bool
}

// drainOptionsOf reads parameters.node.gracePeriodSeconds, ignoreDaemonSets (default
// true) and deleteEmptyDirData (default false).
func drainOptionsOf(params map[string]any) (drainOptions, error) {
	var o drainOptions
	grace, set, err := intParam(params, "node.gracePeriodSeconds", false)
	if err != nil {
		return o, err
	}
	if set {
		if grace < 0 {
			return o, fmt.Errorf("parameters.node.gracePeriodSeconds must be at least 0, not %d", grace)
		}
		o.gracePeriod = &grace
	}
	if o.ignoreDaemonSets, err = boolParam(params, "node.ignoreDaemonSets", true); err != nil {
		return o, err
	}
	if o.deleteEmptyDirData, err = boolParam(params, "node.deleteEmptyDirData", false); err != nil {
		return o, err
	}
	return o, nil
}

// drainNodeCapture records spec.unschedulable. before: unschedulable.
func drainNodeCapture(ctx context.Context, call Call) (ObjectRef, map[string]string, error) {
	if _, err := drainOptionsOf(call.Params); err != nil {
		return ObjectRef{}, nil, err
	}
	return captureSchedulability(ctx, call)
}

// drainNodeAct cordons the Node and evicts its pods through the Eviction API
// (policy/v1), which honours PodDisruptionBudgets, as kubectl drain does. It skips
// mirror pods, finished pods and, with ignoreDaemonSets (the default), DaemonSet
// pods; pods with emptyDir volumes stop it unless deleteEmptyDirData. Evictions a
// budget refuses give a *RetryLaterError naming the pods. A second call cordons
// again and evicts what is left. It does not wait for the evicted pods to go: the
// postcondition node_drained does.
func drainNodeAct(ctx context.Context, call Call, _ map[string]string) (map[string]string, error) {
	o, err := drainOptionsOf(call.Params)
	if err != nil {
		return nil, err
	}
	t, err := nodeTarget.Ref(call.Params)
	if err != nil {
		return nil, err
	}
	after, err := patchUnschedulable(ctx, call, t, true)
	if err != nil {
		return nil, fmt.Errorf("draining %s: cordoning it: %w", t, err)
	}
	var pods corev1.PodList
	if err := call.Client.List(ctx, &pods, client.MatchingFields{"spec.nodeName": t.Name}); err != nil {
		return nil, fmt.Errorf("draining %s: listing its pods: %w", t, err)
	}
	evict, localStorage := drainPods(pods.Items, t.Name, o)
	if len(localStorage) > 0 {
		names := make([]string, len(localStorage))
		for i, pod := range localStorage {
			names[i] = pod.Namespace + "/" + pod.Name
		}
		return nil, fmt.Errorf("draining %s: pods with emptyDir volumes, whose data an eviction loses, stop the drain "+
			"(deleteEmptyDirData: true evicts them): %v", t, names)
	}

	evicted := 0
	var blocked []string
	var reason string
	retryAfter := drainRetryAfter
	var errs []error
	for _, pod := range evict {
		if pod.DeletionTimestamp != nil {
			continue // already going
		}
		eviction := &policyv1.Eviction{
			ObjectMeta:    metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
			DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}, GracePeriodSeconds: o.gracePeriod},
		}
		var opts []client.SubResourceCreateOption
		if call.DryRun {
			opts = append(opts, client.DryRunAll)
		}
		err := call.Client.SubResource("eviction").Create(ctx, pod, eviction, opts...)
		switch {
		case err == nil:
			evicted++
		case apierrors.IsNotFound(err), apierrors.IsConflict(err):
			// Gone, or its name taken by another pod since the list: the next call
			// sees the newcomer.
		case apierrors.IsTooManyRequests(err):
			blocked = append(blocked, pod.Namespace+"/"+pod.Name)
			if reason == "" {
				reason = budgetReason(err)
			}
			if seconds, ok := apierrors.SuggestsClientDelay(err); ok && time.Duration(seconds)*time.Second > retryAfter {
				retryAfter = time.Duration(seconds) * time.Second
			}
		default:
			errs = append(errs, fmt.Errorf("evicting pod %s/%s: %w", pod.Namespace, pod.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("draining %s: %w", t, err)
	}
	if len(blocked) > 0 {
		return nil, &RetryLaterError{
			Doing:   "draining " + t.String(),
			Reason:  fmt.Sprintf("%d pods wait for their PodDisruptionBudgets to allow their eviction: %s", len(blocked), reason),
			Waiting: blocked,
			After:   retryAfter,
		}
	}
	after["evicted"] = strconv.Itoa(evicted)
	return after, nil
}

// drainPods sorts the pods bound to node as a drain with o sees them, in the order
// given. It leaves out the pods it never removes: finished ones (Succeeded,
// Failed), mirror pods (the kubelet owns them) and, with ignoreDaemonSets,
// DaemonSet pods (their DaemonSet would put them back). evict are the others, which
// it evicts; those being deleted are among them, since the drain waits for them to
// go (it does not evict them again). Without deleteEmptyDirData, the pods with
// emptyDir volumes (not being deleted) are returned apart, in localStorage: an
// eviction would lose their data, so they stop the drain.
//
// The executor evicts evict and refuses to drain while localStorage is not empty;
// the facts count both, the pods the drain must remove before the node is drained
// (node_evictable_pods).
func drainPods(pods []corev1.Pod, node string, o drainOptions) (evict, localStorage []*corev1.Pod) {
	for i := range pods {
		pod := &pods[i]
		if pod.Spec.NodeName != node || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
			continue
		}
		if o.ignoreDaemonSets && daemonSetPod(pod) {
			continue
		}
		if !o.deleteEmptyDirData && pod.DeletionTimestamp == nil && slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool {
			return v.EmptyDir != nil
		}) {
			localStorage = append(localStorage, pod)
			continue
		}
		evict = append(evict, pod)
	}
	return evict, localStorage
}

// daemonSetPod reports whether a DaemonSet controls pod.
func daemonSetPod(pod *corev1.Pod) bool {
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != "DaemonSet" {
		return false
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	return err == nil && gv.Group == appsv1.GroupName
}

// budgetReason is what the API server said about a refused eviction: the budget's
// cause when it gave one.
func budgetReason(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		if details := status.Status().Details; details != nil {
			for _, cause := range details.Causes {
				if cause.Type == policyv1.DisruptionBudgetCause && cause.Message != "" {
					return cause.Message
				}
			}
		}
	}
	return err.Error()
}

// drainNodeFacts: node_found, node_unschedulable, other_schedulable_nodes,
// node_evictable_pods, pdb_blocked_pods.
func drainNodeFacts(ctx context.Context, r client.Reader, params map[string]any, want Wanted) (map[string]any, error) {
	name, node, err := nodeFactsTarget(ctx, r, params)
	if err != nil {
		return nil, err
	}
	others, err := nodeFactsOthers(ctx, r, name, nil)
	if err != nil {
		return nil, err
	}
	doc := map[string]any{
		"node_found":              node != nil,
		"node_unschedulable":      node != nil && node.Spec.Unschedulable,
		"other_schedulable_nodes": others,
		"node_evictable_pods":     0,
		"pdb_blocked_pods":        0,
	}
	if node == nil {
		return doc, nil
	}
	o, err := drainOptionsOf(params)
	if err != nil {
		return nil, err
	}
	// The cache indexes no pod field, so the pods are filtered by node in drainPods
	// rather than with a spec.nodeName field selector.
	var all corev1.PodList
	if err := r.List(ctx, &all); err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	evict, localStorage := drainPods(all.Items, name, o)
	pods := append(evict, localStorage...)
	blocked, err := pdbBlockedPods(ctx, r, pods)
	if err != nil {
		return nil, err
	}
	doc["node_evictable_pods"], doc["pdb_blocked_pods"] = len(pods), blocked
	return doc, nil
}

// pdbBlockedPods counts the pods among evictable whose eviction their
// PodDisruptionBudgets refuse now. It follows the eviction API (the pod registry's
// eviction subresource):
//   - a pod that is Pending or being deleted is evicted without consulting any
//     budget;
//   - a pod that more than one budget selects cannot be evicted at all;
//   - a pod that is not Ready is evicted regardless of its budget when the budget's
//     unhealthyPodEvictionPolicy is AlwaysAllow, or (IfHealthyBudget, the default)
//     when the budget's currentHealthy is at least its desiredHealthy (> 0);
//   - the other pods a budget selects on the node are blocked beyond its
//     status.disruptionsAllowed, which counts as 0 while the disruption controller
//     has not observed the budget's latest generation.
func pdbBlockedPods(ctx context.Context, r client.Reader, evictable []*corev1.Pod) (int, error) {
	var guarded []*corev1.Pod
	for _, p := range evictable {
		if p.Status.Phase != corev1.PodPending && p.DeletionTimestamp == nil {
			guarded = append(guarded, p)
		}
	}
	if len(guarded) == 0 {
		return 0, nil
	}
	var list policyv1.PodDisruptionBudgetList
	if err := r.List(ctx, &list); err != nil {
		return 0, fmt.Errorf("listing PodDisruptionBudgets: %w", err)
	}
	type budget struct {
		pdb      *policyv1.PodDisruptionBudget
		selector labels.Selector
		pods     int // the pods on the node whose eviction consumes a disruption
	}
	byNamespace := map[string][]*budget{}
	for i := range list.Items {
		pdb := &list.Items[i]
		selector, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil {
			continue // an invalid selector matches no pod, as for the eviction API
		}
		byNamespace[pdb.Namespace] = append(byNamespace[pdb.Namespace], &budget{pdb: pdb, selector: selector})
	}

	blocked := 0
	var used []*budget
	for _, p := range guarded {
		var matching []*budget
		for _, b := range byNamespace[p.Namespace] {
			if b.selector.Matches(labels.Set(p.Labels)) {
				matching = append(matching, b)
			}
		}
		switch {
		case len(matching) == 0:
			continue
		case len(matching) > 1:
			blocked++
			continue
		}
		b := matching[0]
		if !podReady(p) {
			policy := b.pdb.Spec.UnhealthyPodEvictionPolicy
			if policy != nil && *policy == policyv1.AlwaysAllow {
				continue
			}
			if b.pdb.Status.CurrentHealthy >= b.pdb.Status.DesiredHealthy && b.pdb.Status.DesiredHealthy > 0 {
				continue
			}
		}
		if b.pods == 0 {
			used = append(used, b)
		}
		b.pods++
	}
	for _, b := range used {
		allowed := int(b.pdb.Status.DisruptionsAllowed)
		if b.pdb.Status.ObservedGeneration < b.pdb.Generation {
			allowed = 0
		}
		// A budget that allows one disruption lets a drain proceed, one eviction at
		// a time as the replacements turn ready; only one that allows none stops it.
		if allowed <= 0 {
			blocked += b.pods
		}
	}
	return blocked, nil
}
