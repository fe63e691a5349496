package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// quarantine_pod takes a pod out of service without stopping it: it replaces the pod's
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
var _ = register(&Action{
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

	Facts: []Fact{
		factPodFound, factNamespace, factPodReady,
		factPodOwnerKind, factPodOwnerName, factPodOwnerFound,
		factReadyPods, factPods, factPodGone, factPodTerminating, factPodMatchingServices, factPodSelectedByOwner,
		factPodReadyReplacements,
	},
	// Those of restart_pod, and what still selects the pod (Services, its controller).
	Provide:  podFacts((*podState).addController, (*podState).addWorkload, (*podState).addServices),
	Executor: Executor{Capture: quarantinePodCapture, Act: quarantinePodAct},
})

const (
	// QuarantineLabel is the only label a quarantined pod keeps.
	QuarantineLabel = "kubernaut.io/quarantined"
	// QuarantinedLabelsAnnotation holds a quarantined pod's labels from before, as a
	// JSON object, for a person or a future unquarantine action to put back.
	QuarantinedLabelsAnnotation = "kubernaut.io/quarantined-labels"
)

// quarantinePodCapture records the pod's UID, controller ("" for a bare pod), the
// time and its labels. before: uid, owner_kind, owner_name, recorded_at, labels
// (JSON).
func quarantinePodCapture(ctx context.Context, call Call) (ObjectRef, map[string]string, error) {
	t, pod, err := getPod(ctx, call)
	if err != nil {
		return t, nil, err
	}
	before := map[string]string{
		"uid": string(pod.UID), "owner_kind": "", "owner_name": "", "recorded_at": now(),
		"labels": jsonString(pod.Labels),
	}
	if owner := metav1.GetControllerOf(pod); owner != nil {
		if owner.Kind == "StatefulSet" {
			return t, nil, fmt.Errorf("quarantining %s: a StatefulSet controls it, whose replacement would need the quarantined pod's name", t)
		}
		before["owner_kind"], before["owner_name"] = owner.Kind, owner.Name
	}
	return t, before, nil
}

// quarantinePodAct replaces the recorded pod's labels with QuarantineLabel, keeping
// the former ones in QuarantinedLabelsAnnotation.
func quarantinePodAct(ctx context.Context, call Call, before map[string]string) (map[string]string, error) {
	t, err := podTarget.Ref(call.Params)
	if err != nil {
		return nil, err
	}
	uid, err := recorded(before, "uid")
	if err != nil {
		return nil, err
	}
	labels, err := recorded(before, "labels")
	if err != nil {
		return nil, err
	}
	var decoded map[string]string
	if err := json.Unmarshal([]byte(labels), &decoded); err != nil {
		return nil, fmt.Errorf("the recorded labels are not a JSON object of strings: %w", err)
	}
	quarantined := map[string]string{QuarantineLabel: "true"}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var pod corev1.Pod
		if err := call.Client.Get(ctx, t.key(), &pod); err != nil {
			return err
		}
		if string(pod.UID) != uid {
			return fmt.Errorf("the pod of that name is another one (UID %s, not %s)", pod.UID, uid)
		}
		if maps.Equal(pod.Labels, quarantined) && pod.Annotations[QuarantinedLabelsAnnotation] == labels {
			return nil // quarantined already
		}
		changed := pod.DeepCopy()
		changed.Labels = quarantined
		if changed.Annotations == nil {
			changed.Annotations = map[string]string{}
		}
		changed.Annotations[QuarantinedLabelsAnnotation] = labels
		// The resourceVersion in the patch makes it fail with a conflict, and retry,
		// when the pod changed since it was read: the labels removed are those read.
		return call.Client.Patch(ctx, changed, client.MergeFromWithOptions(&pod, client.MergeFromWithOptimisticLock{}),
			call.patchOptions()...)
	})
	if err != nil {
		return nil, fmt.Errorf("quarantining %s: %w", t, err)
	}
	return map[string]string{"labels": jsonString(quarantined)}, nil
}
