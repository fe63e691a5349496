package safety.replica_ceiling

# No action asks for more replicas than input.replica_ceiling (100 unless the manager
# is configured otherwise): scale_deployment and scale_statefulset set
# input.target_replicas, update_hpa lets its autoscaler reach it (its maxReplicas). An
# action among those whose replica count is not known is refused.

replica_actions := {"scale_deployment", "scale_statefulset", "update_hpa"}

ceiling := input.replica_ceiling if {
	is_number(input.replica_ceiling)
	input.replica_ceiling > 0
} else := 100

field := "maxReplicas" if {
	input.action == "update_hpa"
} else := "replicas"

target := sprintf("%s %s/%s", [
	object.get(input, "target_kind", "object"),
	object.get(input, "target_namespace", ""),
	object.get(input, "target_name", ""),
])

deny contains msg if {
	is_number(input.target_replicas)
	input.target_replicas > ceiling
	msg := sprintf(
		"%s to %s %v refused for %s: above the replica ceiling of %v; ask for at most %v, or have an administrator raise the manager's replica ceiling",
		[input.action, field, input.target_replicas, target, ceiling, ceiling],
	)
}

# A helper rule: `not is_number(x)` is undefined, not true, when x is missing.
replicas_known if is_number(input.target_replicas)

deny contains msg if {
	input.action in replica_actions
	not replicas_known
	msg := sprintf(
		"%s refused for %s: the safety input has no target_replicas, so the replica ceiling of %v cannot be checked",
		[input.action, target, ceiling],
	)
}
