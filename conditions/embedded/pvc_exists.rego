package precondition.pvc

# The PersistentVolumeClaim the action names exists.

allow if {
	input.pvc_found == true
}

error_message := msg if {
	input.pvc_found != true
	msg := sprintf("PersistentVolumeClaim %s not found in namespace %s", [input.parameters.pvc.name, input.namespace])
}
