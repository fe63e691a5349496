// Package samples builds the workflow of the seed's example (001, section 5.3): the
// one `make demo`, the end-to-end suite and the benchmark all run.
package samples

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	commonv1alpha1 "kubernaut.io/stepvalidation/api/common/v1alpha1"
	workflowv1alpha1 "kubernaut.io/stepvalidation/api/workflow/v1alpha1"
)

// The seed's policies, as its example writes them inline.
const (
	SeedDeploymentExists = `package precondition.scale_deployment
import future.keywords.if
allow if { input.deployment_found == true }
`
	SeedDesiredReplicasRunning = `package postcondition.scale_deployment
import future.keywords.if
allow if {
  input.running_pods >= input.target_replicas
  input.ready_pods >= input.target_replicas
}
`
	SeedDeploymentHealthCheck = `package postcondition.scale_deployment
import future.keywords.if
allow if {
  input.conditions.Available == true
  input.conditions.Progressing == true
}
`
)

// ScaleWorkflow is a one-step workflow in the shape of the seed's example: one
// critical step that scales Deployment ns/deployment to replicas, guarded by the
// seed's four conditions. cluster_capacity_available has no inline Rego and uses the
// policy library's: the example leaves out its helper functions. As in the seed,
// the postconditions keep the default interval (5s): a change of the Deployment
// or of its pods wakes them sooner (reconcilers/wake).
func ScaleWorkflow(ns, name, deployment string, replicas int) *workflowv1alpha1.WorkflowExecution {
	return &workflowv1alpha1.WorkflowExecution{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: workflowv1alpha1.WorkflowExecutionSpec{WorkflowDefinition: workflowv1alpha1.WorkflowDefinition{
			Steps: []workflowv1alpha1.WorkflowStep{{
				StepNumber:   1,
				Name:         "scale",
				Action:       "scale_deployment",
				CriticalStep: true,
				Parameters: &runtime.RawExtension{Raw: fmt.Appendf(nil,
					`{"deployment":{"name":%q,"namespace":%q,"replicas":%d}}`, deployment, ns, replicas)},
				PreConditions: []commonv1alpha1.ValidationCondition{
					{Type: "deployment_exists", Description: "Deployment must exist before scaling", Rego: SeedDeploymentExists,
						Timeout: &metav1.Duration{Duration: 10 * time.Second}},
					{Type: "cluster_capacity_available", Description: "Cluster must have capacity",
						Timeout: &metav1.Duration{Duration: 10 * time.Second}},
				},
				PostConditions: []commonv1alpha1.ValidationCondition{
					{Type: "desired_replicas_running", Description: "All replicas must be running", Rego: SeedDesiredReplicasRunning,
						Timeout: &metav1.Duration{Duration: 2 * time.Minute}},
					{Type: "deployment_health_check", Description: "Deployment must be healthy", Rego: SeedDeploymentHealthCheck,
						Timeout: &metav1.Duration{Duration: 2 * time.Minute}},
				},
			}},
		}},
	}
}
