package precondition.configmap

# The ConfigMap the action acts on exists.

allow if {
	input.configmap_found == true
}

error_message := msg if {
	input.configmap_found != true
	msg := sprintf("ConfigMap %s not found in namespace %s", [input.configmap_name, input.namespace])
}
