package precondition.pod

# The pod has a controller that recreates it once it is deleted: one that keeps a
# count of pods (ReplicaSet, ReplicationController, StatefulSet) or one per node
# (DaemonSet), and that still exists. A bare pod, or a pod of a Job or of a Node (a
# static pod's mirror), would not come back as it was.

recreating_kinds := {"ReplicaSet", "ReplicationController", "StatefulSet", "DaemonSet"}

allow if {
	input.pod_found == true
	input.pod_owner_kind in recreating_kinds
	input.pod_owner_found == true
}

error_message := msg if {
	input.pod_found != true
	msg := sprintf("Pod %s not found in namespace %s", [input.parameters.pod.name, input.namespace])
} else := msg if {
	input.pod_owner_kind == ""
	msg := sprintf("Pod %s in namespace %s has no controller: deleted, it would not be recreated",
		[input.parameters.pod.name, input.namespace])
} else := msg if {
	not input.pod_owner_kind in recreating_kinds
	msg := sprintf("Pod %s in namespace %s is controlled by %s %s, which does not recreate a deleted pod (supported: ReplicaSet, ReplicationController, StatefulSet, DaemonSet)",
		[input.parameters.pod.name, input.namespace, input.pod_owner_kind, input.pod_owner_name])
} else := msg if {
	msg := sprintf("%s %s, the controller of Pod %s in namespace %s, no longer exists or is being deleted: nothing would recreate the pod",
		[input.pod_owner_kind, input.pod_owner_name, input.parameters.pod.name, input.namespace])
}
