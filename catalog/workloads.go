package catalog

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// workloadActions are the workload actions of the catalog.
var workloadActions = []*Action{
	scaleStatefulSet, rolloutRestart, restartDaemonSet, increaseResources,
	rollbackDeployment, updateImage, patchDeployment, updateHPA, updateConfigMap,
}

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

// scaleStatefulSet sets the replica count of a StatefulSet.
//
// Its executor records before["replicas"] (spec.replicas before scaling).
var scaleStatefulSet = &Action{
	Name:        "scale_statefulset",
	Target:      statefulSetTarget,
	Description: "Sets the replica count of a StatefulSet; its controller adds or removes pods one ordinal at a time.",
	Parameters: []Field{namespacedTarget("statefulset", "StatefulSet",
		Field{Name: "replicas", Type: Integer, Required: true, Min: ptr(int64(0)), Max: ptr(int64(1000)),
			Description: "the replica count to set"},
	)},
	Permissions: []rbacv1.PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"statefulsets/scale"}, Verbs: []string{"get", "patch"}},
	},
	StepPreConditions:  []Suggested{workloadChecks.statefulSetExists},
	StepPostConditions: []Suggested{workloadChecks.statefulSetReady},
	PostConditions:     []Suggested{workloadChecks.statefulSetReady, workloadChecks.noCrashloop},
	Facts: []string{
		"statefulset_found", "statefulset_name", "namespace", "target_replicas",
		"statefulset_generation_observed", "statefulset_status_replicas", "statefulset_ready_replicas", "pods",
	},
	Inverse: func(params map[string]any, before map[string]string) (Rollback, error) {
		target, err := workloadTarget(params, "statefulset")
		if err != nil {
			return Rollback{}, err
		}
		replicas, err := workloadRecordedInt(before, "replicas", "the replica count before scaling")
		if err != nil {
			return Rollback{}, err
		}
		target["replicas"] = replicas
		return Rollback{Action: "scale_statefulset", Parameters: map[string]any{"statefulset": target}}, nil
	},
}

// rolloutRestart restarts the pods of a Deployment (kubectl rollout restart): it
// stamps the pod template with the annotation kubectl.kubernetes.io/restartedAt, so
// that a new ReplicaSet replaces every pod.
//
// Its executor records before["revision"] (annotation deployment.kubernetes.io/revision
// before the patch). The inverse rolls back to that revision: the pods are replaced
// once more, with the template of before the restart.
var rolloutRestart = &Action{
	Name:        "rollout_restart",
	Target:      deploymentTarget,
	Description: "Restarts every pod of a Deployment by a rolling update to a new ReplicaSet (kubectl rollout restart).",
	Parameters:  []Field{namespacedTarget("deployment", "Deployment")},
	Permissions: []rbacv1.PolicyRule{deploymentGetPatch},

	StepPreConditions:  []Suggested{workloadChecks.deploymentExists},
	StepPostConditions: []Suggested{workloadChecks.rolloutComplete, workloadChecks.replicasRunning},
	PreConditions:      []Suggested{workloadChecks.notRollingOut},
	PostConditions:     []Suggested{workloadChecks.rolloutComplete, workloadChecks.noCrashloop},

	Facts:   slices.Concat(deploymentTargetFacts, deploymentRolloutFacts),
	Inverse: rollbackToRecordedRevision,
}

// restartDaemonSet restarts the pods of a DaemonSet, node by node, the way
// rollout_restart does for a Deployment.
//
// It has no inverse: the old pods are gone, and putting back the old template would
// only restart them once more.
var restartDaemonSet = &Action{
	Name:        "restart_daemonset",
	Target:      daemonSetTarget,
	Description: "Restarts every pod of a DaemonSet by a rolling update of its pod template (kubectl rollout restart).",
	Parameters:  []Field{namespacedTarget("daemonset", "DaemonSet")},
	Permissions: []rbacv1.PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"daemonsets"}, Verbs: []string{"get", "patch"}},
	},

	StepPreConditions:  []Suggested{workloadChecks.daemonSetExists},
	StepPostConditions: []Suggested{workloadChecks.daemonSetRolledOut},
	PreConditions:      []Suggested{workloadChecks.daemonSetRestartable},
	PostConditions:     []Suggested{workloadChecks.daemonSetRolledOut, workloadChecks.noCrashloop},

	Facts: []string{
		"daemonset_found", "daemonset_name", "namespace", "daemonset_update_strategy", "daemonset_generation_observed",
		"daemonset_desired_number_scheduled", "daemonset_updated_number_scheduled", "daemonset_number_available", "pods",
	},
}

// increaseResources sets requests and limits of one container of a Deployment's pod
// template. The schema cannot say that requests or limits must be given: the
// required precondition container_resources_valid does.
//
// Its executor records, for each value the parameters set, its value before the
// patch under "requests.cpu", "requests.memory", "limits.cpu" or "limits.memory"; ""
// when the container had none.
var increaseResources = &Action{
	Name:        "increase_resources",
	Target:      deploymentTarget,
	Description: "Sets the CPU and memory requests and limits of one container of a Deployment (a rolling update); at least one of requests and limits is given.",
	Parameters: []Field{
		namespacedTarget("deployment", "Deployment"),
		{Name: "container", Type: String, Required: true, Format: DNSLabel, Description: "the name of the container in the pod template"},
		containerResourceList("requests"),
		containerResourceList("limits"),
	},
	Permissions: []rbacv1.PolicyRule{deploymentGetPatch},

	StepPreConditions:  []Suggested{workloadChecks.deploymentExists, workloadChecks.containerExists, workloadChecks.resourcesValid},
	StepPostConditions: []Suggested{workloadChecks.rolloutComplete, workloadChecks.replicasRunning},
	PreConditions:      []Suggested{workloadChecks.resourcesIncrease, workloadChecks.mayBeRollingOut},
	PostConditions:     []Suggested{workloadChecks.resourcesApplied, workloadChecks.resourceUsage, workloadChecks.noCrashloop},

	Facts: slices.Concat(deploymentTargetFacts, deploymentRolloutFacts,
		[]string{"container_found", "container_requests", "container_limits"}),
	Inverse: restoreResources,
}

// resourceList is the requests or limits parameter of increase_resources.
func containerResourceList(name string) Field {
	return Field{Name: name, Type: Object, Description: "the " + name + " to set; a resource not given keeps its value",
		Fields: []Field{
			{Name: "cpu", Type: String, Format: Quantity, Description: "CPU " + name + ", e.g. 500m or 2"},
			{Name: "memory", Type: String, Format: Quantity, Description: "memory " + name + ", e.g. 512Mi or 2Gi"},
		}}
}

// rollbackDeployment puts back the pod template of an earlier revision (kubectl
// rollout undo): it reads the template from the ReplicaSet of that revision and
// patches the Deployment with it.
//
// Its executor records before["revision"] (the current revision before the rollback).
// The inverse rolls back to that revision: its ReplicaSet is kept unless
// revisionHistoryLimit is 0 (deployment_revision_available then fails the inverse).
var rollbackDeployment = &Action{
	Name:        "rollback_deployment",
	Target:      deploymentTarget,
	Description: "Rolls a Deployment back to the pod template of an earlier revision (kubectl rollout undo).",
	Parameters: []Field{
		namespacedTarget("deployment", "Deployment"),
		{Name: "revision", Type: Integer, Min: ptr(int64(0)),
			Description: "the revision to roll back to; 0 or absent means the previous one"},
	},
	Permissions: []rbacv1.PolicyRule{
		deploymentGetPatch,
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: []string{"list"}},
	},

	StepPreConditions:  []Suggested{workloadChecks.deploymentExists, workloadChecks.revisionAvailable},
	StepPostConditions: []Suggested{workloadChecks.rolloutComplete, workloadChecks.replicasRunning},
	PostConditions:     []Suggested{workloadChecks.deploymentHealthy, workloadChecks.noCrashloop},

	Facts: slices.Concat(deploymentTargetFacts, deploymentRolloutFacts,
		[]string{"conditions", "deployment_revision", "deployment_revisions"}),
	Inverse: rollbackToRecordedRevision,
}

// updateImage sets the image of one container of a Deployment's pod template.
//
// Its executor records before["image"] (the container's image before the patch).
var updateImage = &Action{
	Name:        "update_image",
	Target:      deploymentTarget,
	Description: "Sets the image of one container of a Deployment (kubectl set image), a rolling update.",
	Parameters: []Field{
		namespacedTarget("deployment", "Deployment"),
		{Name: "container", Type: String, Required: true, Format: DNSLabel, Description: "the name of the container in the pod template"},
		{Name: "image", Type: String, Required: true, Format: Image, Description: "the image to run, e.g. registry.example/web:1.2"},
	},
	Permissions: []rbacv1.PolicyRule{deploymentGetPatch},

	StepPreConditions:  []Suggested{workloadChecks.deploymentExists, workloadChecks.containerExists},
	StepPostConditions: []Suggested{workloadChecks.imageRolledOut, workloadChecks.replicasRunning},
	PreConditions:      []Suggested{workloadChecks.pullSecretsValid, workloadChecks.mayBeRollingOut},
	PostConditions:     []Suggested{workloadChecks.rolloutComplete, workloadChecks.noCrashloop},

	Facts: slices.Concat(deploymentTargetFacts, deploymentRolloutFacts, []string{
		"container_found", "container_image", "container_pod_images",
		"image_pull_secrets_exist", "image_pull_secrets_valid",
	}),
	Inverse: func(params map[string]any, before map[string]string) (Rollback, error) {
		target, err := workloadTarget(params, "deployment")
		if err != nil {
			return Rollback{}, err
		}
		container, _ := params["container"].(string)
		image, ok := before["image"]
		if !ok || image == "" || container == "" {
			return Rollback{}, fmt.Errorf("the image of container %q before the update was not recorded", container)
		}
		return Rollback{Action: "update_image", Parameters: map[string]any{
			"deployment": target, "container": container, "image": image,
		}}, nil
	},
}

// patchDeployment applies a strategic merge patch to a Deployment.
//
// Its executor records before["revision"]. The inverse rolls back to that revision,
// which restores the pod template only: it is refused for a patch that changes
// anything outside spec.template (replicas, strategy, metadata...).
var patchDeployment = &Action{
	Name:        "patch_deployment",
	Target:      deploymentTarget,
	Description: "Applies a strategic merge patch to a Deployment (kubectl patch --type strategic).",
	Parameters: []Field{
		namespacedTarget("deployment", "Deployment"),
		{Name: "patch", Type: AnyObject, Required: true,
			Description: "the strategic merge patch, e.g. {spec: {template: {spec: {containers: [{name: web, env: [...]}]}}}}"},
	},
	Permissions: []rbacv1.PolicyRule{deploymentGetPatch},

	StepPreConditions:  []Suggested{workloadChecks.deploymentExists},
	StepPostConditions: []Suggested{workloadChecks.rolloutComplete, workloadChecks.deploymentHealthy},
	PreConditions:      []Suggested{workloadChecks.mayBeRollingOut},
	PostConditions:     []Suggested{workloadChecks.replicasRunning, workloadChecks.noCrashloop},

	Facts: slices.Concat(deploymentTargetFacts, deploymentRolloutFacts, []string{"conditions"}),
	Inverse: func(params map[string]any, before map[string]string) (Rollback, error) {
		patch, _ := params["patch"].(map[string]any)
		if len(patch) == 0 {
			return Rollback{}, fmt.Errorf("the patch is empty: there is nothing to undo")
		}
		if outside := patchOutsideTemplate(patch); len(outside) > 0 {
			return Rollback{}, fmt.Errorf("the patch changes %v, outside spec.template: a rollback restores only the pod template", outside)
		}
		return rollbackToRecordedRevision(params, before)
	},
}

// updateHPA sets the bounds of a HorizontalPodAutoscaler.
//
// Its executor records before["min_replicas"] and before["max_replicas"] (spec
// before the patch; "1" for a minReplicas that was unset).
var updateHPA = &Action{
	Name:        "update_hpa",
	Target:      hpaTarget,
	Description: "Sets minReplicas and maxReplicas of a HorizontalPodAutoscaler.",
	Parameters: []Field{
		namespacedTarget("hpa", "HorizontalPodAutoscaler"),
		{Name: "minReplicas", Type: Integer, Required: true, Min: ptr(int64(1)), Max: ptr(int64(1000)),
			Description: "the lower bound of the replica count; not above maxReplicas"},
		{Name: "maxReplicas", Type: Integer, Required: true, Min: ptr(int64(1)), Max: ptr(int64(1000)),
			Description: "the upper bound of the replica count"},
	},
	Permissions: []rbacv1.PolicyRule{
		{APIGroups: []string{"autoscaling"}, Resources: []string{"horizontalpodautoscalers"}, Verbs: []string{"get", "patch"}},
	},

	StepPreConditions:  []Suggested{workloadChecks.hpaExists, workloadChecks.hpaBoundsValid},
	StepPostConditions: []Suggested{workloadChecks.hpaBoundsApplied},
	PostConditions:     []Suggested{workloadChecks.hpaBoundsApplied, workloadChecks.hpaWithinBounds},

	Facts: []string{
		"hpa_found", "hpa_name", "namespace",
		"hpa_min_replicas", "hpa_max_replicas", "hpa_current_replicas", "hpa_conditions",
	},
	Inverse: func(params map[string]any, before map[string]string) (Rollback, error) {
		target, err := workloadTarget(params, "hpa")
		if err != nil {
			return Rollback{}, err
		}
		minReplicas, err := workloadRecordedInt(before, "min_replicas", "minReplicas before the update")
		if err != nil {
			return Rollback{}, err
		}
		maxReplicas, err := workloadRecordedInt(before, "max_replicas", "maxReplicas before the update")
		if err != nil {
			return Rollback{}, err
		}
		return Rollback{Action: "update_hpa", Parameters: map[string]any{
			"hpa": target, "minReplicas": minReplicas, "maxReplicas": maxReplicas,
		}}, nil
	},
}

// updateConfigMap sets keys of a ConfigMap's data and removes those set to null; with
// replace, the data becomes exactly the given keys. Pods that read the ConfigMap see
// the change as their kubelet or the application reloads it; restarting them is
// another step.
//
// Its executor records before["data"]: a JSON object of only the keys the action
// changes (those of parameters.data; with replace, also the keys replace removes),
// each with its value before the update, or null when the key did not exist. Status
// and the policies' input carry that record, so it never holds a key the action
// leaves alone (SECURITY.md, invariant 3). The inverse sets each recorded key back:
// its previous value, or null to remove a key the action added.
var updateConfigMap = &Action{
	Name:        "update_configmap",
	Target:      configMapTarget,
	Description: "Sets keys of a ConfigMap's data, keeping the others unless replace is true.",
	Parameters: []Field{
		namespacedTarget("configmap", "ConfigMap"),
		{Name: "data", Type: StringMap, Nullable: true, Required: true,
			Description: "the keys to set, with their values; a key whose value is null is removed"},
		{Name: "replace", Type: Boolean, Description: "true to replace the whole data, removing the keys not given; default false"},
	},
	Permissions: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "patch"}},
	},

	StepPreConditions:  []Suggested{workloadChecks.configMapExists},
	StepPostConditions: []Suggested{workloadChecks.configMapApplied},
	PreConditions:      []Suggested{workloadChecks.configMapMutable},
	PostConditions:     []Suggested{workloadChecks.configMapApplied},

	Facts: []string{"configmap_found", "configmap_name", "namespace", "configmap_immutable", "configmap_data"},
	Inverse: func(params map[string]any, before map[string]string) (Rollback, error) {
		target, err := workloadTarget(params, "configmap")
		if err != nil {
			return Rollback{}, err
		}
		raw, ok := before["data"]
		if !ok {
			return Rollback{}, fmt.Errorf("the data of the ConfigMap before the update was not recorded (before[\"data\"])")
		}
		var previous map[string]*string
		if err := json.Unmarshal([]byte(raw), &previous); err != nil {
			return Rollback{}, fmt.Errorf("the recorded data of the ConfigMap (before[\"data\"]) is not a JSON object of strings and nulls: %w", err)
		}
		data, _ := params["data"].(map[string]any)
		replace, _ := params["replace"].(bool)
		// A key of data that the record lacks did not exist (a record of the whole
		// data, as older executors wrote, lists only the keys that existed).
		keys := slices.Collect(maps.Keys(data))
		if replace {
			keys = append(keys, slices.Collect(maps.Keys(previous))...)
		}
		restored := map[string]any{}
		for _, key := range keys {
			if value := previous[key]; value != nil {
				restored[key] = *value
			} else {
				restored[key] = nil // a merge patch's null: the key goes
			}
		}
		return Rollback{Action: "update_configmap", Parameters: map[string]any{"configmap": target, "data": restored}}, nil
	},
}

// rollbackToRecordedRevision is the inverse of the actions that change a Deployment's
// pod template: a rollback to before["revision"].
func rollbackToRecordedRevision(params map[string]any, before map[string]string) (Rollback, error) {
	target, err := workloadTarget(params, "deployment")
	if err != nil {
		return Rollback{}, err
	}
	revision, err := workloadRecordedInt(before, "revision", "the Deployment's revision before acting")
	if err != nil {
		return Rollback{}, err
	}
	if revision < 1 {
		return Rollback{}, fmt.Errorf("the recorded revision %d is not a revision to roll back to", revision)
	}
	return Rollback{Action: "rollback_deployment", Parameters: map[string]any{"deployment": target, "revision": revision}}, nil
}

// restoreResources is the inverse of increase_resources: increase_resources with the
// recorded values, or, when one of them was unset (or is not a positive quantity,
// which increase_resources does not take), a strategic merge patch of the
// container's resources that sets the recorded values and removes the unset ones.
func restoreResources(params map[string]any, before map[string]string) (Rollback, error) {
	target, err := workloadTarget(params, "deployment")
	if err != nil {
		return Rollback{}, err
	}
	container, _ := params["container"].(string)
	if container == "" {
		return Rollback{}, fmt.Errorf("the parameters name no container")
	}
	previous := map[string]any{}
	settable := true
	for _, kind := range []string{"requests", "limits"} {
		set, _ := params[kind].(map[string]any)
		values := map[string]any{}
		for _, resource := range sortedKeys(set) {
			key := kind + "." + resource
			value, ok := before[key]
			if !ok {
				return Rollback{}, fmt.Errorf("the value of %s of container %s before the update was not recorded", key, container)
			}
			if value == "" || len(validateFormat(Quantity, value, field.NewPath(key))) > 0 {
				settable = false
				values[resource] = nil // removed by the strategic merge patch
				continue
			}
			values[resource] = value
		}
		if len(values) > 0 {
			previous[kind] = values
		}
	}
	if len(previous) == 0 {
		return Rollback{}, fmt.Errorf("the parameters set no request or limit: there is nothing to undo")
	}
	if settable {
		parameters := map[string]any{"deployment": target, "container": container}
		for kind, values := range previous {
			parameters[kind] = values
		}
		return Rollback{Action: "increase_resources", Parameters: parameters}, nil
	}
	return Rollback{Action: "patch_deployment", Parameters: map[string]any{"deployment": target, "patch": map[string]any{
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{
			map[string]any{"name": container, "resources": previous},
		}}}},
	}}}, nil
}

// patchOutsideTemplate lists the fields of a Deployment patch outside spec.template.
func patchOutsideTemplate(patch map[string]any) []string {
	var outside []string
	for _, key := range sortedKeys(patch) {
		if key != "spec" {
			outside = append(outside, key)
			continue
		}
		spec, ok := patch[key].(map[string]any)
		if !ok {
			outside = append(outside, "spec")
			continue
		}
		for _, field := range sortedKeys(spec) {
			if field != "template" {
				outside = append(outside, "spec."+field)
			}
		}
	}
	return outside
}

// workloadTarget copies the name and namespace of the target the parameter param
// names, for the parameters of an inverse.
func workloadTarget(params map[string]any, param string) (map[string]any, error) {
	target, _ := params[param].(map[string]any)
	name, _ := target["name"].(string)
	namespace, _ := target["namespace"].(string)
	if name == "" || namespace == "" {
		return nil, fmt.Errorf("the parameters name no %s (name and namespace)", param)
	}
	return map[string]any{"name": name, "namespace": namespace}, nil
}

// workloadRecordedInt reads the integer the executor recorded under key.
func workloadRecordedInt(before map[string]string, key, what string) (int64, error) {
	raw, ok := before[key]
	if !ok {
		return 0, fmt.Errorf("%s was not recorded (before[%q])", what, key)
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s was recorded as %q, not an integer", what, raw)
	}
	return n, nil
}
