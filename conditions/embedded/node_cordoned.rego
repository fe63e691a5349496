package postcondition.node

# The Node is unschedulable (spec.unschedulable is true).

allow if {
	input.node_found == true
	input.node_unschedulable == true
}

error_message := msg if {
	input.node_found != true
	msg := sprintf("Node %s not found", [input.parameters.node.name])
}

error_message := msg if {
	input.node_found == true
	input.node_unschedulable != true
	msg := sprintf("Node %s is still schedulable", [input.parameters.node.name])
}
