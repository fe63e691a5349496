package postcondition.container

# The container runs the new image everywhere: in the Deployment's pod template and in
# every pod of the Deployment (a pod of the old template still running fails the
# check), with at least the target replica count of pods.

allow if {
	input.container_image == input.parameters.image
	count(input.container_pod_images) >= input.target_replicas
	every image in input.container_pod_images {
		image == input.parameters.image
	}
}

stale := [image | some image in input.container_pod_images; image != input.parameters.image]

error_message := msg if {
	input.container_image != input.parameters.image
	msg := sprintf("the pod template of Deployment %s runs %s in container %s, want %s",
		[input.deployment_name, input.container_image, input.parameters.container, input.parameters.image])
}

error_message := msg if {
	input.container_image == input.parameters.image
	count(stale) > 0
	msg := sprintf("%v of %v pods of Deployment %s still run another image in container %s (%v)",
		[count(stale), count(input.container_pod_images), input.deployment_name, input.parameters.container, stale])
}

error_message := msg if {
	input.container_image == input.parameters.image
	count(stale) == 0
	count(input.container_pod_images) < input.target_replicas
	msg := sprintf("%v of %v pods of Deployment %s run image %s",
		[count(input.container_pod_images), input.target_replicas, input.deployment_name, input.parameters.image])
}
