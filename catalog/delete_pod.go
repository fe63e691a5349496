package catalog

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
)

// delete_pod deletes a pod, controlled or bare.
//
// Its executor records before["uid"] and deletes with a UID precondition. Inverse: nil.
var _ = register(&Action{
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

	Facts: []Fact{factPodFound, factNamespace, factPodReady, factPodGone, factPodTerminating},
	// Whether the pod (by UID) is gone or still terminating.
	Provide:  podFacts(),
	Executor: Executor{Capture: deletePodCapture, Act: deletePodAct},
})

// deletePodCapture records the pod's UID. before: uid.
func deletePodCapture(ctx context.Context, call Call) (ObjectRef, map[string]string, error) {
	if _, _, err := intParam(call.Params, "gracePeriodSeconds", false); err != nil {
		return ObjectRef{}, nil, err
	}
	t, pod, err := getPod(ctx, call)
	if err != nil {
		return t, nil, err
	}
	return t, map[string]string{"uid": string(pod.UID)}, nil
}

// deletePodAct deletes the recorded pod, with the parameters' grace period.
func deletePodAct(ctx context.Context, call Call, before map[string]string) (map[string]string, error) {
	grace, set, err := intParam(call.Params, "gracePeriodSeconds", false)
	if err != nil {
		return nil, err
	}
	if set && grace < 0 {
		return nil, fmt.Errorf("parameters.gracePeriodSeconds must be at least 0, not %d", grace)
	}
	var gracePeriod *int64
	if set {
		gracePeriod = &grace
	}
	return deletePodOnce(ctx, call, before, gracePeriod, "deleting")
}
