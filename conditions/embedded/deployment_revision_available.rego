package precondition.deployment

# The revision to roll back to is kept (a ReplicaSet of the Deployment carries it)
# and is not the current one. parameters.revision names it; absent or 0 means the
# previous revision: the highest kept revision below the current one.

allow if {
	is_number(input.deployment_revision)
	target != input.deployment_revision
	target in input.deployment_revisions
}

requested := object.get(input.parameters, "revision", 0)

previous := {r | some r in input.deployment_revisions; r < input.deployment_revision}

target := requested if {
	requested > 0
} else := max(previous) if {
	count(previous) > 0
}

error_message := msg if {
	requested <= 0
	count(previous) == 0
	msg := sprintf("Deployment %s has no revision before its current revision %v to roll back to (kept: %v)",
		[input.deployment_name, input.deployment_revision, input.deployment_revisions])
}

error_message := msg if {
	requested > 0
	requested == input.deployment_revision
	msg := sprintf("revision %v is already the current revision of Deployment %s", [requested, input.deployment_name])
}

error_message := msg if {
	requested > 0
	requested != input.deployment_revision
	not requested in input.deployment_revisions
	msg := sprintf("revision %v of Deployment %s is not kept (kept: %v)", [requested, input.deployment_name, input.deployment_revisions])
}
