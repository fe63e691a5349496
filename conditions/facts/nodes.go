package facts

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// nodeProviders read the facts of the node actions of the catalog (the catalog's
// nodeFacts). Each supplies exactly the keys of its action's Facts. A Node that does
// not exist is described as an empty node, as the glossary says: node_found false,
// node_ready and node_unschedulable false, node_taints empty, node_evictable_pods
// and pdb_blocked_pods 0; the counts of other nodes are still counted.
var nodeProviders = map[string]Provider{
	"cordon_node":   nodeCordonFacts,
	"uncordon_node": nodeUncordonFacts,
	"drain_node":    nodeDrainFacts,
	"taint_node":    nodeTaintFacts,
	"untaint_node":  nodeUntaintFacts,
}

// nodeCordonFacts: node_found, node_unschedulable, other_schedulable_nodes.
func nodeCordonFacts(ctx context.Context, r client.Reader, params map[string]any) (map[string]any, error) {
	name, node, err := nodeFactsTarget(ctx, r, params)
	if err != nil {
		return nil, err
	}
	others, err := nodeFactsOthers(ctx, r, name, nil)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"node_found":              node != nil,
		"node_unschedulable":      node != nil && node.Spec.Unschedulable,
		"other_schedulable_nodes": others,
	}, nil
}

// nodeUncordonFacts: node_found, node_ready, node_unschedulable.
func nodeUncordonFacts(ctx context.Context, r client.Reader, params map[string]any) (map[string]any, error) {
	_, node, err := nodeFactsTarget(ctx, r, params)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"node_found":         node != nil,
		"node_ready":         node != nil && nodeReady(node),
		"node_unschedulable": node != nil && node.Spec.Unschedulable,
	}, nil
}

// nodeDrainFacts: node_found, node_unschedulable, other_schedulable_nodes,
// node_evictable_pods, pdb_blocked_pods.
func nodeDrainFacts(ctx context.Context, r client.Reader, params map[string]any) (map[string]any, error) {
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
	// The drain's options sit beside the name: {node: {name, ignoreDaemonSets, ...}}.
	ignoreDaemonSets := true
	if target, ok := params["node"].(map[string]any); ok {
		if v, ok := target["ignoreDaemonSets"].(bool); ok {
			ignoreDaemonSets = v
		}
	}
	pods, err := nodeFactsEvictablePods(ctx, r, name, ignoreDaemonSets)
	if err != nil {
		return nil, err
	}
	blocked, err := nodeFactsPDBBlocked(ctx, r, pods)
	if err != nil {
		return nil, err
	}
	doc["node_evictable_pods"], doc["pdb_blocked_pods"] = len(pods), blocked
	return doc, nil
}

// nodeTaintFacts: node_found, node_taints, other_untainted_nodes.
func nodeTaintFacts(ctx context.Context, r client.Reader, params map[string]any) (map[string]any, error) {
	taint, _ := params["taint"].(map[string]any)
	key, _ := taint["key"].(string)
	effect, _ := taint["effect"].(string)
	if key == "" || effect == "" {
		return nil, fmt.Errorf("parameters.taint needs a key and an effect: %v", params["taint"])
	}
	name, node, err := nodeFactsTarget(ctx, r, params)
	if err != nil {
		return nil, err
	}
	others, err := nodeFactsOthers(ctx, r, name, func(n *corev1.Node) bool {
		for _, t := range n.Spec.Taints {
			if t.Key == key && string(t.Effect) == effect {
				return false
			}
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"node_found":            node != nil,
		"node_taints":           nodeFactsTaints(node),
		"other_untainted_nodes": others,
	}, nil
}

// nodeUntaintFacts: node_found, node_taints.
func nodeUntaintFacts(ctx context.Context, r client.Reader, params map[string]any) (map[string]any, error) {
	_, node, err := nodeFactsTarget(ctx, r, params)
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"node_found":  node != nil,
		"node_taints": nodeFactsTaints(node),
	}, nil
}

// nodeFactsTarget reads the Node parameters.node.name names; node is nil when it does
// not exist.
func nodeFactsTarget(ctx context.Context, r client.Reader, params map[string]any) (name string, node *corev1.Node, err error) {
	name, _, err = target(params, "node")
	if err != nil {
		return "", nil, err
	}
	var n corev1.Node
	if err := r.Get(ctx, client.ObjectKey{Name: name}, &n); err != nil {
		if apierrors.IsNotFound(err) {
			return name, nil, nil
		}
		return "", nil, fmt.Errorf("reading Node %s: %w", name, err)
	}
	return name, &n, nil
}

// nodeFactsTaints lists the taints of node as {key, value, effect}; empty, not nil,
// for a missing node or one without taints.
func nodeFactsTaints(node *corev1.Node) []any {
	taints := []any{}
	if node == nil {
		return taints
	}
	for _, t := range node.Spec.Taints {
		taints = append(taints, map[string]any{"key": t.Key, "value": t.Value, "effect": string(t.Effect)})
	}
	return taints
}

// nodeFactsOthers counts the nodes other than the one named exclude that are Ready,
// not cordoned, and (when keep is not nil) kept by keep. Their taints are not
// considered otherwise.
func nodeFactsOthers(ctx context.Context, r client.Reader, exclude string, keep func(*corev1.Node) bool) (int, error) {
	var nodes corev1.NodeList
	if err := r.List(ctx, &nodes); err != nil {
		return 0, fmt.Errorf("listing nodes: %w", err)
	}
	count := 0
	for i := range nodes.Items {
		n := &nodes.Items[i]
		if n.Name == exclude || !nodeReady(n) || n.Spec.Unschedulable || (keep != nil && !keep(n)) {
			continue
		}
		count++
	}
	return count, nil
}

// nodeFactsEvictablePods lists the pods bound to the Node named node that a drain
// evicts: not mirror pods, not Succeeded or Failed, and DaemonSet pods only when
// ignoreDaemonSets is false. Pods being deleted are still on the node: a drain
// waits for them to go, so they count.
func nodeFactsEvictablePods(ctx context.Context, r client.Reader, node string, ignoreDaemonSets bool) ([]*corev1.Pod, error) {
	// The cache indexes no pod field, so the pods are filtered here rather than
	// with a spec.nodeName field selector.
	var pods corev1.PodList
	if err := r.List(ctx, &pods); err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	var evictable []*corev1.Pod
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Spec.NodeName != node || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if _, mirror := p.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
			continue
		}
		if ignoreDaemonSets && nodeFactsDaemonSetPod(p) {
			continue
		}
		evictable = append(evictable, p)
	}
	return evictable, nil
}

// nodeFactsDaemonSetPod reports whether a DaemonSet controls p.
func nodeFactsDaemonSetPod(p *corev1.Pod) bool {
	ref := metav1.GetControllerOf(p)
	if ref == nil || ref.Kind != "DaemonSet" {
		return false
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	return err == nil && gv.Group == appsv1.GroupName
}

// nodeFactsPDBBlocked counts the pods among evictable whose eviction their
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
func nodeFactsPDBBlocked(ctx context.Context, r client.Reader, evictable []*corev1.Pod) (int, error) {
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
