package catalog

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// restart_daemonset restarts the pods of a DaemonSet, node by node, the way
// rollout_restart does for a Deployment.
//
// It has no inverse: the old pods are gone, and putting back the old template would
// only restart them once more.
var _ = register(&Action{
	Name:        "restart_daemonset",
	Target:      daemonSetTarget,
	Description: "Restarts every pod of a DaemonSet by a rolling update of its pod template (kubectl rollout restart).",
	Parameters:  []Field{namespacedTarget("daemonset", "DaemonSet")},
	Permissions: []rbacv1.PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"daemonsets"}, Verbs: []string{"get", "patch"}},
	},

	StepPreConditions:  []Suggested{workloadChecks.daemonSetExists},
	StepPostConditions: []Suggested{workloadChecks.daemonSetRolledOut},
	PreConditions:      []Suggested{workloadChecks.daemonSetRestartable},
	PostConditions:     []Suggested{workloadChecks.daemonSetRolledOut, workloadChecks.noCrashloop},

	Facts: []string{
		"daemonset_found", "daemonset_name", "namespace", "daemonset_update_strategy", "daemonset_generation_observed",
		"daemonset_desired_number_scheduled", "daemonset_updated_number_scheduled", "daemonset_number_available", "pods",
	},
	Executor: Executor{Capture: restartDaemonSetCapture, Act: restartDaemonSetAct},
})

// restartDaemonSetCapture checks the DaemonSet exists and chooses the restartedAt
// stamp Act sets. before: restarted_at.
func restartDaemonSetCapture(ctx context.Context, call Call) (ObjectRef, map[string]string, error) {
	t, err := daemonSetTarget.Ref(call.Params)
	if err != nil {
		return t, nil, err
	}
	var ds appsv1.DaemonSet
	if err := call.Client.Get(ctx, t.key(), &ds); err != nil {
		return t, nil, fmt.Errorf("reading %s: %w", t, err)
	}
	return t, map[string]string{"restarted_at": now()}, nil
}

// restartDaemonSetAct stamps the pod template with the recorded restartedAt.
func restartDaemonSetAct(ctx context.Context, call Call, before map[string]string) (map[string]string, error) {
	stamp, err := recorded(before, "restarted_at")
	if err != nil {
		return nil, err
	}
	t, err := daemonSetTarget.Ref(call.Params)
	if err != nil {
		return nil, err
	}
	if err := stampRestart(ctx, call, &appsv1.DaemonSet{ObjectMeta: t.meta()}, stamp); err != nil {
		return nil, fmt.Errorf("restarting %s: %w", t, err)
	}
	return map[string]string{"restarted_at": stamp}, nil
}
