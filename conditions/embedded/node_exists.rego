package precondition.node

# The Node the action acts on exists.

allow if {
	input.node_found == true
}

error_message := msg if {
	input.node_found != true
	msg := sprintf("Node %s not found", [input.parameters.node.name])
}
