package postcondition.daemonset

# The DaemonSet's rollout is complete, as kubectl rollout status decides: the
# controller has observed the latest spec, and every node that should run a pod runs
# one of the newest pod template, available.

allow if {
	input.daemonset_generation_observed == true
	input.daemonset_updated_number_scheduled >= input.daemonset_desired_number_scheduled
	input.daemonset_number_available >= input.daemonset_desired_number_scheduled
}

error_message := msg if {
	not allow
	msg := sprintf("the rollout of DaemonSet %s in namespace %s is not complete", [input.daemonset_name, input.namespace])
}

deny contains msg if {
	input.daemonset_generation_observed != true
	msg := "the controller has not yet observed its latest spec"
}

deny contains msg if {
	input.daemonset_updated_number_scheduled < input.daemonset_desired_number_scheduled
	msg := sprintf("%v of %v nodes run the newest pod template",
		[input.daemonset_updated_number_scheduled, input.daemonset_desired_number_scheduled])
}

deny contains msg if {
	input.daemonset_number_available < input.daemonset_desired_number_scheduled
	msg := sprintf("%v of %v pods are available", [input.daemonset_number_available, input.daemonset_desired_number_scheduled])
}
