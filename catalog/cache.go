package catalog

import (
	corev1 "k8s.io/api/core/v1"
)

// TrimForFacts drops, in place, the parts of a Pod or a Node that no fact of the
// catalog reads; any other object is left as it is. The manager's cache holds
// every pod and node of the cluster for the facts, and most of a pod is what only
// the kubelet needs: environment, probes, volume sources, scheduling constraints.
//
// What a pod keeps is what the facts read: its metadata and status whole, and
// from its spec the node, the containers' names, images, resources and restart
// policies, and which volumes are emptyDirs (drain_node's local storage). A fact
// that reads another part of a cached pod must keep it here; the facts' tests
// read pods through this trim, as the manager does.
//
// Objects trimmed this way are only read: an update built from one would remove
// what was dropped. The executors read what they change from the API server.
func TrimForFacts(obj any) {
	switch o := obj.(type) {
	case *corev1.Pod:
		trimPodSpec(&o.Spec)
	case *corev1.Node:
		// The images a node holds are often most of it, and volumes in use grow
		// with its pods; no fact reads either.
		o.Status.Images = nil
		o.Status.VolumesInUse = nil
		o.Status.VolumesAttached = nil
	}
}

// TrimTransform is TrimForFacts as an informer transform, for a cache that
// serves facts as the manager's does.
func TrimTransform(obj any) (any, error) {
	TrimForFacts(obj)
	return obj, nil
}

func trimPodSpec(spec *corev1.PodSpec) {
	*spec = corev1.PodSpec{
		NodeName:       spec.NodeName,
		Containers:     trimContainers(spec.Containers),
		InitContainers: trimContainers(spec.InitContainers),
		Volumes:        emptyDirs(spec.Volumes),
	}
}

func trimContainers(in []corev1.Container) []corev1.Container {
	if in == nil {
		return nil
	}
	out := make([]corev1.Container, len(in))
	for i, c := range in {
		out[i] = corev1.Container{Name: c.Name, Image: c.Image, Resources: c.Resources, RestartPolicy: c.RestartPolicy}
	}
	return out
}

// emptyDirs keeps each volume's name and, of its source, only an emptyDir.
func emptyDirs(in []corev1.Volume) []corev1.Volume {
	if in == nil {
		return nil
	}
	out := make([]corev1.Volume, len(in))
	for i, v := range in {
		out[i] = corev1.Volume{Name: v.Name, VolumeSource: corev1.VolumeSource{EmptyDir: v.EmptyDir}}
	}
	return out
}
