package postcondition.pvc

# The claim's capacity has grown to the requested size.

allow if {
	input.pvc_capacity_bytes >= input.pvc_requested_bytes
}

error_message := msg if {
	input.pvc_conditions.ControllerResizeError == true
	msg := sprintf("the CSI driver failed to expand the volume of PersistentVolumeClaim %s in namespace %s (ControllerResizeError): capacity %v bytes, requested %v",
		[input.parameters.pvc.name, input.namespace, input.pvc_capacity_bytes, input.pvc_requested_bytes])
} else := msg if {
	input.pvc_conditions.NodeResizeError == true
	msg := sprintf("the kubelet failed to grow the file system of PersistentVolumeClaim %s in namespace %s (NodeResizeError): capacity %v bytes, requested %v",
		[input.parameters.pvc.name, input.namespace, input.pvc_capacity_bytes, input.pvc_requested_bytes])
} else := msg if {
	input.pvc_conditions.FileSystemResizePending == true
	msg := sprintf("the volume of PersistentVolumeClaim %s in namespace %s is expanded, but its file system grows only when a pod next mounts it (FileSystemResizePending): capacity %v bytes, requested %v",
		[input.parameters.pvc.name, input.namespace, input.pvc_capacity_bytes, input.pvc_requested_bytes])
} else := msg if {
	msg := sprintf("PersistentVolumeClaim %s in namespace %s has a capacity of %v bytes, less than the requested %s (%v bytes)",
		[input.parameters.pvc.name, input.namespace, input.pvc_capacity_bytes, input.parameters.pvc.size, input.pvc_requested_bytes])
}
