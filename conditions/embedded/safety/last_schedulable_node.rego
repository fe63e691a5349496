package safety.last_schedulable_node

# cordon_node, drain_node, and taint_node with a NoSchedule or NoExecute taint never
# take away the last Ready, schedulable node. input.other_ready_schedulable_nodes
# counts the nodes other than the target that are Ready, uncordoned and free of
# NoSchedule and NoExecute taints; when it is 0, or not known, the action is refused.

removes_capacity if input.action in {"cordon_node", "drain_node"}

removes_capacity if {
	input.action == "taint_node"
	input.parameters.taint.effect in {"NoSchedule", "NoExecute"}
}

# A taint whose effect is not known is taken to keep pods away.
removes_capacity if {
	input.action == "taint_node"
	not effect_known
}

effect_known if is_string(input.parameters.taint.effect)

node := object.get(input, "target_name", "")

deny contains msg if {
	removes_capacity
	is_number(input.other_ready_schedulable_nodes)
	input.other_ready_schedulable_nodes < 1
	msg := sprintf(
		"%s refused for Node %s: it is the last Ready, schedulable node (no other node is Ready, uncordoned and free of NoSchedule and NoExecute taints), so its pods would have nowhere to run; add or repair a node first",
		[input.action, node],
	)
}

# A helper rule: `not is_number(x)` is undefined, not true, when x is missing.
count_known if is_number(input.other_ready_schedulable_nodes)

deny contains msg if {
	removes_capacity
	not count_known
	msg := sprintf(
		"%s refused for Node %s: the safety input has no other_ready_schedulable_nodes, so whether it is the last schedulable node cannot be told",
		[input.action, node],
	)
}
