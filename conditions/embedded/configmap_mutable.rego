package precondition.configmap

# The ConfigMap is not immutable: the API server rejects any change to the data of an
# immutable ConfigMap, which can only be deleted and recreated.

allow if {
	input.configmap_immutable == false
}

error_message := msg if {
	input.configmap_immutable != false
	msg := sprintf("ConfigMap %s in namespace %s is immutable", [input.configmap_name, input.namespace])
}
