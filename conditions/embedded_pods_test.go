package conditions

import "strings"

// podInput is the facts document of a pod action (restart_pod, delete_pod,
// quarantine_pod) on pod web-app-7d9f-abcde of production, which ReplicaSet
// web-app-7d9f controls with two other ready pods, before acting. changes replace
// facts (nil removes one), as with's do for scale_deployment.
func podInput(action string, changes map[string]any) map[string]any {
	params := map[string]any{"pod": map[string]any{"name": "web-app-7d9f-abcde", "namespace": "production"}}
	if action == "delete_pod" {
		params["gracePeriodSeconds"] = 30
	}
	in := map[string]any{
		"action":                 action,
		"phase":                  "pre",
		"parameters":             params,
		"namespace":              "production",
		"pod_found":              true,
		"pod_ready":              true,
		"pod_owner_kind":         "ReplicaSet",
		"pod_owner_name":         "web-app-7d9f",
		"pod_owner_found":        true,
		"ready_pods":             3,
		"pods":                   []any{map[string]any{"name": "web-app-7d9f-abcde", "status": "Running"}},
		"pod_gone":               false,
		"pod_terminating":        false,
		"pod_ready_replacements": 0,
		"pod_matching_services":  []any{"web-app"},
		"pod_selected_by_owner":  true,
	}
	return podChange(in, changes)
}

// podAfter is the facts document of a pod action that did what it should, after
// acting: the pod is gone (quarantine_pod: kept, but selected by nothing) and a
// replacement is ready.
func podAfter(action string, changes map[string]any) map[string]any {
	after := map[string]any{"phase": "post", "pod_ready_replacements": 1}
	switch action {
	case "quarantine_pod":
		after["pod_matching_services"] = []any{}
		after["pod_selected_by_owner"] = false
	default:
		after["pod_found"] = false
		after["pod_ready"] = false
		after["pod_gone"] = true
		after["pod_matching_services"] = []any{}
		after["pod_selected_by_owner"] = false
	}
	return podChange(podInput(action, after), changes)
}

// pvcInput is the facts document of expand_pvc growing claim data-db-0 of production
// from 10Gi to 20Gi, before acting. changes replace facts (nil removes one).
func pvcInput(changes map[string]any) map[string]any {
	in := map[string]any{
		"action":                             "expand_pvc",
		"phase":                              "pre",
		"parameters":                         map[string]any{"pvc": map[string]any{"name": "data-db-0", "namespace": "production", "size": "20Gi"}},
		"namespace":                          "production",
		"pvc_found":                          true,
		"pvc_phase":                          "Bound",
		"pvc_storage_class":                  "fast-ssd",
		"pvc_storage_class_allows_expansion": true,
		"pvc_capacity_bytes":                 10 * gib,
		"pvc_requested_bytes":                20 * gib,
		"pvc_conditions":                     map[string]any{"Resizing": false, "FileSystemResizePending": false, "ControllerResizeError": false, "NodeResizeError": false},
	}
	return podChange(in, changes)
}

const gib = int64(1) << 30

// notifyInput is the facts document of notify_only with a warning, before acting.
// changes replace facts (nil removes one).
func notifyInput(message any, changes map[string]any) map[string]any {
	params := map[string]any{"severity": "warning"}
	if message != nil {
		params["message"] = message
	}
	in := map[string]any{
		"action":             "notify_only",
		"phase":              "pre",
		"parameters":         params,
		"notify_event_name":  "db-restart-step-2-notify",
		"notify_event_found": false,
	}
	return podChange(in, changes)
}

func podChange(in, changes map[string]any) map[string]any {
	return applyChanges(in, changes)
}

const podNotice = "Disk of db-0 is 95% full; no safe action: expanding needs approval"

var _ = addPolicyCases(
	policyCase{"pod_exists", podInput("delete_pod", nil), Passed, ""},
	policyCase{"pod_exists", podInput("delete_pod", map[string]any{"pod_found": false}), Failed,
		"Pod web-app-7d9f-abcde not found in namespace production"},
	policyCase{"pod_exists", podInput("delete_pod", map[string]any{"pod_found": nil}), Errored, "the input lacks pod_found"},

	policyCase{"pod_has_controller", podInput("restart_pod", nil), Passed, ""},
	policyCase{"pod_has_controller", podInput("restart_pod", map[string]any{"pod_owner_kind": "StatefulSet", "pod_owner_name": "db"}), Passed, ""},
	policyCase{"pod_has_controller", podInput("restart_pod", map[string]any{"pod_owner_kind": "DaemonSet", "pod_owner_name": "node-exporter"}), Passed, ""},
	policyCase{"pod_has_controller", podInput("restart_pod", map[string]any{"pod_found": false}), Failed,
		"Pod web-app-7d9f-abcde not found in namespace production"},
	policyCase{"pod_has_controller", podInput("restart_pod", map[string]any{"pod_owner_kind": "", "pod_owner_name": "", "pod_owner_found": false}), Failed,
		"Pod web-app-7d9f-abcde in namespace production has no controller: deleted, it would not be recreated"},
	policyCase{"pod_has_controller", podInput("restart_pod", map[string]any{"pod_owner_kind": "Job", "pod_owner_name": "backup-28765"}), Failed,
		"is controlled by Job backup-28765, which does not recreate a deleted pod"},
	policyCase{"pod_has_controller", podInput("restart_pod", map[string]any{"pod_owner_kind": "Node", "pod_owner_name": "worker-1"}), Failed,
		"controlled by Node worker-1"},
	policyCase{"pod_has_controller", podInput("restart_pod", map[string]any{"pod_owner_found": false}), Failed,
		"ReplicaSet web-app-7d9f, the controller of Pod web-app-7d9f-abcde in namespace production, no longer exists"},
	policyCase{"pod_has_controller", podInput("restart_pod", map[string]any{"pod_owner_found": nil}), Errored, "the input lacks pod_owner_found"},

	policyCase{"pod_quarantine_supported", podInput("quarantine_pod", nil), Passed, ""},
	policyCase{"pod_quarantine_supported", podInput("quarantine_pod", map[string]any{"pod_owner_kind": "DaemonSet", "pod_owner_name": "node-exporter"}), Passed, ""},
	policyCase{"pod_quarantine_supported", podInput("quarantine_pod", map[string]any{"pod_found": false}), Failed, "not found"},
	policyCase{"pod_quarantine_supported", podInput("quarantine_pod", map[string]any{"pod_owner_kind": "StatefulSet", "pod_owner_name": "db"}), Failed,
		"belongs to StatefulSet db, whose replacement would need the name the quarantined pod keeps"},
	policyCase{"pod_quarantine_supported", podInput("quarantine_pod", map[string]any{"pod_owner_kind": "", "pod_owner_name": ""}), Failed,
		"has no controller: quarantined, it would leave its Services with nothing to replace it"},
	policyCase{"pod_quarantine_supported", podInput("quarantine_pod", map[string]any{"pod_owner_kind": "Job", "pod_owner_name": "backup-28765"}), Failed,
		"controlled by Job backup-28765, which would not replace it"},
	policyCase{"pod_quarantine_supported", podInput("quarantine_pod", map[string]any{"pod_owner_found": false}), Failed, "no longer exists or is being deleted"},
	policyCase{"pod_quarantine_supported", podInput("quarantine_pod", map[string]any{"pod_owner_kind": nil}), Errored, "the input lacks pod_owner_kind"},

	policyCase{"pod_owner_has_other_ready_pods", podInput("restart_pod", nil), Passed, ""},
	policyCase{"pod_owner_has_other_ready_pods", podInput("restart_pod", map[string]any{"pod_ready": false, "ready_pods": 1}), Passed, ""},
	policyCase{"pod_owner_has_other_ready_pods", podInput("restart_pod", map[string]any{"ready_pods": 1}), Failed,
		"ReplicaSet web-app-7d9f has no ready pod besides Pod web-app-7d9f-abcde in namespace production (1 ready in all)"},
	policyCase{"pod_owner_has_other_ready_pods", podInput("quarantine_pod", map[string]any{"pod_ready": false, "ready_pods": 0}), Failed, "(0 ready in all)"},
	policyCase{"pod_owner_has_other_ready_pods", podInput("restart_pod", map[string]any{"pod_ready": nil}), Errored, "the input lacks pod_ready"},

	policyCase{"pod_replacement_ready", podAfter("restart_pod", nil), Passed, ""},
	policyCase{"pod_replacement_ready", podAfter("quarantine_pod", nil), Passed, ""},
	policyCase{"pod_replacement_ready", podAfter("restart_pod", map[string]any{"pod_ready_replacements": 0}), Failed,
		"no pod that ReplicaSet web-app-7d9f created since Pod web-app-7d9f-abcde in namespace production was taken away is ready yet"},
	policyCase{"pod_replacement_ready", podInput("restart_pod", nil), Failed, "is ready yet"},
	policyCase{"pod_replacement_ready", podAfter("restart_pod", map[string]any{"pod_ready_replacements": nil}), Errored, "the input lacks pod_ready_replacements"},

	policyCase{"pod_deleted", podAfter("delete_pod", nil), Passed, ""},
	// A StatefulSet pod recreated under the same name is another pod: the deleted one is gone.
	policyCase{"pod_deleted", podAfter("delete_pod", map[string]any{"pod_found": true}), Passed, ""},
	policyCase{"pod_deleted", podAfter("delete_pod", map[string]any{"pod_gone": false, "pod_terminating": true}), Failed,
		"Pod web-app-7d9f-abcde in namespace production is still terminating"},
	policyCase{"pod_deleted", podInput("delete_pod", nil), Failed,
		"Pod web-app-7d9f-abcde in namespace production still exists and is not terminating"},
	policyCase{"pod_deleted", podAfter("delete_pod", map[string]any{"pod_gone": nil}), Errored, "the input lacks pod_gone"},

	policyCase{"pod_isolated", podAfter("quarantine_pod", nil), Passed, ""},
	policyCase{"pod_isolated", podInput("quarantine_pod", nil), Failed,
		"Pod web-app-7d9f-abcde in namespace production is not isolated; Services still select it: web-app; the selector of ReplicaSet web-app-7d9f still matches it"},
	policyCase{"pod_isolated", podAfter("quarantine_pod", map[string]any{"pod_matching_services": []any{"web-canary", "web-app"}}), Failed,
		"Services still select it: web-app, web-canary"},
	policyCase{"pod_isolated", podAfter("quarantine_pod", map[string]any{"pod_gone": true}), Failed, "it no longer exists: nothing is left to debug"},
	policyCase{"pod_isolated", podAfter("quarantine_pod", map[string]any{"pod_selected_by_owner": nil}), Errored, "the input lacks pod_selected_by_owner"},

	policyCase{"pvc_exists", pvcInput(nil), Passed, ""},
	policyCase{"pvc_exists", pvcInput(map[string]any{"pvc_found": false}), Failed, "PersistentVolumeClaim data-db-0 not found in namespace production"},
	policyCase{"pvc_exists", pvcInput(map[string]any{"pvc_found": nil}), Errored, "the input lacks pvc_found"},

	policyCase{"pvc_bound", pvcInput(nil), Passed, ""},
	policyCase{"pvc_bound", pvcInput(map[string]any{"pvc_phase": "Pending", "pvc_capacity_bytes": 0}), Failed,
		"PersistentVolumeClaim data-db-0 in namespace production is Pending, not Bound"},
	policyCase{"pvc_bound", pvcInput(map[string]any{"pvc_found": false, "pvc_phase": ""}), Failed, "not found"},
	policyCase{"pvc_bound", pvcInput(map[string]any{"pvc_phase": nil}), Errored, "the input lacks pvc_phase"},

	policyCase{"pvc_expansion_allowed", pvcInput(nil), Passed, ""},
	policyCase{"pvc_expansion_allowed", pvcInput(map[string]any{"pvc_storage_class_allows_expansion": false}), Failed,
		"StorageClass fast-ssd of PersistentVolumeClaim data-db-0 in namespace production does not exist or does not set allowVolumeExpansion: true"},
	policyCase{"pvc_expansion_allowed", pvcInput(map[string]any{"pvc_storage_class": "", "pvc_storage_class_allows_expansion": false}), Failed,
		"has no StorageClass"},
	policyCase{"pvc_expansion_allowed", pvcInput(map[string]any{"pvc_storage_class_allows_expansion": nil}), Errored, "the input lacks pvc_storage_class_allows_expansion"},

	policyCase{"pvc_size_increase", pvcInput(nil), Passed, ""},
	policyCase{"pvc_size_increase", pvcInput(map[string]any{"pvc_requested_bytes": 10 * gib}), Failed,
		"the requested size 20Gi (10737418240 bytes) of PersistentVolumeClaim data-db-0 in namespace production is not larger than its capacity (10737418240 bytes)"},
	policyCase{"pvc_size_increase", pvcInput(map[string]any{"pvc_capacity_bytes": 50 * gib}), Failed, "a claim cannot shrink"},
	// Sizes of several TiB stay exact.
	policyCase{"pvc_size_increase", pvcInput(map[string]any{"pvc_capacity_bytes": 4096 * gib, "pvc_requested_bytes": 4096*gib + 1}), Passed, ""},
	policyCase{"pvc_size_increase", pvcInput(map[string]any{"pvc_capacity_bytes": nil}), Errored, "the input lacks pvc_capacity_bytes"},

	policyCase{"pvc_capacity_reached", pvcInput(map[string]any{"phase": "post", "pvc_capacity_bytes": 20 * gib}), Passed, ""},
	policyCase{"pvc_capacity_reached", pvcInput(map[string]any{"phase": "post", "pvc_capacity_bytes": 21 * gib}), Passed, ""},
	policyCase{"pvc_capacity_reached", pvcInput(map[string]any{"phase": "post"}), Failed,
		"PersistentVolumeClaim data-db-0 in namespace production has a capacity of 10737418240 bytes, less than the requested 20Gi (21474836480 bytes)"},
	policyCase{"pvc_capacity_reached", pvcInput(map[string]any{"phase": "post", "pvc_conditions": map[string]any{"FileSystemResizePending": true}}), Failed,
		"its file system grows only when a pod next mounts it (FileSystemResizePending)"},
	policyCase{"pvc_capacity_reached", pvcInput(map[string]any{"phase": "post", "pvc_conditions": map[string]any{"ControllerResizeError": true}}), Failed,
		"the CSI driver failed to expand the volume"},
	policyCase{"pvc_capacity_reached", pvcInput(map[string]any{"phase": "post", "pvc_conditions": map[string]any{"NodeResizeError": true}}), Failed,
		"(NodeResizeError)"},
	policyCase{"pvc_capacity_reached", pvcInput(map[string]any{"phase": "post", "pvc_conditions": nil}), Failed, "less than the requested"},
	policyCase{"pvc_capacity_reached", pvcInput(map[string]any{"phase": "post", "pvc_requested_bytes": nil}), Errored, "the input lacks pvc_requested_bytes"},

	policyCase{"notify_message_valid", notifyInput(podNotice, nil), Passed, ""},
	policyCase{"notify_message_valid", notifyInput(strings.Repeat("é", 1024), nil), Passed, ""},
	policyCase{"notify_message_valid", notifyInput(" \n\t", nil), Failed, "the message is blank"},
	policyCase{"notify_message_valid", notifyInput("", nil), Failed, "the message is blank"},
	policyCase{"notify_message_valid", notifyInput(strings.Repeat("x", 1025), nil), Failed, "the message has 1025 characters; an Event holds at most 1024"},
	policyCase{"notify_message_valid", notifyInput(nil, nil), Failed, "the parameters have no message"},
	policyCase{"notify_message_valid", notifyInput(42, nil), Failed, "the parameters have no message"},
	policyCase{"notify_message_valid", notifyInput(podNotice, map[string]any{"parameters": nil}), Errored, "the input lacks parameters"},

	policyCase{"notify_event_recorded", notifyInput(podNotice, map[string]any{"phase": "post", "notify_event_found": true}), Passed, ""},
	policyCase{"notify_event_recorded", notifyInput(podNotice, map[string]any{"phase": "post"}), Failed,
		"the Event db-restart-step-2-notify with the warning notification was not found"},
	policyCase{"notify_event_recorded", notifyInput(podNotice, map[string]any{"phase": "post", "notify_event_found": nil}), Errored, "the input lacks notify_event_found"},
)
