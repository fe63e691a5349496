// Package v1alpha1 is the kubernetesexecution.kubernaut.io/v1alpha1 API:
// KubernetesExecution, one catalog action (scale_deployment, ...) run against the
// cluster after its parameters, RBAC, safety policies, Rego preconditions and a
// server-side dry run have passed, and verified afterwards by its postconditions.
//
// +kubebuilder:object:generate=true
// +groupName=kubernetesexecution.kubernaut.io
package v1alpha1
