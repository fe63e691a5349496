package postcondition.container

# The container in the Deployment's pod template has every request and limit the
# parameters set (compared as quantities: 0.5 is 500m).

allow if {
	is_object(input.container_requests)
	is_object(input.container_limits)
	count(mismatches) == 0
}

current := {"requests": input.container_requests, "limits": input.container_limits}

mismatches contains [sprintf("%s.%s", [kind, resource]), now, want] if {
	some kind in ["requests", "limits"]
	some resource, want in object.get(input.parameters, kind, {})
	now := object.get(current[kind], resource, "")
	not same_quantity(now, want)
}

same_quantity(a, b) if {
	a != ""
	units.parse(a) == units.parse(b)
}

deny contains msg if {
	some [key, now, want] in mismatches
	msg := sprintf("%s of container %s is %q, want %s", [key, input.parameters.container, now, want])
}
