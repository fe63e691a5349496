package facts

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// workloadProviders read the facts of the workload actions of the catalog (the
// catalog's workloadFacts, and the scale_deployment facts they share).
//
// As for scale_deployment, a target that does not exist gives its *_found fact
// false, its name and namespace, and what the parameters alone say
// (target_replicas of scale_statefulset); every fact read from the object, its
// pods or its ReplicaSets is left out, so that a policy reading one reports a
// missing fact rather than deciding on a made-up value.
var workloadProviders = map[string]Provider{
	"scale_statefulset":   workloadScaleStatefulSet,
	"rollout_restart":     workloadDeploymentProvider(),
	"restart_daemonset":   workloadRestartDaemonSet,
	"increase_resources":  workloadDeploymentProvider(workloadContainerResourceFacts),
	"rollback_deployment": workloadDeploymentProvider(workloadConditionFacts, workloadRevisionFacts),
	"update_image":        workloadDeploymentProvider(workloadContainerImageFacts, workloadPullSecretFacts),
	"patch_deployment":    workloadDeploymentProvider(workloadConditionFacts),
	"update_hpa":          workloadUpdateHPA,
	"update_configmap":    workloadUpdateConfigMap,
}

// workloadRevisionAnnotation carries the revision of a Deployment and of each of
// its ReplicaSets.
const workloadRevisionAnnotation = "deployment.kubernetes.io/revision"

// workloadDeployment is what the Deployment actions read of their Deployment.
type workloadDeployment struct {
	deployment *appsv1.Deployment
	// replicaSets are the ReplicaSets the Deployment controls, those being deleted
	// included.
	replicaSets []appsv1.ReplicaSet
	// pods are the pods those ReplicaSets control, by name, those being deleted
	// included.
	pods []corev1.Pod
}

// workloadDeploymentPart adds the facts of one aspect of a Deployment (its
// container, its revisions...) to doc.
type workloadDeploymentPart func(ctx context.Context, r client.Reader, w *workloadDeployment, params, doc map[string]any) error

// workloadDeploymentProvider reads the facts every Deployment action shares (the
// catalog's deploymentTargetFacts and deploymentRolloutFacts), then those of parts.
func workloadDeploymentProvider(parts ...workloadDeploymentPart) Provider {
	return func(ctx context.Context, r client.Reader, params map[string]any) (map[string]any, error) {
		name, namespace, err := target(params, "deployment")
		if err != nil {
			return nil, err
		}
		doc := map[string]any{"deployment_name": name, "namespace": namespace}
		w, err := workloadReadDeployment(ctx, r, namespace, name)
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
		doc["pods"], doc["running_pods"], doc["ready_pods"] = podsFacts(w.pods)

		for _, part := range parts {
			if err := part(ctx, r, w, params, doc); err != nil {
				return nil, err
			}
		}
		return doc, nil
	}
}

// workloadReadDeployment reads the Deployment, the ReplicaSets it controls and
// their pods; nil when the Deployment does not exist.
func workloadReadDeployment(ctx context.Context, r client.Reader, namespace, name string) (*workloadDeployment, error) {
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
	w := &workloadDeployment{deployment: &d}
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

// workloadControlledBy reports whether the controller of obj has the UID owner.
func workloadControlledBy(obj metav1.Object, owner types.UID) bool {
	ref := metav1.GetControllerOf(obj)
	return ref != nil && ref.UID == owner
}

// workloadConditionFacts adds conditions: the Deployment's status conditions as
// booleans, as scale_deployment reads them.
func workloadConditionFacts(_ context.Context, _ client.Reader, w *workloadDeployment, _, doc map[string]any) error {
	doc["conditions"] = deploymentConditions(w.deployment)
	return nil
}

// workloadRevisionFacts adds deployment_revision and deployment_revisions, read from
// the ReplicaSets the Deployment controls (annotation
// deployment.kubernetes.io/revision), leaving out those being deleted.
//
// The current revision is the highest kept one: the deployment controller gives the
// ReplicaSet of the current pod template the highest revision (a rollback renumbers
// the old ReplicaSet it reuses), and copies it to the Deployment's own annotation.
// A Deployment without any ReplicaSet yet (just created, or created paused) has
// revision 0, as kubectl counts an absent annotation, and no revision kept.
func workloadRevisionFacts(_ context.Context, _ client.Reader, w *workloadDeployment, _, doc map[string]any) error {
	var revisions []int64
	for i := range w.replicaSets {
		rs := &w.replicaSets[i]
		if rs.DeletionTimestamp != nil {
			continue
		}
		// A ReplicaSet whose annotation is absent or malformed carries no revision
		// to roll back to; the controller's own MaxRevision skips it too.
		revision, err := strconv.ParseInt(rs.Annotations[workloadRevisionAnnotation], 10, 64)
		if err != nil || revision < 1 {
			continue
		}
		revisions = append(revisions, revision)
	}
	slices.Sort(revisions)
	revisions = slices.Compact(revisions)
	kept := make([]any, len(revisions))
	current := int64(0)
	for i, revision := range revisions {
		kept[i] = revision
		current = revision
	}
	doc["deployment_revision"] = current
	doc["deployment_revisions"] = kept
	return nil
}

// workloadContainer returns the container of the pod template that the parameter
// container names, nil when there is none. Only the regular containers count: the
// workload actions set the image and resources of those.
func workloadContainer(spec *corev1.PodSpec, params map[string]any) *corev1.Container {
	name, _ := params["container"].(string)
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

// workloadContainerResourceFacts adds container_found, container_requests and
// container_limits. For a container the template lacks, requests and limits are
// {cpu: "", memory: ""}, as for a container without any: there is nothing to
// increase, and container_exists says why.
func workloadContainerResourceFacts(_ context.Context, _ client.Reader, w *workloadDeployment, params, doc map[string]any) error {
	c := workloadContainer(&w.deployment.Spec.Template.Spec, params)
	doc["container_found"] = c != nil
	var requests, limits corev1.ResourceList
	if c != nil {
		requests, limits = c.Resources.Requests, c.Resources.Limits
	}
	doc["container_requests"] = workloadResources(requests)
	doc["container_limits"] = workloadResources(limits)
	return nil
}

// workloadResources formats the CPU and memory of a resource list as quantity
// strings, "" for one that is not set.
func workloadResources(list corev1.ResourceList) map[string]any {
	out := map[string]any{}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		out[string(name)] = ""
		if q, ok := list[name]; ok {
			out[string(name)] = q.String()
		}
	}
	return out
}

// workloadContainerImageFacts adds container_found, container_image and
// container_pod_images: the image of the container in the template and in each pod
// of the Deployment (by pod name, pods being deleted included: an old pod still
// terminating runs the old image).
func workloadContainerImageFacts(_ context.Context, _ client.Reader, w *workloadDeployment, params, doc map[string]any) error {
	c := workloadContainer(&w.deployment.Spec.Template.Spec, params)
	doc["container_found"] = c != nil
	doc["container_image"] = ""
	if c != nil {
		doc["container_image"] = c.Image
	}
	images := make([]any, 0, len(w.pods))
	for i := range w.pods {
		image := ""
		if pc := workloadContainer(&w.pods[i].Spec, params); pc != nil {
			image = pc.Image
		}
		images = append(images, image)
	}
	doc["container_pod_images"] = images
	return nil
}

// workloadPullSecretFacts adds image_pull_secrets_exist and image_pull_secrets_valid
// for the pod template's imagePullSecrets, as scale_deployment reads them.
func workloadPullSecretFacts(ctx context.Context, r client.Reader, w *workloadDeployment, _, doc map[string]any) error {
	d := w.deployment
	exist, valid, err := pullSecrets(ctx, r, d.Namespace, d.Spec.Template.Spec.ImagePullSecrets)
	if err != nil {
		return err
	}
	doc["image_pull_secrets_exist"], doc["image_pull_secrets_valid"] = exist, valid
	return nil
}

// workloadScaleStatefulSet reads the facts of scale_statefulset. target_replicas is
// the parameter statefulset.replicas, known whether or not the StatefulSet exists.
func workloadScaleStatefulSet(ctx context.Context, r client.Reader, params map[string]any) (map[string]any, error) {
	name, namespace, err := target(params, "statefulset")
	if err != nil {
		return nil, err
	}
	doc := map[string]any{"statefulset_name": name, "namespace": namespace}
	statefulSet, _ := params["statefulset"].(map[string]any)
	if replicas, ok := intParam(statefulSet, "replicas"); ok {
		doc["target_replicas"] = replicas
	}

	var s appsv1.StatefulSet
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			doc["statefulset_found"] = false
			return doc, nil
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
	// running_pods and ready_pods are not among the action's facts, but the
	// glossary defines them for a StatefulSet too (a step may add
	// desired_replicas_running).
	doc["pods"], doc["running_pods"], doc["ready_pods"] = podsFacts(pods)
	return doc, nil
}

// workloadRestartDaemonSet reads the facts of restart_daemonset.
func workloadRestartDaemonSet(ctx context.Context, r client.Reader, params map[string]any) (map[string]any, error) {
	name, namespace, err := target(params, "daemonset")
	if err != nil {
		return nil, err
	}
	doc := map[string]any{"daemonset_name": name, "namespace": namespace}

	var ds appsv1.DaemonSet
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &ds); err != nil {
		if apierrors.IsNotFound(err) {
			doc["daemonset_found"] = false
			return doc, nil
		}
		return nil, fmt.Errorf("reading DaemonSet %s/%s: %w", namespace, name, err)
	}
	doc["daemonset_found"] = true
	strategy := ds.Spec.UpdateStrategy.Type
	if strategy == "" {
		strategy = appsv1.RollingUpdateDaemonSetStrategyType // the API server's default
	}
	doc["daemonset_update_strategy"] = string(strategy)
	doc["daemonset_generation_observed"] = ds.Status.ObservedGeneration >= ds.Generation
	doc["daemonset_desired_number_scheduled"] = int64(ds.Status.DesiredNumberScheduled)
	doc["daemonset_updated_number_scheduled"] = int64(ds.Status.UpdatedNumberScheduled)
	doc["daemonset_number_available"] = int64(ds.Status.NumberAvailable)

	pods, err := workloadPods(ctx, r, namespace, ds.Spec.Selector, map[types.UID]bool{ds.UID: true})
	if err != nil {
		return nil, fmt.Errorf("listing the pods of DaemonSet %s/%s: %w", namespace, name, err)
	}
	doc["pods"], doc["running_pods"], doc["ready_pods"] = podsFacts(pods)
	return doc, nil
}

// workloadUpdateHPA reads the facts of update_hpa from the autoscaling/v2
// HorizontalPodAutoscaler. hpa_current_replicas is status.currentReplicas as the
// HPA controller last wrote it: 0 until it has written a status.
func workloadUpdateHPA(ctx context.Context, r client.Reader, params map[string]any) (map[string]any, error) {
	name, namespace, err := target(params, "hpa")
	if err != nil {
		return nil, err
	}
	doc := map[string]any{"hpa_name": name, "namespace": namespace}

	var hpa autoscalingv2.HorizontalPodAutoscaler
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &hpa); err != nil {
		if apierrors.IsNotFound(err) {
			doc["hpa_found"] = false
			return doc, nil
		}
		return nil, fmt.Errorf("reading HorizontalPodAutoscaler %s/%s: %w", namespace, name, err)
	}
	doc["hpa_found"] = true
	minReplicas := int64(1)
	if hpa.Spec.MinReplicas != nil {
		minReplicas = int64(*hpa.Spec.MinReplicas)
	}
	doc["hpa_min_replicas"] = minReplicas
	doc["hpa_max_replicas"] = int64(hpa.Spec.MaxReplicas)
	doc["hpa_current_replicas"] = int64(hpa.Status.CurrentReplicas)
	conditions := map[string]any{
		string(autoscalingv2.AbleToScale):    false,
		string(autoscalingv2.ScalingActive):  false,
		string(autoscalingv2.ScalingLimited): false,
	}
	for _, c := range hpa.Status.Conditions {
		conditions[string(c.Type)] = c.Status == corev1.ConditionTrue
	}
	doc["hpa_conditions"] = conditions
	return doc, nil
}

// workloadUpdateConfigMap reads the facts of update_configmap. configmap_data holds
// only the keys the action changes: those of parameters.data, and with
// parameters.replace every key, since replace removes the others. A key the action
// leaves alone is never copied: the input reaches messages and status, and the
// requester need not be able to read it (SECURITY.md, invariant 3). binaryData is
// left out.
func workloadUpdateConfigMap(ctx context.Context, r client.Reader, params map[string]any) (map[string]any, error) {
	name, namespace, err := target(params, "configmap")
	if err != nil {
		return nil, err
	}
	doc := map[string]any{"configmap_name": name, "namespace": namespace}

	var cm corev1.ConfigMap
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &cm); err != nil {
		if apierrors.IsNotFound(err) {
			doc["configmap_found"] = false
			return doc, nil
		}
		return nil, fmt.Errorf("reading ConfigMap %s/%s: %w", namespace, name, err)
	}
	doc["configmap_found"] = true
	doc["configmap_immutable"] = cm.Immutable != nil && *cm.Immutable
	changes, _ := params["data"].(map[string]any)
	replace, _ := params["replace"].(bool)
	data := map[string]any{}
	for k, v := range cm.Data {
		if _, changed := changes[k]; changed || replace {
			data[k] = v
		}
	}
	doc["configmap_data"] = data
	return doc, nil
}
