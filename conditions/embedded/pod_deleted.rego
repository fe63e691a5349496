package postcondition.pod

# The pod the action deleted (by UID: a pod recreated under the same name is another
# one) is gone from the API.

allow if {
	input.pod_gone == true
}

error_message := msg if {
	input.pod_terminating == true
	msg := sprintf("Pod %s in namespace %s is still terminating: its grace period runs, a finalizer holds it, or its node does not answer (gracePeriodSeconds 0 removes it at once)",
		[input.parameters.pod.name, input.namespace])
} else := msg if {
	msg := sprintf("Pod %s in namespace %s still exists and is not terminating", [input.parameters.pod.name, input.namespace])
}
