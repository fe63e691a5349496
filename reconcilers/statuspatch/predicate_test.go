package statuspatch

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	kev1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
)

func TestNotStatusOnly(t *testing.T) {
	base := &kev1alpha1.KubernetesExecution{ObjectMeta: metav1.ObjectMeta{
		Name: "ke", Namespace: "ns", Generation: 1, ResourceVersion: "1", Finalizers: []string{"f"},
	}}
	change := func(f func(ke *kev1alpha1.KubernetesExecution)) client.Object {
		ke := base.DeepCopy()
		ke.ResourceVersion = "2"
		f(ke)
		return ke
	}
	now := metav1.Now()
	cases := []struct {
		name string
		new  client.Object
		want bool
	}{
		{"its status alone", change(func(ke *kev1alpha1.KubernetesExecution) { ke.Status.Phase = kev1alpha1.ExecutionVerifying }), false},
		{"its spec", change(func(ke *kev1alpha1.KubernetesExecution) { ke.Generation = 2 }), true},
		{"an override annotation", change(func(ke *kev1alpha1.KubernetesExecution) { ke.Annotations = map[string]string{"a": "b"} }), true},
		{"a label", change(func(ke *kev1alpha1.KubernetesExecution) { ke.Labels = map[string]string{"a": "b"} }), true},
		{"its finalizers", change(func(ke *kev1alpha1.KubernetesExecution) { ke.Finalizers = nil }), true},
		{"its deletion", change(func(ke *kev1alpha1.KubernetesExecution) { ke.DeletionTimestamp = &now }), true},
	}
	for _, tc := range cases {
		if got := NotStatusOnly.Update(event.UpdateEvent{ObjectOld: base, ObjectNew: tc.new}); got != tc.want {
			t.Errorf("%s: passes %v, want %v", tc.name, got, tc.want)
		}
	}
	if !NotStatusOnly.Create(event.CreateEvent{Object: base}) || !NotStatusOnly.Delete(event.DeleteEvent{Object: base}) {
		t.Error("creates and deletes must pass")
	}
}
