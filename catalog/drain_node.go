package catalog

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
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// drain_node cordons a Node and evicts its pods through the Eviction API, which
// honours PodDisruptionBudgets.
//
// Its executor records before["unschedulable"]. The inverse only restores
// schedulability: the evicted pods are not brought back; their controllers have
// already recreated them on other nodes, and the scheduler may place new pods on
// the node once it is uncordoned. Pods without a controller are gone for good.
var _ = register(&Action{
	Name:        "drain_node",
	Target:      nodeTarget,
	Description: "Cordons a Node and evicts its pods (kubectl drain), respecting PodDisruptionBudgets.",
	Parameters: []Field{clusterTarget("node", "Node",
		Field{Name: "gracePeriodSeconds", Type: Integer, Min: ptr(int64(0)), Max: ptr(int64(3600)),
			Description: "the termination grace period given to each evicted pod; absent: the pod's own"},
		Field{Name: "ignoreDaemonSets", Type: Boolean,
			Description: "leave DaemonSet pods in place (default true); false evicts them too, and the drain cannot finish while their DaemonSet recreates them"},
		Field{Name: "deleteEmptyDirData", Type: Boolean,
			Description: "evict pods that use emptyDir volumes, whose data is lost (default false: such pods stop the drain)"},
	)},
	Permissions: nodeDraining,

	StepPreConditions:  []Suggested{nodeCondExists, nodeCondNotLastSchedulable, nodeCondEvictionsAllowed},
	StepPostConditions: []Suggested{nodeCondCordoned, nodeCondDrained},
	PreConditions:      []Suggested{nodeRecheck(nodeCondNotLastSchedulable), nodeRecheck(nodeCondEvictionsAllowed)},
	PostConditions:     []Suggested{nodeCondCordoned, nodeCondDrained},

	Facts: []string{"node_found", "node_unschedulable", "other_schedulable_nodes",
		"node_evictable_pods", "pdb_blocked_pods"},
	Inverse:  nodeRestoreSchedulability,
	Executor: Executor{Capture: drainNodeCapture, Act: drainNodeAct},
})

// drainRetryAfter is how long a drain that budgets refuse waits at least before
// trying again (longer when the API server suggests it): long enough for
// replacements elsewhere to turn Ready.
const drainRetryAfter = 10 * time.Second

// drainOptions are the parameters of a drain beside the node's name.
type drainOptions struct {
	gracePeriod                          *int64
	ignoreDaemonSets, deleteEmptyDirData bool
}

// drainOptionsOf reads parameters.node.gracePeriodSeconds, ignoreDaemonSets (default
// true) and deleteEmptyDirData (default false).
func drainOptionsOf(params map[string]any) (drainOptions, error) {
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

// drainNodeCapture records spec.unschedulable. before: unschedulable.
func drainNodeCapture(ctx context.Context, call Call) (ObjectRef, map[string]string, error) {
	if _, err := drainOptionsOf(call.Params); err != nil {
		return ObjectRef{}, nil, err
	}
	return captureSchedulability(ctx, call)
}

// drainNodeAct cordons the Node and evicts its pods through the Eviction API
// (policy/v1), which honours PodDisruptionBudgets, as kubectl drain does. It skips
// mirror pods, finished pods and, with ignoreDaemonSets (the default), DaemonSet
// pods; pods with emptyDir volumes stop it unless deleteEmptyDirData. Evictions a
// budget refuses give a *RetryLaterError naming the pods. A second call cordons
// again and evicts what is left. It does not wait for the evicted pods to go: the
// postcondition node_drained does.
func drainNodeAct(ctx context.Context, call Call, _ map[string]string) (map[string]string, error) {
	o, err := drainOptionsOf(call.Params)
	if err != nil {
		return nil, err
	}
	t, err := nodeTarget.Ref(call.Params)
	if err != nil {
		return nil, err
	}
	after, err := patchUnschedulable(ctx, call, t, true)
	if err != nil {
		return nil, fmt.Errorf("draining %s: cordoning it: %w", t, err)
	}
	var pods corev1.PodList
	if err := call.Client.List(ctx, &pods, client.MatchingFields{"spec.nodeName": t.Name}); err != nil {
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
		if call.DryRun {
			opts = append(opts, client.DryRunAll)
		}
		err := call.Client.SubResource("eviction").Create(ctx, pod, eviction, opts...)
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
