package precondition.container

# The pod template of the Deployment has the container the parameters name.

allow if {
	input.container_found == true
}

error_message := msg if {
	input.container_found != true
	msg := sprintf("the pod template of Deployment %s in namespace %s has no container named %s",
		[input.deployment_name, input.namespace, input.parameters.container])
}
