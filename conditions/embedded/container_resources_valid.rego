package precondition.container

# The parameters set at least one request or limit, and after the change no request
# of the container exceeds its limit. A value the parameters do not set keeps the
# container's current one; "" means unset, which bounds nothing.

allow if {
	count(changes) > 0
	is_object(input.container_requests)
	is_object(input.container_limits)
	count(conflicts) == 0
}

# changes are the values the parameters set, e.g. "requests.cpu".
changes contains sprintf("%s.%s", [kind, resource]) if {
	some kind in ["requests", "limits"]
	some resource, _ in object.get(input.parameters, kind, {})
}

current := {"requests": input.container_requests, "limits": input.container_limits}

# after is a value of the container once the action has acted.
after(kind, resource) := value if {
	value := input.parameters[kind][resource]
} else := object.get(current[kind], resource, "")

conflicts contains resource if {
	some resource in ["cpu", "memory"]
	after("requests", resource) != ""
	after("limits", resource) != ""
	units.parse(after("requests", resource)) > units.parse(after("limits", resource))
}

deny contains "the parameters set neither requests nor limits" if {
	count(changes) == 0
}

deny contains msg if {
	some resource in conflicts
	msg := sprintf("the %s request %s would exceed the %s limit %s of container %s",
		[resource, after("requests", resource), resource, after("limits", resource), input.parameters.container])
}
