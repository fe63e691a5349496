package precondition.statefulset

# The StatefulSet the action acts on exists.

allow if {
	input.statefulset_found == true
}

error_message := msg if {
	input.statefulset_found != true
	msg := sprintf("StatefulSet %s not found in namespace %s", [input.statefulset_name, input.namespace])
}
