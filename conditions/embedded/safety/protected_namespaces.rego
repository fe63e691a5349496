package safety.protected_namespaces

# No action changes an object in a protected namespace: Kubernetes' own
# (kube-system, kube-public, kube-node-lease) and the manager's. The list is
# input.protected_namespaces; the system namespaces and input.manager_namespace are
# protected even when the list lacks them. notify_only is let through: it records an
# Event and changes nothing else.

protected contains ns if {
	some ns in input.protected_namespaces
}

protected contains ns if {
	some ns in {"kube-system", "kube-public", "kube-node-lease"}
}

protected contains input.manager_namespace if {
	is_string(input.manager_namespace)
	input.manager_namespace != ""
}

deny contains msg if {
	input.action != "notify_only"
	input.target_namespace in protected
	msg := sprintf(
		"%s on %s %s/%s refused: namespace %s is protected (%s); remediate it by hand, or replace the safety policy protected_namespaces in the ConfigMap kubernaut-safety-policies",
		[
			input.action, object.get(input, "target_kind", "object"), input.target_namespace,
			object.get(input, "target_name", ""), input.target_namespace, concat(", ", sort(protected)),
		],
	)
}
