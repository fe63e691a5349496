package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the group and version of the WorkflowExecution API.
var GroupVersion = schema.GroupVersion{Group: "workflow.kubernaut.io", Version: "v1alpha1"}

var (
	// SchemeBuilder registers the WorkflowExecution types with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the WorkflowExecution types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &WorkflowExecution{}, &WorkflowExecutionList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// Finalizer keeps a WorkflowExecution until its KubernetesExecutions are gone, so that no action of a deleted workflow is still running. The admission webhook adds it on create, so
// that a new run needs no write of its own before it starts.
const Finalizer = "kubernaut.io/workflow"
