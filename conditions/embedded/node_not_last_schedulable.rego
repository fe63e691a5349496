package precondition.node

# Cordoning or draining the Node leaves at least one other Ready, uncordoned node for
# the pods.

allow if {
	is_number(input.other_schedulable_nodes)
	input.other_schedulable_nodes > 0
}

error_message := msg if {
	not input.other_schedulable_nodes > 0
	msg := sprintf("no Ready, schedulable node other than %s remains (other_schedulable_nodes: %v): its pods would have nowhere to run",
		[input.parameters.node.name, input.other_schedulable_nodes])
}
