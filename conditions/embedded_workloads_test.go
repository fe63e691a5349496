package conditions

// workloadInput is the facts document of a workload action that went well, in
// namespace production: the Deployment web (3 replicas, revision 5, its rollout
// complete, its container web running the new image and resources), the StatefulSet
// db (3 replicas), the DaemonSet agent, the HorizontalPodAutoscaler web (bounds 2..10)
// and the ConfigMap web-config all exist and are settled. changes replace facts (nil
// removes one), as with's do for scale_deployment.
func workloadInput(action string, changes map[string]any) map[string]any {
	target := func(name string) map[string]any { return map[string]any{"name": name, "namespace": "production"} }
	params := map[string]any{}
	switch action {
	case "scale_statefulset":
		db := target("db")
		db["replicas"] = 3
		params["statefulset"] = db
	case "restart_daemonset":
		params["daemonset"] = target("agent")
	case "increase_resources":
		params["deployment"] = target("web")
		params["container"] = "web"
		params["requests"] = map[string]any{"cpu": "500m", "memory": "512Mi"}
		params["limits"] = map[string]any{"cpu": "1", "memory": "1Gi"}
	case "update_image":
		params["deployment"] = target("web")
		params["container"] = "web"
		params["image"] = "registry.example/web:1.3"
	case "patch_deployment":
		params["deployment"] = target("web")
		params["patch"] = map[string]any{"spec": map[string]any{"template": map[string]any{}}}
	case "update_hpa":
		params["hpa"] = target("web")
		params["minReplicas"] = 2
		params["maxReplicas"] = 10
	case "update_configmap":
		params["configmap"] = target("web-config")
		params["data"] = map[string]any{"LOG_LEVEL": "debug"}
	default: // rollout_restart, rollback_deployment
		params["deployment"] = target("web")
	}
	in := map[string]any{
		"action":     action,
		"phase":      "post",
		"parameters": params,
		"namespace":  "production",

		"deployment_found":               true,
		"deployment_name":                "web",
		"current_replicas":               3,
		"target_replicas":                3,
		"running_pods":                   3,
		"ready_pods":                     3,
		"pods":                           []any{map[string]any{"name": "web-1", "status": "Running", "ready": true}},
		"conditions":                     map[string]any{"Available": true, "Progressing": true, "ReplicaFailure": false},
		"image_pull_secrets_exist":       true,
		"image_pull_secrets_valid":       true,
		"deployment_generation_observed": true,
		"deployment_updated_replicas":    3,
		"deployment_status_replicas":     3,
		"deployment_available_replicas":  3,
		"deployment_revision":            5,
		"deployment_revisions":           []any{3, 4, 5},

		"container_found":      true,
		"container_image":      "registry.example/web:1.3",
		"container_pod_images": []any{"registry.example/web:1.3", "registry.example/web:1.3", "registry.example/web:1.3"},
		"container_requests":   map[string]any{"cpu": "500m", "memory": "512Mi"},
		"container_limits":     map[string]any{"cpu": "1", "memory": "1Gi"},

		"statefulset_found":               true,
		"statefulset_name":                "db",
		"statefulset_generation_observed": true,
		"statefulset_status_replicas":     3,
		"statefulset_ready_replicas":      3,

		"daemonset_found":                    true,
		"daemonset_name":                     "agent",
		"daemonset_update_strategy":          "RollingUpdate",
		"daemonset_generation_observed":      true,
		"daemonset_desired_number_scheduled": 3,
		"daemonset_updated_number_scheduled": 3,
		"daemonset_number_available":         3,

		"hpa_found":            true,
		"hpa_name":             "web",
		"hpa_min_replicas":     2,
		"hpa_max_replicas":     10,
		"hpa_current_replicas": 4,
		"hpa_conditions":       map[string]any{"AbleToScale": true, "ScalingActive": true, "ScalingLimited": false},

		"configmap_found":     true,
		"configmap_name":      "web-config",
		"configmap_immutable": false,
		"configmap_data":      map[string]any{"LOG_LEVEL": "debug"}, // only the key the action set
	}
	return applyChanges(in, changes)
}

// workloadParams returns the parameters of action's workloadInput with changes
// (nil removes one).
func workloadParams(action string, changes map[string]any) map[string]any {
	params := workloadInput(action, nil)["parameters"].(map[string]any)
	return applyChanges(params, changes)
}

// A rollout in progress: one of three replicas on the new template, two old pods left.
var midRollout = map[string]any{"deployment_updated_replicas": 1, "deployment_status_replicas": 4, "deployment_available_replicas": 3}

var _ = addPolicyCases(
	// StatefulSet.
	policyCase{"statefulset_exists", workloadInput("scale_statefulset", nil), Passed, ""},
	policyCase{"statefulset_exists", workloadInput("scale_statefulset", map[string]any{"statefulset_found": false}), Failed,
		"StatefulSet db not found in namespace production"},
	policyCase{"statefulset_exists", workloadInput("scale_statefulset", map[string]any{"statefulset_found": nil}), Errored,
		"the input lacks statefulset_found"},

	policyCase{"statefulset_replicas_ready", workloadInput("scale_statefulset", nil), Passed, ""},
	policyCase{"statefulset_replicas_ready", workloadInput("scale_statefulset", map[string]any{"statefulset_ready_replicas": 2}), Failed,
		"StatefulSet db has 3 pods, 2 ready, want 3"},
	// A scale-down to 1 is not done while the pods above the target remain.
	policyCase{"statefulset_replicas_ready", workloadInput("scale_statefulset", map[string]any{"target_replicas": 1}), Failed,
		"StatefulSet db has 3 pods, 3 ready, want 1"},
	policyCase{"statefulset_replicas_ready", workloadInput("scale_statefulset", map[string]any{"statefulset_generation_observed": false}), Failed,
		"the controller has not yet observed the latest spec of StatefulSet db"},
	policyCase{"statefulset_replicas_ready", workloadInput("scale_statefulset", map[string]any{"target_replicas": nil}), Errored,
		"the input lacks target_replicas"},

	// Deployment rollouts.
	policyCase{"deployment_not_rolling_out", workloadInput("rollout_restart", nil), Passed, ""},
	// An unavailable Deployment that is not rolling out is what a restart may fix.
	policyCase{"deployment_not_rolling_out", workloadInput("rollout_restart", map[string]any{"deployment_available_replicas": 0}), Passed, ""},
	policyCase{"deployment_not_rolling_out", workloadInput("rollout_restart", midRollout), Failed,
		"Deployment web in namespace production is mid-rollout; 1 of 3 replicas run the newest pod template; 3 pods of older ReplicaSets remain"},
	policyCase{"deployment_not_rolling_out", workloadInput("rollout_restart", map[string]any{"deployment_generation_observed": false}), Failed,
		"the controller has not yet observed its latest spec"},
	policyCase{"deployment_not_rolling_out", workloadInput("rollout_restart", map[string]any{"deployment_updated_replicas": nil}), Errored,
		"the input lacks deployment_updated_replicas"},

	policyCase{"deployment_rollout_complete", workloadInput("rollout_restart", nil), Passed, ""},
	policyCase{"deployment_rollout_complete", workloadInput("rollout_restart", map[string]any{
		"current_replicas": 0, "deployment_updated_replicas": 0, "deployment_status_replicas": 0, "deployment_available_replicas": 0}), Passed, ""},
	policyCase{"deployment_rollout_complete", workloadInput("rollout_restart", midRollout), Failed,
		"the rollout of Deployment web in namespace production is not complete; 1 of 3 replicas run the newest pod template"},
	policyCase{"deployment_rollout_complete", workloadInput("rollout_restart", map[string]any{"deployment_available_replicas": 2}), Failed,
		"2 of 3 updated replicas are available"},
	policyCase{"deployment_rollout_complete", workloadInput("rollout_restart", map[string]any{"deployment_status_replicas": 4}), Failed,
		"1 pods of older ReplicaSets remain"},
	policyCase{"deployment_rollout_complete", workloadInput("rollout_restart", map[string]any{"deployment_available_replicas": nil}), Errored,
		"the input lacks deployment_available_replicas"},

	// Rollback revisions: 3, 4 and 5 are kept, 5 is current.
	policyCase{"deployment_revision_available", workloadInput("rollback_deployment", nil), Passed, ""},
	policyCase{"deployment_revision_available", workloadInput("rollback_deployment", map[string]any{
		"parameters": workloadParams("rollback_deployment", map[string]any{"revision": 0})}), Passed, ""},
	policyCase{"deployment_revision_available", workloadInput("rollback_deployment", map[string]any{
		"parameters": workloadParams("rollback_deployment", map[string]any{"revision": 3})}), Passed, ""},
	policyCase{"deployment_revision_available", workloadInput("rollback_deployment", map[string]any{
		"parameters": workloadParams("rollback_deployment", map[string]any{"revision": 2})}), Failed,
		"revision 2 of Deployment web is not kept (kept: [3, 4, 5])"},
	policyCase{"deployment_revision_available", workloadInput("rollback_deployment", map[string]any{
		"parameters": workloadParams("rollback_deployment", map[string]any{"revision": 5})}), Failed,
		"revision 5 is already the current revision of Deployment web"},
	policyCase{"deployment_revision_available", workloadInput("rollback_deployment", map[string]any{"deployment_revisions": []any{5}}), Failed,
		"Deployment web has no revision before its current revision 5 to roll back to (kept: [5])"},
	policyCase{"deployment_revision_available", workloadInput("rollback_deployment", map[string]any{"deployment_revisions": nil}), Errored,
		"the input lacks deployment_revisions"},

	// Containers.
	policyCase{"container_exists", workloadInput("update_image", nil), Passed, ""},
	policyCase{"container_exists", workloadInput("update_image", map[string]any{"container_found": false}), Failed,
		"the pod template of Deployment web in namespace production has no container named web"},
	policyCase{"container_exists", workloadInput("update_image", map[string]any{"container_found": nil}), Errored,
		"the input lacks container_found"},

	policyCase{"container_image_rolled_out", workloadInput("update_image", nil), Passed, ""},
	policyCase{"container_image_rolled_out", workloadInput("update_image", map[string]any{"container_image": "registry.example/web:1.2"}), Failed,
		"the pod template of Deployment web runs registry.example/web:1.2 in container web, want registry.example/web:1.3"},
	policyCase{"container_image_rolled_out", workloadInput("update_image", map[string]any{
		"container_pod_images": []any{"registry.example/web:1.3", "registry.example/web:1.2", "registry.example/web:1.3"}}), Failed,
		`1 of 3 pods of Deployment web still run another image in container web (["registry.example/web:1.2"])`},
	policyCase{"container_image_rolled_out", workloadInput("update_image", map[string]any{
		"container_pod_images": []any{"registry.example/web:1.3"}}), Failed,
		"1 of 3 pods of Deployment web run image registry.example/web:1.3"},
	policyCase{"container_image_rolled_out", workloadInput("update_image", map[string]any{"container_pod_images": nil}), Errored,
		"the input lacks container_pod_images"},

	// Resources: the container now has requests 500m/512Mi and limits 1/1Gi.
	policyCase{"container_resources_valid", workloadInput("increase_resources", nil), Passed, ""},
	policyCase{"container_resources_valid", workloadInput("increase_resources", map[string]any{
		"parameters": workloadParams("increase_resources", map[string]any{"limits": nil, "requests": map[string]any{"cpu": "800m"}})}), Passed, ""},
	policyCase{"container_resources_valid", workloadInput("increase_resources", map[string]any{
		"parameters":         workloadParams("increase_resources", map[string]any{"limits": nil, "requests": map[string]any{"memory": "4Gi"}}),
		"container_requests": map[string]any{"cpu": "", "memory": ""}, "container_limits": map[string]any{"cpu": "", "memory": ""}}), Passed, ""},
	policyCase{"container_resources_valid", workloadInput("increase_resources", map[string]any{
		"parameters": workloadParams("increase_resources", map[string]any{"limits": nil, "requests": map[string]any{"memory": "2Gi"}})}), Failed,
		"the memory request 2Gi would exceed the memory limit 1Gi of container web"},
	policyCase{"container_resources_valid", workloadInput("increase_resources", map[string]any{
		"parameters": workloadParams("increase_resources", map[string]any{"requests": map[string]any{"cpu": "1500m"}})}), Failed,
		"the cpu request 1500m would exceed the cpu limit 1 of container web"},
	policyCase{"container_resources_valid", workloadInput("increase_resources", map[string]any{
		"parameters": workloadParams("increase_resources", map[string]any{"requests": nil, "limits": map[string]any{}})}), Failed,
		"the parameters set neither requests nor limits"},
	policyCase{"container_resources_valid", workloadInput("increase_resources", map[string]any{"container_limits": nil}), Errored,
		"the input lacks container_limits"},

	policyCase{"container_resources_increase", workloadInput("increase_resources", nil), Passed, ""},
	policyCase{"container_resources_increase", workloadInput("increase_resources", map[string]any{
		"container_requests": map[string]any{"cpu": "", "memory": "256Mi"}}), Passed, ""},
	policyCase{"container_resources_increase", workloadInput("increase_resources", map[string]any{
		"container_requests": map[string]any{"cpu": "1", "memory": "512Mi"}}), Failed,
		"requests.cpu of container web would go down from 1 to 500m"},
	policyCase{"container_resources_increase", workloadInput("increase_resources", map[string]any{"container_requests": nil}), Errored,
		"the input lacks container_requests"},

	policyCase{"container_resources_applied", workloadInput("increase_resources", nil), Passed, ""},
	// Quantities compare by value: 0.5 is 500m, 1024Mi is 1Gi.
	policyCase{"container_resources_applied", workloadInput("increase_resources", map[string]any{
		"container_requests": map[string]any{"cpu": "0.5", "memory": "512Mi"},
		"container_limits":   map[string]any{"cpu": "1000m", "memory": "1024Mi"}}), Passed, ""},
	policyCase{"container_resources_applied", workloadInput("increase_resources", map[string]any{
		"container_limits": map[string]any{"cpu": "", "memory": "1Gi"}}), Failed,
		`limits.cpu of container web is "", want 1`},
	policyCase{"container_resources_applied", workloadInput("increase_resources", map[string]any{
		"container_requests": map[string]any{"cpu": "250m", "memory": "512Mi"}}), Failed,
		`requests.cpu of container web is "250m", want 500m`},
	policyCase{"container_resources_applied", workloadInput("increase_resources", map[string]any{
		"container_requests": map[string]any{"cpu": "lots", "memory": "512Mi"}}), Errored, "units.parse"},

	// After new limits, as Gather gives the pods: web-1 runs with a CPU limit.
	policyCase{"resource_usage_acceptable", workloadInput("increase_resources", map[string]any{
		"pods":       []any{map[string]any{"name": "web-1", "phase": "Running", "oom_killed": false, "throttled": false, "cpu_throttled_ratio": 0.02}},
		"throttling": map[string]any{"source": "prometheus", "window": "5m", "threshold": 0.25}}), Passed, ""},
	policyCase{"resource_usage_acceptable", workloadInput("increase_resources", map[string]any{
		"pods":       []any{map[string]any{"name": "web-1", "phase": "Running", "oom_killed": false, "throttled": true, "cpu_throttled_ratio": 0.6}},
		"throttling": map[string]any{"source": "prometheus", "window": "10m", "threshold": 0.5}}), Failed,
		"pods web-1 are CPU-throttled (more than 50% of their CFS periods over 10m)"},
	policyCase{"resource_usage_acceptable", workloadInput("increase_resources", map[string]any{
		"pods": []any{map[string]any{"name": "web-1", "phase": "Running", "oom_killed": false}},
		"throttling": map[string]any{"source": "prometheus", "window": "5m", "threshold": 0.25,
			"reason": "the Prometheus query of the CFS throttling counters failed: connection refused"}}), Failed,
		"throttling of pods web-1 is not known: the Prometheus query of the CFS throttling counters failed: connection refused"},

	// DaemonSet.
	policyCase{"daemonset_exists", workloadInput("restart_daemonset", nil), Passed, ""},
	policyCase{"daemonset_exists", workloadInput("restart_daemonset", map[string]any{"daemonset_found": false}), Failed,
		"DaemonSet agent not found in namespace production"},

	policyCase{"daemonset_restartable", workloadInput("restart_daemonset", nil), Passed, ""},
	policyCase{"daemonset_restartable", workloadInput("restart_daemonset", map[string]any{"daemonset_update_strategy": "OnDelete"}), Failed,
		"DaemonSet agent in namespace production cannot be restarted now; its update strategy is OnDelete: a new pod template replaces no pod"},
	policyCase{"daemonset_restartable", workloadInput("restart_daemonset", map[string]any{"daemonset_updated_number_scheduled": 1}), Failed,
		"a rollout is in progress: 1 of 3 nodes run the newest pod template"},
	policyCase{"daemonset_restartable", workloadInput("restart_daemonset", map[string]any{"daemonset_update_strategy": nil}), Errored,
		"the input lacks daemonset_update_strategy"},

	policyCase{"daemonset_rollout_complete", workloadInput("restart_daemonset", nil), Passed, ""},
	policyCase{"daemonset_rollout_complete", workloadInput("restart_daemonset", map[string]any{"daemonset_number_available": 2}), Failed,
		"the rollout of DaemonSet agent in namespace production is not complete; 2 of 3 pods are available"},
	policyCase{"daemonset_rollout_complete", workloadInput("restart_daemonset", map[string]any{"daemonset_generation_observed": false}), Failed,
		"the controller has not yet observed its latest spec"},
	policyCase{"daemonset_rollout_complete", workloadInput("restart_daemonset", map[string]any{"daemonset_number_available": nil}), Errored,
		"the input lacks daemonset_number_available"},

	// HorizontalPodAutoscaler: bounds 2..10, 4 replicas.
	policyCase{"hpa_exists", workloadInput("update_hpa", nil), Passed, ""},
	policyCase{"hpa_exists", workloadInput("update_hpa", map[string]any{"hpa_found": false}), Failed,
		"HorizontalPodAutoscaler web not found in namespace production"},

	policyCase{"hpa_bounds_valid", workloadInput("update_hpa", nil), Passed, ""},
	policyCase{"hpa_bounds_valid", workloadInput("update_hpa", map[string]any{
		"parameters": workloadParams("update_hpa", map[string]any{"minReplicas": 5, "maxReplicas": 5})}), Passed, ""},
	policyCase{"hpa_bounds_valid", workloadInput("update_hpa", map[string]any{
		"parameters": workloadParams("update_hpa", map[string]any{"minReplicas": 12})}), Failed,
		"minReplicas 12 is above maxReplicas 10"},
	policyCase{"hpa_bounds_valid", workloadInput("update_hpa", map[string]any{"parameters": nil}), Errored,
		"the input lacks parameters"},

	policyCase{"hpa_bounds_applied", workloadInput("update_hpa", nil), Passed, ""},
	policyCase{"hpa_bounds_applied", workloadInput("update_hpa", map[string]any{"hpa_max_replicas": 8}), Failed,
		"HorizontalPodAutoscaler web has minReplicas 2 and maxReplicas 8, want 2 and 10"},
	policyCase{"hpa_bounds_applied", workloadInput("update_hpa", map[string]any{"hpa_min_replicas": nil}), Errored,
		"the input lacks hpa_min_replicas"},

	policyCase{"hpa_scaling_within_bounds", workloadInput("update_hpa", nil), Passed, ""},
	policyCase{"hpa_scaling_within_bounds", workloadInput("update_hpa", map[string]any{"hpa_current_replicas": 1}), Failed,
		"HorizontalPodAutoscaler web runs 1 replicas, below its minReplicas 2"},
	policyCase{"hpa_scaling_within_bounds", workloadInput("update_hpa", map[string]any{"hpa_current_replicas": 12}), Failed,
		"above its maxReplicas 10"},
	policyCase{"hpa_scaling_within_bounds", workloadInput("update_hpa", map[string]any{"hpa_conditions": map[string]any{}}), Failed,
		"HorizontalPodAutoscaler web is not able to scale its target"},
	policyCase{"hpa_scaling_within_bounds", workloadInput("update_hpa", map[string]any{"hpa_conditions": nil}), Errored,
		"the input lacks hpa_conditions"},

	// ConfigMap: LOG_LEVEL=debug, MODE=prod; the facts hold LOG_LEVEL, the key the action sets.
	policyCase{"configmap_exists", workloadInput("update_configmap", nil), Passed, ""},
	policyCase{"configmap_exists", workloadInput("update_configmap", map[string]any{"configmap_found": false}), Failed,
		"ConfigMap web-config not found in namespace production"},
	policyCase{"configmap_exists", workloadInput("update_configmap", map[string]any{"configmap_found": nil}), Errored,
		"the input lacks configmap_found"},

	policyCase{"configmap_mutable", workloadInput("update_configmap", nil), Passed, ""},
	policyCase{"configmap_mutable", workloadInput("update_configmap", map[string]any{"configmap_immutable": true}), Failed,
		"ConfigMap web-config in namespace production is immutable"},

	policyCase{"configmap_data_applied", workloadInput("update_configmap", nil), Passed, ""},
	policyCase{"configmap_data_applied", workloadInput("update_configmap", map[string]any{"configmap_data": map[string]any{"LOG_LEVEL": "info"}}), Failed,
		"key LOG_LEVEL of ConfigMap web-config does not have the value set"},
	policyCase{"configmap_data_applied", workloadInput("update_configmap", map[string]any{"configmap_data": map[string]any{}}), Failed,
		"key LOG_LEVEL is missing from ConfigMap web-config"},
	// With replace, the facts hold every key of the data: MODE, which replace was to remove, is still there.
	policyCase{"configmap_data_applied", workloadInput("update_configmap", map[string]any{
		"parameters":     workloadParams("update_configmap", map[string]any{"replace": true}),
		"configmap_data": map[string]any{"LOG_LEVEL": "debug", "MODE": "prod"}}), Failed,
		"key MODE of ConfigMap web-config remains although the data was to be replaced"},
	policyCase{"configmap_data_applied", workloadInput("update_configmap", map[string]any{
		"parameters":     workloadParams("update_configmap", map[string]any{"replace": true}),
		"configmap_data": map[string]any{"LOG_LEVEL": "debug"}}), Passed, ""},
	// A key set to null is to be removed (a rollback removes the keys the action added).
	policyCase{"configmap_data_applied", workloadInput("update_configmap", map[string]any{
		"parameters": workloadParams("update_configmap", map[string]any{"data": map[string]any{"LOG_LEVEL": "debug", "TRACE": nil}})}), Passed, ""},
	policyCase{"configmap_data_applied", workloadInput("update_configmap", map[string]any{
		"parameters":     workloadParams("update_configmap", map[string]any{"data": map[string]any{"LOG_LEVEL": "debug", "TRACE": nil}}),
		"configmap_data": map[string]any{"LOG_LEVEL": "debug", "TRACE": "1"}}), Failed,
		"key TRACE of ConfigMap web-config remains although it was to be removed"},
	policyCase{"configmap_data_applied", workloadInput("update_configmap", map[string]any{"configmap_data": nil}), Errored,
		"the input lacks configmap_data"},

	// The seed's policies, over the facts of the workload actions that reuse them.
	policyCase{"desired_replicas_running", workloadInput("scale_statefulset", map[string]any{"ready_pods": 2}), Failed, ""},
	policyCase{"desired_replicas_running", workloadInput("rollout_restart", nil), Passed, ""},
	policyCase{"no_crashloop_pods", workloadInput("restart_daemonset", map[string]any{
		"pods": []any{map[string]any{"name": "agent-x7", "status": "CrashLoopBackOff"}}}), Failed, ""},
	policyCase{"deployment_exists", workloadInput("rollback_deployment", map[string]any{"deployment_found": false}), Failed,
		"Deployment web not found in namespace production"},
)
