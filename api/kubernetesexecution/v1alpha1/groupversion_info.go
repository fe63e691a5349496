package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the group and version of the KubernetesExecution API.
var GroupVersion = schema.GroupVersion{Group: "kubernetesexecution.kubernaut.io", Version: "v1alpha1"}

var (
	// SchemeBuilder registers the KubernetesExecution types with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the KubernetesExecution types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &KubernetesExecution{}, &KubernetesExecutionList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// Finalizer keeps a KubernetesExecution until the manager has recorded how far its run got. The admission webhook adds it on create, so
// that a new run needs no write of its own before it starts.
const Finalizer = "kubernaut.io/execution"
