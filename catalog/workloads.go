package catalog

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The facts of scale_deployment (DESIGN.md, Rego conventions) that other actions
// share, with the same meaning: running_pods, ready_pods and pods count and list the
// pods of the action's workload (its Deployment, StatefulSet or DaemonSet; for the
// pod actions, the pod's controller); target_replicas is the replica count the
// action sets: the one scale_deployment or scale_statefulset sets and, for the
// Deployment actions that set no count, spec.replicas of the Deployment.
var (
	factDeploymentFound       = Fact{"deployment_found", "boolean: the Deployment exists"}
	factDeploymentName        = Fact{"deployment_name", "string: the Deployment's name"}
	factNamespace             = Fact{"namespace", "string: the target's namespace"}
	factCurrentReplicas       = Fact{"current_replicas", "integer: spec.replicas of the Deployment now"}
	factTargetReplicas        = Fact{"target_replicas", "integer: the replica count the action sets; for actions that keep the count, spec.replicas"}
	factRunningPods           = Fact{"running_pods", "integer: pods of the workload in phase Running"}
	factReadyPods             = Fact{"ready_pods", "integer: pods of the workload with condition Ready"}
	factConditions            = Fact{"conditions", "object: the workload's status conditions as booleans, e.g. {Available, Progressing, ReplicaFailure}; a condition that is absent is false"}
	factPods                  = Fact{"pods", podsDescription}
	factImagePullSecretsExist = Fact{"image_pull_secrets_exist", "boolean: every imagePullSecret of the pod template exists"}
	factImagePullSecretsValid = Fact{"image_pull_secrets_valid", "boolean: every imagePullSecret is of type kubernetes.io/dockerconfigjson (or dockercfg) with data"}
)

// podsDescription is what the key pods holds, for the actions of a workload and
// the pod actions alike.
const podsDescription = "array, one object per pod of the workload, those being deleted left out: " +
	"name; status, the waiting reason of a container (e.g. CrashLoopBackOff) or else the pod phase; phase; ready; node; " +
	"restarts, of all its containers; oom_killed, a container's current or last termination was OOMKilled; " +
	"throttled, a container with a CPU limit was throttled in more than the threshold of its CFS periods over the window " +
	"(the key throttling says which, and why it may not be known), absent when not known; " +
	"cpu_throttled_ratio, the highest share of throttled CFS periods of its containers, when known. " +
	"From the Metrics API (metrics.k8s.io, metrics-server), absent when it has no metrics of the pod: " +
	"cpu_usage_millicores and memory_usage_bytes (working set), summed over its containers; " +
	"cpu_request_ratio, cpu_limit_ratio, memory_request_ratio, memory_limit_ratio: usage over the containers' summed " +
	"requests or limits (or the pod-level resources), to 3 decimals, absent when a container sets none. " +
	"containers: one object per container (and sidecar) with name and, each only when set, cpu_request_millicores, " +
	"cpu_limit_millicores, memory_request_bytes, memory_limit_bytes; when known, its own cpu_usage_millicores, " +
	"memory_usage_bytes, the four ratios and cpu_throttled_ratio"

// The facts several workload actions share. The target is the object the parameters
// name. When it does not exist, its *_found fact is false and the facts read from
// the object are left out, as for scale_deployment: a policy that reads them reports
// a missing fact (Errored) instead of deciding on made-up values, and the *_exists
// precondition fails with its message.
var (
	factDeploymentGenerationObserved  = Fact{"deployment_generation_observed", "boolean: status.observedGeneration of the Deployment is at least its metadata.generation (its controller has seen the latest spec)"}
	factDeploymentUpdatedReplicas     = Fact{"deployment_updated_replicas", "integer: status.updatedReplicas of the Deployment: pods of its newest ReplicaSet, the one of the current pod template"}
	factDeploymentStatusReplicas      = Fact{"deployment_status_replicas", "integer: status.replicas of the Deployment: pods of all its ReplicaSets, the older ones included"}
	factDeploymentAvailableReplicas   = Fact{"deployment_available_replicas", "integer: status.availableReplicas of the Deployment"}
	factContainerFound                = Fact{"container_found", "boolean: the Deployment's pod template has a container named parameters.container"}
	factStatefulSetFound              = Fact{"statefulset_found", "boolean: the StatefulSet exists"}
	factStatefulSetName               = Fact{"statefulset_name", "string: the StatefulSet's name"}
	factStatefulSetGenerationObserved = Fact{"statefulset_generation_observed", "boolean: status.observedGeneration of the StatefulSet is at least its metadata.generation"}
	factStatefulSetStatusReplicas     = Fact{"statefulset_status_replicas", "integer: status.replicas of the StatefulSet: pods its controller has created"}
	factStatefulSetReadyReplicas      = Fact{"statefulset_ready_replicas", "integer: status.readyReplicas of the StatefulSet"}
)

// Facts the Deployment actions share.
var (
	deploymentTargetFacts  = []Fact{factDeploymentFound, factDeploymentName, factNamespace}
	deploymentRolloutFacts = []Fact{
		factCurrentReplicas, factTargetReplicas, factRunningPods, factReadyPods, factPods,
		factDeploymentGenerationObserved, factDeploymentUpdatedReplicas,
		factDeploymentStatusReplicas, factDeploymentAvailableReplicas,
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
		Required: true, Timeout: settleWithin, Needs: SourceThrottling},
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

// restartExecutor is the executor of an action that restarts the pods of the
// workload t names by stamping its pod template, as kubectl rollout restart does,
// when nothing about the workload needs recording. Capture checks the workload,
// read into newObject(), exists and chooses the stamp Act sets (before:
// restarted_at); Act sets it (the same stamp twice is one restart).
func restartExecutor(t *Target, newObject func() client.Object) Executor {
	return Executor{
		Capture: func(ctx context.Context, call Call) (ObjectRef, map[string]string, error) {
			ref, err := t.Ref(call.Params)
			if err != nil {
				return ref, nil, err
			}
			if err := call.Client.Get(ctx, ref.key(), newObject()); err != nil {
				return ref, nil, fmt.Errorf("reading %s: %w", ref, err)
			}
			return ref, map[string]string{"restarted_at": now()}, nil
		},
		Act: func(ctx context.Context, call Call, before map[string]string) (map[string]string, error) {
			stamp, err := recorded(before, "restarted_at")
			if err != nil {
				return nil, err
			}
			ref, err := t.Ref(call.Params)
			if err != nil {
				return nil, err
			}
			workload := newObject()
			workload.SetNamespace(ref.Namespace)
			workload.SetName(ref.Name)
			if err := stampRestart(ctx, call, workload, stamp); err != nil {
				return nil, fmt.Errorf("restarting %s: %w", ref, err)
			}
			return map[string]string{"restarted_at": stamp}, nil
		},
	}
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

// deploymentConditions maps the Deployment's conditions to booleans; the seed's
// policies read Available, Progressing and ReplicaFailure, and an absent condition
// is false.
func deploymentConditions(d *appsv1.Deployment) map[string]any {
	conditions := map[string]any{
		string(appsv1.DeploymentAvailable):      false,
		string(appsv1.DeploymentProgressing):    false,
		string(appsv1.DeploymentReplicaFailure): false,
	}
	for _, c := range d.Status.Conditions {
		conditions[string(c.Type)] = c.Status == corev1.ConditionTrue
	}
	return conditions
}

// pullSecrets reports whether every named image pull secret exists in namespace,
// and whether each holds docker registry credentials.
func pullSecrets(ctx context.Context, r client.Reader, namespace string, refs []corev1.LocalObjectReference) (exist, valid bool, err error) {
	exist, valid = true, true
	for _, ref := range refs {
		var s corev1.Secret
		if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, &s); err != nil {
			if client.IgnoreNotFound(err) != nil {
				return false, false, fmt.Errorf("reading image pull secret %s: %w", ref.Name, err)
			}
			exist, valid = false, false
			continue
		}
		switch s.Type {
		case corev1.SecretTypeDockerConfigJson:
			valid = valid && len(s.Data[corev1.DockerConfigJsonKey]) > 0
		case corev1.SecretTypeDockercfg:
			valid = valid && len(s.Data[corev1.DockerConfigKey]) > 0
		default:
			valid = false
		}
	}
	return exist, valid, nil
}

// deploymentState is what the Deployment actions read of their Deployment.
type deploymentState struct {
	deployment *appsv1.Deployment
	// selector is the Deployment's, parsed.
	selector labels.Selector
	// replicaSets are the ReplicaSets the Deployment controls, those being deleted
	// included.
	replicaSets []appsv1.ReplicaSet
	// pods are the pods those ReplicaSets control, by name, those being deleted
	// included.
	pods []corev1.Pod
}

// deploymentFactsPart adds the facts of one aspect of a Deployment (its
// container, its revisions...) to doc.
type deploymentFactsPart func(ctx context.Context, r client.Reader, w *deploymentState, params, doc map[string]any) error

// deploymentFacts reads the facts every Deployment action shares
// (deploymentTargetFacts and deploymentRolloutFacts), then those of parts.
func deploymentFacts(parts ...deploymentFactsPart) Provider {
	return func(ctx context.Context, r client.Reader, params map[string]any, want Wanted) (map[string]any, error) {
		name, namespace, err := deploymentTarget.Name(params)
		if err != nil {
			return nil, err
		}
		doc := map[string]any{"deployment_name": name, "namespace": namespace}
		w, err := readDeploymentState(ctx, r, namespace, name)
		if err != nil {
			return nil, err
		}
		if w == nil {
			doc["deployment_found"] = false
			return doc, nil
		}
		doc["deployment_found"] = true

		d := w.deployment
		replicas := int64(1)
		if d.Spec.Replicas != nil {
			replicas = int64(*d.Spec.Replicas)
		}
		// These actions keep the replica count: the target is the current one.
		doc["current_replicas"] = replicas
		doc["target_replicas"] = replicas
		doc["deployment_generation_observed"] = d.Status.ObservedGeneration >= d.Generation
		doc["deployment_updated_replicas"] = int64(d.Status.UpdatedReplicas)
		doc["deployment_status_replicas"] = int64(d.Status.Replicas)
		doc["deployment_available_replicas"] = int64(d.Status.AvailableReplicas)
		usage := readPodUsage(ctx, r, want, namespace, w.selector, w.pods)
		doc["pods"], doc["running_pods"], doc["ready_pods"] = podsFacts(w.pods, usage)

		for _, part := range parts {
			if err := part(ctx, r, w, params, doc); err != nil {
				return nil, err
			}
		}
		return doc, nil
	}
}

// readDeploymentState reads the Deployment, the ReplicaSets it controls and
// their pods; nil when the Deployment does not exist.
func readDeploymentState(ctx context.Context, r client.Reader, namespace, name string) (*deploymentState, error) {
	var d appsv1.Deployment
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &d); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading Deployment %s/%s: %w", namespace, name, err)
	}
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("the selector of Deployment %s/%s is invalid: %w", namespace, name, err)
	}
	var sets appsv1.ReplicaSetList
	if err := r.List(ctx, &sets, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: selector}); err != nil {
		return nil, fmt.Errorf("listing the ReplicaSets of Deployment %s/%s: %w", namespace, name, err)
	}
	w := &deploymentState{deployment: &d, selector: selector}
	owners := map[types.UID]bool{}
	for _, rs := range sets.Items {
		if workloadControlledBy(&rs, d.UID) {
			w.replicaSets = append(w.replicaSets, rs)
			owners[rs.UID] = true
		}
	}
	if w.pods, err = workloadPods(ctx, r, namespace, d.Spec.Selector, owners); err != nil {
		return nil, fmt.Errorf("listing the pods of Deployment %s/%s: %w", namespace, name, err)
	}
	return w, nil
}

// workloadPods lists the pods in namespace that selector matches and whose
// controller is one of owners, sorted by name, those being deleted included.
// Selecting by controller as well leaves out pods of other workloads whose labels
// the selector happens to match.
func workloadPods(ctx context.Context, r client.Reader, namespace string, sel *metav1.LabelSelector, owners map[types.UID]bool) ([]corev1.Pod, error) {
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, fmt.Errorf("invalid selector: %w", err)
	}
	var list corev1.PodList
	if err := r.List(ctx, &list, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: selector}); err != nil {
		return nil, err
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		if ref := metav1.GetControllerOf(&p); ref != nil && owners[ref.UID] {
			pods = append(pods, p)
		}
	}
	slices.SortFunc(pods, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return pods, nil
}

// readWorkloadPodUsage is readPodUsage for pods that sel selects (a workload's
// selector, valid since workloadPods listed them by it).
func readWorkloadPodUsage(ctx context.Context, r client.Reader, want Wanted, namespace string, sel *metav1.LabelSelector, pods []corev1.Pod) podUsage {
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		selector = nil
	}
	return readPodUsage(ctx, r, want, namespace, selector, pods)
}

// workloadControlledBy reports whether the controller of obj has the UID owner.
func workloadControlledBy(obj metav1.Object, owner types.UID) bool {
	ref := metav1.GetControllerOf(obj)
	return ref != nil && ref.UID == owner
}

// deploymentConditionFacts adds conditions: the Deployment's status conditions as
// booleans, as scale_deployment reads them.
func deploymentConditionFacts(_ context.Context, _ client.Reader, w *deploymentState, _, doc map[string]any) error {
	doc["conditions"] = deploymentConditions(w.deployment)
	return nil
}

// workloadContainer returns the container of the pod template named name, nil when
// there is none. Only the regular containers count: the workload actions set the
// image and resources of those.
func workloadContainer(spec *corev1.PodSpec, name string) *corev1.Container {
	if name == "" {
		return nil
	}
	for i := range spec.Containers {
		if spec.Containers[i].Name == name {
			return &spec.Containers[i]
		}
	}
	return nil
}

// pullSecretFacts adds image_pull_secrets_exist and image_pull_secrets_valid
// for the pod template's imagePullSecrets, as scale_deployment reads them.
func pullSecretFacts(ctx context.Context, r client.Reader, w *deploymentState, _, doc map[string]any) error {
	d := w.deployment
	exist, valid, err := pullSecrets(ctx, r, d.Namespace, d.Spec.Template.Spec.ImagePullSecrets)
	if err != nil {
		return err
	}
	doc["image_pull_secrets_exist"], doc["image_pull_secrets_valid"] = exist, valid
	return nil
}

// readStatefulSetFacts reads the StatefulSet parameters.statefulset names and adds
// to doc the facts the StatefulSet actions share: statefulset_name, namespace,
// statefulset_found and, when it exists, statefulset_generation_observed,
// statefulset_status_replicas, statefulset_ready_replicas, pods, running_pods and
// ready_pods. It returns the StatefulSet, nil when it does not exist.
func readStatefulSetFacts(ctx context.Context, r client.Reader, params, doc map[string]any, want Wanted) (*appsv1.StatefulSet, error) {
	name, namespace, err := statefulSetTarget.Name(params)
	if err != nil {
		return nil, err
	}
	doc["statefulset_name"], doc["namespace"] = name, namespace
	var s appsv1.StatefulSet
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			doc["statefulset_found"] = false
			return nil, nil
		}
		return nil, fmt.Errorf("reading StatefulSet %s/%s: %w", namespace, name, err)
	}
	doc["statefulset_found"] = true
	doc["statefulset_generation_observed"] = s.Status.ObservedGeneration >= s.Generation
	doc["statefulset_status_replicas"] = int64(s.Status.Replicas)
	doc["statefulset_ready_replicas"] = int64(s.Status.ReadyReplicas)

	pods, err := workloadPods(ctx, r, namespace, s.Spec.Selector, map[types.UID]bool{s.UID: true})
	if err != nil {
		return nil, fmt.Errorf("listing the pods of StatefulSet %s/%s: %w", namespace, name, err)
	}
	doc["pods"], doc["running_pods"], doc["ready_pods"] = podsFacts(pods, readWorkloadPodUsage(ctx, r, want, namespace, s.Spec.Selector, pods))
	return &s, nil
}
