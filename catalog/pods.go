package catalog

import (
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
)

// podActions are the pod actions of the catalog, with the PersistentVolumeClaim and
// notification actions that go with them.
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
var podActions = []*Action{restartPod, deletePod, quarantinePod, expandPVC, notifyOnly}

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

// restartPod deletes a pod that a controller owns, so that the controller recreates
// it: kubectl has no "restart pod"; this is what people do instead.
//
// Its executor records before["uid"] (the pod's UID; it deletes with a UID
// precondition, so a retry never deletes the replacement of a StatefulSet pod, which
// has the same name), before["owner_kind"] and before["owner_name"] (the pod's
// controller) and before["recorded_at"] (RFC 3339, just before deleting). Inverse: nil.
var restartPod = &Action{
	Name:   "restart_pod",
	Target: podTarget,
	Description: "Deletes a pod that a ReplicaSet, ReplicationController, StatefulSet or DaemonSet controls, " +
		"with its own grace period, so that the controller recreates it; refuses a bare pod.",
	Parameters:  []Field{podParameter},
	Permissions: []rbacv1.PolicyRule{podGetDelete},

	StepPreConditions:  []Suggested{podCondExists, podCondHasController},
	StepPostConditions: []Suggested{podCondReplacementReady, podCondNoCrashloop},
	PreConditions:      []Suggested{podRecheck(podCondHasController), podCondOtherReady},
	PostConditions:     []Suggested{podCondReplacementReady},

	Facts: []string{
		"pod_found", "namespace", "pod_ready",
		"pod_owner_kind", "pod_owner_name", "pod_owner_found",
		"ready_pods", "pod_ready_replacements", "pods",
	},
}

// deletePod deletes a pod, controlled or bare.
//
// Its executor records before["uid"] and deletes with a UID precondition. Inverse: nil.
var deletePod = &Action{
	Name:        "delete_pod",
	Target:      podTarget,
	Description: "Deletes a pod; a controller, if one owns it, creates another, and a bare pod is gone for good.",
	Parameters: []Field{podParameter,
		{Name: "gracePeriodSeconds", Type: Integer, Min: ptr(int64(0)), Max: ptr(int64(3600)),
			Description: "seconds the pod is given to shut down; absent: its own terminationGracePeriodSeconds; " +
				"0 removes it from the API at once without waiting for its node (for a pod stuck on an unreachable node)"},
	},
	Permissions: []rbacv1.PolicyRule{podGetDelete},

	StepPreConditions: []Suggested{podCondExists},
	PreConditions:     []Suggested{podRecheck(podCondExists)},
	PostConditions:    []Suggested{podCondDeleted},

	Facts: []string{"pod_found", "namespace", "pod_gone", "pod_terminating"},
}

// quarantinePod takes a pod out of service without stopping it: it replaces the pod's
// labels with kubernaut.io/quarantined: "true", so that no Service and not its
// controller select it any more. The controller releases the pod and creates a
// replacement; the quarantined pod keeps running for debugging until someone deletes
// it (delete_pod). A StatefulSet pod cannot be quarantined: its replacement would
// need the quarantined pod's name.
//
// Its executor records before["uid"], before["owner_kind"], before["owner_name"],
// before["recorded_at"] (as restart_pod's does) and before["labels"] (the pod's labels
// before acting, as a JSON object), which it also writes to the pod's annotation
// kubernaut.io/quarantined-labels. Inverse: nil (see podActions).
var quarantinePod = &Action{
	Name:   "quarantine_pod",
	Target: podTarget,
	Description: "Replaces a pod's labels with kubernaut.io/quarantined=true: its Services and its controller no longer select it, " +
		"the controller creates a replacement, and the pod keeps running for debugging.",
	Parameters:  []Field{podParameter},
	Permissions: []rbacv1.PolicyRule{podGetPatch},

	StepPreConditions:  []Suggested{podCondExists, podCondQuarantineSupported},
	StepPostConditions: []Suggested{podCondReplacementReady},
	PreConditions:      []Suggested{podRecheck(podCondQuarantineSupported), podCondOtherReady},
	PostConditions:     []Suggested{podCondIsolated, podCondReplacementReady},

	Facts: []string{
		"pod_found", "namespace", "pod_ready",
		"pod_owner_kind", "pod_owner_name", "pod_owner_found",
		"ready_pods", "pod_gone", "pod_matching_services", "pod_selected_by_owner", "pod_ready_replacements",
	},
}

// expandPVC raises the storage request of a PersistentVolumeClaim; the CSI driver
// grows its volume and, online, the kubelet its file system.
//
// Its executor records before["request"] (spec.resources.requests.storage) and
// before["capacity"] (status.capacity.storage), as quantities. Inverse: nil, a claim
// cannot shrink.
var expandPVC = &Action{
	Name:        "expand_pvc",
	Target:      pvcTarget,
	Description: "Raises the storage request of a bound PersistentVolumeClaim whose StorageClass allows volume expansion.",
	Parameters: []Field{namespacedTarget("pvc", "PersistentVolumeClaim",
		Field{Name: "size", Type: String, Required: true, Format: Quantity,
			Description: "the new storage request, e.g. 20Gi; larger than the claim's capacity"},
	)},
	Permissions: []rbacv1.PolicyRule{pvcGetPatch},

	StepPreConditions:  []Suggested{pvcCondExists, pvcCondSizeIncrease},
	StepPostConditions: []Suggested{pvcCondCapacityReached},
	PreConditions:      []Suggested{pvcCondBound, pvcCondExpansionAllowed, pvcCondSizeIncrease},
	PostConditions:     []Suggested{pvcCondCapacityReached},

	Facts: []string{
		"pvc_found", "namespace", "pvc_phase", "pvc_storage_class", "pvc_storage_class_allows_expansion",
		"pvc_capacity_bytes", "pvc_requested_bytes", "pvc_conditions",
	},
}

// notifyOnly acts on nothing: it records a core/v1 Event regarding its own
// KubernetesExecution, in that namespace, of type Normal (severity info) or Warning
// (warning, critical), with the reason NotifyInfo, NotifyWarning or NotifyCritical and
// the parameters' message. A workflow uses it to tell people what it found when no
// action is safe.
//
// Its executor records before["event"], the Event's name, chosen before creating it:
// a retry that finds the Event does not create another. Inverse: nil.
var notifyOnly = &Action{
	Name:        "notify_only",
	Description: "Records an Event with a message and a severity, regarding its KubernetesExecution; changes nothing else.",
	Parameters: []Field{
		{Name: "message", Type: String, Required: true,
			Description: "what to tell, at most 1024 characters"},
		{Name: "severity", Type: String, Required: true, Enum: []string{"info", "warning", "critical"},
			Description: "info records a Normal Event; warning and critical a Warning Event (reasons NotifyInfo, NotifyWarning, NotifyCritical)"},
	},
	Permissions: []rbacv1.PolicyRule{notifyCreateEvent},

	StepPreConditions: []Suggested{notifyCondMessageValid},
	PreConditions:     []Suggested{notifyCondMessageValid},
	PostConditions:    []Suggested{notifyCondEventRecorded},

	Facts: []string{"notify_event_name", "notify_event_found"},
}
