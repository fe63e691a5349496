package catalog

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The pod actions of the catalog, with the PersistentVolumeClaim and notification
// actions that go with them: restart_pod, delete_pod, quarantine_pod, expand_pvc and
// notify_only. Those that remove or change a pod act on the pod whose UID Capture
// recorded, never on another pod that took its name since (a StatefulSet's
// replacement).
//
// None of them has an inverse (Inverse is nil):
//   - restart_pod and delete_pod remove a pod; nothing brings the same pod back (a
//     controller makes a new one; a bare pod is gone).
//   - quarantine_pod cannot be undone by a catalog action. Undoing it means putting the
//     pod's labels back, so that its Services and its controller select it again; the
//     catalog has no action that sets a pod's labels, and delete_pod is no undo (it
//     destroys what the quarantine keeps for debugging, and the state before had the pod
//     serving). The executor keeps the labels in before["labels"] and on the pod, in the
//     annotation kubernaut.io/quarantined-labels, for a person to restore or for a future
//     unquarantine_pod action to read.
//   - expand_pvc cannot be reversed: a claim never shrinks.
//   - notify_only records an Event, which is not taken back.

// podFacts describes the facts the pod actions add to the glossary. "The pod" is the
// one parameters.pod names, identified by its UID: before acting, the pod of that name
// now; after acting, the pod whose UID the executor recorded (before["uid"]), so that a
// pod a StatefulSet recreates under the same name is another pod. "Its controller" is
// the pod's ownerReference with controller: true; after acting, the one recorded before
// acting (before["owner_kind"], before["owner_name"]), since a controller releases a pod
// it no longer selects. These actions also read namespace (the target's namespace), and
// restart_pod ready_pods and pods, whose workload is the pod's controller.
var podFacts = map[string]string{
	"pod_found":              "boolean: a pod named parameters.pod.name exists in the namespace (after a restart of a StatefulSet pod: the one recreated under that name)",
	"pod_ready":              "boolean: the pod's condition Ready is True; false when the pod does not exist",
	"pod_owner_kind":         `string: kind of the pod's controller, e.g. ReplicaSet, StatefulSet, DaemonSet; "" for a pod without one (a bare pod)`,
	"pod_owner_name":         `string: name of the pod's controller; "" for a pod without one`,
	"pod_owner_found":        "boolean: the pod's controller exists and is not being deleted",
	"pod_gone":               "boolean: the pod (by UID) no longer exists; false before acting while it exists",
	"pod_terminating":        "boolean: the pod (by UID) still exists with a deletionTimestamp: its grace period runs, a finalizer holds it, or its node does not answer",
	"pod_ready_replacements": `integer: Ready pods of the pod's controller created since the action acted (creationTimestamp not before before["recorded_at"], truncated to the second) with a UID other than the pod's; 0 before acting`,
	"pod_matching_services":  "array of strings: names of the Services of the namespace whose selector matches the pod's labels now, sorted; empty when the pod is gone",
	"pod_selected_by_owner":  "boolean: the selector of the pod's controller matches the pod's labels now; false when the pod or the controller is gone",

	"pvc_found":                          "boolean: the PersistentVolumeClaim named by parameters.pvc exists",
	"pvc_phase":                          `string: status.phase of the claim (Pending, Bound, Lost); "" when it does not exist`,
	"pvc_storage_class":                  `string: spec.storageClassName of the claim; "" for none`,
	"pvc_storage_class_allows_expansion": "boolean: the claim's StorageClass exists and sets allowVolumeExpansion: true",
	"pvc_capacity_bytes":                 "integer: status.capacity.storage of the claim in bytes, the size of its volume; 0 when it has none (unbound)",
	"pvc_requested_bytes":                "integer: parameters.pvc.size in bytes, rounded up",
	"pvc_conditions":                     "object: the claim's resize conditions as booleans: {Resizing, FileSystemResizePending, ControllerResizeError, NodeResizeError}; a condition that is absent is false",

	"notify_event_name":  `string: name of the Event notify_only records, chosen before creating it (before["event"])`,
	"notify_event_found": "boolean: that Event exists in the namespace of the KubernetesExecution",
}

// pvcResizeWithin is how long an expansion is given: the CSI driver grows the volume,
// then (online) the kubelet grows the file system; some cloud disks take minutes.
const pvcResizeWithin = 10 * time.Minute

// podParameter names the pod an action acts on: pod: {name, namespace}.
var podParameter = namespacedTarget("pod", "Pod")

// Permissions of the pod actions, in the namespace of the target. The executors only
// act on the pod they name: no list, no watch; the facts provider reads controllers
// and Services with the manager's own identity.
var (
	podGetDelete = rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "delete"}}
	podGetPatch  = rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "patch"}}
	pvcGetPatch  = rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"persistentvolumeclaims"}, Verbs: []string{"get", "patch"}}
	// notify_only writes a core/v1 Event (events.k8s.io/v1 lists it too).
	notifyCreateEvent = rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create"}}
)

// The conditions of the pod actions, as they suggest them.
var (
	podCondExists = Suggested{Type: "pod_exists", Description: "The pod exists",
		Required: true, Timeout: normalCheck}
	podCondHasController = Suggested{Type: "pod_has_controller",
		Description: "An existing ReplicaSet, ReplicationController, StatefulSet or DaemonSet controls the pod and recreates it",
		Required:    true, Timeout: normalCheck}
	podCondQuarantineSupported = Suggested{Type: "pod_quarantine_supported",
		Description: "An existing ReplicaSet, ReplicationController or DaemonSet controls the pod and replaces it under another name",
		Required:    true, Timeout: normalCheck}
	// Optional: taking away the last ready pod of a workload may still be the right
	// remedy (it is not serving anyway); the failure is recorded as a warning.
	podCondOtherReady = Suggested{Type: "pod_owner_has_other_ready_pods",
		Description: "Another pod of the controller is ready, so the workload keeps serving meanwhile",
		Required:    false, Timeout: normalCheck}
	podCondReplacementReady = Suggested{Type: "pod_replacement_ready",
		Description: "A pod the controller created since the action acted is ready",
		Required:    true, Timeout: settleWithin}
	// The pod may take its whole grace period (up to an hour with gracePeriodSeconds):
	// a step that gives more sets its own timeout.
	podCondDeleted = Suggested{Type: "pod_deleted", Description: "The pod is gone",
		Required: true, Timeout: settleWithin}
	podCondIsolated = Suggested{Type: "pod_isolated",
		Description: "The pod still exists, and neither a Service nor its controller selects it",
		Required:    true, Timeout: normalCheck}
	// Optional: the other pods of the workload are not the action's doing.
	podCondNoCrashloop = Suggested{Type: "no_crashloop_pods",
		Description: "No pod of the controller is in CrashLoopBackOff",
		Required:    false, Timeout: settleWithin}

	pvcCondExists = Suggested{Type: "pvc_exists", Description: "The PersistentVolumeClaim exists",
		Required: true, Timeout: normalCheck}
	pvcCondBound = Suggested{Type: "pvc_bound", Description: "The PersistentVolumeClaim is Bound to a volume",
		Required: true, Timeout: normalCheck}
	pvcCondExpansionAllowed = Suggested{Type: "pvc_expansion_allowed",
		Description: "The claim's StorageClass allows volume expansion", Required: true, Timeout: normalCheck}
	pvcCondSizeIncrease = Suggested{Type: "pvc_size_increase",
		Description: "The requested size is larger than the claim's capacity", Required: true, Timeout: quickCheck}
	pvcCondCapacityReached = Suggested{Type: "pvc_capacity_reached",
		Description: "The claim's capacity is at least the requested size", Required: true, Timeout: pvcResizeWithin}

	notifyCondMessageValid = Suggested{Type: "notify_message_valid",
		Description: "The message is not blank and fits in an Event", Required: true, Timeout: quickCheck}
	notifyCondEventRecorded = Suggested{Type: "notify_event_recorded",
		Description: "The Event is recorded", Required: true, Timeout: normalCheck}
)

// podRecheck returns s with the timeout of a check repeated just before acting: the
// action level checks again what the step checked, and covers a KubernetesExecution
// created without a workflow.
func podRecheck(s Suggested) Suggested {
	s.Timeout = quickCheck
	return s
}

// getPod reads the pod parameters.pod names.
func getPod(ctx context.Context, call Call) (ObjectRef, *corev1.Pod, error) {
	t, err := podTarget.Ref(call.Params)
	if err != nil {
		return t, nil, err
	}
	var pod corev1.Pod
	if err := call.Client.Get(ctx, t.key(), &pod); err != nil {
		return t, nil, fmt.Errorf("reading %s: %w", t, err)
	}
	return t, &pod, nil
}

// deletePodOnce deletes the pod whose UID before records. A pod that is gone, or
// whose name another pod has taken, was deleted already: not an error.
func deletePodOnce(ctx context.Context, call Call, before map[string]string, gracePeriod *int64, doing string) (map[string]string, error) {
	t, err := podTarget.Ref(call.Params)
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
	precondition := types.UID(uid)
	opts := &client.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &precondition}, GracePeriodSeconds: gracePeriod}
	if call.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	after := map[string]string{"deleted_uid": uid}
	err = call.Client.Delete(ctx, &corev1.Pod{ObjectMeta: t.meta()}, opts)
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
