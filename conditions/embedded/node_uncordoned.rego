package postcondition.node

# The Node is schedulable (spec.unschedulable is false).

allow if {
	input.node_found == true
	input.node_unschedulable == false
}

error_message := msg if {
	input.node_found != true
	msg := sprintf("Node %s not found", [input.parameters.node.name])
}

error_message := msg if {
	input.node_found == true
	input.node_unschedulable != false
	msg := sprintf("Node %s is still cordoned", [input.parameters.node.name])
}
