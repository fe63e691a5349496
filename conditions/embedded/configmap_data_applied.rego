package postcondition.configmap

# The ConfigMap's data holds every key the parameters set, with its value, and none
# they set to null; with parameters.replace, no other key either. configmap_data
# holds only the keys the action changes (those of parameters.data; with replace,
# every key), so a key the action leaves alone is never read.

allow if {
	is_object(input.configmap_data)
	count(wrong) == 0
	count(extra) == 0
}

# A key set to null is wrong while it is still there: object.get gives null for a
# key that is absent.
wrong contains key if {
	some key, value in input.parameters.data
	object.get(input.configmap_data, key, null) != value
}

extra contains key if {
	object.get(input.parameters, "replace", false) == true
	some key, _ in input.configmap_data
	not key in object.keys(input.parameters.data)
}

deny contains msg if {
	some key in wrong
	not key in object.keys(input.configmap_data)
	msg := sprintf("key %s is missing from ConfigMap %s", [key, input.configmap_name])
}

deny contains msg if {
	some key in wrong
	key in object.keys(input.configmap_data)
	input.parameters.data[key] != null
	msg := sprintf("key %s of ConfigMap %s does not have the value set", [key, input.configmap_name])
}

deny contains msg if {
	some key in wrong
	key in object.keys(input.configmap_data)
	input.parameters.data[key] == null
	msg := sprintf("key %s of ConfigMap %s remains although it was to be removed", [key, input.configmap_name])
}

deny contains msg if {
	some key in extra
	msg := sprintf("key %s of ConfigMap %s remains although the data was to be replaced", [key, input.configmap_name])
}
