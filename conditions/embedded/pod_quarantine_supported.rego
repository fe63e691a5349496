package precondition.pod

# The pod has a controller that replaces it under another name once it no longer
# selects it: a ReplicaSet, ReplicationController or DaemonSet that still exists. A
# StatefulSet would recreate the pod under its own name, which the quarantined pod
# keeps: no replacement could start. A bare pod would be taken out of its Services
# with nothing to replace it.

replacing_kinds := {"ReplicaSet", "ReplicationController", "DaemonSet"}

allow if {
	input.pod_found == true
	input.pod_owner_kind in replacing_kinds
	input.pod_owner_found == true
}

error_message := msg if {
	input.pod_found != true
	msg := sprintf("Pod %s not found in namespace %s", [input.parameters.pod.name, input.namespace])
} else := msg if {
	input.pod_owner_kind == ""
	msg := sprintf("Pod %s in namespace %s has no controller: quarantined, it would leave its Services with nothing to replace it",
		[input.parameters.pod.name, input.namespace])
} else := msg if {
	input.pod_owner_kind == "StatefulSet"
	msg := sprintf("Pod %s in namespace %s belongs to StatefulSet %s, whose replacement would need the name the quarantined pod keeps: use restart_pod or delete_pod",
		[input.parameters.pod.name, input.namespace, input.pod_owner_name])
} else := msg if {
	not input.pod_owner_kind in replacing_kinds
	msg := sprintf("Pod %s in namespace %s is controlled by %s %s, which would not replace it (supported: ReplicaSet, ReplicationController, DaemonSet)",
		[input.parameters.pod.name, input.namespace, input.pod_owner_kind, input.pod_owner_name])
} else := msg if {
	msg := sprintf("%s %s, the controller of Pod %s in namespace %s, no longer exists or is being deleted: nothing would replace the pod",
		[input.pod_owner_kind, input.pod_owner_name, input.parameters.pod.name, input.namespace])
}
