package precondition.notify

# The message says something, and fits in an Event (whose note holds 1024 characters
# at most).

allow if {
	is_string(input.parameters.message)
	trim_space(input.parameters.message) != ""
	count(input.parameters.message) <= 1024
}

error_message := msg if {
	not is_string(object.get(input.parameters, "message", null))
	msg := "the parameters have no message"
} else := msg if {
	trim_space(input.parameters.message) == ""
	msg := "the message is blank"
} else := msg if {
	msg := sprintf("the message has %v characters; an Event holds at most 1024", [count(input.parameters.message)])
}
