package catalog

import (
	"context"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// scale_deployment is the seed's representative action, with its nine policies at the
// levels and with the required flags and timeouts of seed 001, section 5.2.
// desired_replicas_running and deployment_health_check are verified at both levels.
var _ = register(&Action{
	Name:        "scale_deployment",
	Target:      deploymentTarget,
	Description: "Sets the replica count of a Deployment.",
	Parameters: []Field{namespacedTarget("deployment", "Deployment",
		Field{Name: "replicas", Type: Integer, Required: true, Min: ptr(int64(0)), Max: ptr(int64(1000)),
			Description: "the replica count to set"},
		Field{Name: "baselineReplicas", Type: Integer, Min: ptr(int64(0)), Max: ptr(int64(1000)),
			Description: "the replica count the workflow expects to find before scaling (current_replicas_match)"},
	)},
	Permissions: []rbacv1.PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"apps"}, Resources: []string{"deployments/scale"}, Verbs: []string{"get", "update", "patch"}},
	},
	StepPreConditions: []Suggested{
		{Type: "deployment_exists", Description: "The Deployment exists", Required: true, Timeout: normalCheck},
		{Type: "cluster_capacity_available", Description: "The nodes have room for the added replicas", Required: true, Timeout: normalCheck},
		{Type: "current_replicas_match", Description: "The replica count is the one the workflow expects", Required: false, Timeout: quickCheck},
	},
	StepPostConditions: []Suggested{
		{Type: "desired_replicas_running", Description: "The target replica count is running and ready", Required: true, Timeout: settleWithin},
		{Type: "deployment_health_check", Description: "The Deployment is Available and Progressing, without ReplicaFailure", Required: true, Timeout: settleWithin},
	},
	PreConditions: []Suggested{
		{Type: "image_pull_secrets_valid", Description: "The pod template's image pull secrets exist and are valid", Required: true, Timeout: normalCheck},
		{Type: "node_selector_matches", Description: "Ready nodes match the pod template's node selector", Required: false, Timeout: normalCheck},
	},
	PostConditions: []Suggested{
		{Type: "no_crashloop_pods", Description: "No pod of the Deployment is in CrashLoopBackOff", Required: true, Timeout: settleWithin},
		{Type: "resource_usage_acceptable", Description: "No pod of the Deployment is throttled or OOMKilled", Required: true, Timeout: settleWithin},
		{Type: "desired_replicas_running", Description: "The target replica count is running and ready", Required: true, Timeout: settleWithin},
		{Type: "deployment_health_check", Description: "The Deployment is Available and Progressing, without ReplicaFailure", Required: true, Timeout: settleWithin},
	},
	Facts: []string{
		"deployment_found", "deployment_name", "namespace",
		"current_replicas", "expected_baseline", "target_replicas", "additional_replicas",
		"available_cpu", "available_memory", "required_cpu_per_pod", "required_memory_per_pod",
		"running_pods", "ready_pods", "conditions", "pods",
		"image_pull_secrets_exist", "image_pull_secrets_valid", "matching_nodes", "ready_nodes",
	},
	Executor: Executor{Capture: scaleDeploymentCapture, Act: scaleDeploymentAct},
	Inverse:  scaleDeploymentInverse,
})

// scaleDeploymentFacts describes the facts of scale_deployment (DESIGN.md, Rego
// conventions), which other deployment actions share.
var scaleDeploymentFacts = map[string]string{
	"deployment_found":         "boolean: the Deployment exists",
	"deployment_name":          "string: the Deployment's name",
	"namespace":                "string: the target's namespace",
	"current_replicas":         "integer: spec.replicas of the Deployment now",
	"expected_baseline":        "integer: the replica count the workflow expects before acting (parameter baselineReplicas, else current_replicas)",
	"target_replicas":          "integer: the replica count the action sets; for actions that keep the count, spec.replicas",
	"additional_replicas":      "integer: target_replicas minus current_replicas, at least 0",
	"available_cpu":            `string, "NNNm": allocatable CPU of the schedulable nodes minus the requests of the pods bound to them`,
	"available_memory":         `string, "NNNMi": allocatable memory of the schedulable nodes minus the requests of the pods bound to them`,
	"required_cpu_per_pod":     `string, "NNNm": the CPU requests of one pod of the template`,
	"required_memory_per_pod":  `string, "NNNMi": the memory requests of one pod of the template`,
	"running_pods":             "integer: pods of the workload in phase Running",
	"ready_pods":               "integer: pods of the workload with condition Ready",
	"conditions":               "object: the workload's status conditions as booleans, e.g. {Available, Progressing, ReplicaFailure}; a condition that is absent is false",
	"pods":                     "array of {name, status, throttled, oom_killed, restarts, ready, node}: the workload's pods; status is the waiting reason of a container (e.g. CrashLoopBackOff) or else the pod phase",
	"image_pull_secrets_exist": "boolean: every imagePullSecret of the pod template exists",
	"image_pull_secrets_valid": "boolean: every imagePullSecret is of type kubernetes.io/dockerconfigjson (or dockercfg) with data",
	"matching_nodes":           "integer: nodes that match the pod template's nodeSelector",
	"ready_nodes":              "integer: matching nodes that are Ready and schedulable",
}

// scaleDeploymentCapture records spec.replicas before scaling. before: replicas.
func scaleDeploymentCapture(ctx context.Context, call Call) (ObjectRef, map[string]string, error) {
	t, err := deploymentTarget.Ref(call.Params)
	if err != nil {
		return t, nil, err
	}
	if _, _, err := int32Param(call.Params, "deployment.replicas", true, 0); err != nil {
		return t, nil, err
	}
	var d appsv1.Deployment
	if err := call.Client.Get(ctx, t.key(), &d); err != nil {
		return t, nil, fmt.Errorf("reading %s: %w", t, err)
	}
	return t, map[string]string{"replicas": strconv.Itoa(int(replicasOf(d.Spec.Replicas)))}, nil
}

// scaleDeploymentAct sets spec.replicas through the Deployment's scale subresource.
func scaleDeploymentAct(ctx context.Context, call Call, _ map[string]string) (map[string]string, error) {
	t, err := deploymentTarget.Ref(call.Params)
	if err != nil {
		return nil, err
	}
	replicas, _, err := int32Param(call.Params, "deployment.replicas", true, 0)
	if err != nil {
		return nil, err
	}
	return patchScale(ctx, call, &appsv1.Deployment{ObjectMeta: t.meta()}, t, replicas)
}

// scaleDeploymentInverse scales back to the replica count recorded before scaling.
func scaleDeploymentInverse(params map[string]any, before map[string]string) (Rollback, error) {
	t, err := deploymentTarget.Ref(params)
	if err != nil {
		return Rollback{}, err
	}
	replicas, err := strconv.Atoi(before["replicas"])
	if err != nil {
		return Rollback{}, fmt.Errorf("the replica count before scaling was not recorded: %q", before["replicas"])
	}
	deployment := t.param()
	deployment["replicas"] = int64(replicas)
	return Rollback{Action: "scale_deployment", Parameters: map[string]any{"deployment": deployment}}, nil
}
