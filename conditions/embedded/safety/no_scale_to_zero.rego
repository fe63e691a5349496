package safety.no_scale_to_zero

# scale_deployment and scale_statefulset never set 0 replicas: a workload scaled to
# zero serves nothing, and a remediation should not take a service down.

deny contains msg if {
	input.action in {"scale_deployment", "scale_statefulset"}
	input.target_replicas == 0
	msg := sprintf(
		"%s to 0 replicas refused for %s %s/%s: scaling to zero stops the workload; ask for at least 1 replica, or scale it down by hand if stopping it is intended",
		[
			input.action, object.get(input, "target_kind", "workload"),
			object.get(input, "target_namespace", ""), object.get(input, "target_name", ""),
		],
	)
}
