package postcondition.statefulset

# The StatefulSet controller has observed the new spec and runs exactly the target
# replica count, every replica ready. Exact counts, so that a scale-down is verified
# too: the pods above the target must be gone.

allow if {
	input.statefulset_generation_observed == true
	input.statefulset_status_replicas == input.target_replicas
	input.statefulset_ready_replicas == input.target_replicas
}

error_message := msg if {
	input.statefulset_generation_observed != true
	msg := sprintf("the controller has not yet observed the latest spec of StatefulSet %s", [input.statefulset_name])
}

error_message := msg if {
	input.statefulset_generation_observed == true
	not counts_match
	msg := sprintf("StatefulSet %s has %v pods, %v ready, want %v",
		[input.statefulset_name, input.statefulset_status_replicas, input.statefulset_ready_replicas, input.target_replicas])
}

counts_match if {
	input.statefulset_status_replicas == input.target_replicas
	input.statefulset_ready_replicas == input.target_replicas
}
