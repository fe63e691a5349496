package postcondition.notify

# The Event the action records exists.

allow if {
	input.notify_event_found == true
}

error_message := msg if {
	msg := sprintf("the Event %s with the %s notification was not found", [input.notify_event_name, input.parameters.severity])
}
