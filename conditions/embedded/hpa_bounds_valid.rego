package precondition.hpa

# The new bounds are consistent: minReplicas is not above maxReplicas (the API server
# would reject the HorizontalPodAutoscaler).

allow if {
	input.parameters.minReplicas <= input.parameters.maxReplicas
}

error_message := msg if {
	input.parameters.minReplicas > input.parameters.maxReplicas
	msg := sprintf("minReplicas %v is above maxReplicas %v", [input.parameters.minReplicas, input.parameters.maxReplicas])
}
