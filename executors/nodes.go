package executors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The node actions. Nodes are cluster-scoped: their Targets have no namespace.

// cordonNode marks a Node unschedulable. before: unschedulable.
type cordonNode struct{}

func (cordonNode) Capture(ctx context.Context, c client.Client, params map[string]any, _ string) (Target, map[string]string, error) {
	return captureSchedulability(ctx, c, params)
}

func (cordonNode) Act(ctx context.Context, c client.Client, params map[string]any, _ map[string]string, _ string, dryRun bool) (map[string]string, error) {
	return setUnschedulable(ctx, c, params, "cordon_node", true, dryRun)
}

// uncordonNode marks a Node schedulable. before: unschedulable.
type uncordonNode struct{}

func (uncordonNode) Capture(ctx context.Context, c client.Client, params map[string]any, _ string) (Target, map[string]string, error) {
	return captureSchedulability(ctx, c, params)
}

func (uncordonNode) Act(ctx context.Context, c client.Client, params map[string]any, _ map[string]string, _ string, dryRun bool) (map[string]string, error) {
	return setUnschedulable(ctx, c, params, "uncordon_node", false, dryRun)
}

// captureSchedulability records spec.unschedulable of the Node parameters.node names.
func captureSchedulability(ctx context.Context, c client.Client, params map[string]any) (Target, map[string]string, error) {
	t, node, err := getNode(ctx, c, params)
	if err != nil {
		return t, nil, err
	}
	return t, map[string]string{"unschedulable": strconv.FormatBool(node.Spec.Unschedulable)}, nil
}

// setUnschedulable patches spec.unschedulable of the Node parameters.node names.
func setUnschedulable(ctx context.Context, c client.Client, params map[string]any, action string, unschedulable, dryRun bool) (map[string]string, error) {
	t, err := clusterTarget(params, "node", "Node")
	if err != nil {
		return nil, err
	}
	after, err := patchUnschedulable(ctx, c, t, action, unschedulable, dryRun)
	if err != nil {
		doing := "cordoning"
		if !unschedulable {
			doing = "uncordoning"
		}
		return nil, fmt.Errorf("%s %s: %w", doing, t, err)
	}
	return after, nil
}

func patchUnschedulable(ctx context.Context, c client.Client, t Target, action string, unschedulable, dryRun bool) (map[string]string, error) {
	patch, err := mergePatch(obj{"spec": obj{"unschedulable": unschedulable}})
	if err != nil {
		return nil, err
	}
	node := &corev1.Node{ObjectMeta: t.meta()}
	if err := c.Patch(ctx, node, patch, patchOptions(action, dryRun)...); err != nil {
		return nil, err
	}
	return map[string]string{"unschedulable": strconv.FormatBool(node.Spec.Unschedulable)}, nil
}

// drainNode cordons a Node and evicts its pods through the Eviction API
// (policy/v1), which honours PodDisruptionBudgets, as kubectl drain does. It skips
// mirror pods, finished pods and, with ignoreDaemonSets (the default), DaemonSet
// pods; pods with emptyDir volumes stop it unless deleteEmptyDirData. Evictions a
// budget refuses give a *RetryLaterError naming the pods. A second call cordons
// again and evicts what is left. It does not wait for the evicted pods to go: the
// postcondition node_drained does. before: unschedulable.
type drainNode struct{}

// drainRetryAfter is how long a drain that budgets refuse waits at least before
// trying again (longer when the API server suggests it): long enough for
// replacements elsewhere to turn Ready.
const drainRetryAfter = 10 * time.Second

type drainOptions struct {
	gracePeriod                          *int64
	ignoreDaemonSets, deleteEmptyDirData bool
}

func (drainNode) options(params map[string]any) (drainOptions, error) {
	var o drainOptions
	grace, set, err := intParam(params, "node.gracePeriodSeconds", false)
	if err != nil {
		return o, err
	}
	if set {
		if grace < 0 {
			return o, fmt.Errorf("parameters.node.gracePeriodSeconds must be at least 0, not %d", grace)
		}
		o.gracePeriod = &grace
	}
	if o.ignoreDaemonSets, err = boolParam(params, "node.ignoreDaemonSets", true); err != nil {
		return o, err
	}
	if o.deleteEmptyDirData, err = boolParam(params, "node.deleteEmptyDirData", false); err != nil {
		return o, err
	}
	return o, nil
}

func (d drainNode) Capture(ctx context.Context, c client.Client, params map[string]any, _ string) (Target, map[string]string, error) {
	if _, err := d.options(params); err != nil {
		return Target{}, nil, err
	}
	return captureSchedulability(ctx, c, params)
}

func (d drainNode) Act(ctx context.Context, c client.Client, params map[string]any, _ map[string]string, _ string, dryRun bool) (map[string]string, error) {
	o, err := d.options(params)
	if err != nil {
		return nil, err
	}
	t, err := clusterTarget(params, "node", "Node")
	if err != nil {
		return nil, err
	}
	after, err := patchUnschedulable(ctx, c, t, "drain_node", true, dryRun)
	if err != nil {
		return nil, fmt.Errorf("draining %s: cordoning it: %w", t, err)
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.MatchingFields{"spec.nodeName": t.Name}); err != nil {
		return nil, fmt.Errorf("draining %s: listing its pods: %w", t, err)
	}
	evict, localStorage := podsToEvict(pods.Items, o)
	if len(localStorage) > 0 {
		return nil, fmt.Errorf("draining %s: pods with emptyDir volumes, whose data an eviction loses, stop the drain "+
			"(deleteEmptyDirData: true evicts them): %v", t, localStorage)
	}

	evicted := 0
	var blocked []string
	var reason string
	retryAfter := drainRetryAfter
	var errs []error
	for _, pod := range evict {
		if pod.DeletionTimestamp != nil {
			continue // already going
		}
		eviction := &policyv1.Eviction{
			ObjectMeta:    metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
			DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}, GracePeriodSeconds: o.gracePeriod},
		}
		var opts []client.SubResourceCreateOption
		if dryRun {
			opts = append(opts, client.DryRunAll)
		}
		err := c.SubResource("eviction").Create(ctx, pod, eviction, opts...)
		switch {
		case err == nil:
			evicted++
		case apierrors.IsNotFound(err), apierrors.IsConflict(err):
			// Gone, or its name taken by another pod since the list: the next call
			// sees the newcomer.
		case apierrors.IsTooManyRequests(err):
			blocked = append(blocked, pod.Namespace+"/"+pod.Name)
			if reason == "" {
				reason = budgetReason(err)
			}
			if seconds, ok := apierrors.SuggestsClientDelay(err); ok && time.Duration(seconds)*time.Second > retryAfter {
				retryAfter = time.Duration(seconds) * time.Second
			}
		default:
			errs = append(errs, fmt.Errorf("evicting pod %s/%s: %w", pod.Namespace, pod.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("draining %s: %w", t, err)
	}
	if len(blocked) > 0 {
		return nil, &RetryLaterError{
			Doing:   "draining " + t.String(),
			Reason:  fmt.Sprintf("%d pods wait for their PodDisruptionBudgets to allow their eviction: %s", len(blocked), reason),
			Waiting: blocked,
			After:   retryAfter,
		}
	}
	after["evicted"] = strconv.Itoa(evicted)
	return after, nil
}

// budgetReason is what the API server said about a refused eviction: the budget's
// cause when it gave one.
func budgetReason(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		if details := status.Status().Details; details != nil {
			for _, cause := range details.Causes {
				if cause.Type == policyv1.DisruptionBudgetCause && cause.Message != "" {
					return cause.Message
				}
			}
		}
	}
	return err.Error()
}

// podsToEvict picks the pods of a node a drain evicts, in the order given. It skips
// finished pods, mirror pods (the kubelet owns them) and, with ignoreDaemonSets,
// DaemonSet pods; without deleteEmptyDirData, pods with emptyDir volumes are returned
// apart, as namespace/name, since they stop the drain.
func podsToEvict(pods []corev1.Pod, o drainOptions) (evict []*corev1.Pod, localStorage []string) {
	for i := range pods {
		pod := &pods[i]
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
			continue
		}
		if o.ignoreDaemonSets && daemonSetPod(pod) {
			continue
		}
		if !o.deleteEmptyDirData && pod.DeletionTimestamp == nil && slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool {
			return v.EmptyDir != nil
		}) {
			localStorage = append(localStorage, pod.Namespace+"/"+pod.Name)
			continue
		}
		evict = append(evict, pod)
	}
	return evict, localStorage
}

// daemonSetPod reports whether a DaemonSet controls pod.
func daemonSetPod(pod *corev1.Pod) bool {
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != "DaemonSet" {
		return false
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	return err == nil && gv.Group == appsv1.GroupName
}

// taintNode adds a taint, or sets the value of the taint of the same key and effect.
// before: taint_present and, when present, taint_value.
type taintNode struct{}

func (taintNode) Capture(ctx context.Context, c client.Client, params map[string]any, _ string) (Target, map[string]string, error) {
	return captureTaint(ctx, c, params, true)
}

func (taintNode) Act(ctx context.Context, c client.Client, params map[string]any, _ map[string]string, _ string, dryRun bool) (map[string]string, error) {
	taint, err := taintParam(params, true)
	if err != nil {
		return nil, err
	}
	t, err := clusterTarget(params, "node", "Node")
	if err != nil {
		return nil, err
	}
	err = updateTaints(ctx, c, t, "taint_node", dryRun, func(taints []corev1.Taint) []corev1.Taint {
		if i := slices.IndexFunc(taints, sameTaint(taint)); i >= 0 {
			taints[i].Value = taint.Value
			return taints
		}
		return append(taints, taint)
	})
	if err != nil {
		return nil, fmt.Errorf("tainting %s with %s: %w", t, taint.ToString(), err)
	}
	return map[string]string{"taint_present": "true", "taint_value": taint.Value}, nil
}

// untaintNode removes the taint of a key and effect. before: taint_present and, when
// present, taint_value.
type untaintNode struct{}

func (untaintNode) Capture(ctx context.Context, c client.Client, params map[string]any, _ string) (Target, map[string]string, error) {
	return captureTaint(ctx, c, params, false)
}

func (untaintNode) Act(ctx context.Context, c client.Client, params map[string]any, _ map[string]string, _ string, dryRun bool) (map[string]string, error) {
	taint, err := taintParam(params, false)
	if err != nil {
		return nil, err
	}
	t, err := clusterTarget(params, "node", "Node")
	if err != nil {
		return nil, err
	}
	err = updateTaints(ctx, c, t, "untaint_node", dryRun, func(taints []corev1.Taint) []corev1.Taint {
		return slices.DeleteFunc(taints, sameTaint(taint))
	})
	if err != nil {
		return nil, fmt.Errorf("removing taint %s:%s from %s: %w", taint.Key, taint.Effect, t, err)
	}
	return map[string]string{"taint_present": "false"}, nil
}

// taintParam reads parameters.taint: key, effect and, for taint_node, value.
func taintParam(params map[string]any, withValue bool) (corev1.Taint, error) {
	key, err := stringParam(params, "taint.key", true)
	if err != nil {
		return corev1.Taint{}, err
	}
	effect, err := stringParam(params, "taint.effect", true)
	if err != nil {
		return corev1.Taint{}, err
	}
	switch corev1.TaintEffect(effect) {
	case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
	default:
		return corev1.Taint{}, fmt.Errorf("parameters.taint.effect must be NoSchedule, PreferNoSchedule or NoExecute, not %q", effect)
	}
	taint := corev1.Taint{Key: key, Effect: corev1.TaintEffect(effect)}
	if withValue {
		if taint.Value, err = stringParam(params, "taint.value", false); err != nil {
			return corev1.Taint{}, err
		}
	}
	return taint, nil
}

// captureTaint records whether the Node carries the taint of the parameters' key and
// effect, and its value.
func captureTaint(ctx context.Context, c client.Client, params map[string]any, withValue bool) (Target, map[string]string, error) {
	taint, err := taintParam(params, withValue)
	if err != nil {
		return Target{}, nil, err
	}
	t, node, err := getNode(ctx, c, params)
	if err != nil {
		return t, nil, err
	}
	before := map[string]string{"taint_present": "false"}
	if i := slices.IndexFunc(node.Spec.Taints, sameTaint(taint)); i >= 0 {
		before["taint_present"], before["taint_value"] = "true", node.Spec.Taints[i].Value
	}
	return t, before, nil
}

// sameTaint matches the taints of taint's key and effect: a Node has at most one.
func sameTaint(taint corev1.Taint) func(corev1.Taint) bool {
	return func(t corev1.Taint) bool { return t.Key == taint.Key && t.Effect == taint.Effect }
}

// updateTaints sets the Node's taints to change(taints), with the resourceVersion
// read, so that a taint another writer adds meanwhile is not lost: a conflict reads
// the Node again.
func updateTaints(ctx context.Context, c client.Client, t Target, action string, dryRun bool,
	change func([]corev1.Taint) []corev1.Taint) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var node corev1.Node
		if err := c.Get(ctx, t.key(), &node); err != nil {
			return err
		}
		changed := node.DeepCopy()
		changed.Spec.Taints = change(slices.Clone(node.Spec.Taints))
		if slices.EqualFunc(changed.Spec.Taints, node.Spec.Taints, func(a, b corev1.Taint) bool {
			return sameTaint(a)(b) && a.Value == b.Value
		}) {
			return nil // nothing to change
		}
		return c.Patch(ctx, changed, client.MergeFromWithOptions(&node, client.MergeFromWithOptimisticLock{}),
			patchOptions(action, dryRun)...)
	})
}

// getNode reads the Node parameters.node names.
func getNode(ctx context.Context, c client.Client, params map[string]any) (Target, *corev1.Node, error) {
	t, err := clusterTarget(params, "node", "Node")
	if err != nil {
		return t, nil, err
	}
	var node corev1.Node
	if err := c.Get(ctx, t.key(), &node); err != nil {
		return t, nil, fmt.Errorf("reading %s: %w", t, err)
	}
	return t, &node, nil
}
