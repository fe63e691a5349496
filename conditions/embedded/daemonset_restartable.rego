package precondition.daemonset

# A restart of the DaemonSet takes effect and starts from a settled state: its update
# strategy is RollingUpdate (with OnDelete, a new pod template replaces no pod until
# someone deletes them), and no rollout is in progress.

allow if {
	input.daemonset_update_strategy == "RollingUpdate"
	input.daemonset_generation_observed == true
	input.daemonset_updated_number_scheduled >= input.daemonset_desired_number_scheduled
}

error_message := msg if {
	not allow
	msg := sprintf("DaemonSet %s in namespace %s cannot be restarted now", [input.daemonset_name, input.namespace])
}

deny contains msg if {
	input.daemonset_update_strategy != "RollingUpdate"
	msg := sprintf("its update strategy is %s: a new pod template replaces no pod", [input.daemonset_update_strategy])
}

deny contains msg if {
	input.daemonset_generation_observed != true
	msg := "the controller has not yet observed its latest spec"
}

deny contains msg if {
	input.daemonset_updated_number_scheduled < input.daemonset_desired_number_scheduled
	msg := sprintf("a rollout is in progress: %v of %v nodes run the newest pod template",
		[input.daemonset_updated_number_scheduled, input.daemonset_desired_number_scheduled])
}
