package precondition.pod

# Besides the pod, the controller has a ready pod: the workload keeps serving while
# the pod is replaced. ready_pods counts the pod itself when it is ready.

allow if {
	input.pod_ready == true
	input.ready_pods > 1
}

allow if {
	input.pod_ready == false
	input.ready_pods > 0
}

error_message := msg if {
	msg := sprintf("%s %s has no ready pod besides Pod %s in namespace %s (%v ready in all): the workload serves nothing until the replacement is ready",
		[input.pod_owner_kind, input.pod_owner_name, input.parameters.pod.name, input.namespace, input.ready_pods])
}
