package postcondition.hpa

# The HorizontalPodAutoscaler is able to scale its target, and has brought the target's
# replica count within its bounds.

allow if {
	input.hpa_conditions.AbleToScale == true
	input.hpa_current_replicas >= input.hpa_min_replicas
	input.hpa_current_replicas <= input.hpa_max_replicas
}

deny contains msg if {
	object.get(input.hpa_conditions, "AbleToScale", false) != true
	msg := sprintf("HorizontalPodAutoscaler %s is not able to scale its target (condition AbleToScale is not True)", [input.hpa_name])
}

deny contains msg if {
	input.hpa_current_replicas < input.hpa_min_replicas
	msg := sprintf("HorizontalPodAutoscaler %s runs %v replicas, below its minReplicas %v",
		[input.hpa_name, input.hpa_current_replicas, input.hpa_min_replicas])
}

deny contains msg if {
	input.hpa_current_replicas > input.hpa_max_replicas
	msg := sprintf("HorizontalPodAutoscaler %s runs %v replicas, above its maxReplicas %v",
		[input.hpa_name, input.hpa_current_replicas, input.hpa_max_replicas])
}
