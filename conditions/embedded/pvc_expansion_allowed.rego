package precondition.pvc

# The claim's StorageClass sets allowVolumeExpansion: true; otherwise the API server
# rejects a larger request.

allow if {
	input.pvc_storage_class_allows_expansion == true
}

error_message := msg if {
	input.pvc_storage_class == ""
	msg := sprintf("PersistentVolumeClaim %s in namespace %s has no StorageClass: its volume cannot be expanded through the claim",
		[input.parameters.pvc.name, input.namespace])
} else := msg if {
	msg := sprintf("StorageClass %s of PersistentVolumeClaim %s in namespace %s does not exist or does not set allowVolumeExpansion: true",
		[input.pvc_storage_class, input.parameters.pvc.name, input.namespace])
}
