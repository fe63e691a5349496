package precondition.replicas_limit

allow if input.target_replicas <= 10

error_message := sprintf("%d replicas is more than 10", [input.target_replicas]) if not allow
