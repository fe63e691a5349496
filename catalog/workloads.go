package catalog

import (
	"context"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// workloadFacts describes the facts the workload actions add to the glossary. The
// target is the object the parameters name. When it does not exist, its *_found fact
// is false and the facts read from the object are left out, as for scale_deployment:
// a policy that reads them reports a missing fact (Errored) instead of deciding on
// made-up values, and the *_exists precondition fails with its message.
//
// The workload actions also read facts of scale_deployment, with the meaning
// scaleDeploymentFacts gives them: deployment_found, deployment_name, namespace,
// current_replicas, conditions, image_pull_secrets_exist and
// image_pull_secrets_valid; running_pods, ready_pods and pods count and list the pods
// of the action's workload (Deployment, StatefulSet or DaemonSet). target_replicas is
// the replica count the action sets: the one scale_statefulset sets and, for the
// Deployment actions that set no count, spec.replicas of the Deployment.
var workloadFacts = map[string]string{
	"deployment_generation_observed": "boolean: status.observedGeneration of the Deployment is at least its metadata.generation (its controller has seen the latest spec)",
	"deployment_updated_replicas":    "integer: status.updatedReplicas of the Deployment: pods of its newest ReplicaSet, the one of the current pod template",
	"deployment_status_replicas":     "integer: status.replicas of the Deployment: pods of all its ReplicaSets, the older ones included",
	"deployment_available_replicas":  "integer: status.availableReplicas of the Deployment",
	"deployment_revision":            "integer: the Deployment's current revision (annotation deployment.kubernetes.io/revision)",
	"deployment_revisions":           "array of integers: the revisions of the Deployment's ReplicaSets still kept (revisionHistoryLimit), the current one included",

	"container_found":      "boolean: the Deployment's pod template has a container named parameters.container",
	"container_image":      `string: the image of that container in the pod template; "" when there is no such container`,
	"container_requests":   `object {cpu, memory}: the resource requests of that container in the pod template, as quantity strings; "" for a resource without request`,
	"container_limits":     `object {cpu, memory}: the resource limits of that container in the pod template, as quantity strings; "" for a resource without limit`,
	"container_pod_images": `array of strings: for each pod of the Deployment (terminating ones included), the image in its spec of the container named parameters.container; "" for a pod without it`,

	"statefulset_found":               "boolean: the StatefulSet exists",
	"statefulset_name":                "string: the StatefulSet's name",
	"statefulset_generation_observed": "boolean: status.observedGeneration of the StatefulSet is at least its metadata.generation",
	"statefulset_status_replicas":     "integer: status.replicas of the StatefulSet: pods its controller has created",
	"statefulset_ready_replicas":      "integer: status.readyReplicas of the StatefulSet",

	"daemonset_found":                    "boolean: the DaemonSet exists",
	"daemonset_name":                     "string: the DaemonSet's name",
	"daemonset_update_strategy":          "string: spec.updateStrategy.type of the DaemonSet: RollingUpdate or OnDelete",
	"daemonset_generation_observed":      "boolean: status.observedGeneration of the DaemonSet is at least its metadata.generation",
	"daemonset_desired_number_scheduled": "integer: status.desiredNumberScheduled of the DaemonSet: nodes that should run its pod",
	"daemonset_updated_number_scheduled": "integer: status.updatedNumberScheduled of the DaemonSet: nodes that run a pod of its current template",
	"daemonset_number_available":         "integer: status.numberAvailable of the DaemonSet: nodes that run an available pod of it",

	"hpa_found":            "boolean: the HorizontalPodAutoscaler exists",
	"hpa_name":             "string: the HorizontalPodAutoscaler's name",
	"hpa_min_replicas":     "integer: spec.minReplicas of the HorizontalPodAutoscaler now (1 when unset)",
	"hpa_max_replicas":     "integer: spec.maxReplicas of the HorizontalPodAutoscaler now",
	"hpa_current_replicas": "integer: status.currentReplicas of the HorizontalPodAutoscaler: the replica count of its target",
	"hpa_conditions":       "object: the HorizontalPodAutoscaler's status conditions as booleans, {AbleToScale, ScalingActive, ScalingLimited}; a condition that is absent is false",

	"configmap_found":     "boolean: the ConfigMap exists",
	"configmap_name":      "string: the ConfigMap's name",
	"configmap_immutable": "boolean: the ConfigMap is immutable (immutable: true)",
	"configmap_data": "object of strings: the keys of the ConfigMap's data that the action changes, with their values now: " +
		"those of parameters.data, and with parameters.replace every key (replace removes the others); " +
		"a key that does not exist is absent. Other keys are never read",
}

// Facts the Deployment actions share.
var (
	deploymentTargetFacts  = []string{"deployment_found", "deployment_name", "namespace"}
	deploymentRolloutFacts = []string{
		"current_replicas", "target_replicas", "running_pods", "ready_pods", "pods",
		"deployment_generation_observed", "deployment_updated_replicas",
		"deployment_status_replicas", "deployment_available_replicas",
	}
)

// deploymentGetPatch is all a Deployment action that patches the Deployment needs.
var deploymentGetPatch = rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "patch"}}

// The workload conditions, as the workload actions suggest them.
var workloadChecks = struct {
	deploymentExists, deploymentHealthy, replicasRunning, noCrashloop, resourceUsage,
	pullSecretsValid, notRollingOut, mayBeRollingOut, rolloutComplete, revisionAvailable,
	containerExists, resourcesValid, resourcesIncrease, resourcesApplied, imageRolledOut,
	statefulSetExists, statefulSetReady,
	daemonSetExists, daemonSetRestartable, daemonSetRolledOut,
	hpaExists, hpaBoundsValid, hpaBoundsApplied, hpaWithinBounds,
	configMapExists, configMapMutable, configMapApplied Suggested
}{
	// The seed's conditions, where their facts mean the same for the action.
	deploymentExists: Suggested{Type: "deployment_exists", Description: "The Deployment exists", Required: true, Timeout: normalCheck},
	deploymentHealthy: Suggested{Type: "deployment_health_check", Description: "The Deployment is Available and Progressing, without ReplicaFailure",
		Required: true, Timeout: settleWithin},
	replicasRunning: Suggested{Type: "desired_replicas_running", Description: "The target replica count is running and ready", Required: true, Timeout: settleWithin},
	noCrashloop:     Suggested{Type: "no_crashloop_pods", Description: "No pod of the workload is in CrashLoopBackOff", Required: true, Timeout: settleWithin},
	resourceUsage: Suggested{Type: "resource_usage_acceptable", Description: "No pod of the Deployment is throttled or OOMKilled",
		Required: true, Timeout: settleWithin},
	pullSecretsValid: Suggested{Type: "image_pull_secrets_valid", Description: "The pod template's image pull secrets exist and are valid",
		Required: true, Timeout: normalCheck},

	notRollingOut: Suggested{Type: "deployment_not_rolling_out", Description: "No rollout of the Deployment is in progress",
		Required: true, Timeout: normalCheck},
	// A new pod template supersedes a rollout in progress, and a stuck rollout is
	// often what a new image or patch fixes: for those actions the check only warns.
	mayBeRollingOut: Suggested{Type: "deployment_not_rolling_out", Description: "No rollout of the Deployment is in progress (a new pod template would supersede it)",
		Required: false, Timeout: quickCheck},
	rolloutComplete: Suggested{Type: "deployment_rollout_complete", Description: "The newest ReplicaSet is fully rolled out and available, no older pod is left",
		Required: true, Timeout: settleWithin},
	revisionAvailable: Suggested{Type: "deployment_revision_available", Description: "The revision to roll back to is kept and is not the current one",
		Required: true, Timeout: normalCheck},

	containerExists: Suggested{Type: "container_exists", Description: "The pod template has the container", Required: true, Timeout: normalCheck},
	resourcesValid: Suggested{Type: "container_resources_valid", Description: "At least one request or limit is set, and no request will exceed its limit",
		Required: true, Timeout: quickCheck},
	// The inverse of increase_resources lowers the values with the same action, so
	// a decrease only warns.
	resourcesIncrease: Suggested{Type: "container_resources_increase", Description: "No request or limit goes down",
		Required: false, Timeout: quickCheck},
	resourcesApplied: Suggested{Type: "container_resources_applied", Description: "The pod template's container has the requests and limits set",
		Required: true, Timeout: normalCheck},
	imageRolledOut: Suggested{Type: "container_image_rolled_out", Description: "The pod template and every pod run the new image",
		Required: true, Timeout: settleWithin},

	statefulSetExists: Suggested{Type: "statefulset_exists", Description: "The StatefulSet exists", Required: true, Timeout: normalCheck},
	statefulSetReady: Suggested{Type: "statefulset_replicas_ready", Description: "The StatefulSet runs exactly the target replica count, all ready",
		Required: true, Timeout: settleWithin},

	daemonSetExists: Suggested{Type: "daemonset_exists", Description: "The DaemonSet exists", Required: true, Timeout: normalCheck},
	daemonSetRestartable: Suggested{Type: "daemonset_restartable", Description: "The DaemonSet updates by RollingUpdate and no rollout is in progress",
		Required: true, Timeout: normalCheck},
	daemonSetRolledOut: Suggested{Type: "daemonset_rollout_complete", Description: "Every node runs an available pod of the DaemonSet's newest template",
		Required: true, Timeout: settleWithin},

	hpaExists: Suggested{Type: "hpa_exists", Description: "The HorizontalPodAutoscaler exists", Required: true, Timeout: normalCheck},
	hpaBoundsValid: Suggested{Type: "hpa_bounds_valid", Description: "minReplicas is not above maxReplicas",
		Required: true, Timeout: quickCheck},
	hpaBoundsApplied: Suggested{Type: "hpa_bounds_applied", Description: "The HorizontalPodAutoscaler has the new bounds",
		Required: true, Timeout: normalCheck},
	hpaWithinBounds: Suggested{Type: "hpa_scaling_within_bounds", Description: "The HorizontalPodAutoscaler is able to scale and its target runs within the bounds",
		Required: true, Timeout: settleWithin},

	configMapExists:  Suggested{Type: "configmap_exists", Description: "The ConfigMap exists", Required: true, Timeout: normalCheck},
	configMapMutable: Suggested{Type: "configmap_mutable", Description: "The ConfigMap is not immutable", Required: true, Timeout: quickCheck},
	configMapApplied: Suggested{Type: "configmap_data_applied", Description: "The ConfigMap's data has the values set",
		Required: true, Timeout: normalCheck},
}

// rollbackToRecordedRevision is the inverse of the actions that change a Deployment's
// pod template: a rollback to before["revision"].
func rollbackToRecordedRevision(params map[string]any, before map[string]string) (Rollback, error) {
	target, err := deploymentTarget.param(params)
	if err != nil {
		return Rollback{}, err
	}
	revision, err := recordedInt(before, "revision", "the Deployment's revision before acting")
	if err != nil {
		return Rollback{}, err
	}
	if revision < 1 {
		return Rollback{}, fmt.Errorf("the recorded revision %d is not a revision to roll back to", revision)
	}
	return Rollback{Action: "rollback_deployment", Parameters: map[string]any{"deployment": target, "revision": revision}}, nil
}

// The workload executors' helpers. Each patch carries only the fields its action
// owns.

const (
	// revisionAnnotation is the revision the deployment controller gives a
	// Deployment and each of its ReplicaSets.
	revisionAnnotation = "deployment.kubernetes.io/revision"
	// restartedAtAnnotation is the pod template annotation kubectl rollout restart sets.
	restartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"
)

// patchScale sets the replica count of workload through its scale subresource.
func patchScale(ctx context.Context, call Call, workload client.Object, t ObjectRef, replicas int32) (map[string]string, error) {
	patch, err := mergePatch(obj{"spec": obj{"replicas": replicas}})
	if err != nil {
		return nil, err
	}
	var scale autoscalingv1.Scale
	if err := call.Client.SubResource("scale").Patch(ctx, workload, patch, call.subResourcePatchOptions(&scale)...); err != nil {
		return nil, fmt.Errorf("scaling %s to %d replicas: %w", t, replicas, err)
	}
	return map[string]string{"replicas": strconv.Itoa(int(scale.Spec.Replicas))}, nil
}

// stampRestart sets the restartedAt annotation of workload's pod template, as
// kubectl rollout restart does: its controller replaces every pod. The same stamp
// twice is one restart.
func stampRestart(ctx context.Context, call Call, workload client.Object, stamp string) error {
	patch, err := strategicPatch(obj{"spec": obj{"template": obj{"metadata": obj{
		"annotations": obj{restartedAtAnnotation: stamp}}}}})
	if err != nil {
		return err
	}
	return call.Client.Patch(ctx, workload, patch, call.patchOptions()...)
}

// getDeployment reads the Deployment parameters.deployment names.
func getDeployment(ctx context.Context, call Call) (ObjectRef, *appsv1.Deployment, error) {
	t, err := deploymentTarget.Ref(call.Params)
	if err != nil {
		return t, nil, err
	}
	var d appsv1.Deployment
	if err := call.Client.Get(ctx, t.key(), &d); err != nil {
		return t, nil, fmt.Errorf("reading %s: %w", t, err)
	}
	return t, &d, nil
}

// getContainer reads the Deployment and its container parameters.container names.
func getContainer(ctx context.Context, call Call) (ObjectRef, *appsv1.Deployment, *corev1.Container, error) {
	name, err := stringParam(call.Params, "container", true)
	if err != nil {
		return ObjectRef{}, nil, nil, err
	}
	t, d, err := getDeployment(ctx, call)
	if err != nil {
		return t, nil, nil, err
	}
	for i := range d.Spec.Template.Spec.Containers {
		if container := &d.Spec.Template.Spec.Containers[i]; container.Name == name {
			return t, d, container, nil
		}
	}
	return t, nil, nil, fmt.Errorf("%s has no container named %s in its pod template", t, name)
}

// containerPatch is a strategic merge patch of the pod template's container named
// name (containers merge on their name).
func containerPatch(name string, fields obj) obj {
	container := obj{"name": name}
	for k, v := range fields {
		container[k] = v
	}
	return obj{"spec": obj{"template": obj{"spec": obj{"containers": []any{container}}}}}
}

// deploymentRevision is the Deployment's revision annotation; "0" when it has none
// yet (kubectl counts it so).
func deploymentRevision(d *appsv1.Deployment) string {
	if v, err := strconv.ParseInt(d.Annotations[revisionAnnotation], 10, 64); err == nil && v > 0 {
		return strconv.FormatInt(v, 10)
	}
	return "0"
}

// replicasOf reads an optional replica count, which defaults to 1.
func replicasOf(n *int32) int32 {
	if n == nil {
		return 1
	}
	return *n
}
