package postcondition.pod

# The quarantined pod still exists for debugging, and nothing selects it any more:
# no Service (it receives no traffic) and not its controller (which replaces it).

allow if {
	input.pod_gone == false
	count(input.pod_matching_services) == 0
	input.pod_selected_by_owner == false
}

error_message := sprintf("Pod %s in namespace %s is not isolated", [input.parameters.pod.name, input.namespace])

deny contains msg if {
	input.pod_gone == true
	msg := "it no longer exists: nothing is left to debug"
}

deny contains msg if {
	count(input.pod_matching_services) > 0
	msg := sprintf("Services still select it: %s", [concat(", ", sort(input.pod_matching_services))])
}

deny contains msg if {
	input.pod_selected_by_owner == true
	msg := sprintf("the selector of %s %s still matches it: no replacement is created", [input.pod_owner_kind, input.pod_owner_name])
}
