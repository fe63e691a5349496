package postcondition.hpa

# The HorizontalPodAutoscaler's spec has the bounds the parameters set.

allow if {
	input.hpa_min_replicas == input.parameters.minReplicas
	input.hpa_max_replicas == input.parameters.maxReplicas
}

error_message := msg if {
	not allow
	msg := sprintf("HorizontalPodAutoscaler %s has minReplicas %v and maxReplicas %v, want %v and %v",
		[input.hpa_name, input.hpa_min_replicas, input.hpa_max_replicas, input.parameters.minReplicas, input.parameters.maxReplicas])
}
