package postcondition.node

# No pod that the drain evicts is left on the Node.

allow if {
	input.node_found == true
	input.node_evictable_pods == 0
}

error_message := msg if {
	input.node_found != true
	msg := sprintf("Node %s not found", [input.parameters.node.name])
}

error_message := msg if {
	input.node_found == true
	input.node_evictable_pods != 0
	msg := sprintf("%v evictable pods are still on Node %s", [input.node_evictable_pods, input.parameters.node.name])
}
