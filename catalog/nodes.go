package catalog

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The node actions of the catalog: cordon_node, uncordon_node, drain_node,
// taint_node and untaint_node. Nodes are cluster-scoped: their targets have no
// namespace, and their rules are bound with a ClusterRole.

// The facts the node actions share. The node is the
// one parameters.node.name names. When it does not exist, node_found is false and the
// other facts about it describe an empty node: node_ready and node_unschedulable
// false, node_taints empty, node_evictable_pods and pdb_blocked_pods 0.
var (
	factNodeFound             = Fact{"node_found", "boolean: the Node named by the parameters exists"}
	factNodeReady             = Fact{"node_ready", "boolean: the Node's condition Ready is True"}
	factNodeUnschedulable     = Fact{"node_unschedulable", "boolean: spec.unschedulable of the Node (true when it is cordoned)"}
	factNodeTaints            = Fact{"node_taints", `array of {key, value, effect}: spec.taints of the Node; value is "" when the taint has none`}
	factOtherSchedulableNodes = Fact{"other_schedulable_nodes", "integer: nodes other than the target that are Ready and not cordoned (spec.unschedulable false); their taints are not considered"}
)

// nodeDrainWithin is how long a drain's evictions are given by default: pods may
// take their whole termination grace period (gracePeriodSeconds up to an hour), so a
// step that drains bigger nodes sets its own timeout.
const nodeDrainWithin = 10 * time.Minute

// nodeParameter names the Node an action acts on: node: {name}.
func nodeParameter() Field { return clusterTarget("node", "Node") }

// nodeTaintParameter is the taint taint_node adds (with a value) or untaint_node
// removes (key and effect: a node holds at most one taint per key and effect).
func nodeTaintParameter(withValue bool) Field {
	fields := []Field{{Name: "key", Type: String, Required: true, Format: LabelKey,
		Description: "the taint's key, e.g. example.com/maintenance"}}
	if withValue {
		fields = append(fields, Field{Name: "value", Type: String, Format: LabelValue,
			Description: "the taint's value; absent means none"})
	}
	fields = append(fields, Field{Name: "effect", Type: String, Required: true,
		Enum:        []string{"NoSchedule", "PreferNoSchedule", "NoExecute"},
		Description: "the taint's effect"})
	return Field{Name: "taint", Type: Object, Required: true, Description: "the taint of the Node", Fields: fields}
}

// Permissions of the node actions: nodes are cluster-scoped, so the rules are bound
// with a ClusterRole. A patch is enough to cordon or taint: no update, no list.
var (
	nodeGetPatch = rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "patch"}}
	nodeDraining = []rbacv1.PolicyRule{
		nodeGetPatch,
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}},
		{APIGroups: []string{""}, Resources: []string{"pods/eviction"}, Verbs: []string{"create"}},
		{APIGroups: []string{"policy"}, Resources: []string{"poddisruptionbudgets"}, Verbs: []string{"list"}},
	}
)

// The node conditions, as the node actions suggest them.
var (
	nodeCondExists = Suggested{Type: "node_exists", Description: "The Node exists",
		Required: true, Timeout: normalCheck}
	nodeCondNotLastSchedulable = Suggested{Type: "node_not_last_schedulable",
		Description: "Another Ready, uncordoned node remains to run the pods", Required: true, Timeout: normalCheck}
	nodeCondEvictionsAllowed = Suggested{Type: "node_evictions_allowed",
		Description: "The PodDisruptionBudgets of the Node's pods allow their eviction now", Required: true, Timeout: normalCheck}
	nodeCondCordoned = Suggested{Type: "node_cordoned", Description: "The Node is unschedulable",
		Required: true, Timeout: normalCheck}
	nodeCondDrained = Suggested{Type: "node_drained", Description: "No evictable pod is left on the Node",
		Required: true, Timeout: nodeDrainWithin}
	nodeCondUncordoned = Suggested{Type: "node_uncordoned", Description: "The Node is schedulable",
		Required: true, Timeout: normalCheck}
	// The node lifecycle controller taints a NotReady node NoSchedule anyway, so the
	// check is not required: a failure is recorded as a warning and the uncordon goes
	// on (a rollback to uncordon is not blocked). conditionOverrides can require it.
	nodeCondReady = Suggested{Type: "node_ready", Description: "The Node is Ready; a NotReady node had better stay cordoned",
		Required: false, Timeout: quickCheck}
	nodeCondNotLastUntainted = Suggested{Type: "node_not_last_untainted",
		Description: "For NoSchedule and NoExecute, another Ready, uncordoned node without the taint remains", Required: true, Timeout: normalCheck}
	nodeCondTaintPresent = Suggested{Type: "node_taint_present", Description: "The Node carries the taint",
		Required: true, Timeout: normalCheck}
	nodeCondTaintAbsent = Suggested{Type: "node_taint_absent", Description: "The Node no longer carries the taint",
		Required: true, Timeout: normalCheck}
)

// nodeRecheck returns s with the timeout of a check repeated just before acting: the
// action-level preconditions check again what the step checked, since steps that run
// in parallel may have changed it (e.g. cordoned another node).
func nodeRecheck(s Suggested) Suggested {
	s.Timeout = quickCheck
	return s
}

// nodeRestoreSchedulability is the inverse of cordon_node, uncordon_node and drain_node:
// it puts spec.unschedulable back as it was (before["unschedulable"]). A node that was
// cordoned before stays cordoned; one that was schedulable is uncordoned.
func nodeRestoreSchedulability(params map[string]any, before map[string]string) (Rollback, error) {
	node, err := nodeTarget.Ref(params)
	if err != nil {
		return Rollback{}, err
	}
	name := node.Name
	action := ""
	switch before["unschedulable"] {
	case "true":
		action = "cordon_node"
	case "false":
		action = "uncordon_node"
	default:
		return Rollback{}, fmt.Errorf("whether node %s was cordoned before acting was not recorded: unschedulable is %q", name, before["unschedulable"])
	}
	return Rollback{Action: action, Parameters: map[string]any{"node": map[string]any{"name": name}}}, nil
}

// nodeRestoreTaint is the inverse of taint_node and untaint_node: it puts the taint of the
// parameters' key and effect back as it was. A taint that was absent is removed; one
// that was present is set again with its previous value (before["taint_value"]).
func nodeRestoreTaint(params map[string]any, before map[string]string) (Rollback, error) {
	ref, err := nodeTarget.Ref(params)
	if err != nil {
		return Rollback{}, err
	}
	taint, err := taintParam(params, false)
	if err != nil {
		return Rollback{}, err
	}
	name, key, effect := ref.Name, taint.Key, string(taint.Effect)
	node := ref.param()
	switch before["taint_present"] {
	case "false":
		return Rollback{Action: "untaint_node", Parameters: map[string]any{
			"node": node, "taint": map[string]any{"key": key, "effect": effect}}}, nil
	case "true":
		value, ok := before["taint_value"]
		if !ok {
			return Rollback{}, fmt.Errorf("the previous value of taint %s:%s on node %s was not recorded", key, effect, name)
		}
		restored := map[string]any{"key": key, "effect": effect}
		if value != "" {
			restored["value"] = value
		}
		return Rollback{Action: "taint_node", Parameters: map[string]any{"node": node, "taint": restored}}, nil
	default:
		return Rollback{}, fmt.Errorf("whether node %s carried taint %s:%s before acting was not recorded: taint_present is %q",
			name, key, effect, before["taint_present"])
	}
}

// captureSchedulability records spec.unschedulable of the Node parameters.node names.
// before: unschedulable.
func captureSchedulability(ctx context.Context, call Call) (ObjectRef, map[string]string, error) {
	t, node, err := getNode(ctx, call)
	if err != nil {
		return t, nil, err
	}
	return t, map[string]string{"unschedulable": strconv.FormatBool(node.Spec.Unschedulable)}, nil
}

// setUnschedulable patches spec.unschedulable of the Node parameters.node names.
func setUnschedulable(ctx context.Context, call Call, unschedulable bool) (map[string]string, error) {
	t, err := nodeTarget.Ref(call.Params)
	if err != nil {
		return nil, err
	}
	after, err := patchUnschedulable(ctx, call, t, unschedulable)
	if err != nil {
		doing := "cordoning"
		if !unschedulable {
			doing = "uncordoning"
		}
		return nil, fmt.Errorf("%s %s: %w", doing, t, err)
	}
	return after, nil
}

func patchUnschedulable(ctx context.Context, call Call, t ObjectRef, unschedulable bool) (map[string]string, error) {
	patch, err := mergePatch(obj{"spec": obj{"unschedulable": unschedulable}})
	if err != nil {
		return nil, err
	}
	node := &corev1.Node{ObjectMeta: t.meta()}
	if err := call.Client.Patch(ctx, node, patch, call.patchOptions()...); err != nil {
		return nil, err
	}
	return map[string]string{"unschedulable": strconv.FormatBool(node.Spec.Unschedulable)}, nil
}

// taintParam reads parameters.taint: key, effect and, for taint_node, value.
func taintParam(params map[string]any, withValue bool) (corev1.Taint, error) {
	key, err := stringParam(params, "taint.key", true)
	if err != nil {
		return corev1.Taint{}, err
	}
	effect, err := stringParam(params, "taint.effect", true)
	if err != nil {
		return corev1.Taint{}, err
	}
	switch corev1.TaintEffect(effect) {
	case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
	default:
		return corev1.Taint{}, fmt.Errorf("parameters.taint.effect must be NoSchedule, PreferNoSchedule or NoExecute, not %q", effect)
	}
	taint := corev1.Taint{Key: key, Effect: corev1.TaintEffect(effect)}
	if withValue {
		if taint.Value, err = stringParam(params, "taint.value", false); err != nil {
			return corev1.Taint{}, err
		}
	}
	return taint, nil
}

// captureTaint records whether the Node carries the taint of the parameters' key and
// effect, and its value. before: taint_present and, when present, taint_value.
func captureTaint(ctx context.Context, call Call, withValue bool) (ObjectRef, map[string]string, error) {
	taint, err := taintParam(call.Params, withValue)
	if err != nil {
		return ObjectRef{}, nil, err
	}
	t, node, err := getNode(ctx, call)
	if err != nil {
		return t, nil, err
	}
	before := map[string]string{"taint_present": "false"}
	if i := slices.IndexFunc(node.Spec.Taints, sameTaint(taint)); i >= 0 {
		before["taint_present"], before["taint_value"] = "true", node.Spec.Taints[i].Value
	}
	return t, before, nil
}

// sameTaint matches the taints of taint's key and effect: a Node has at most one.
func sameTaint(taint corev1.Taint) func(corev1.Taint) bool {
	return func(t corev1.Taint) bool { return t.Key == taint.Key && t.Effect == taint.Effect }
}

// updateTaints sets the Node's taints to change(taints), with the resourceVersion
// read, so that a taint another writer adds meanwhile is not lost: a conflict reads
// the Node again.
func updateTaints(ctx context.Context, call Call, t ObjectRef, change func([]corev1.Taint) []corev1.Taint) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var node corev1.Node
		if err := call.Client.Get(ctx, t.key(), &node); err != nil {
			return err
		}
		changed := node.DeepCopy()
		changed.Spec.Taints = change(slices.Clone(node.Spec.Taints))
		if slices.EqualFunc(changed.Spec.Taints, node.Spec.Taints, func(a, b corev1.Taint) bool {
			return sameTaint(a)(b) && a.Value == b.Value
		}) {
			return nil // nothing to change
		}
		return call.Client.Patch(ctx, changed, client.MergeFromWithOptions(&node, client.MergeFromWithOptimisticLock{}),
			call.patchOptions()...)
	})
}

// getNode reads the Node parameters.node names.
func getNode(ctx context.Context, call Call) (ObjectRef, *corev1.Node, error) {
	t, err := nodeTarget.Ref(call.Params)
	if err != nil {
		return t, nil, err
	}
	var node corev1.Node
	if err := call.Client.Get(ctx, t.key(), &node); err != nil {
		return t, nil, fmt.Errorf("reading %s: %w", t, err)
	}
	return t, &node, nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// nodeFactsTarget reads the Node parameters.node.name names; node is nil when it does
// not exist.
func nodeFactsTarget(ctx context.Context, r client.Reader, params map[string]any) (name string, node *corev1.Node, err error) {
	name, _, err = nodeTarget.Name(params)
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
