package precondition.pvc

# The requested size is larger than the claim's capacity: a claim cannot shrink.

allow if {
	input.pvc_requested_bytes > input.pvc_capacity_bytes
}

error_message := msg if {
	msg := sprintf("the requested size %s (%v bytes) of PersistentVolumeClaim %s in namespace %s is not larger than its capacity (%v bytes): a claim cannot shrink",
		[input.parameters.pvc.size, input.pvc_requested_bytes, input.parameters.pvc.name, input.namespace, input.pvc_capacity_bytes])
}
