package catalog

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// restart_pod deletes a pod that a controller owns, so that the controller recreates
// it: kubectl has no "restart pod"; this is what people do instead.
//
// Its executor records before["uid"] (the pod's UID; it deletes with a UID
// precondition, so a retry never deletes the replacement of a StatefulSet pod, which
// has the same name), before["owner_kind"] and before["owner_name"] (the pod's
// controller) and before["recorded_at"] (RFC 3339, just before deleting). Inverse: nil.
var _ = register(&Action{
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

	Facts: []Fact{
		factPodFound, factNamespace, factPodReady,
		factPodOwnerKind, factPodOwnerName, factPodOwnerFound,
		factReadyPods, factPodReadyReplacements, factPods, factPodGone, factPodTerminating,
	},
	// The pod, its controller and the controller's pods, among them the
	// replacements created since the action acted.
	Provide:  podFacts((*podState).addController, (*podState).addWorkload),
	Executor: Executor{Capture: restartPodCapture, Act: restartPodAct},
})

// restartPodCapture records the pod's UID and controller, and the time, for the
// facts after acting. before: uid, owner_kind, owner_name, recorded_at.
func restartPodCapture(ctx context.Context, call Call) (ObjectRef, map[string]string, error) {
	t, pod, err := getPod(ctx, call)
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

// restartPodAct deletes the recorded pod with its own grace period.
func restartPodAct(ctx context.Context, call Call, before map[string]string) (map[string]string, error) {
	return deletePodOnce(ctx, call, before, nil, "restarting")
}
