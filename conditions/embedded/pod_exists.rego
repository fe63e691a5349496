package precondition.pod

# The pod the action names exists.

allow if {
	input.pod_found == true
}

error_message := msg if {
	input.pod_found != true
	msg := sprintf("Pod %s not found in namespace %s", [input.parameters.pod.name, input.namespace])
}
