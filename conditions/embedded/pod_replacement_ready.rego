package postcondition.pod

# The controller has created a pod since the action acted, and it is ready.

allow if {
	input.pod_ready_replacements >= 1
}

error_message := msg if {
	msg := sprintf("no pod that %s %s created since Pod %s in namespace %s was taken away is ready yet",
		[input.pod_owner_kind, input.pod_owner_name, input.parameters.pod.name, input.namespace])
}
