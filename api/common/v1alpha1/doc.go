// Package v1alpha1 holds the API types that WorkflowExecution and KubernetesExecution
// share: a Rego pre/postcondition (Condition), the record of its evaluation
// (ConditionResult), and the types and reasons of the metav1.Condition entries both
// kinds report in status.conditions.
//
// It is not an API group of its own: both groups embed these types, so a condition is
// written the same way at the workflow step and at the action level. Like the rest of
// api/, it imports nothing but apimachinery and the standard library.
//
// +kubebuilder:object:generate=true
package v1alpha1
