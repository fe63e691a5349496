package conditions

import "maps"

// nodeInput is the facts document of a node action on worker-1 in a healthy cluster:
// the node exists, is Ready and schedulable, carries no taint and no pod, and two
// other nodes could take its pods. changes replace facts (nil removes one), as with's do for
// scale_deployment.
func nodeInput(action string, changes map[string]any) map[string]any {
	node := map[string]any{"name": "worker-1"}
	params := map[string]any{"node": node}
	switch action {
	case "drain_node":
		node["ignoreDaemonSets"] = true
	case "taint_node":
		params["taint"] = map[string]any{"key": "example.com/maintenance", "value": "planned", "effect": "NoSchedule"}
	case "untaint_node":
		params["taint"] = map[string]any{"key": "example.com/maintenance", "effect": "NoSchedule"}
	}
	in := map[string]any{
		"action":                  action,
		"phase":                   "pre",
		"parameters":              params,
		"node_found":              true,
		"node_ready":              true,
		"node_unschedulable":      false,
		"node_taints":             []any{},
		"other_schedulable_nodes": 2,
		"other_untainted_nodes":   2,
		"node_evictable_pods":     0,
		"pdb_blocked_pods":        0,
	}
	return applyChanges(in, changes)
}

// nodeTaint is one entry of node_taints.
func nodeTaint(key, value, effect string) map[string]any {
	return map[string]any{"key": key, "value": value, "effect": effect}
}

var (
	nodeMaintenanceTaint = nodeTaint("example.com/maintenance", "planned", "NoSchedule")
	nodeGone             = map[string]any{"node_found": false, "node_ready": false, "node_unschedulable": false, "node_taints": []any{}}
)

var _ = addPolicyCases(
	policyCase{"node_exists", nodeInput("cordon_node", nil), Passed, ""},
	policyCase{"node_exists", nodeInput("cordon_node", map[string]any{"node_found": false}), Failed, "Node worker-1 not found"},
	policyCase{"node_exists", nodeInput("cordon_node", map[string]any{"node_found": nil}), Errored, "the input lacks node_found"},

	policyCase{"node_ready", nodeInput("uncordon_node", map[string]any{"node_unschedulable": true}), Passed, ""},
	policyCase{"node_ready", nodeInput("uncordon_node", map[string]any{"node_unschedulable": true, "node_ready": false}), Failed,
		"Node worker-1 is not Ready: keep it cordoned until it is"},
	policyCase{"node_ready", nodeInput("uncordon_node", map[string]any{"node_ready": nil}), Errored, "the input lacks node_ready"},

	policyCase{"node_not_last_schedulable", nodeInput("cordon_node", nil), Passed, ""},
	policyCase{"node_not_last_schedulable", nodeInput("drain_node", map[string]any{"other_schedulable_nodes": 1}), Passed, ""},
	policyCase{"node_not_last_schedulable", nodeInput("drain_node", map[string]any{"other_schedulable_nodes": 0}), Failed,
		"no Ready, schedulable node other than worker-1 remains (other_schedulable_nodes: 0)"},
	policyCase{"node_not_last_schedulable", nodeInput("cordon_node", map[string]any{"other_schedulable_nodes": "3"}), Failed, ""},
	policyCase{"node_not_last_schedulable", nodeInput("cordon_node", map[string]any{"other_schedulable_nodes": nil}), Errored,
		"the input lacks other_schedulable_nodes"},

	policyCase{"node_evictions_allowed", nodeInput("drain_node", nil), Passed, ""},
	policyCase{"node_evictions_allowed", nodeInput("drain_node", map[string]any{"pdb_blocked_pods": 2}), Failed,
		"2 pods on Node worker-1 are protected by PodDisruptionBudgets"},
	policyCase{"node_evictions_allowed", nodeInput("drain_node", map[string]any{"pdb_blocked_pods": nil}), Errored,
		"the input lacks pdb_blocked_pods"},

	policyCase{"node_cordoned", nodeInput("cordon_node", map[string]any{"phase": "post", "node_unschedulable": true}), Passed, ""},
	policyCase{"node_cordoned", nodeInput("cordon_node", map[string]any{"phase": "post"}), Failed, "Node worker-1 is still schedulable"},
	policyCase{"node_cordoned", nodeInput("drain_node", nodeChanges(nodeGone, map[string]any{"phase": "post"})), Failed, "Node worker-1 not found"},
	policyCase{"node_cordoned", nodeInput("cordon_node", map[string]any{"node_unschedulable": nil}), Errored,
		"the input lacks node_unschedulable"},

	policyCase{"node_uncordoned", nodeInput("uncordon_node", map[string]any{"phase": "post"}), Passed, ""},
	policyCase{"node_uncordoned", nodeInput("uncordon_node", map[string]any{"phase": "post", "node_unschedulable": true}), Failed,
		"Node worker-1 is still cordoned"},
	policyCase{"node_uncordoned", nodeInput("uncordon_node", nodeChanges(nodeGone, map[string]any{"phase": "post"})), Failed,
		"Node worker-1 not found"},

	policyCase{"node_drained", nodeInput("drain_node", map[string]any{"phase": "post", "node_unschedulable": true}), Passed, ""},
	policyCase{"node_drained", nodeInput("drain_node", map[string]any{"phase": "post", "node_evictable_pods": 3}), Failed,
		"3 evictable pods are still on Node worker-1"},
	policyCase{"node_drained", nodeInput("drain_node", nodeChanges(nodeGone, map[string]any{"phase": "post"})), Failed, "Node worker-1 not found"},
	policyCase{"node_drained", nodeInput("drain_node", map[string]any{"node_evictable_pods": nil}), Errored,
		"the input lacks node_evictable_pods"},

	policyCase{"node_not_last_untainted", nodeInput("taint_node", nil), Passed, ""},
	policyCase{"node_not_last_untainted", nodeInput("taint_node", map[string]any{"other_untainted_nodes": 0}), Failed,
		"no Ready, schedulable node other than worker-1 remains without a NoSchedule taint example.com/maintenance"},
	policyCase{"node_not_last_untainted", nodeInput("taint_node", map[string]any{"other_untainted_nodes": 0,
		"parameters": map[string]any{"node": map[string]any{"name": "worker-1"},
			"taint": map[string]any{"key": "example.com/maintenance", "effect": "NoExecute"}}}), Failed, "without a NoExecute taint"},
	policyCase{"node_not_last_untainted", nodeInput("taint_node", map[string]any{"other_untainted_nodes": 0,
		"parameters": map[string]any{"node": map[string]any{"name": "worker-1"},
			"taint": map[string]any{"key": "example.com/maintenance", "effect": "PreferNoSchedule"}}}), Passed, ""},
	policyCase{"node_not_last_untainted", nodeInput("taint_node", map[string]any{"other_untainted_nodes": nil}), Errored,
		"the input lacks other_untainted_nodes"},

	// taint_node's postcondition wants the value too; untaint_node's precondition any value.
	policyCase{"node_taint_present", nodeInput("taint_node", map[string]any{"phase": "post",
		"node_taints": []any{nodeTaint("node.kubernetes.io/disk-pressure", "", "NoSchedule"), nodeMaintenanceTaint}}), Passed, ""},
	policyCase{"node_taint_present", nodeInput("taint_node", map[string]any{"phase": "post"}), Failed,
		"Node worker-1 does not carry taint example.com/maintenance=planned:NoSchedule; its taints: []"},
	policyCase{"node_taint_present", nodeInput("taint_node", map[string]any{"phase": "post",
		"node_taints": []any{nodeTaint("example.com/maintenance", "old", "NoSchedule")}}), Failed, "its taints: [example.com/maintenance=old:NoSchedule]"},
	policyCase{"node_taint_present", nodeInput("taint_node", map[string]any{"phase": "post",
		"node_taints": []any{nodeTaint("example.com/maintenance", "planned", "NoExecute")}}), Failed, ""},
	policyCase{"node_taint_present", nodeInput("taint_node", map[string]any{"phase": "post",
		"parameters": map[string]any{"node": map[string]any{"name": "worker-1"},
			"taint": map[string]any{"key": "example.com/maintenance", "effect": "NoSchedule"}},
		"node_taints": []any{map[string]any{"key": "example.com/maintenance", "effect": "NoSchedule"}}}), Passed, ""},
	policyCase{"node_taint_present", nodeInput("taint_node", nodeChanges(nodeGone, map[string]any{"phase": "post"})), Failed, "Node worker-1 not found"},
	policyCase{"node_taint_present", nodeInput("untaint_node", map[string]any{"node_taints": []any{nodeMaintenanceTaint}}), Passed, ""},
	policyCase{"node_taint_present", nodeInput("untaint_node", nil), Failed, "does not carry taint example.com/maintenance:NoSchedule"},
	policyCase{"node_taint_present", nodeInput("untaint_node", map[string]any{"node_taints": nil}), Errored, "the input lacks node_taints"},

	policyCase{"node_taint_absent", nodeInput("untaint_node", map[string]any{"phase": "post",
		"node_taints": []any{nodeTaint("example.com/maintenance", "planned", "NoExecute")}}), Passed, ""},
	policyCase{"node_taint_absent", nodeInput("untaint_node", map[string]any{"phase": "post", "node_taints": []any{nodeMaintenanceTaint}}), Failed,
		"Node worker-1 still carries taint example.com/maintenance=planned:NoSchedule"},
	policyCase{"node_taint_absent", nodeInput("untaint_node", nodeChanges(nodeGone, map[string]any{"phase": "post"})), Failed, "Node worker-1 not found"},
	policyCase{"node_taint_absent", nodeInput("untaint_node", map[string]any{"node_taints": nil}), Errored, "the input lacks node_taints"},
)

// nodeChanges returns the union of two sets of changes; b wins.
func nodeChanges(a, b map[string]any) map[string]any {
	m := maps.Clone(a)
	maps.Copy(m, b)
	return m
}
