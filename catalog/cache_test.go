package catalog

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fullPod has most of what a real pod carries, the parts no fact reads included.
func fullPod(name, node string, volumes ...corev1.Volume) corev1.Pod {
	container := func(name string) corev1.Container {
		return corev1.Container{
			Name: name, Image: "registry.example/" + name + ":1",
			Command: []string{"/bin/" + name}, Args: []string{"--verbose"},
			Env:   []corev1.EnvVar{{Name: "MODE", Value: "production"}},
			Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
			},
			VolumeMounts:   []corev1.VolumeMount{{Name: "token", MountPath: "/var/run/secrets"}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready"}}},
		}
	}
	sidecar := container("proxy")
	sidecar.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "web", Labels: map[string]string{"app": "web"},
			Annotations: map[string]string{"team": "web"}},
		Spec: corev1.PodSpec{
			NodeName:       node,
			Containers:     []corev1.Container{container("app")},
			InitContainers: []corev1.Container{container("migrate"), sidecar},
			Volumes: append([]corev1.Volume{{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}}}, volumes...),
			Tolerations:  []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Effect: corev1.TaintEffectNoExecute}},
			Affinity:     &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{}},
			NodeSelector: map[string]string{"pool": "a"},
		},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", RestartCount: 3,
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled"}}}},
		},
	}
}

func TestTrimForFactsKeepsWhatFactsRead(t *testing.T) {
	scratch := corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	full := []corev1.Pod{fullPod("a", "n1"), fullPod("b", "n1", scratch), fullPod("c", "n2")}
	trimmed := make([]corev1.Pod, len(full))
	for i := range full {
		trimmed[i] = *full[i].DeepCopy()
		TrimForFacts(&trimmed[i])
	}

	usage := podUsage{}
	factsOf := func(pods []corev1.Pod) []any {
		summaries, running, ready := podsFacts(pods, usage)
		evict, local := drainPods(pods, "n1", drainOptions{ignoreDaemonSets: true})
		names := func(ps []*corev1.Pod) (out []string) {
			for _, p := range ps {
				out = append(out, p.Name)
			}
			return out
		}
		var containers []any
		for i := range pods {
			containers = append(containers, containerSummaries(&pods[i]), podContainer(&pods[i], "app").Resources)
		}
		return []any{summaries, running, ready, names(evict), names(local), containers}
	}
	if want, got := factsOf(full), factsOf(trimmed); !reflect.DeepEqual(want, got) {
		t.Fatalf("facts of trimmed pods differ:\n got %#v\nwant %#v", got, want)
	}
	if evict, local := drainPods(trimmed, "n1", drainOptions{ignoreDaemonSets: true}); len(evict) != 1 || len(local) != 1 {
		t.Fatalf("drain of trimmed pods: %d to evict, %d with local storage; want 1 and 1 (an emptyDir is still seen)", len(evict), len(local))
	}

	spec := trimmed[0].Spec
	app := spec.Containers[0]
	if app.Env != nil || app.Command != nil || app.ReadinessProbe != nil || app.VolumeMounts != nil ||
		spec.Tolerations != nil || spec.Affinity != nil || spec.NodeSelector != nil || spec.Volumes[0].Projected != nil {
		t.Fatalf("a trimmed pod keeps what no fact reads: %#v", spec)
	}
	if !reflect.DeepEqual(trimmed[0].Status, full[0].Status) || !reflect.DeepEqual(trimmed[0].ObjectMeta, full[0].ObjectMeta) {
		t.Fatal("a trimmed pod's status or metadata changed")
	}
}

func TestTrimForFactsNodesAndOthers(t *testing.T) {
	node := &corev1.Node{
		Spec: corev1.NodeSpec{Unschedulable: true, Taints: []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoSchedule}}},
		Status: corev1.NodeStatus{
			Images:          []corev1.ContainerImage{{Names: []string{"registry.example/app:1"}, SizeBytes: 1 << 20}},
			VolumesInUse:    []corev1.UniqueVolumeName{"kubernetes.io/csi/disk-1"},
			VolumesAttached: []corev1.AttachedVolume{{Name: "kubernetes.io/csi/disk-1", DevicePath: "/dev/sdb"}},
			Allocatable:     corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")},
			Conditions:      []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
	want := node.DeepCopy()
	want.Status.Images, want.Status.VolumesInUse, want.Status.VolumesAttached = nil, nil, nil
	TrimForFacts(node)
	if !reflect.DeepEqual(node, want) {
		t.Fatalf("trimmed node: got %#v, want only its images and volumes gone", node)
	}

	cm := &corev1.ConfigMap{Data: map[string]string{"k": "v"}}
	TrimForFacts(cm)
	if cm.Data["k"] != "v" {
		t.Fatal("a ConfigMap was changed")
	}
}
