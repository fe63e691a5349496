package main

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
)

func TestLeanCache(t *testing.T) {
	meta := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{
			Name:          "x",
			Annotations:   map[string]string{lastApplied: `{"big":"copy"}`, "team": "web"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		}
	}
	transform := leanCache()

	out, err := transform(&corev1.Pod{ObjectMeta: meta()})
	if err != nil {
		t.Fatal(err)
	}
	pod := out.(*corev1.Pod)
	if pod.ManagedFields != nil || len(pod.Annotations) != 1 || pod.Annotations["team"] != "web" {
		t.Fatalf("a pod keeps managedFields %v, annotations %v; want none, and only team", pod.ManagedFields, pod.Annotations)
	}

	out, err = transform(&workflowv1alpha1.WorkflowExecution{ObjectMeta: meta()})
	if err != nil {
		t.Fatal(err)
	}
	wfe := out.(*workflowv1alpha1.WorkflowExecution)
	if wfe.ManagedFields != nil || len(wfe.Annotations) != 2 {
		t.Fatalf("a workflow keeps managedFields %v, annotations %v; want none, and both annotations", wfe.ManagedFields, wfe.Annotations)
	}

	// Not an object: passed through.
	if out, err := transform("tombstone"); err != nil || out != "tombstone" {
		t.Fatalf("got %v, %v", out, err)
	}
}
