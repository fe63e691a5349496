package precondition.daemonset

# The DaemonSet the action acts on exists.

allow if {
	input.daemonset_found == true
}

error_message := msg if {
	input.daemonset_found != true
	msg := sprintf("DaemonSet %s not found in namespace %s", [input.daemonset_name, input.namespace])
}
