package postcondition.deployment

# The Deployment's rollout is complete, as kubectl rollout status decides: the
# controller has observed the latest spec, every replica runs the newest pod template
# (the new ReplicaSet), no pod of an older ReplicaSet is left, and every updated
# replica is available.

allow if {
	input.deployment_generation_observed == true
	input.deployment_updated_replicas >= input.current_replicas
	input.deployment_status_replicas <= input.deployment_updated_replicas
	input.deployment_available_replicas >= input.deployment_updated_replicas
}

error_message := msg if {
	not allow
	msg := sprintf("the rollout of Deployment %s in namespace %s is not complete", [input.deployment_name, input.namespace])
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

deny contains msg if {
	input.deployment_available_replicas < input.deployment_updated_replicas
	msg := sprintf("%v of %v updated replicas are available", [input.deployment_available_replicas, input.deployment_updated_replicas])
}
