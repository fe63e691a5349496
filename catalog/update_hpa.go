package catalog

import (
	"context"
	"fmt"
	"strconv"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// update_hpa sets the bounds of a HorizontalPodAutoscaler.
//
// Its executor records before["min_replicas"] and before["max_replicas"] (spec
// before the patch; "1" for a minReplicas that was unset).
var _ = register(&Action{
	Name:        "update_hpa",
	Target:      hpaTarget,
	Description: "Sets minReplicas and maxReplicas of a HorizontalPodAutoscaler.",
	Parameters: []Field{
		namespacedTarget("hpa", "HorizontalPodAutoscaler"),
		{Name: "minReplicas", Type: Integer, Required: true, Min: ptr(int64(1)), Max: ptr(int64(1000)),
			Description: "the lower bound of the replica count; not above maxReplicas"},
		{Name: "maxReplicas", Type: Integer, Required: true, Min: ptr(int64(1)), Max: ptr(int64(1000)),
			Description: "the upper bound of the replica count"},
	},
	Permissions: []rbacv1.PolicyRule{
		{APIGroups: []string{"autoscaling"}, Resources: []string{"horizontalpodautoscalers"}, Verbs: []string{"get", "patch"}},
	},

	StepPreConditions:  []Suggested{workloadChecks.hpaExists, workloadChecks.hpaBoundsValid},
	StepPostConditions: []Suggested{workloadChecks.hpaBoundsApplied},
	PostConditions:     []Suggested{workloadChecks.hpaBoundsApplied, workloadChecks.hpaWithinBounds},

	Facts: []Fact{
		factHPAFound, factHPAName, factNamespace,
		factHPAMinReplicas, factHPAMaxReplicas, factHPACurrentReplicas, factHPAConditions,
	},
	Provide:  updateHPAFacts,
	Safety:   safetyReplicas(hpaTarget, "maxReplicas"),
	Executor: Executor{Capture: updateHPACapture, Act: updateHPAAct},
	Inverse:  updateHPAInverse,
})

// Facts of update_hpa.
var (
	factHPAFound           = Fact{"hpa_found", "boolean: the HorizontalPodAutoscaler exists"}
	factHPAName            = Fact{"hpa_name", "string: the HorizontalPodAutoscaler's name"}
	factHPAMinReplicas     = Fact{"hpa_min_replicas", "integer: spec.minReplicas of the HorizontalPodAutoscaler now (1 when unset)"}
	factHPAMaxReplicas     = Fact{"hpa_max_replicas", "integer: spec.maxReplicas of the HorizontalPodAutoscaler now"}
	factHPACurrentReplicas = Fact{"hpa_current_replicas", "integer: status.currentReplicas of the HorizontalPodAutoscaler: the replica count of its target"}
	factHPAConditions      = Fact{"hpa_conditions", "object: the HorizontalPodAutoscaler's status conditions as booleans, {AbleToScale, ScalingActive, ScalingLimited}; a condition that is absent is false"}
)

// updateHPABounds reads minReplicas and maxReplicas.
func updateHPABounds(params map[string]any) (lo, hi int32, err error) {
	if lo, _, err = int32Param(params, "minReplicas", true, 1); err != nil {
		return 0, 0, err
	}
	if hi, _, err = int32Param(params, "maxReplicas", true, 1); err != nil {
		return 0, 0, err
	}
	return lo, hi, nil
}

// updateHPACapture records the bounds before the patch. before: min_replicas ("1"
// when unset) and max_replicas.
func updateHPACapture(ctx context.Context, call Call) (ObjectRef, map[string]string, error) {
	if _, _, err := updateHPABounds(call.Params); err != nil {
		return ObjectRef{}, nil, err
	}
	t, err := hpaTarget.Ref(call.Params)
	if err != nil {
		return t, nil, err
	}
	var hpa autoscalingv2.HorizontalPodAutoscaler
	if err := call.Client.Get(ctx, t.key(), &hpa); err != nil {
		return t, nil, fmt.Errorf("reading %s: %w", t, err)
	}
	return t, map[string]string{
		"min_replicas": strconv.Itoa(int(replicasOf(hpa.Spec.MinReplicas))),
		"max_replicas": strconv.Itoa(int(hpa.Spec.MaxReplicas)),
	}, nil
}

// updateHPAAct sets minReplicas and maxReplicas.
func updateHPAAct(ctx context.Context, call Call, _ map[string]string) (map[string]string, error) {
	lo, hi, err := updateHPABounds(call.Params)
	if err != nil {
		return nil, err
	}
	t, err := hpaTarget.Ref(call.Params)
	if err != nil {
		return nil, err
	}
	patch, err := mergePatch(obj{"spec": obj{"minReplicas": lo, "maxReplicas": hi}})
	if err != nil {
		return nil, err
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: t.meta()}
	if err := call.Client.Patch(ctx, hpa, patch, call.patchOptions()...); err != nil {
		return nil, fmt.Errorf("setting the bounds of %s to %d..%d: %w", t, lo, hi, err)
	}
	return map[string]string{
		"min_replicas": strconv.Itoa(int(replicasOf(hpa.Spec.MinReplicas))),
		"max_replicas": strconv.Itoa(int(hpa.Spec.MaxReplicas)),
	}, nil
}

// updateHPAInverse sets the recorded bounds back.
func updateHPAInverse(params map[string]any, before map[string]string) (Rollback, error) {
	target, err := hpaTarget.param(params)
	if err != nil {
		return Rollback{}, err
	}
	minReplicas, err := recordedInt(before, "min_replicas", "minReplicas before the update")
	if err != nil {
		return Rollback{}, err
	}
	maxReplicas, err := recordedInt(before, "max_replicas", "maxReplicas before the update")
	if err != nil {
		return Rollback{}, err
	}
	return Rollback{Action: "update_hpa", Parameters: map[string]any{
		"hpa": target, "minReplicas": minReplicas, "maxReplicas": maxReplicas,
	}}, nil
}

// updateHPAFacts reads the facts of update_hpa from the autoscaling/v2
// HorizontalPodAutoscaler. hpa_current_replicas is status.currentReplicas as the
// HPA controller last wrote it: 0 until it has written a status.
func updateHPAFacts(ctx context.Context, r client.Reader, params map[string]any, want Wanted) (map[string]any, error) {
	name, namespace, err := hpaTarget.Name(params)
	if err != nil {
		return nil, err
	}
	doc := map[string]any{"hpa_name": name, "namespace": namespace}

	var hpa autoscalingv2.HorizontalPodAutoscaler
	if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &hpa); err != nil {
		if apierrors.IsNotFound(err) {
			doc["hpa_found"] = false
			return doc, nil
		}
		return nil, fmt.Errorf("reading HorizontalPodAutoscaler %s/%s: %w", namespace, name, err)
	}
	doc["hpa_found"] = true
	minReplicas := int64(1)
	if hpa.Spec.MinReplicas != nil {
		minReplicas = int64(*hpa.Spec.MinReplicas)
	}
	doc["hpa_min_replicas"] = minReplicas
	doc["hpa_max_replicas"] = int64(hpa.Spec.MaxReplicas)
	doc["hpa_current_replicas"] = int64(hpa.Status.CurrentReplicas)
	conditions := map[string]any{
		string(autoscalingv2.AbleToScale):    false,
		string(autoscalingv2.ScalingActive):  false,
		string(autoscalingv2.ScalingLimited): false,
	}
	for _, c := range hpa.Status.Conditions {
		conditions[string(c.Type)] = c.Status == corev1.ConditionTrue
	}
	doc["hpa_conditions"] = conditions
	return doc, nil
}
