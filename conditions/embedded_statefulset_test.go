package conditions

// restartStatefulSetInput is the facts document of a restart of the StatefulSet db
// (3 replicas, in namespace production) that went well, with changes (nil removes a
// fact).
func restartStatefulSetInput(changes map[string]any) map[string]any {
	in := workloadInput("scale_statefulset", map[string]any{
		"action":                       "restart_statefulset",
		"parameters":                   map[string]any{"statefulset": map[string]any{"name": "db", "namespace": "production"}},
		"statefulset_update_strategy":  "RollingUpdate",
		"statefulset_partition":        0,
		"statefulset_updated_replicas": 3,
		"statefulset_current_revision": "db-7d4b9c",
		"statefulset_update_revision":  "db-7d4b9c",
	})
	return applyChanges(in, changes)
}

// Mid-rollout: db-2 runs the new revision, db-1 is being replaced.
var statefulSetMidRollout = map[string]any{
	"statefulset_update_revision": "db-5f6a7b", "statefulset_updated_replicas": 1, "statefulset_ready_replicas": 2,
}

var _ = addPolicyCases(
	policyCase{"statefulset_restartable", restartStatefulSetInput(nil), Passed, ""},
	policyCase{"statefulset_restartable", restartStatefulSetInput(map[string]any{"statefulset_update_strategy": "OnDelete"}), Failed,
		"StatefulSet db in namespace production cannot be restarted now; its update strategy is OnDelete: a new pod template replaces no pod"},
	policyCase{"statefulset_restartable", restartStatefulSetInput(map[string]any{"statefulset_partition": 2}), Failed,
		"its rolling update is partitioned at ordinal 2: the pods below it would not restart"},
	policyCase{"statefulset_restartable", restartStatefulSetInput(statefulSetMidRollout), Failed,
		"a rollout is in progress: 1 of 3 pods run the newest revision"},
	policyCase{"statefulset_restartable", restartStatefulSetInput(map[string]any{"statefulset_generation_observed": false}), Failed,
		"the controller has not yet observed its latest spec"},
	policyCase{"statefulset_restartable", restartStatefulSetInput(map[string]any{"statefulset_update_strategy": nil}), Errored,
		"the input lacks statefulset_update_strategy"},

	policyCase{"statefulset_rollout_complete", restartStatefulSetInput(nil), Passed, ""},
	policyCase{"statefulset_rollout_complete", restartStatefulSetInput(statefulSetMidRollout), Failed,
		"the rollout of StatefulSet db in namespace production is not complete; 1 of 3 pods run the newest revision; 2 of 3 pods are ready"},
	policyCase{"statefulset_rollout_complete", restartStatefulSetInput(map[string]any{"statefulset_generation_observed": false}), Failed,
		"the controller has not yet observed its latest spec"},
	policyCase{"statefulset_rollout_complete", restartStatefulSetInput(map[string]any{"statefulset_current_revision": nil}), Errored,
		"the input lacks statefulset_current_revision"},

	// The policies of other actions it reuses, over its facts.
	policyCase{"statefulset_exists", restartStatefulSetInput(map[string]any{"statefulset_found": false}), Failed,
		"StatefulSet db not found in namespace production"},
	policyCase{"no_crashloop_pods", restartStatefulSetInput(map[string]any{
		"pods": []any{map[string]any{"name": "db-2", "status": "CrashLoopBackOff"}}}), Failed, ""},
)
