package catalog

import (
	"context"
	"fmt"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
)

// rollout_restart restarts the pods of a Deployment (kubectl rollout restart): it
// stamps the pod template with the annotation kubectl.kubernetes.io/restartedAt, so
// that a new ReplicaSet replaces every pod.
//
// Its executor records before["revision"] (annotation deployment.kubernetes.io/revision
// before the patch). The inverse rolls back to that revision: the pods are replaced
// once more, with the template of before the restart.
var _ = register(&Action{
	Name:        "rollout_restart",
	Target:      deploymentTarget,
	Description: "Restarts every pod of a Deployment by a rolling update to a new ReplicaSet (kubectl rollout restart).",
	Parameters:  []Field{namespacedTarget("deployment", "Deployment")},
	Permissions: []rbacv1.PolicyRule{deploymentGetPatch},

	StepPreConditions:  []Suggested{workloadChecks.deploymentExists},
	StepPostConditions: []Suggested{workloadChecks.rolloutComplete, workloadChecks.replicasRunning},
	PreConditions:      []Suggested{workloadChecks.notRollingOut},
	PostConditions:     []Suggested{workloadChecks.rolloutComplete, workloadChecks.noCrashloop},

	Facts:    slices.Concat(deploymentTargetFacts, deploymentRolloutFacts),
	Provide:  deploymentFacts(),
	Executor: Executor{Capture: rolloutRestartCapture, Act: rolloutRestartAct},
	Inverse:  rollbackToRecordedRevision,
})

// rolloutRestartCapture records the revision and chooses the restartedAt stamp Act
// sets. before: revision, restarted_at.
func rolloutRestartCapture(ctx context.Context, call Call) (ObjectRef, map[string]string, error) {
	t, d, err := getDeployment(ctx, call)
	if err != nil {
		return t, nil, err
	}
	return t, map[string]string{"revision": deploymentRevision(d), "restarted_at": now()}, nil
}

// rolloutRestartAct stamps the pod template with the recorded restartedAt.
func rolloutRestartAct(ctx context.Context, call Call, before map[string]string) (map[string]string, error) {
	stamp, err := recorded(before, "restarted_at")
	if err != nil {
		return nil, err
	}
	t, d, err := getDeployment(ctx, call)
	if err != nil {
		return nil, err
	}
	if d.Spec.Paused {
		return nil, fmt.Errorf("restarting %s: it is paused, and would not roll out (resume it first)", t)
	}
	if err := stampRestart(ctx, call, d, stamp); err != nil {
		return nil, fmt.Errorf("restarting %s: %w", t, err)
	}
	return map[string]string{"restarted_at": stamp}, nil
}
