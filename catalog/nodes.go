package catalog

import (
	"fmt"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
)

// nodeActions are the node actions of the catalog.
var nodeActions = []*Action{cordonNode, uncordonNode, drainNode, taintNode, untaintNode}

// nodeFacts describes the facts the node actions add to the glossary. The node is the
// one parameters.node.name names. When it does not exist, node_found is false and the
// other facts about it describe an empty node: node_ready and node_unschedulable
// false, node_taints empty, node_evictable_pods and pdb_blocked_pods 0.
var nodeFacts = map[string]string{
	"node_found":              "boolean: the Node named by the parameters exists",
	"node_ready":              "boolean: the Node's condition Ready is True",
	"node_unschedulable":      "boolean: spec.unschedulable of the Node (true when it is cordoned)",
	"node_taints":             `array of {key, value, effect}: spec.taints of the Node; value is "" when the taint has none`,
	"other_schedulable_nodes": "integer: nodes other than the target that are Ready and not cordoned (spec.unschedulable false); their taints are not considered",
	"other_untainted_nodes":   "integer: nodes other than the target that are Ready, not cordoned, and carry no taint with the key and effect of parameters.taint",
	"node_evictable_pods":     "integer: pods bound to the Node that a drain with the action's parameters evicts: not mirror pods, not Succeeded or Failed, and not DaemonSet pods unless ignoreDaemonSets is false",
	"pdb_blocked_pods":        "integer: evictable pods of the Node that their PodDisruptionBudgets do not let be evicted now: the pods selected by a budget whose status.disruptionsAllowed is 0 (a budget that allows some lets a drain proceed one eviction at a time), and pods selected by more than one budget",
}

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

// cordonNode marks a Node unschedulable.
//
// Its executor records before["unschedulable"] ("true" or "false": spec.unschedulable
// before the patch).
var cordonNode = &Action{
	Name:        "cordon_node",
	Target:      nodeTarget,
	Description: "Marks a Node unschedulable (kubectl cordon): its pods keep running, new pods go elsewhere.",
	Parameters:  []Field{nodeParameter()},
	Permissions: []rbacv1.PolicyRule{nodeGetPatch},

	StepPreConditions:  []Suggested{nodeCondExists, nodeCondNotLastSchedulable},
	StepPostConditions: []Suggested{nodeCondCordoned},
	PreConditions:      []Suggested{nodeRecheck(nodeCondNotLastSchedulable)},
	PostConditions:     []Suggested{nodeCondCordoned},

	Facts:   []string{"node_found", "node_unschedulable", "other_schedulable_nodes"},
	Inverse: nodeRestoreSchedulability,
}

// uncordonNode marks a Node schedulable again.
//
// Its executor records before["unschedulable"].
var uncordonNode = &Action{
	Name:        "uncordon_node",
	Target:      nodeTarget,
	Description: "Marks a Node schedulable again (kubectl uncordon).",
	Parameters:  []Field{nodeParameter()},
	Permissions: []rbacv1.PolicyRule{nodeGetPatch},

	StepPreConditions:  []Suggested{nodeCondExists},
	StepPostConditions: []Suggested{nodeCondUncordoned},
	PreConditions:      []Suggested{nodeCondReady},
	PostConditions:     []Suggested{nodeCondUncordoned},

	Facts:   []string{"node_found", "node_ready", "node_unschedulable"},
	Inverse: nodeRestoreSchedulability,
}

// drainNode cordons a Node and evicts its pods through the Eviction API, which
// honours PodDisruptionBudgets.
//
// Its executor records before["unschedulable"]. The inverse only restores
// schedulability: the evicted pods are not brought back; their controllers have
// already recreated them on other nodes, and the scheduler may place new pods on
// the node once it is uncordoned. Pods without a controller are gone for good.
var drainNode = &Action{
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

	Facts: []string{"node_found", "node_unschedulable", "other_schedulable_nodes",
		"node_evictable_pods", "pdb_blocked_pods"},
	Inverse: nodeRestoreSchedulability,
}

// taintNode adds a taint to a Node, or sets the value of the taint with the same key
// and effect.
//
// Its executor records before["taint_present"] ("true" or "false": the Node carried
// a taint with the parameters' key and effect) and, when it did,
// before["taint_value"] (that taint's value, "" for none).
var taintNode = &Action{
	Name:        "taint_node",
	Target:      nodeTarget,
	Description: "Adds a taint to a Node (kubectl taint), or sets the value of its taint of the same key and effect.",
	Parameters:  []Field{nodeParameter(), nodeTaintParameter(true)},
	Permissions: []rbacv1.PolicyRule{nodeGetPatch},

	StepPreConditions:  []Suggested{nodeCondExists, nodeCondNotLastUntainted},
	StepPostConditions: []Suggested{nodeCondTaintPresent},
	PreConditions:      []Suggested{nodeRecheck(nodeCondNotLastUntainted)},
	PostConditions:     []Suggested{nodeCondTaintPresent},

	Facts:   []string{"node_found", "node_taints", "other_untainted_nodes"},
	Inverse: nodeRestoreTaint,
}

// untaintNode removes the taint with a key and effect from a Node.
//
// Its executor records before["taint_present"] and, when the taint was present,
// before["taint_value"], as taint_node's does.
var untaintNode = &Action{
	Name:        "untaint_node",
	Target:      nodeTarget,
	Description: "Removes the taint of a key and effect from a Node (kubectl taint ...-).",
	Parameters:  []Field{nodeParameter(), nodeTaintParameter(false)},
	Permissions: []rbacv1.PolicyRule{nodeGetPatch},

	StepPreConditions:  []Suggested{nodeCondExists},
	StepPostConditions: []Suggested{nodeCondTaintAbsent},
	// Removing a taint that is not there changes nothing: worth a warning, not a block.
	PreConditions:  []Suggested{{Type: nodeCondTaintPresent.Type, Description: nodeCondTaintPresent.Description, Required: false, Timeout: quickCheck}},
	PostConditions: []Suggested{nodeCondTaintAbsent},

	Facts:   []string{"node_found", "node_taints"},
	Inverse: nodeRestoreTaint,
}

// nodeRestoreSchedulability is the inverse of cordon_node, uncordon_node and drain_node:
// it puts spec.unschedulable back as it was (before["unschedulable"]). A node that was
// cordoned before stays cordoned; one that was schedulable is uncordoned.
func nodeRestoreSchedulability(params map[string]any, before map[string]string) (Rollback, error) {
	name, err := nodeNameOf(params)
	if err != nil {
		return Rollback{}, err
	}
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
	name, err := nodeNameOf(params)
	if err != nil {
		return Rollback{}, err
	}
	taint, _ := params["taint"].(map[string]any)
	key, _ := taint["key"].(string)
	effect, _ := taint["effect"].(string)
	if key == "" || effect == "" {
		return Rollback{}, fmt.Errorf("the parameters name no taint key and effect: %v", params["taint"])
	}
	node := map[string]any{"name": name}
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

// nodeNameOf reads parameters.node.name.
func nodeNameOf(params map[string]any) (string, error) {
	node, _ := params["node"].(map[string]any)
	name, _ := node["name"].(string)
	if name == "" {
		return "", fmt.Errorf("the parameters name no node: %v", params["node"])
	}
	return name, nil
}
