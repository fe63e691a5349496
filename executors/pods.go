package executors

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernetesexecutionv1alpha1 "kubernaut.io/stepvalidation/api/kubernetesexecution/v1alpha1"
)

// The pod actions, with expand_pvc and notify_only. Those that remove or change a
// pod act on the pod whose UID Capture recorded, never on another pod that took its
// name since (a StatefulSet's replacement).

const (
	// QuarantineLabel is the only label a quarantined pod keeps.
	QuarantineLabel = "kubernaut.io/quarantined"
	// QuarantinedLabelsAnnotation holds a quarantined pod's labels from before, as a
	// JSON object, for a person or a future unquarantine action to put back.
	QuarantinedLabelsAnnotation = "kubernaut.io/quarantined-labels"
)

// restartPod deletes a pod a controller owns so that the controller recreates it.
// before: uid, owner_kind, owner_name and recorded_at.
type restartPod struct{}

func (restartPod) Capture(ctx context.Context, c client.Client, params map[string]any, _ string) (Target, map[string]string, error) {
	t, pod, err := getPod(ctx, c, params)
	if err != nil {
		return t, nil, err
	}
	owner := metav1.GetControllerOf(pod)
	if owner == nil {
		return t, nil, fmt.Errorf("restarting %s: it has no controller, so nothing would recreate it (delete_pod deletes a bare pod)", t)
	}
	return t, map[string]string{
		"uid": string(pod.UID), "owner_kind": owner.Kind, "owner_name": owner.Name, "recorded_at": now(),
	}, nil
}

func (restartPod) Act(ctx context.Context, c client.Client, params map[string]any, before map[string]string, _ string, dryRun bool) (map[string]string, error) {
	return deletePodOnce(ctx, c, params, before, nil, dryRun, "restarting")
}

// deletePod deletes a pod, controlled or bare. before: uid.
type deletePod struct{}

func (deletePod) Capture(ctx context.Context, c client.Client, params map[string]any, _ string) (Target, map[string]string, error) {
	if _, _, err := intParam(params, "gracePeriodSeconds", false); err != nil {
		return Target{}, nil, err
	}
	t, pod, err := getPod(ctx, c, params)
	if err != nil {
		return t, nil, err
	}
	return t, map[string]string{"uid": string(pod.UID)}, nil
}

func (deletePod) Act(ctx context.Context, c client.Client, params map[string]any, before map[string]string, _ string, dryRun bool) (map[string]string, error) {
	grace, set, err := intParam(params, "gracePeriodSeconds", false)
	if err != nil {
		return nil, err
	}
	if set && grace < 0 {
		return nil, fmt.Errorf("parameters.gracePeriodSeconds must be at least 0, not %d", grace)
	}
	var gracePeriod *int64
	if set {
		gracePeriod = &grace
	}
	return deletePodOnce(ctx, c, params, before, gracePeriod, dryRun, "deleting")
}

// deletePodOnce deletes the pod whose UID before records. A pod that is gone, or
// whose name another pod has taken, was deleted already: not an error.
func deletePodOnce(ctx context.Context, c client.Client, params map[string]any, before map[string]string,
	gracePeriod *int64, dryRun bool, doing string) (map[string]string, error) {
	t, err := namespacedTarget(params, "pod", "Pod")
	if err != nil {
		return nil, err
	}
	uid, err := recorded(before, "uid")
	if err != nil {
		return nil, err
	}
	if uid == "" {
		return nil, fmt.Errorf("before[\"uid\"] is empty: Act deletes only the pod Capture read")
	}
	opts := &client.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptrTo(types.UID(uid))}, GracePeriodSeconds: gracePeriod}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	after := map[string]string{"deleted_uid": uid}
	err = c.Delete(ctx, &corev1.Pod{ObjectMeta: t.meta()}, opts)
	switch {
	case err == nil, apierrors.IsNotFound(err):
		return after, nil
	case apierrors.IsConflict(err):
		// The UID precondition failed: the pod of that name now is another one, and
		// the one recorded is gone.
		return after, nil
	}
	return nil, fmt.Errorf("%s %s (UID %s): %w", doing, t, uid, err)
}

// quarantinePod replaces a pod's labels with kubernaut.io/quarantined=true, keeping
// the former ones in an annotation. before: uid, owner_kind, owner_name ("" for a
// bare pod), recorded_at and labels (JSON).
type quarantinePod struct{}

func (quarantinePod) Capture(ctx context.Context, c client.Client, params map[string]any, _ string) (Target, map[string]string, error) {
	t, pod, err := getPod(ctx, c, params)
	if err != nil {
		return t, nil, err
	}
	before := map[string]string{
		"uid": string(pod.UID), "owner_kind": "", "owner_name": "", "recorded_at": now(),
		"labels": jsonString(pod.Labels),
	}
	if owner := metav1.GetControllerOf(pod); owner != nil {
		if owner.Kind == "StatefulSet" {
			return t, nil, fmt.Errorf("quarantining %s: a StatefulSet controls it, whose replacement would need the quarantined pod's name", t)
		}
		before["owner_kind"], before["owner_name"] = owner.Kind, owner.Name
	}
	return t, before, nil
}

func (quarantinePod) Act(ctx context.Context, c client.Client, params map[string]any, before map[string]string, _ string, dryRun bool) (map[string]string, error) {
	t, err := namespacedTarget(params, "pod", "Pod")
	if err != nil {
		return nil, err
	}
	uid, err := recorded(before, "uid")
	if err != nil {
		return nil, err
	}
	labels, err := recorded(before, "labels")
	if err != nil {
		return nil, err
	}
	if _, err := decodeLabels(labels); err != nil {
		return nil, err
	}
	quarantined := map[string]string{QuarantineLabel: "true"}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var pod corev1.Pod
		if err := c.Get(ctx, t.key(), &pod); err != nil {
			return err
		}
		if string(pod.UID) != uid {
			return fmt.Errorf("the pod of that name is another one (UID %s, not %s)", pod.UID, uid)
		}
		if maps.Equal(pod.Labels, quarantined) && pod.Annotations[QuarantinedLabelsAnnotation] == labels {
			return nil // quarantined already
		}
		changed := pod.DeepCopy()
		changed.Labels = quarantined
		if changed.Annotations == nil {
			changed.Annotations = map[string]string{}
		}
		changed.Annotations[QuarantinedLabelsAnnotation] = labels
		// The resourceVersion in the patch makes it fail with a conflict, and retry,
		// when the pod changed since it was read: the labels removed are those read.
		return c.Patch(ctx, changed, client.MergeFromWithOptions(&pod, client.MergeFromWithOptimisticLock{}),
			patchOptions("quarantine_pod", dryRun)...)
	})
	if err != nil {
		return nil, fmt.Errorf("quarantining %s: %w", t, err)
	}
	return map[string]string{"labels": jsonString(quarantined)}, nil
}

// getPod reads the pod parameters.pod names.
func getPod(ctx context.Context, c client.Client, params map[string]any) (Target, *corev1.Pod, error) {
	t, err := namespacedTarget(params, "pod", "Pod")
	if err != nil {
		return t, nil, err
	}
	var pod corev1.Pod
	if err := c.Get(ctx, t.key(), &pod); err != nil {
		return t, nil, fmt.Errorf("reading %s: %w", t, err)
	}
	return t, &pod, nil
}

// expandPVC raises a claim's storage request. before: request and capacity, as
// quantities ("0" when the claim has no capacity yet).
type expandPVC struct{}

func (expandPVC) size(params map[string]any) (resource.Quantity, error) {
	s, err := stringParam(params, "pvc.size", true)
	if err != nil {
		return resource.Quantity{}, err
	}
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return resource.Quantity{}, fmt.Errorf("parameters.pvc.size: %q is not a quantity: %w", s, err)
	}
	return q, nil
}

func (e expandPVC) Capture(ctx context.Context, c client.Client, params map[string]any, _ string) (Target, map[string]string, error) {
	if _, err := e.size(params); err != nil {
		return Target{}, nil, err
	}
	t, err := namespacedTarget(params, "pvc", "PersistentVolumeClaim")
	if err != nil {
		return t, nil, err
	}
	var pvc corev1.PersistentVolumeClaim
	if err := c.Get(ctx, t.key(), &pvc); err != nil {
		return t, nil, fmt.Errorf("reading %s: %w", t, err)
	}
	return t, map[string]string{
		"request":  quantityOr0(pvc.Spec.Resources.Requests, corev1.ResourceStorage),
		"capacity": quantityOr0(pvc.Status.Capacity, corev1.ResourceStorage),
	}, nil
}

func (e expandPVC) Act(ctx context.Context, c client.Client, params map[string]any, _ map[string]string, _ string, dryRun bool) (map[string]string, error) {
	size, err := e.size(params)
	if err != nil {
		return nil, err
	}
	t, err := namespacedTarget(params, "pvc", "PersistentVolumeClaim")
	if err != nil {
		return nil, err
	}
	patch, err := mergePatch(obj{"spec": obj{"resources": obj{"requests": obj{"storage": size.String()}}}})
	if err != nil {
		return nil, err
	}
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: t.meta()}
	if err := c.Patch(ctx, pvc, patch, patchOptions("expand_pvc", dryRun)...); err != nil {
		return nil, fmt.Errorf("expanding %s to %s: %w", t, size.String(), err)
	}
	return map[string]string{"request": quantityOr0(pvc.Spec.Resources.Requests, corev1.ResourceStorage)}, nil
}

func quantityOr0(list corev1.ResourceList, name corev1.ResourceName) string {
	if q, ok := list[name]; ok {
		return q.String()
	}
	return "0"
}

// ExecutionParam is the reserved parameter naming the KubernetesExecution an action
// runs for, {name, uid} (WithExecution adds it): notify_only's Event regards it, so
// kubectl describe shows the Event with it. Like the facts package's _before and
// _namespace, the reconciler adds it after validation; no action's schema has a key
// that starts with an underscore. Without it the Event regards no object.
const ExecutionParam = "_execution"

// WithExecution returns a copy of params with ExecutionParam naming the
// KubernetesExecution name, of UID uid.
func WithExecution(params map[string]any, name string, uid types.UID) map[string]any {
	out := maps.Clone(params)
	if out == nil {
		out = map[string]any{}
	}
	out[ExecutionParam] = map[string]any{"name": name, "uid": string(uid)}
	return out
}

// notifyOnly records a core/v1 Event in the KubernetesExecution's namespace, and
// changes nothing else. before: event, the Event's name, chosen by Capture so that a
// second Act finds the Event (AlreadyExists) instead of recording another.
type notifyOnly struct{}

// notifySeverities maps a severity to the Event's type and reason.
var notifySeverities = map[string][2]string{
	"info":     {corev1.EventTypeNormal, "NotifyInfo"},
	"warning":  {corev1.EventTypeWarning, "NotifyWarning"},
	"critical": {corev1.EventTypeWarning, "NotifyCritical"},
}

// notifyRequest reads the parameters of notify_only.
func notifyRequest(params map[string]any) (message string, kind [2]string, execution *corev1.ObjectReference, err error) {
	if message, err = stringParam(params, "message", true); err != nil {
		return "", kind, nil, err
	}
	severity, err := stringParam(params, "severity", true)
	if err != nil {
		return "", kind, nil, err
	}
	kind, ok := notifySeverities[severity]
	if !ok {
		return "", kind, nil, fmt.Errorf("parameters.severity must be info, warning or critical, not %q", severity)
	}
	name, err := stringParam(params, ExecutionParam+".name", false)
	if err != nil {
		return "", kind, nil, err
	}
	uid, err := stringParam(params, ExecutionParam+".uid", false)
	if err != nil {
		return "", kind, nil, err
	}
	if name != "" {
		execution = &corev1.ObjectReference{
			APIVersion: kubernetesexecutionv1alpha1.GroupVersion.String(), Kind: "KubernetesExecution",
			Name: name, UID: types.UID(uid),
		}
	}
	return message, kind, execution, nil
}

func (notifyOnly) Capture(_ context.Context, _ client.Client, params map[string]any, namespace string) (Target, map[string]string, error) {
	_, _, execution, err := notifyRequest(params)
	if err != nil {
		return Target{}, nil, err
	}
	if namespace == "" {
		return Target{}, nil, fmt.Errorf("notify_only needs the namespace of its KubernetesExecution to record its Event in")
	}
	// Named as client-go's event recorder names Events: <object>.<hex nanoseconds>.
	prefix := "kubernaut-notify"
	if execution != nil {
		prefix = execution.Name
	}
	suffix := fmt.Sprintf(".%x", time.Now().UnixNano())
	if max := validation.DNS1123SubdomainMaxLength - len(suffix); len(prefix) > max {
		prefix = strings.TrimRight(prefix[:max], "-.")
	}
	name := prefix + suffix
	return Target{Kind: "Event", Namespace: namespace, Name: name}, map[string]string{"event": name}, nil
}

func (notifyOnly) Act(ctx context.Context, c client.Client, params map[string]any, before map[string]string, namespace string, dryRun bool) (map[string]string, error) {
	message, kind, execution, err := notifyRequest(params)
	if err != nil {
		return nil, err
	}
	name, err := recorded(before, "event")
	if err != nil {
		return nil, err
	}
	t := Target{Kind: "Event", Namespace: namespace, Name: name}
	involved := corev1.ObjectReference{Namespace: namespace}
	if execution != nil {
		involved = *execution
		involved.Namespace = namespace
	}
	stamp := metav1.Now()
	event := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: namespace},
		InvolvedObject: involved,
		Type:           kind[0],
		Reason:         kind[1],
		Message:        message,
		Source:         corev1.EventSource{Component: "kubernaut"},
		FirstTimestamp: stamp,
		LastTimestamp:  stamp,
		Count:          1,
	}
	opts := []client.CreateOption{fieldOwner("notify_only")}
	if dryRun {
		opts = append(opts, client.DryRunAll)
	}
	if err := c.Create(ctx, event, opts...); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("recording %s: %w", t, err)
	}
	return map[string]string{"event": name}, nil
}

func ptrTo[T any](v T) *T { return &v }

// decodeLabels reads the labels recorded as JSON.
func decodeLabels(raw string) (map[string]string, error) {
	var labels map[string]string
	if err := json.Unmarshal([]byte(raw), &labels); err != nil {
		return nil, fmt.Errorf("the recorded labels are not a JSON object of strings: %w", err)
	}
	return labels, nil
}
