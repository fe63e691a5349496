package precondition.pvc

# The claim is Bound: only a bound claim has a volume to expand.

allow if {
	input.pvc_found == true
	input.pvc_phase == "Bound"
}

error_message := msg if {
	input.pvc_found != true
	msg := sprintf("PersistentVolumeClaim %s not found in namespace %s", [input.parameters.pvc.name, input.namespace])
} else := msg if {
	msg := sprintf("PersistentVolumeClaim %s in namespace %s is %s, not Bound: it has no volume to expand",
		[input.parameters.pvc.name, input.namespace, input.pvc_phase])
}
