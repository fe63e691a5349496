package precondition.hpa

# The HorizontalPodAutoscaler the action acts on exists.

allow if {
	input.hpa_found == true
}

error_message := msg if {
	input.hpa_found != true
	msg := sprintf("HorizontalPodAutoscaler %s not found in namespace %s", [input.hpa_name, input.namespace])
}
