package precondition.container

# No request or limit the parameters set is lower than the container's current value:
# increase_resources increases. Its inverse lowers them again, so this condition is
# suggested as optional.

allow if {
	is_object(input.container_requests)
	is_object(input.container_limits)
	count(decreases) == 0
}

current := {"requests": input.container_requests, "limits": input.container_limits}

decreases contains [sprintf("%s.%s", [kind, resource]), now, value] if {
	some kind in ["requests", "limits"]
	some resource, value in object.get(input.parameters, kind, {})
	now := object.get(current[kind], resource, "")
	now != ""
	units.parse(value) < units.parse(now)
}

deny contains msg if {
	some [key, now, value] in decreases
	msg := sprintf("%s of container %s would go down from %s to %s", [key, input.parameters.container, now, value])
}
