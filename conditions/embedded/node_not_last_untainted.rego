package precondition.node

# A NoSchedule or NoExecute taint leaves at least one other Ready, uncordoned node
# without it for the pods that do not tolerate it. PreferNoSchedule only steers the
# scheduler and always passes.

allow if {
	input.parameters.taint.effect == "PreferNoSchedule"
}

allow if {
	input.parameters.taint.effect != "PreferNoSchedule"
	is_number(input.other_untainted_nodes)
	input.other_untainted_nodes > 0
}

error_message := msg if {
	input.parameters.taint.effect != "PreferNoSchedule"
	not input.other_untainted_nodes > 0
	msg := sprintf("no Ready, schedulable node other than %s remains without a %s taint %s (other_untainted_nodes: %v): pods that do not tolerate it would have nowhere to run",
		[input.parameters.node.name, input.parameters.taint.effect, input.parameters.taint.key, input.other_untainted_nodes])
}
