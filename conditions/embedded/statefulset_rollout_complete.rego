package postcondition.statefulset

# The StatefulSet's rollout is complete, as kubectl rollout status decides: the
# controller has observed the latest spec, every pod runs the newest revision (the
# controller makes status.currentRevision status.updateRevision once every replica
# is updated and ready), and the target replica count is updated and ready.

allow if {
	input.statefulset_generation_observed == true
	input.statefulset_current_revision == input.statefulset_update_revision
	input.statefulset_updated_replicas >= input.target_replicas
	input.statefulset_ready_replicas >= input.target_replicas
}

error_message := msg if {
	not allow
	msg := sprintf("the rollout of StatefulSet %s in namespace %s is not complete", [input.statefulset_name, input.namespace])
}

deny contains msg if {
	input.statefulset_generation_observed != true
	msg := "the controller has not yet observed its latest spec"
}

deny contains msg if {
	input.statefulset_current_revision != input.statefulset_update_revision
	msg := sprintf("%v of %v pods run the newest revision", [input.statefulset_updated_replicas, input.target_replicas])
}

deny contains msg if {
	input.statefulset_ready_replicas < input.target_replicas
	msg := sprintf("%v of %v pods are ready", [input.statefulset_ready_replicas, input.target_replicas])
}
