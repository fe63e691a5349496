package executors

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The workload actions: Deployments, StatefulSets, DaemonSets, HorizontalPodAutoscalers
// and ConfigMaps. Each patch carries only the fields its action owns.

const (
	// revisionAnnotation is the revision the deployment controller gives a
	// Deployment and each of its ReplicaSets.
	revisionAnnotation = "deployment.kubernetes.io/revision"
	// restartedAtAnnotation is the pod template annotation kubectl rollout restart sets.
	restartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"
)

// scaleDeployment sets spec.replicas through the Deployment's scale subresource.
// before: replicas.
type scaleDeployment struct{}

func (scaleDeployment) Capture(ctx context.Context, c client.Client, params map[string]any, _ string) (Target, map[string]string, error) {
	t, err := namespacedTarget(params, "deployment", "Deployment")
	if err != nil {
		return t, nil, err
	}
	if _, _, err := int32Param(params, "deployment.replicas", true, 0); err != nil {
		return t, nil, err
	}
	var d appsv1.Deployment
	if err := c.Get(ctx, t.key(), &d); err != nil {
		return t, nil, fmt.Errorf("reading %s: %w", t, err)
	}
	return t, map[string]string{"replicas": strconv.Itoa(int(replicasOf(d.Spec.Replicas)))}, nil
}

func (scaleDeployment) Act(ctx context.Context, c client.Client, params map[string]any, _ map[string]string, _ string, dryRun bool) (map[string]string, error) {
	t, err := namespacedTarget(params, "deployment", "Deployment")
	if err != nil {
		return nil, err
	}
	replicas, _, err := int32Param(params, "deployment.replicas", true, 0)
	if err != nil {
		return nil, err
	}
	return patchScale(ctx, c, "scale_deployment", &appsv1.Deployment{ObjectMeta: t.meta()}, t, replicas, dryRun)
}

// scaleStatefulSet sets spec.replicas through the StatefulSet's scale subresource,
// which is all its ServiceAccount may read. before: replicas.
type scaleStatefulSet struct{}

func (scaleStatefulSet) Capture(ctx context.Context, c client.Client, params map[string]any, _ string) (Target, map[string]string, error) {
	t, err := namespacedTarget(params, "statefulset", "StatefulSet")
	if err != nil {
		return t, nil, err
	}
	if _, _, err := int32Param(params, "statefulset.replicas", true, 0); err != nil {
		return t, nil, err
	}
	var scale autoscalingv1.Scale
	if err := c.SubResource("scale").Get(ctx, &appsv1.StatefulSet{ObjectMeta: t.meta()}, &scale); err != nil {
		return t, nil, fmt.Errorf("reading the scale of %s: %w", t, err)
	}
	return t, map[string]string{"replicas": strconv.Itoa(int(scale.Spec.Replicas))}, nil
}

func (scaleStatefulSet) Act(ctx context.Context, c client.Client, params map[string]any, _ map[string]string, _ string, dryRun bool) (map[string]string, error) {
	t, err := namespacedTarget(params, "statefulset", "StatefulSet")
	if err != nil {
		return nil, err
	}
	replicas, _, err := int32Param(params, "statefulset.replicas", true, 0)
	if err != nil {
		return nil, err
	}
	return patchScale(ctx, c, "scale_statefulset", &appsv1.StatefulSet{ObjectMeta: t.meta()}, t, replicas, dryRun)
}

// patchScale sets the replica count of workload through its scale subresource.
func patchScale(ctx context.Context, c client.Client, action string, workload client.Object, t Target, replicas int32, dryRun bool) (map[string]string, error) {
	patch, err := mergePatch(obj{"spec": obj{"replicas": replicas}})
	if err != nil {
		return nil, err
	}
	var scale autoscalingv1.Scale
	if err := c.SubResource("scale").Patch(ctx, workload, patch, subResourcePatchOptions(action, dryRun, &scale)...); err != nil {
		return nil, fmt.Errorf("scaling %s to %d replicas: %w", t, replicas, err)
	}
	return map[string]string{"replicas": strconv.Itoa(int(scale.Spec.Replicas))}, nil
}

// rolloutRestart stamps the pod template with kubectl.kubernetes.io/restartedAt,
// like kubectl rollout restart. before: revision, and restarted_at, the stamp Act
// sets (the same stamp twice is one restart).
type rolloutRestart struct{}

func (rolloutRestart) Capture(ctx context.Context, c client.Client, params map[string]any, _ string) (Target, map[string]string, error) {
	t, d, err := getDeployment(ctx, c, params)
	if err != nil {
		return t, nil, err
	}
	return t, map[string]string{"revision": deploymentRevision(d), "restarted_at": now()}, nil
}

func (rolloutRestart) Act(ctx context.Context, c client.Client, params map[string]any, before map[string]string, _ string, dryRun bool) (map[string]string, error) {
	stamp, err := recorded(before, "restarted_at")
	if err != nil {
		return nil, err
	}
	t, d, err := getDeployment(ctx, c, params)
	if err != nil {
		return nil, err
	}
	if d.Spec.Paused {
		return nil, fmt.Errorf("restarting %s: it is paused, and would not roll out (resume it first)", t)
	}
	if err := stampRestart(ctx, c, "rollout_restart", d, stamp, dryRun); err != nil {
		return nil, fmt.Errorf("restarting %s: %w", t, err)
	}
	return map[string]string{"restarted_at": stamp}, nil
}

// restartDaemonSet stamps the DaemonSet's pod template as rolloutRestart does.
// before: restarted_at.
type restartDaemonSet struct{}

func (restartDaemonSet) Capture(ctx context.Context, c client.Client, params map[string]any, _ string) (Target, map[string]string, error) {
	t, err := namespacedTarget(params, "daemonset", "DaemonSet")
	if err != nil {
		return t, nil, err
	}
	var ds appsv1.DaemonSet
	if err := c.Get(ctx, t.key(), &ds); err != nil {
		return t, nil, fmt.Errorf("reading %s: %w", t, err)
	}
	return t, map[string]string{"restarted_at": now()}, nil
}

func (restartDaemonSet) Act(ctx context.Context, c client.Client, params map[string]any, before map[string]string, _ string, dryRun bool) (map[string]string, error) {
	stamp, err := recorded(before, "restarted_at")
	if err != nil {
		return nil, err
	}
	t, err := namespacedTarget(params, "daemonset", "DaemonSet")
	if err != nil {
		return nil, err
	}
	if err := stampRestart(ctx, c, "restart_daemonset", &appsv1.DaemonSet{ObjectMeta: t.meta()}, stamp, dryRun); err != nil {
		return nil, fmt.Errorf("restarting %s: %w", t, err)
	}
	return map[string]string{"restarted_at": stamp}, nil
}

// stampRestart sets the restartedAt annotation of workload's pod template.
func stampRestart(ctx context.Context, c client.Client, action string, workload client.Object, stamp string, dryRun bool) error {
	patch, err := strategicPatch(obj{"spec": obj{"template": obj{"metadata": obj{
		"annotations": obj{restartedAtAnnotation: stamp}}}}})
	if err != nil {
		return err
	}
	return c.Patch(ctx, workload, patch, patchOptions(action, dryRun)...)
}

// increaseResources sets requests and limits of one container. before: for each
// value the parameters set, requests.cpu, requests.memory, limits.cpu or
// limits.memory as it was ("" when unset).
type increaseResources struct{}

// resourceKinds and resourceNames are the values increase_resources sets.
var (
	resourceKinds = []string{"requests", "limits"}
	resourceNames = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}
)

// resourcesParam reads requests and limits: {"requests.cpu": 500m, ...}.
func resourcesParam(params map[string]any) (map[string]resource.Quantity, error) {
	values := map[string]resource.Quantity{}
	for _, kind := range resourceKinds {
		for _, name := range resourceNames {
			path := kind + "." + string(name)
			s, err := stringParam(params, path, false)
			if err != nil {
				return nil, err
			}
			if s == "" {
				continue
			}
			q, err := resource.ParseQuantity(s)
			if err != nil {
				return nil, fmt.Errorf("parameters.%s: %q is not a quantity: %w", path, s, err)
			}
			values[path] = q
		}
	}
	if len(values) == 0 {
		return nil, fmt.Errorf("parameters.requests and parameters.limits set no cpu or memory: nothing to change")
	}
	return values, nil
}

func (increaseResources) Capture(ctx context.Context, c client.Client, params map[string]any, _ string) (Target, map[string]string, error) {
	values, err := resourcesParam(params)
	if err != nil {
		return Target{}, nil, err
	}
	t, _, container, err := getContainer(ctx, c, params)
	if err != nil {
		return t, nil, err
	}
	before := map[string]string{}
	for path := range values {
		kind, name, _ := strings.Cut(path, ".")
		list := container.Resources.Requests
		if kind == "limits" {
			list = container.Resources.Limits
		}
		before[path] = ""
		if q, ok := list[corev1.ResourceName(name)]; ok {
			before[path] = q.String()
		}
	}
	return t, before, nil
}

func (increaseResources) Act(ctx context.Context, c client.Client, params map[string]any, _ map[string]string, _ string, dryRun bool) (map[string]string, error) {
	values, err := resourcesParam(params)
	if err != nil {
		return nil, err
	}
	t, d, container, err := getContainer(ctx, c, params)
	if err != nil {
		return nil, err
	}
	resources := obj{}
	after := map[string]string{}
	for _, kind := range resourceKinds {
		list := obj{}
		for _, name := range resourceNames {
			path := kind + "." + string(name)
			if q, set := values[path]; set {
				list[string(name)] = q.String()
				after[path] = q.String()
			}
		}
		if len(list) > 0 {
			resources[kind] = list
		}
	}
	patch, err := strategicPatch(containerPatch(container.Name, obj{"resources": resources}))
	if err != nil {
		return nil, err
	}
	if err := c.Patch(ctx, d, patch, patchOptions("increase_resources", dryRun)...); err != nil {
		return nil, fmt.Errorf("setting the resources of container %s of %s: %w", container.Name, t, err)
	}
	return after, nil
}

// updateImage sets the image of one container. before: image.
type updateImage struct{}

func (updateImage) Capture(ctx context.Context, c client.Client, params map[string]any, _ string) (Target, map[string]string, error) {
	if _, err := stringParam(params, "image", true); err != nil {
		return Target{}, nil, err
	}
	t, _, container, err := getContainer(ctx, c, params)
	if err != nil {
		return t, nil, err
	}
	return t, map[string]string{"image": container.Image}, nil
}

func (updateImage) Act(ctx context.Context, c client.Client, params map[string]any, _ map[string]string, _ string, dryRun bool) (map[string]string, error) {
	image, err := stringParam(params, "image", true)
	if err != nil {
		return nil, err
	}
	t, d, container, err := getContainer(ctx, c, params)
	if err != nil {
		return nil, err
	}
	patch, err := strategicPatch(containerPatch(container.Name, obj{"image": image}))
	if err != nil {
		return nil, err
	}
	if err := c.Patch(ctx, d, patch, patchOptions("update_image", dryRun)...); err != nil {
		return nil, fmt.Errorf("setting the image of container %s of %s to %s: %w", container.Name, t, image, err)
	}
	return map[string]string{"image": image}, nil
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

// patchDeployment applies the parameters' strategic merge patch. before: revision.
type patchDeployment struct{}

func (patchDeployment) Capture(ctx context.Context, c client.Client, params map[string]any, _ string) (Target, map[string]string, error) {
	if _, err := objectParam(params, "patch", true); err != nil {
		return Target{}, nil, err
	}
	t, d, err := getDeployment(ctx, c, params)
	if err != nil {
		return t, nil, err
	}
	return t, map[string]string{"revision": deploymentRevision(d)}, nil
}

func (patchDeployment) Act(ctx context.Context, c client.Client, params map[string]any, _ map[string]string, _ string, dryRun bool) (map[string]string, error) {
	t, err := namespacedTarget(params, "deployment", "Deployment")
	if err != nil {
		return nil, err
	}
	fields, err := objectParam(params, "patch", true)
	if err != nil {
		return nil, err
	}
	if len(fields) == 0 {
		return nil, fmt.Errorf("parameters.patch is empty: nothing to change")
	}
	patch, err := strategicPatch(fields)
	if err != nil {
		return nil, err
	}
	d := &appsv1.Deployment{ObjectMeta: t.meta()}
	if err := c.Patch(ctx, d, patch, patchOptions("patch_deployment", dryRun)...); err != nil {
		return nil, fmt.Errorf("patching %s: %w", t, err)
	}
	return map[string]string{"generation": strconv.FormatInt(d.Generation, 10)}, nil
}

// rollbackDeployment copies the pod template of an earlier revision's ReplicaSet
// into the Deployment, as kubectl rollout undo does (there is no rollback API). before:
// revision (the current one), to_revision and to_replicaset: the revision chosen and
// its ReplicaSet. Once the template is back, the deployment controller renumbers that
// ReplicaSet as the newest revision, so Act finds it again by name, not by number,
// and a second call changes nothing.
type rollbackDeployment struct{}

func (rollbackDeployment) Capture(ctx context.Context, c client.Client, params map[string]any, _ string) (Target, map[string]string, error) {
	toRevision, _, err := intParam(params, "revision", false)
	if err != nil {
		return Target{}, nil, err
	}
	if toRevision < 0 {
		return Target{}, nil, fmt.Errorf("parameters.revision must be at least 0, not %d", toRevision)
	}
	t, d, err := getDeployment(ctx, c, params)
	if err != nil {
		return t, nil, err
	}
	replicaSets, err := ownedReplicaSets(ctx, c, d)
	if err != nil {
		return t, nil, fmt.Errorf("rolling back %s: %w", t, err)
	}
	rs, revision, latest, err := replicaSetOfRevision(replicaSets, toRevision)
	if err != nil {
		return t, nil, fmt.Errorf("rolling back %s: %w", t, err)
	}
	current := deploymentRevision(d)
	if current == "0" && latest > 0 {
		current = strconv.FormatInt(latest, 10)
	}
	return t, map[string]string{
		"revision":      current,
		"to_revision":   strconv.FormatInt(revision, 10),
		"to_replicaset": rs.Name,
	}, nil
}

func (rollbackDeployment) Act(ctx context.Context, c client.Client, params map[string]any, before map[string]string, _ string, dryRun bool) (map[string]string, error) {
	name, err := recorded(before, "to_replicaset")
	if err != nil {
		return nil, err
	}
	toRevision, err := recorded(before, "to_revision")
	if err != nil {
		return nil, err
	}
	t, d, err := getDeployment(ctx, c, params)
	if err != nil {
		return nil, err
	}
	if d.Spec.Paused {
		return nil, fmt.Errorf("rolling back %s: it is paused (resume it first)", t)
	}
	replicaSets, err := ownedReplicaSets(ctx, c, d)
	if err != nil {
		return nil, fmt.Errorf("rolling back %s: %w", t, err)
	}
	var rs *appsv1.ReplicaSet
	for i := range replicaSets {
		if replicaSets[i].Name == name {
			rs = &replicaSets[i]
		}
	}
	if rs == nil {
		return nil, fmt.Errorf("rolling back %s to revision %s: its ReplicaSet %s is gone", t, toRevision, name)
	}
	template := rs.Spec.Template.DeepCopy()
	delete(template.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	after := map[string]string{"to_revision": toRevision}
	if equality.Semantic.DeepEqual(*template, d.Spec.Template) {
		return after, nil // already rolled back
	}
	patch, err := rawPatch(types.JSONPatchType, []any{
		obj{"op": "test", "path": "/metadata/uid", "value": d.UID},
		obj{"op": "replace", "path": "/spec/template", "value": template},
	})
	if err != nil {
		return nil, err
	}
	if err := c.Patch(ctx, d, patch, patchOptions("rollback_deployment", dryRun)...); err != nil {
		return nil, fmt.Errorf("rolling back %s to revision %s (ReplicaSet %s): %w", t, toRevision, name, err)
	}
	return after, nil
}

// ownedReplicaSets lists the ReplicaSets d controls.
func ownedReplicaSets(ctx context.Context, c client.Client, d *appsv1.Deployment) ([]appsv1.ReplicaSet, error) {
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("reading the selector: %w", err)
	}
	var list appsv1.ReplicaSetList
	if err := c.List(ctx, &list, client.InNamespace(d.Namespace), client.MatchingLabelsSelector{Selector: selector}); err != nil {
		return nil, fmt.Errorf("listing its ReplicaSets: %w", err)
	}
	var owned []appsv1.ReplicaSet
	for _, rs := range list.Items {
		if metav1.IsControlledBy(&rs, d) && rs.DeletionTimestamp == nil {
			owned = append(owned, rs)
		}
	}
	return owned, nil
}

// replicaSetOfRevision finds the ReplicaSet of revision, or, for 0, of the previous
// revision (the second highest), as kubectl rollout undo does. latest is the highest
// revision kept.
func replicaSetOfRevision(replicaSets []appsv1.ReplicaSet, revision int64) (rs *appsv1.ReplicaSet, found, latest int64, err error) {
	var latestRS, previousRS *appsv1.ReplicaSet
	previous := int64(-1)
	for i := range replicaSets {
		v, err := strconv.ParseInt(replicaSets[i].Annotations[revisionAnnotation], 10, 64)
		if err != nil || v < 1 {
			continue
		}
		if revision > 0 && v == revision {
			rs = &replicaSets[i]
		}
		switch {
		case v > latest:
			previous, previousRS = latest, latestRS
			latest, latestRS = v, &replicaSets[i]
		case v > previous:
			previous, previousRS = v, &replicaSets[i]
		}
	}
	if revision > 0 {
		if rs == nil {
			return nil, 0, latest, fmt.Errorf("no ReplicaSet of revision %d is kept", revision)
		}
		return rs, revision, latest, nil
	}
	if previousRS == nil {
		return nil, 0, latest, fmt.Errorf("no previous revision is kept (latest: %d)", latest)
	}
	return previousRS, previous, latest, nil
}

// getDeployment reads the Deployment parameters.deployment names.
func getDeployment(ctx context.Context, c client.Client, params map[string]any) (Target, *appsv1.Deployment, error) {
	t, err := namespacedTarget(params, "deployment", "Deployment")
	if err != nil {
		return t, nil, err
	}
	var d appsv1.Deployment
	if err := c.Get(ctx, t.key(), &d); err != nil {
		return t, nil, fmt.Errorf("reading %s: %w", t, err)
	}
	return t, &d, nil
}

// getContainer reads the Deployment and its container parameters.container names.
func getContainer(ctx context.Context, c client.Client, params map[string]any) (Target, *appsv1.Deployment, *corev1.Container, error) {
	name, err := stringParam(params, "container", true)
	if err != nil {
		return Target{}, nil, nil, err
	}
	t, d, err := getDeployment(ctx, c, params)
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

// deploymentRevision is the Deployment's revision annotation; "0" when it has none
// yet (kubectl counts it so).
func deploymentRevision(d *appsv1.Deployment) string {
	if v, err := strconv.ParseInt(d.Annotations[revisionAnnotation], 10, 64); err == nil && v > 0 {
		return strconv.FormatInt(v, 10)
	}
	return "0"
}

// updateHPA sets minReplicas and maxReplicas. before: min_replicas ("1" when unset)
// and max_replicas.
type updateHPA struct{}

func (updateHPA) bounds(params map[string]any) (lo, hi int32, err error) {
	if lo, _, err = int32Param(params, "minReplicas", true, 1); err != nil {
		return 0, 0, err
	}
	if hi, _, err = int32Param(params, "maxReplicas", true, 1); err != nil {
		return 0, 0, err
	}
	return lo, hi, nil
}

func (h updateHPA) Capture(ctx context.Context, c client.Client, params map[string]any, _ string) (Target, map[string]string, error) {
	if _, _, err := h.bounds(params); err != nil {
		return Target{}, nil, err
	}
	t, err := namespacedTarget(params, "hpa", "HorizontalPodAutoscaler")
	if err != nil {
		return t, nil, err
	}
	var hpa autoscalingv2.HorizontalPodAutoscaler
	if err := c.Get(ctx, t.key(), &hpa); err != nil {
		return t, nil, fmt.Errorf("reading %s: %w", t, err)
	}
	return t, map[string]string{
		"min_replicas": strconv.Itoa(int(replicasOf(hpa.Spec.MinReplicas))),
		"max_replicas": strconv.Itoa(int(hpa.Spec.MaxReplicas)),
	}, nil
}

func (h updateHPA) Act(ctx context.Context, c client.Client, params map[string]any, _ map[string]string, _ string, dryRun bool) (map[string]string, error) {
	lo, hi, err := h.bounds(params)
	if err != nil {
		return nil, err
	}
	t, err := namespacedTarget(params, "hpa", "HorizontalPodAutoscaler")
	if err != nil {
		return nil, err
	}
	patch, err := mergePatch(obj{"spec": obj{"minReplicas": lo, "maxReplicas": hi}})
	if err != nil {
		return nil, err
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: t.meta()}
	if err := c.Patch(ctx, hpa, patch, patchOptions("update_hpa", dryRun)...); err != nil {
		return nil, fmt.Errorf("setting the bounds of %s to %d..%d: %w", t, lo, hi, err)
	}
	return map[string]string{
		"min_replicas": strconv.Itoa(int(replicasOf(hpa.Spec.MinReplicas))),
		"max_replicas": strconv.Itoa(int(hpa.Spec.MaxReplicas)),
	}, nil
}

// updateConfigMap sets keys of a ConfigMap's data and removes the keys set to null, or
// with replace makes the data exactly the keys given.
// before and after: data, a JSON object of only the keys the action changes (those of
// parameters.data; with replace, also the keys it removes), each with its value, or
// null when the key does not exist. The record reaches status and the policies'
// input, so it never holds a key the action leaves alone (SECURITY.md, invariant 3).
type updateConfigMap struct{}

func (updateConfigMap) Capture(ctx context.Context, c client.Client, params map[string]any, _ string) (Target, map[string]string, error) {
	data, err := configMapDataParam(params)
	if err != nil {
		return Target{}, nil, err
	}
	replace, err := boolParam(params, "replace", false)
	if err != nil {
		return Target{}, nil, err
	}
	t, err := namespacedTarget(params, "configmap", "ConfigMap")
	if err != nil {
		return t, nil, err
	}
	var cm corev1.ConfigMap
	if err := c.Get(ctx, t.key(), &cm); err != nil {
		return t, nil, fmt.Errorf("reading %s: %w", t, err)
	}
	keys := slices.Collect(maps.Keys(data))
	if replace {
		keys = append(keys, slices.Collect(maps.Keys(cm.Data))...) // the keys replace removes
	}
	return t, map[string]string{"data": configMapValues(cm.Data, keys)}, nil
}

func (updateConfigMap) Act(ctx context.Context, c client.Client, params map[string]any, before map[string]string, _ string, dryRun bool) (map[string]string, error) {
	data, err := configMapDataParam(params)
	if err != nil {
		return nil, err
	}
	replace, err := boolParam(params, "replace", false)
	if err != nil {
		return nil, err
	}
	t, err := namespacedTarget(params, "configmap", "ConfigMap")
	if err != nil {
		return nil, err
	}
	keys := slices.Collect(maps.Keys(data))
	var patch client.Patch
	if replace {
		// The keys replace removed are those recorded before beside data's: after, they
		// are recorded as gone.
		if raw, ok := before["data"]; ok {
			var previous map[string]*string
			if err := json.Unmarshal([]byte(raw), &previous); err != nil {
				return nil, fmt.Errorf("the recorded data of %s (before[\"data\"]) is not a JSON object of strings and nulls: %w", t, err)
			}
			keys = append(keys, slices.Collect(maps.Keys(previous))...)
		}
		// "add" sets /data whether or not it exists: the data becomes exactly the keys
		// given; one set to null is just not among them.
		kept := map[string]string{}
		for k, v := range data {
			if v != nil {
				kept[k] = *v
			}
		}
		patch, err = rawPatch(types.JSONPatchType, []any{obj{"op": "add", "path": "/data", "value": kept}})
	} else {
		// A merge patch sets the keys with a value and removes those with null.
		patch, err = mergePatch(obj{"data": data})
	}
	if err != nil {
		return nil, err
	}
	cm := &corev1.ConfigMap{ObjectMeta: t.meta()}
	if err := c.Patch(ctx, cm, patch, patchOptions("update_configmap", dryRun)...); err != nil {
		return nil, fmt.Errorf("updating the data of %s: %w", t, err)
	}
	return map[string]string{"data": configMapValues(cm.Data, keys)}, nil
}

// configMapDataParam reads parameters.data of update_configmap: a string value sets
// its key, null removes it (nil here).
func configMapDataParam(params map[string]any) (map[string]*string, error) {
	obj, err := objectParam(params, "data", true)
	if err != nil {
		return nil, err
	}
	data := make(map[string]*string, len(obj))
	for k, v := range obj {
		switch v := v.(type) {
		case string:
			data[k] = &v
		case nil:
			data[k] = nil
		default:
			return nil, fmt.Errorf("parameters.data[%q] must be a string, or null to remove the key, not %T", k, v)
		}
	}
	return data, nil
}

// configMapValues renders the values of keys in data as a JSON object sorted by key,
// null for a key data lacks. Only these keys are read, whatever else data holds.
func configMapValues(data map[string]string, keys []string) string {
	values := make(map[string]*string, len(keys))
	for _, k := range keys {
		if v, ok := data[k]; ok {
			values[k] = &v
		} else {
			values[k] = nil
		}
	}
	out, _ := json.Marshal(values) // strings and nulls always marshal
	return string(out)
}

// replicasOf reads an optional replica count, which defaults to 1.
func replicasOf(n *int32) int32 {
	if n == nil {
		return 1
	}
	return *n
}

// now is the time an action stamps or records, in RFC 3339 as kubectl writes it.
func now() string { return time.Now().UTC().Format(time.RFC3339) }
