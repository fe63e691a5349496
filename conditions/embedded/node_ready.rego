package precondition.node

# The Node is Ready. Uncordoning a NotReady node lets the scheduler send pods to a
# node that cannot run them: it had better stay cordoned until it is Ready.

allow if {
	input.node_ready == true
}

error_message := msg if {
	input.node_ready != true
	msg := sprintf("Node %s is not Ready: keep it cordoned until it is", [input.parameters.node.name])
}
