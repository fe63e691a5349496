package precondition.deployment

# No rollout of the Deployment is in progress: the controller has observed its latest
# spec, every replica runs the newest pod template and no pod of an older ReplicaSet
# is left. Availability is not required: an unavailable Deployment that is not
# rolling out is what a restart or a new image may fix.

allow if {
	input.deployment_generation_observed == true
	input.deployment_updated_replicas >= input.current_replicas
	input.deployment_status_replicas <= input.deployment_updated_replicas
}

error_message := msg if {
	not allow
	msg := sprintf("Deployment %s in namespace %s is mid-rollout", [input.deployment_name, input.namespace])
}

deny contains msg if {
	input.deployment_generation_observed != true
	msg := "the controller has not yet observed its latest spec"
}

deny contains msg if {
	input.deployment_updated_replicas < input.current_replicas
	msg := sprintf("%v of %v replicas run the newest pod template", [input.deployment_updated_replicas, input.current_replicas])
}

deny contains msg if {
	input.deployment_status_replicas > input.deployment_updated_replicas
	msg := sprintf("%v pods of older ReplicaSets remain", [input.deployment_status_replicas - input.deployment_updated_replicas])
}
