package precondition.statefulset

# A restart of the StatefulSet takes effect on every pod and starts from a settled
# state: its update strategy is RollingUpdate (with OnDelete, a new pod template
# replaces no pod until someone deletes them) without a partition (the pods below it
# would keep running), the controller has observed its latest spec, and no rollout is
# in progress: every pod runs the newest revision.

allow if {
	input.statefulset_update_strategy == "RollingUpdate"
	input.statefulset_partition == 0
	input.statefulset_generation_observed == true
	input.statefulset_current_revision == input.statefulset_update_revision
}

error_message := msg if {
	not allow
	msg := sprintf("StatefulSet %s in namespace %s cannot be restarted now", [input.statefulset_name, input.namespace])
}

deny contains msg if {
	input.statefulset_update_strategy != "RollingUpdate"
	msg := sprintf("its update strategy is %s: a new pod template replaces no pod", [input.statefulset_update_strategy])
}

deny contains msg if {
	input.statefulset_partition != 0
	msg := sprintf("its rolling update is partitioned at ordinal %v: the pods below it would not restart", [input.statefulset_partition])
}

deny contains msg if {
	input.statefulset_generation_observed != true
	msg := "the controller has not yet observed its latest spec"
}

deny contains msg if {
	input.statefulset_current_revision != input.statefulset_update_revision
	msg := sprintf("a rollout is in progress: %v of %v pods run the newest revision",
		[input.statefulset_updated_replicas, input.statefulset_status_replicas])
}
