package catalog

import (
	"context"
	"maps"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// TestProvidersSetOnlyDeclaredFacts runs every action's provider, before and after
// acting, on a small cluster in which every target of sampleParams exists, and fails
// when a provider sets a top-level key its action does not declare in Facts, or
// declares one no run sets. docs/input-keys.md and `kubernaut catalog show` are
// rendered from Facts: a key missing there is a key policy authors cannot know of.
// (The facts_*_test.go suites check the values against a real API server.)
func TestProvidersSetOnlyDeclaredFacts(t *testing.T) {
	c := factsCluster()
	for _, name := range Names() {
		a, _ := Lookup(name)
		t.Run(name, func(t *testing.T) {
			if a.Provide == nil {
				t.Fatal("no facts provider")
			}
			params, ok := sampleParams[name]
			if !ok {
				t.Fatal("no sample parameters")
			}
			before := map[string]string{}
			for _, k := range capturedKeys[name] {
				before[k] = sampleBefore[k]
			}
			after := maps.Clone(params)
			after[BeforeParam], after[NamespaceParam] = before, "prod"

			set := map[string]bool{}
			for phase, params := range map[string]map[string]any{"pre": params, "post": after} {
				doc, err := a.Provide(context.Background(), c, params, nil)
				if err != nil {
					t.Fatalf("%s: %v", phase, err)
				}
				for key := range doc {
					if !slices.Contains(a.FactKeys(), key) {
						t.Errorf("%s: the provider sets %s, which the action does not declare in Facts", phase, key)
					}
					set[key] = true
				}
			}
			for _, key := range a.FactKeys() {
				if !set[key] {
					t.Errorf("declares %s, which its provider never sets", key)
				}
			}
		})
	}
}

// factsCluster holds every target sampleParams names, in namespace prod, with what
// their providers read: the pods of the workloads (web-1 with the UID sampleBefore
// records, of ReplicaSet web-5d4f), a Service and a PodDisruptionBudget selecting
// them, the claim's StorageClass, the Event notify_only records, Node n1.
func factsCluster() client.Client {
	const ns = "prod"
	labels := map[string]string{"app": "web"}
	ready := []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	controller := func(kind, name string, uid types.UID) []metav1.OwnerReference {
		return []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: name, UID: uid, Controller: ptr(true)}}
	}
	pod := func(name string, owner []metav1.OwnerReference, uid types.UID) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: uid, Labels: labels, OwnerReferences: owner},
			Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1"}}},
			Status:     corev1.PodStatus{Phase: corev1.PodRunning, Conditions: ready},
		}
	}
	template := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1"}}},
	}
	selector := &metav1.LabelSelector{MatchLabels: labels}
	class := "fast"
	return fake.NewClientBuilder().WithObjects(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, UID: "deployment-web"},
			Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(2)), Selector: selector, Template: template}},
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-5d4f", Namespace: ns, UID: "replicaset-web",
			Labels: labels, Annotations: map[string]string{revisionAnnotation: "2"},
			OwnerReferences: controller("Deployment", "web", "deployment-web")},
			Spec: appsv1.ReplicaSetSpec{Selector: selector, Template: template}},
		pod("web-1", controller("ReplicaSet", "web-5d4f", "replicaset-web"), types.UID(sampleBefore["uid"])),
		pod("web-2", controller("ReplicaSet", "web-5d4f", "replicaset-web"), "pod-web-2"),
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns, UID: "statefulset-db"},
			Spec: appsv1.StatefulSetSpec{Selector: selector, Template: template}},
		pod("db-0", controller("StatefulSet", "db", "statefulset-db"), "pod-db-0"),
		&appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: ns, UID: "daemonset-agent"},
			Spec: appsv1.DaemonSetSpec{Selector: selector, Template: template}},
		pod("agent-n1", controller("DaemonSet", "agent", "daemonset-agent"), "pod-agent-n1"),
		&autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 5}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: ns}, Data: map[string]string{"mode": "fast"}},
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: class}, Provisioner: "example.com/disk", AllowVolumeExpansion: ptr(true)},
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: ns},
			Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &class},
			Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound,
				Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns}, Spec: corev1.ServiceSpec{Selector: labels}},
		&policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
			Spec: policyv1.PodDisruptionBudgetSpec{Selector: selector, MinAvailable: ptr(intstr.FromInt32(1))}},
		&corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: sampleBefore["event"], Namespace: ns}},
	).Build()
}
