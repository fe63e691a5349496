package postcondition.node

# The Node carries no taint of the parameters' key and effect, whatever its value.

allow if {
	input.node_found == true
	is_array(input.node_taints)
	matching := [t | some t in input.node_taints; t.key == input.parameters.taint.key; t.effect == input.parameters.taint.effect]
	count(matching) == 0
}

error_message := msg if {
	input.node_found != true
	msg := sprintf("Node %s not found", [input.parameters.node.name])
}

error_message := msg if {
	input.node_found == true
	some t in input.node_taints
	t.key == input.parameters.taint.key
	t.effect == input.parameters.taint.effect
	msg := sprintf("Node %s still carries taint %s=%s:%s", [input.parameters.node.name, t.key, object.get(t, "value", ""), t.effect])
}
