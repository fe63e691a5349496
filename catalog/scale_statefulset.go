package catalog

import (
	"context"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// scale_statefulset sets the replica count of a StatefulSet, through its scale
// subresource, which is all its ServiceAccount may read.
//
// Its executor records before["replicas"] (spec.replicas before scaling).
var _ = register(&Action{
	Name:        "scale_statefulset",
	Target:      statefulSetTarget,
	Description: "Sets the replica count of a StatefulSet; its controller adds or removes pods one ordinal at a time.",
	Parameters: []Field{namespacedTarget("statefulset", "StatefulSet",
		Field{Name: "replicas", Type: Integer, Required: true, Min: ptr(int64(0)), Max: ptr(int64(1000)),
			Description: "the replica count to set"},
	)},
	Permissions: []rbacv1.PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"statefulsets/scale"}, Verbs: []string{"get", "patch"}},
	},
	StepPreConditions:  []Suggested{workloadChecks.statefulSetExists},
	StepPostConditions: []Suggested{workloadChecks.statefulSetReady},
	PostConditions:     []Suggested{workloadChecks.statefulSetReady, workloadChecks.noCrashloop},
	Facts: []Fact{
		factStatefulSetFound, factStatefulSetName, factNamespace, factTargetReplicas,
		factStatefulSetGenerationObserved, factStatefulSetStatusReplicas, factStatefulSetReadyReplicas,
		factPods, factRunningPods, factReadyPods,
	},
	Provide:  scaleStatefulSetFacts,
	Safety:   safetyReplicas(statefulSetTarget, "statefulset.replicas"),
	Executor: Executor{Capture: scaleStatefulSetCapture, Act: scaleStatefulSetAct},
	Inverse:  scaleStatefulSetInverse,
})

// scaleStatefulSetCapture records spec.replicas, read from the scale subresource.
func scaleStatefulSetCapture(ctx context.Context, call Call) (ObjectRef, map[string]string, error) {
	t, err := statefulSetTarget.Ref(call.Params)
	if err != nil {
		return t, nil, err
	}
	if _, _, err := int32Param(call.Params, "statefulset.replicas", true, 0); err != nil {
		return t, nil, err
	}
	var scale autoscalingv1.Scale
	if err := call.Client.SubResource("scale").Get(ctx, &appsv1.StatefulSet{ObjectMeta: t.meta()}, &scale); err != nil {
		return t, nil, fmt.Errorf("reading the scale of %s: %w", t, err)
	}
	return t, map[string]string{"replicas": strconv.Itoa(int(scale.Spec.Replicas))}, nil
}

// scaleStatefulSetAct sets spec.replicas through the scale subresource.
func scaleStatefulSetAct(ctx context.Context, call Call, _ map[string]string) (map[string]string, error) {
	t, err := statefulSetTarget.Ref(call.Params)
	if err != nil {
		return nil, err
	}
	replicas, _, err := int32Param(call.Params, "statefulset.replicas", true, 0)
	if err != nil {
		return nil, err
	}
	return patchScale(ctx, call, &appsv1.StatefulSet{ObjectMeta: t.meta()}, t, replicas)
}

// scaleStatefulSetInverse scales back to the recorded replica count.
func scaleStatefulSetInverse(params map[string]any, before map[string]string) (Rollback, error) {
	target, err := statefulSetTarget.param(params)
	if err != nil {
		return Rollback{}, err
	}
	replicas, err := recordedInt(before, "replicas", "the replica count before scaling")
	if err != nil {
		return Rollback{}, err
	}
	target["replicas"] = replicas
	return Rollback{Action: "scale_statefulset", Parameters: map[string]any{"statefulset": target}}, nil
}

// scaleStatefulSetFacts reads the facts of scale_statefulset. target_replicas is
// the parameter statefulset.replicas, known whether or not the StatefulSet exists.
func scaleStatefulSetFacts(ctx context.Context, r client.Reader, params map[string]any, want Wanted) (map[string]any, error) {
	doc := map[string]any{}
	if replicas, ok, err := intParam(params, "statefulset.replicas", false); err != nil {
		return nil, err
	} else if ok {
		doc["target_replicas"] = replicas
	}
	if _, err := readStatefulSetFacts(ctx, r, params, doc, want); err != nil {
		return nil, err
	}
	return doc, nil
}
