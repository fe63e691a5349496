package precondition.node

# The PodDisruptionBudgets of the Node's pods allow evicting them now, so a drain
# does not stall on refused evictions.

allow if {
	input.pdb_blocked_pods == 0
}

error_message := msg if {
	input.pdb_blocked_pods != 0
	msg := sprintf("%v pods on Node %s are protected by PodDisruptionBudgets that allow no more disruptions now",
		[input.pdb_blocked_pods, input.parameters.node.name])
}
