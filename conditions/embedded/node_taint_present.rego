package postcondition.node

# The Node carries the taint of the parameters' key and effect. For taint_node, its
# value is also the parameters' value ("" when they give none); other actions (e.g.
# untaint_node, whose parameters carry no value) accept any value.

allow if {
	input.node_found == true
	input.action == "taint_node"
	some t in input.node_taints
	t.key == input.parameters.taint.key
	t.effect == input.parameters.taint.effect
	object.get(t, "value", "") == object.get(input.parameters.taint, "value", "")
}

allow if {
	input.node_found == true
	input.action != "taint_node"
	some t in input.node_taints
	t.key == input.parameters.taint.key
	t.effect == input.parameters.taint.effect
}

wanted := sprintf("%s=%s:%s", [input.parameters.taint.key, input.parameters.taint.value, input.parameters.taint.effect]) if {
	input.action == "taint_node"
	input.parameters.taint.value != ""
} else := sprintf("%s:%s", [input.parameters.taint.key, input.parameters.taint.effect])

error_message := msg if {
	input.node_found != true
	msg := sprintf("Node %s not found", [input.parameters.node.name])
}

error_message := msg if {
	input.node_found == true
	taints := [sprintf("%s=%s:%s", [t.key, object.get(t, "value", ""), t.effect]) | some t in input.node_taints]
	msg := sprintf("Node %s does not carry taint %s; its taints: [%s]", [input.parameters.node.name, wanted, concat(", ", taints)])
}
