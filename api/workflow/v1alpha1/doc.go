// Package v1alpha1 is the workflow.kubernaut.io/v1alpha1 API: WorkflowExecution, a
// multi-step remediation workflow whose steps each name a catalog action
// (scale_deployment, ...) and carry Rego preconditions checked before the step and
// postconditions verified after it.
//
// The WorkflowExecution reconciler runs each step by creating a KubernetesExecution
// (kubernetesexecution.kubernaut.io) named <workflow>-step-<n>, owned by the workflow.
//
// +kubebuilder:object:generate=true
// +groupName=workflow.kubernaut.io
package v1alpha1
